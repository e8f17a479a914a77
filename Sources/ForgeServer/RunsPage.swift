// RunsPage: the runs dashboard `GET /runs` serves: one self-contained HTML document (no external scripts, fonts or
// CDNs) over the admin-only /v1/runs routes. It lists the runs (status, steps, losses, tokens, evals, a sparkline),
// shows one run (curves, settings, evals, model card) or several overlaid (the settings that differ, evals side by
// side), and polls every 2 s, redrawing what it shows when a run's files change. The API key is asked for when the
// server answers 401 or 403 and kept in the browser (localStorage, shared with the chat page).
enum RunsPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forge runs</title>
<style>
  :root { --fg: #1d232a; --muted: #6b7480; --bg: #f6f7f9; --card: #fff; --accent: #2f6fde; --border: #d9dde3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 10px 16px; border-bottom: 1px solid var(--border); background: var(--card); display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  #status { color: var(--muted); font-size: 13px; }
  #status.error { color: #b3261e; }
  main { padding: 16px; display: flex; flex-direction: column; gap: 16px; }
  section { background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 12px 16px; overflow-x: auto; }
  table { border-collapse: collapse; }
  td, th { border-bottom: 1px solid var(--border); padding: 4px 10px; text-align: left; vertical-align: middle; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  button.open { font: inherit; border: none; background: none; color: var(--accent); cursor: pointer; padding: 0; font-weight: 600; }
  .badge { font-size: 12px; padding: 1px 7px; border-radius: 9px; background: #eceff3; }
  .badge.running { background: #e3f4e8; color: #176b2c; }
  .badge.finished { background: #e8f0fe; color: #1a4fa8; }
  .warn { color: #9a5b00; font-size: 12px; display: block; }
  h2 { font-size: 15px; margin: 4px 0 10px 0; }
  h3 { font-size: 13px; margin: 14px 0 6px 0; color: var(--muted); }
  pre { background: #f3f4f6; padding: 10px; border-radius: 6px; overflow-x: auto; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
        white-space: pre-wrap; max-height: 360px; }
  .hint { color: var(--muted); }
  tr.differs td { background: #fff7e0; }
</style>
</head>
<body>
<header><h1>Forge · runs</h1><span id="status">loading…</span></header>
<main>
  <section><table id="runs"><thead><tr><th></th><th>run</th><th>status</th><th>steps</th><th>last train loss</th><th>best val loss</th>
    <th>tokens</th><th>evals</th><th>train loss</th></tr></thead><tbody></tbody></table></section>
  <section id="view"><p class="hint">Open a run, or tick several to compare them.</p></section>
</main>
<script>
"use strict";
const statusLine = document.getElementById("status"), view = document.getElementById("view");
const tbody = document.querySelector("#runs tbody");
let key = localStorage.getItem("forge.key");
let selected = [];
let runs = {};
let shown = null;
let halted = false;

function escapeHTML(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
function fixed(x, digits) { return x === null || x === undefined ? "—" : Number(x).toFixed(digits); }

// GET a JSON route with the key; asks for another key on 401 (none or wrong) and 403 (not an admin's).
async function api(path) {
  for (;;) {
    const response = await fetch(path, { headers: key ? { Authorization: "Bearer " + key } : {} });
    if (response.status === 401 || response.status === 403) {
      const entered = prompt(response.status === 403 ? "This key may not see the runs dashboard (it needs an admin key); enter an admin key:"
                             : key ? "The server refused this API key; enter another:" : "The runs dashboard needs an admin API key:");
      if (!entered) { halted = true; throw new Error("No admin key: the server refused the request (" + response.status + "). Reload to try again."); }
      key = entered.trim();
      localStorage.setItem("forge.key", key);
      continue;
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : "HTTP " + response.status);
    return body;
  }
}

function evalsText(evals) {
  return evals.map(e => e.task + " " + e.metric + " " + fixed(e.value, 3)).join("; ") || "—";
}

function renderTable(list) {
  tbody.innerHTML = list.map(r => `<tr data-name="${escapeHTML(r.name)}">
    <td><input type="checkbox" class="pick" ${selected.includes(r.name) ? "checked" : ""} aria-label="compare ${escapeHTML(r.name)}"></td>
    <td><button class="open" type="button">${escapeHTML(r.name)}</button>${r.skipped_lines ? `<span class="warn">${r.skipped_lines} corrupt metrics line${r.skipped_lines > 1 ? "s" : ""} skipped</span>` : ""}</td>
    <td><span class="badge ${r.status}">${r.status}</span></td>
    <td class="num steps">${r.steps}</td><td class="num">${fixed(r.last_train_loss, 4)}</td><td class="num">${fixed(r.best_val_loss, 4)}</td>
    <td class="num">${r.tokens === null ? "—" : r.tokens.toLocaleString("en")}</td><td>${escapeHTML(evalsText(r.evals))}</td>
    <td class="spark">${r.sparkline}</td></tr>`).join("");
}

function settingsTable(settings) {
  const keys = Object.keys(settings).sort();
  if (!keys.length) return "<p class=hint>No settings recorded (no checkpoint, model/config.json or pipeline.json).</p>";
  return "<table class=settings><tr><th>setting</th><th>value</th></tr>" +
    keys.map(k => `<tr><td>${escapeHTML(k)}</td><td>${escapeHTML(settings[k])}</td></tr>`).join("") + "</table>";
}

function evalsTable(evals) {
  if (!evals.length) return "<p class=hint>No evaluations (eval/*.json).</p>";
  return "<table class=evals><tr><th>task</th><th>metric</th><th>value</th><th>± stderr</th><th>n</th></tr>" + evals.map(e =>
    `<tr><td>${escapeHTML(e.task)}</td><td>${escapeHTML(e.metric)}</td><td class=num>${fixed(e.value, 4)}</td>
     <td class=num>${fixed(e.stderr, 4)}</td><td class=num>${e.n ?? "—"}</td></tr>`).join("") + "</table>";
}

function renderRun(r) {
  view.innerHTML = `<h2>${escapeHTML(r.name)} <span class="badge ${r.status}">${r.status}</span></h2>` +
    (r.skipped_lines ? `<p class=warn>${r.skipped_lines} line(s) of metrics.jsonl are not metric records and were skipped.</p>` : "") +
    `<div class="plot">${r.svg}</div><h3>Evaluation</h3>${evalsTable(r.evals)}<h3>Settings</h3>${settingsTable(r.settings)}` +
    `<h3>Model card</h3>` + (r.model_card === null ? "<p class=hint>No model card (model/README.md; forge card --run DIR writes it).</p>"
                                                      : `<pre class=card>${escapeHTML(r.model_card)}</pre>`);
}

function renderComparison(c) {
  const names = c.runs.map(r => escapeHTML(r.name));
  const head = "<tr><th></th>" + names.map(n => `<th>${n}</th>`).join("") + "</tr>";
  const settings = c.settings.length ? "<table class=diff>" + head + c.settings.map(s =>
    `<tr class=differs><td>${escapeHTML(s.key)}</td>` + s.values.map(v => `<td>${v === null ? "—" : escapeHTML(v)}</td>`).join("") + "</tr>").join("") + "</table>"
    : "<p class=hint>The runs' settings are the same.</p>";
  const scores = {};
  c.runs.forEach((r, i) => r.evals.forEach(e => { const k = e.task + " " + e.metric; (scores[k] = scores[k] || [])[i] = e.value; }));
  const evalKeys = Object.keys(scores).sort();
  const evals = evalKeys.length ? "<table class=evals>" + head + evalKeys.map(k => `<tr><td>${escapeHTML(k)}</td>` +
    c.runs.map((_, i) => `<td class=num>${fixed(scores[k][i], 4)}</td>`).join("") + "</tr>").join("") + "</table>" : "<p class=hint>No evaluations.</p>";
  const rows = [["steps", r => r.steps], ["last train loss", r => fixed(r.last_train_loss, 4)], ["best val loss", r => fixed(r.best_val_loss, 4)]];
  const summary = "<table class=summary>" + head + rows.map(([label, f]) => `<tr><td>${label}</td>` + c.runs.map(r => `<td class=num>${f(r)}</td>`).join("") + "</tr>").join("") + "</table>";
  view.innerHTML = `<h2>Comparing ${names.join(", ")}</h2><div class="plot">${c.svg}</div>${summary}` +
    `<h3>Settings that differ</h3>${settings}<h3>Evaluation</h3>${evals}`;
}

// Redraws the view when the selection or a shown run's version changed.
async function renderView() {
  const names = selected.filter(n => runs[n]);
  const signature = names.map(n => n + "@" + runs[n].version).join(",");
  if (signature === shown) return;
  if (names.length === 0) view.innerHTML = "<p class=hint>Open a run, or tick several to compare them.</p>";
  else if (names.length === 1) renderRun(await api("/v1/runs/" + encodeURIComponent(names[0])));
  else renderComparison(await api("/v1/runs/compare?names=" + names.map(encodeURIComponent).join(",")));
  shown = signature;
}

async function refresh() {
  const list = await api("/v1/runs");
  runs = Object.fromEntries(list.data.map(r => [r.name, r]));
  selected = selected.filter(n => runs[n]);
  renderTable(list.data);
  await renderView();
  statusLine.className = "";
  statusLine.textContent = `${list.data.length} run${list.data.length === 1 ? "" : "s"} · updated ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  try { await refresh(); } catch (e) { statusLine.className = "error"; statusLine.textContent = e.message; }
  if (!halted) setTimeout(poll, 2000);
}

tbody.addEventListener("click", e => {
  const row = e.target.closest("tr");
  if (!row) return;
  const name = row.dataset.name;
  if (e.target.classList.contains("open")) selected = [name];
  else if (e.target.classList.contains("pick")) selected = e.target.checked ? [...selected.filter(n => n !== name), name] : selected.filter(n => n !== name);
  else return;
  renderTable(Object.values(runs).sort((a, b) => a.name < b.name ? -1 : 1));
  renderView().catch(err => { statusLine.className = "error"; statusLine.textContent = err.message; });
});

poll();
</script>
</body>
</html>
"""#
}
