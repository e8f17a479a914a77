// ReviewPage: the page `GET /review` serves: one self-contained HTML document (no external scripts, fonts or CDNs).
// A reviewer sees a prompt and two unlabelled answers side by side, picks the better one or a tie and may flag either
// with a report category; keyboard shortcuts (1/←, 2/→, 3/↓, f, g, ?), progress "n of N", and a done state. Answers
// are shown as text (never as HTML). A reviewer's API key is asked for when the server answers 401 or 403 and kept in
// the browser apart from the chat page's.
import ForgeFeedback

enum ReviewPage {
    /// The page, with the report categories filled in.
    static let html: String = {
        let categories = FeedbackStore.reportCategories
        let list = "[" + categories.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        let items = categories.enumerated().map { "<li><kbd>\($0 + 1)</kbd> \($1)</li>" }.joined()
        return page.replacingOccurrences(of: "__CATEGORIES__", with: list).replacingOccurrences(of: "__CATEGORY_ITEMS__", with: items)
    }()

    static let page = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forge review</title>
<style>
  :root { --fg: #1d232a; --muted: #6b7480; --bg: #f6f7f9; --card: #fff; --accent: #2f6fde; --border: #d9dde3; --flag: #b3261e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 10px 16px; border-bottom: 1px solid var(--border); background: var(--card); display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; }
  #progress-text { color: var(--muted); font-size: 13px; }
  progress { width: 200px; }
  header .spacer { flex: 1; }
  main { padding: 16px; max-width: 1200px; margin: 0 auto; }
  .prompt { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 10px 14px; margin-bottom: 14px; }
  .message { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
  .role { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; margin-right: 6px; }
  #answers { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
  .answer { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 10px 14px; min-height: 120px; }
  .answer.flagged { border-color: var(--flag); }
  .answer h2 { font-size: 13px; color: var(--muted); margin: 0 0 6px 0; font-weight: 600; display: flex; gap: 8px; }
  .answer .text { white-space: pre-wrap; overflow-wrap: anywhere; }
  .badge { color: #fff; background: var(--flag); border-radius: 4px; padding: 0 6px; font-size: 12px; }
  .badge:empty { display: none; }
  .actions { display: flex; gap: 8px; justify-content: center; margin: 16px 0; flex-wrap: wrap; }
  button { font: inherit; padding: 8px 16px; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: var(--card); color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  kbd { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; border: 1px solid var(--border); border-radius: 4px;
        padding: 0 4px; background: #f0f2f5; color: var(--fg); }
  .overlay { position: fixed; inset: 0; background: rgba(0,0,0,.35); display: flex; align-items: center; justify-content: center; }
  .overlay[hidden] { display: none; }
  .dialog { background: var(--card); border-radius: 10px; padding: 16px 20px; min-width: 320px; }
  .dialog h2 { font-size: 16px; margin: 0 0 8px 0; }
  .dialog ul { list-style: none; padding: 0; margin: 0; }
  .dialog li { margin: 4px 0; }
  #message { text-align: center; color: var(--muted); margin: 40px 0; }
  #message.error { color: var(--flag); }
  #message:empty { display: none; }
  body:not([data-state="item"]) #review { display: none; }
</style>
</head>
<body data-state="loading">
<header>
  <h1>Forge review</h1>
  <progress id="bar" value="0" max="1"></progress>
  <span id="progress-text">loading…</span>
  <span class="spacer"></span>
  <button id="help-button" class="secondary" type="button" title="Keyboard shortcuts">? Help</button>
</header>
<main>
  <div id="message" aria-live="polite">Loading…</div>
  <div id="review">
    <div class="prompt" id="prompt"></div>
    <div id="answers">
      <section class="answer" id="left"><h2>Left <span class="badge" id="flag-left"></span></h2><div class="text"></div></section>
      <section class="answer" id="right"><h2>Right <span class="badge" id="flag-right"></span></h2><div class="text"></div></section>
    </div>
    <div class="actions">
      <button type="button" data-choice="left">Left is better <kbd>1</kbd> <kbd>←</kbd></button>
      <button type="button" data-choice="tie" class="secondary">Tie <kbd>3</kbd> <kbd>↓</kbd></button>
      <button type="button" data-choice="right">Right is better <kbd>2</kbd> <kbd>→</kbd></button>
      <button type="button" data-flag="left" class="secondary">Flag left <kbd>f</kbd></button>
      <button type="button" data-flag="right" class="secondary">Flag right <kbd>g</kbd></button>
    </div>
  </div>
</main>
<div class="overlay" id="picker" hidden>
  <div class="dialog">
    <h2 id="picker-title">Flag the answer as</h2>
    <ul>__CATEGORY_ITEMS__<li><kbd>0</kbd> no flag</li><li><kbd>Esc</kbd> cancel</li></ul>
  </div>
</div>
<div class="overlay" id="help" hidden>
  <div class="dialog">
    <h2>Keyboard shortcuts</h2>
    <ul>
      <li><kbd>1</kbd> or <kbd>←</kbd> the left answer is better</li>
      <li><kbd>2</kbd> or <kbd>→</kbd> the right answer is better</li>
      <li><kbd>3</kbd> or <kbd>↓</kbd> a tie</li>
      <li><kbd>f</kbd> / <kbd>g</kbd> flag the left / right answer (then pick a category)</li>
      <li><kbd>?</kbd> this help · <kbd>Esc</kbd> close</li>
    </ul>
    <p>The answers come from two models, or two samples of one, in random order.</p>
  </div>
</div>
<script>
"use strict";
const categories = __CATEGORIES__;
const $ = id => document.getElementById(id);
let item = null, flags = { left: null, right: null }, busy = false, picking = null;

function setState(state, text, isError) {
  document.body.setAttribute("data-state", state);
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}
function showProgress(p) {
  $("bar").max = Math.max(p.total, 1);
  $("bar").value = p.judged;
  $("progress-text").textContent = p.judged + " of " + p.total;
}
async function api(method, path, body) {
  for (;;) {
    const headers = { "Content-Type": "application/json" };
    const key = localStorage.getItem("forge.review-key");
    if (key) headers["Authorization"] = "Bearer " + key;
    const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    let data = {};
    try { data = await response.json(); } catch (e) {}
    // No key, a wrong one, or one whose role may not review: ask for a reviewer's key.
    if (response.status === 401 || response.status === 403) {
      const entered = prompt(response.status === 403 ? "This key may not review; enter a reviewer's API key:"
                             : key ? "The server refused this API key; enter another:" : "This page needs a reviewer's API key:");
      if (!entered) throw new Error(response.status + ": " + ((data.error && data.error.message) || "no API key"));
      localStorage.setItem("forge.review-key", entered.trim());
      continue;
    }
    if (!response.ok) {
      const error = new Error(response.status + ": " + ((data.error && data.error.message) || response.statusText));
      error.status = response.status;
      throw error;
    }
    return data;
  }
}
function show(data) {
  showProgress(data.progress);
  item = data.item;
  flags = { left: null, right: null };
  drawFlags();
  if (!item) {
    setState("done", data.progress.total ? "All done: you have judged all " + data.progress.total + " items. Thank you!" : "The queue is empty.");
    return;
  }
  const prompt = $("prompt");
  prompt.textContent = "";
  for (const m of item.prompt) {
    const div = document.createElement("div"), role = document.createElement("span");
    div.className = "message";
    role.className = "role";
    role.textContent = m.role;
    div.appendChild(role);
    div.appendChild(document.createTextNode(m.content));
    prompt.appendChild(div);
  }
  $("left").querySelector(".text").textContent = item.left;
  $("right").querySelector(".text").textContent = item.right;
  $("answers").setAttribute("data-item", String(item.id));
  setState("item");
}
async function load() {
  busy = true;
  try { show(await api("GET", "/v1/review/next")); }
  catch (e) { setState("error", String(e.message || e), true); }
  finally { busy = false; }
}
async function judge(choice) {
  if (busy || !item) return;
  busy = true;
  try {
    await api("POST", "/v1/review/judgments", { item_id: item.id, choice, flag_left: flags.left, flag_right: flags.right });
  } catch (e) {
    // Judged already (another tab): move on; anything else stays on screen.
    if (e.status !== 409) { busy = false; setState("error", String(e.message || e), true); return; }
  }
  busy = false;
  await load();
}
function drawFlags() {
  for (const side of ["left", "right"]) {
    $("flag-" + side).textContent = flags[side] || "";
    $(side).classList.toggle("flagged", !!flags[side]);
  }
}
function openPicker(side) {
  if (!item) return;
  picking = side;
  $("picker-title").textContent = "Flag the " + side + " answer as";
  $("picker").hidden = false;
}
function closePicker() { picking = null; $("picker").hidden = true; }

document.addEventListener("keydown", e => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (picking) {
    if (/^[0-9]$/.test(e.key) && +e.key <= categories.length) {
      flags[picking] = e.key === "0" ? null : categories[+e.key - 1];
      drawFlags();
      closePicker();
    } else if (e.key === "Escape") {
      closePicker();
    }
    e.preventDefault();
    return;
  }
  if (e.key === "?") { $("help").hidden = !$("help").hidden; e.preventDefault(); return; }
  if (e.key === "Escape") { $("help").hidden = true; return; }
  if (document.body.getAttribute("data-state") !== "item") return;
  const actions = { "1": () => judge("left"), "ArrowLeft": () => judge("left"), "2": () => judge("right"), "ArrowRight": () => judge("right"),
                    "3": () => judge("tie"), "ArrowDown": () => judge("tie"), "f": () => openPicker("left"), "g": () => openPicker("right") };
  const action = actions[e.key];
  if (!action) return;
  e.preventDefault();
  action();
});
for (const b of document.querySelectorAll("[data-choice]")) b.addEventListener("click", () => judge(b.getAttribute("data-choice")));
for (const b of document.querySelectorAll("[data-flag]")) b.addEventListener("click", () => openPicker(b.getAttribute("data-flag")));
$("help-button").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });
$("help").addEventListener("click", () => { $("help").hidden = true; });
load();
</script>
</body>
</html>
"""#
}
