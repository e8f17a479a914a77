// ChatPage: the page `GET /` serves: one self-contained HTML document (no external scripts, fonts or CDNs) that
// chats with the server's own /v1/chat/completions: streamed replies, a stop button, system prompt and temperature,
// the conversation kept in the browser (localStorage), code blocks and simple markdown, and the API key asked for
// when the server answers 401. With feedback on (`forge serve --feedback DB`) each reply can be rated good or bad,
// commented, reported (harmful, wrong, unhelpful, privacy) and regenerated, through POST /v1/feedback; a regenerated
// reply is kept unrated, so the prompt's two samples can go to the review queue.
enum ChatPage {
    static func html(model: String, feedback: Bool = false) -> String {
        page.replacingOccurrences(of: "__MODEL__", with: model.replacingOccurrences(of: "\"", with: ""))
            .replacingOccurrences(of: "__FEEDBACK__", with: feedback ? "on" : "off")
    }

    static let page = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forge chat</title>
<style>
  :root { --fg: #1d232a; --muted: #6b7480; --bg: #f6f7f9; --card: #fff; --accent: #2f6fde; --border: #d9dde3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
         display: flex; flex-direction: column; height: 100vh; }
  header { padding: 10px 16px; border-bottom: 1px solid var(--border); background: var(--card); display: flex; gap: 12px;
           align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0 8px 0 0; }
  header label { color: var(--muted); font-size: 13px; display: flex; gap: 6px; align-items: center; }
  header input[type=text] { width: 320px; }
  input, textarea, button { font: inherit; }
  #log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 12px; }
  .msg { max-width: 820px; padding: 10px 14px; border-radius: 10px; background: var(--card); border: 1px solid var(--border);
         white-space: normal; overflow-wrap: anywhere; }
  .user { align-self: flex-end; background: #e8f0fe; }
  .assistant { align-self: flex-start; }
  .error { align-self: center; color: #b3261e; background: #fdecea; }
  pre { background: #1f2430; color: #e6e6e6; padding: 10px; border-radius: 6px; overflow-x: auto; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
  p { margin: 0 0 6px 0; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--border); background: var(--card); }
  textarea { flex: 1; resize: vertical; min-height: 44px; max-height: 200px; padding: 8px; border-radius: 8px; border: 1px solid var(--border); }
  button { padding: 8px 16px; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: var(--card); color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  .feedback { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin-top: 8px; font-size: 13px; }
  .feedback button { padding: 2px 10px; font-size: 13px; background: var(--card); color: var(--accent); }
  .feedback button.chosen { background: var(--accent); color: #fff; }
  .feedback input { width: 220px; font-size: 13px; }
  .feedback select { font-size: 13px; }
  .feedback .status { color: var(--muted); }
  body[data-feedback=off] .feedback, body[data-feedback=off] .needs-feedback { display: none; }
</style>
</head>
<body data-feedback="__FEEDBACK__">
<header>
  <h1>Forge · <span id="model">__MODEL__</span></h1>
  <label>System <input id="system" type="text" placeholder="optional system prompt"></label>
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7" style="width:70px"></label>
  <button id="clear" class="secondary" type="button">New chat</button>
  <button id="forget" class="secondary needs-feedback" type="button" title="Delete this conversation and its ratings from the server">Delete on server</button>
</header>
<div id="log" aria-live="polite"></div>
<form id="form">
  <textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
  <button id="stop" type="button" class="secondary" disabled>Stop</button>
</form>
<script>
"use strict";
const model = document.getElementById("model").textContent;
const log = document.getElementById("log"), input = document.getElementById("input");
const sendButton = document.getElementById("send"), stopButton = document.getElementById("stop");
const systemInput = document.getElementById("system"), temperatureInput = document.getElementById("temperature");
const feedbackOn = document.body.dataset.feedback === "on";
const reportCategories = ["harmful", "wrong", "unhelpful", "privacy"];
let messages = JSON.parse(localStorage.getItem("forge.messages") || "[]");
let conversation = localStorage.getItem("forge.conversation") || newConversation();
systemInput.value = localStorage.getItem("forge.system") || "";
temperatureInput.value = localStorage.getItem("forge.temperature") || "0.7";
let controller = null;

function escapeHTML(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
// Simple markdown: fenced code blocks, inline code, bold, italic, paragraphs and line breaks.
function render(text) {
  const parts = text.split(/```/);
  let html = "";
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const newline = part.indexOf("\n");
      const code = newline >= 0 ? part.slice(newline + 1) : part;
      html += "<pre><code>" + escapeHTML(code) + "</code></pre>";
    } else {
      let t = escapeHTML(part);
      t = t.replace(/`([^`\n]+)`/g, "<code>$1</code>");
      t = t.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
      t = t.replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>");
      html += t.split(/\n{2,}/).map(p => p.trim() ? "<p>" + p.replace(/\n/g, "<br>") + "</p>" : "").join("");
    }
  });
  return html;
}
function newConversation() {
  const id = "c-" + (window.crypto && crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));
  localStorage.setItem("forge.conversation", id);
  return id;
}
// A JSON request with the API key; asks for a key once when the server answers 401.
async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = { "Content-Type": "application/json" };
    const key = localStorage.getItem("forge.key");
    if (key) headers["Authorization"] = "Bearer " + key;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && attempt === 0) {
      const entered = prompt(key ? "The server refused this API key; enter another:" : "This server needs an API key:");
      if (!entered) throw new Error("No API key: the server refused the request (401).");
      localStorage.setItem("forge.key", entered.trim());
      continue;
    }
    let json = null;
    try { json = await response.json(); } catch (e) {}
    if (!response.ok) throw new Error(response.status + ": " + (json && json.error ? json.error.message : response.statusText));
    return json;
  }
}
function promptFor(i) {
  const m = messages[i];
  return (m.system ? [{ role: "system", content: m.system }] : []).concat(messages.slice(0, i).map(x => ({ role: x.role, content: x.content })));
}
// Saves the rating, comment or report of reply i (merged with what it had) on the server.
async function rate(i, patch, status) {
  const m = messages[i];
  m.feedback = Object.assign({ rating: "none" }, m.feedback || {}, patch);
  save();
  status.textContent = "saving…";
  try {
    await api("POST", "/v1/feedback", { conversation_id: conversation, messages: promptFor(i), reply: m.content, model: model,
      rating: m.feedback.rating, comment: m.feedback.comment || null, report: m.feedback.report || null, settings: m.settings || {} });
    status.textContent = m.feedback.report ? "reported (" + m.feedback.report + ")" : "saved";
    status.setAttribute("data-saved", String(Date.now()));
  } catch (e) {
    status.textContent = "not saved: " + (e.message || e);
  }
}
function feedbackBar(div, i) {
  if (!feedbackOn) return;
  const m = messages[i], f = m.feedback || {};
  const bar = document.createElement("div");
  bar.className = "feedback";
  const up = document.createElement("button"), down = document.createElement("button");
  up.type = down.type = "button";
  up.className = "rate-up" + (f.rating === "up" ? " chosen" : ""); up.textContent = "Good";
  down.className = "rate-down" + (f.rating === "down" ? " chosen" : ""); down.textContent = "Bad";
  const comment = document.createElement("input");
  comment.className = "comment"; comment.placeholder = "comment (optional)"; comment.value = f.comment || "";
  const report = document.createElement("select");
  report.className = "report";
  report.innerHTML = '<option value="">Report…</option>' + reportCategories.map(c => '<option value="' + c + '">' + c + '</option>').join("");
  report.value = f.report || "";
  const status = document.createElement("span");
  status.className = "status";
  bar.append(up, down, comment, report);
  if (i === messages.length - 1) {
    const again = document.createElement("button");
    again.type = "button"; again.className = "regenerate"; again.textContent = "Regenerate";
    again.addEventListener("click", () => regenerate());
    bar.append(again);
  }
  bar.append(status);
  const choose = rating => {
    up.classList.toggle("chosen", rating === "up"); down.classList.toggle("chosen", rating === "down");
    rate(i, { rating, comment: comment.value.trim() }, status);
  };
  up.addEventListener("click", () => choose(messages[i].feedback && messages[i].feedback.rating === "up" ? "none" : "up"));
  down.addEventListener("click", () => choose(messages[i].feedback && messages[i].feedback.rating === "down" ? "none" : "down"));
  comment.addEventListener("change", () => rate(i, { comment: comment.value.trim() }, status));
  report.addEventListener("change", () => rate(i, { report: report.value || null }, status));
  div.appendChild(bar);
}
// Asks for another reply to the last message; the replaced one is kept on the server, unrated, as a second sample.
async function regenerate() {
  const last = messages[messages.length - 1];
  if (controller || !last || last.role !== "assistant" || messages.length < 2) return;
  if (feedbackOn && !last.feedback) {
    const status = log.lastChild && log.lastChild.querySelector(".status");
    await rate(messages.length - 1, { rating: "none" }, status || document.createElement("span"));
  }
  messages.pop();
  const user = messages.pop();
  save();
  redraw();
  send(user.content);
}
function add(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.innerHTML = role === "error" ? escapeHTML(text) : render(text);
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}
function save() {
  localStorage.setItem("forge.messages", JSON.stringify(messages));
  localStorage.setItem("forge.system", systemInput.value);
  localStorage.setItem("forge.temperature", temperatureInput.value);
}
function redraw() {
  log.innerHTML = "";
  messages.forEach((m, i) => {
    const div = add(m.role, m.content);
    if (m.role === "assistant") feedbackBar(div, i);
  });
}
function busy(on) {
  sendButton.disabled = on;
  stopButton.disabled = !on;
}

async function send(text) {
  messages.push({ role: "user", content: text });
  add("user", text);
  save();
  const system = systemInput.value.trim(), temperature = parseFloat(temperatureInput.value) || 0;
  const body = { model: model, stream: true, temperature: temperature,
                 messages: (system ? [{ role: "system", content: system }] : []).concat(messages.map(m => ({ role: m.role, content: m.content }))) };
  const div = add("assistant", "");
  let reply = "", finish = null, retry = false;
  controller = new AbortController();
  busy(true);
  try {
    const headers = { "Content-Type": "application/json" };
    const key = localStorage.getItem("forge.key");
    if (key) headers["Authorization"] = "Bearer " + key;
    const response = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
    if (response.status === 401) {
      const entered = prompt(key ? "The server refused this API key; enter another:" : "This server needs an API key:");
      if (!entered) throw new Error("No API key: the server refused the request (401).");
      localStorage.setItem("forge.key", entered.trim());
      retry = true;
      throw new Error("retry with the new key");
    }
    if (!response.ok) {
      let message = response.statusText;
      try { message = (await response.json()).error.message; } catch (e) {}
      throw new Error(response.status + ": " + message);
    }
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        for (const c of chunk.choices || []) {
          if (c.delta && c.delta.content) { reply += c.delta.content; div.innerHTML = render(reply); log.scrollTop = log.scrollHeight; }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
    }
    if (finish === "content_filter") add("error", "The reply was stopped by the content filter.");
  } catch (e) {
    if (!retry && e.name !== "AbortError") add("error", String(e.message || e));
  } finally {
    controller = null;
    busy(false);
    if (retry) {
      // Asked for the key: take this turn back and send it again.
      messages.pop();
      div.previousSibling && div.previousSibling.remove();
      div.remove();
    } else if (reply || finish) {
      messages.push({ role: "assistant", content: reply, system: system, settings: { temperature: temperature } });
      if (reply) {
        // The bar of the reply before this one loses its Regenerate button.
        const before = div.previousSibling && div.previousSibling.previousSibling;
        const old = before && before.querySelector(".regenerate");
        if (old) old.remove();
        feedbackBar(div, messages.length - 1);
      }
      div.setAttribute("data-done", finish || "stopped");
    } else {
      // Nothing came back (an error, or stopped before the first word): the turn is not kept.
      messages.pop();
      div.setAttribute("data-done", "failed");
    }
    save();
  }
  if (retry) return send(text);
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || controller) return;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("form").requestSubmit(); }
});
stopButton.addEventListener("click", () => { if (controller) controller.abort(); });
document.getElementById("clear").addEventListener("click", () => { messages = []; conversation = newConversation(); save(); redraw(); });
document.getElementById("forget").addEventListener("click", async () => {
  if (!confirm("Delete this conversation and its ratings from the server?")) return;
  try {
    await api("DELETE", "/v1/conversations/" + encodeURIComponent(conversation));
    // Ratings from now on start a new conversation on the server (a deleted one is not created again).
    conversation = newConversation();
    add("error", "Deleted from the server.");
  }
  catch (e) { add("error", String(e.message || e)); }
});
systemInput.addEventListener("change", save);
temperatureInput.addEventListener("change", save);
redraw();
</script>
</body>
</html>
"""#
}
