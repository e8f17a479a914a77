#!/usr/bin/env python3
"""Headless Chromium drives the chat page of a running `forge serve` over the DevTools protocol.

Usage: python3 Tests/python/chat_page.py BASE_URL API_KEY SCREENSHOT.png
The server must require API_KEY: the page asks for it (a prompt dialog, answered here). Checked: the page loads nothing
from elsewhere; a message gets a reply that arrives in pieces (streamed) and ends; a second, long reply is stopped
mid-stream with the Stop button and the page is ready again (the caller checks the server logged it as cancelled); the system prompt and temperature are sent; the
conversation survives a reload (kept in the browser); markdown renders code blocks and escapes HTML. A screenshot is
saved. Prints one JSON object: {"checks": [...], "failures": [...], "screenshot": path} (exit 0 either way).
"""
import base64, json, os, sys, time

from cdp_browser import Browser

base, key, shot = sys.argv[1], sys.argv[2], sys.argv[3]
checks, failures = [], []


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def check(name, fn):
    try:
        fn()
        checks.append(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        failures.append(f"{name}: {type(e).__name__}: {e}")


LAST = "[...document.querySelectorAll('.msg.assistant')].slice(-1)[0]"


def wait_reply(b, timeout=120):
    """Polls the last reply until it is marked done; returns (distinct lengths seen while growing, final state, text)."""
    lengths, deadline = [], time.time() + timeout
    while time.time() < deadline:
        b.pump(0.02)
        state = b.js(f"(() => {{ const d = {LAST}; return d ? [d.innerText.length, d.getAttribute('data-done')] : [0, null]; }})()")
        if state[0] and (not lengths or lengths[-1] != state[0]):
            lengths.append(state[0])
        if state[1]:
            return lengths, state[1], b.js(f"{LAST}.innerText")
    raise AssertionError(f"no finished reply after {timeout} s (lengths {lengths})")


b = Browser()
try:
    b.dialog_answer = key
    b.call("Page.enable")
    b.call("Runtime.enable")
    b.call("Network.enable")
    b.call("Page.navigate", url=base + "/")
    deadline = time.time() + 30
    while b.js("document.readyState") != "complete" or not b.js("!!document.getElementById('send')"):
        expect(time.time() < deadline, "page did not load")
        time.sleep(0.1)

    def streamed_reply_with_key():
        b.js("document.getElementById('system').value = 'You are a terse assistant.';"
             "document.getElementById('temperature').value = '0';"
             "document.getElementById('system').dispatchEvent(new Event('change'));")
        b.js("document.getElementById('input').value = 'Name three primary colors.';"
             "document.getElementById('form').requestSubmit();")
        lengths, done, text = wait_reply(b)
        expect(any(e.get("method") == "Page.javascriptDialogOpening" for e in b.events), "the page never asked for the key")
        expect(done in ("stop", "length"), f"finished as {done!r}: {text!r}")
        expect(len(text) > 0, "empty reply")
        expect(len(lengths) >= 3, f"reply did not arrive in pieces: lengths {lengths}")
        expect(b.js("localStorage.getItem('forge.key')") == key, "key not kept")

    def request_fields():
        sent = [e["params"]["request"] for e in b.events if e.get("method") == "Network.requestWillBeSent"
                and e["params"]["request"]["url"].endswith("/v1/chat/completions")]
        expect(sent, "no request to /v1/chat/completions seen")
        body = json.loads(sent[-1].get("postData") or "{}")
        expect(body.get("stream") is True and body.get("temperature") == 0, f"body {body}")
        expect(body["messages"][0] == {"role": "system", "content": "You are a terse assistant."}, f"messages {body['messages']}")

    def stop_mid_stream():
        replies = b.js("document.querySelectorAll('.msg.assistant').length")
        b.js("document.getElementById('input').value = 'Write a long story about a dragon who learns to bake bread.';"
             "document.getElementById('form').requestSubmit();")
        deadline = time.time() + 60
        while b.js("document.querySelectorAll('.msg.assistant').length") == replies or (b.js(f"{LAST}.innerText.length") or 0) < 20:
            expect(time.time() < deadline, "the long reply did not start")
            b.pump(0.02)
        expect(b.js("document.getElementById('stop').disabled") is False, "Stop not enabled while streaming")
        b.js("document.getElementById('stop').click()")
        lengths, done, text = wait_reply(b, timeout=10)
        expect(done == "stopped", f"finished as {done!r} after Stop")
        time.sleep(0.5)
        expect(b.js(f"{LAST}.innerText") == text, "the reply kept growing after Stop")
        expect(b.js("document.getElementById('send').disabled") is False, "Send not enabled after Stop")
        expect(len(text) < 400, f"the reply ran on: {len(text)} characters")

    def kept_after_reload():
        count = b.js("document.querySelectorAll('.msg').length")
        b.call("Page.reload")
        time.sleep(0.5)
        deadline = time.time() + 30
        while b.js("document.readyState") != "complete":
            expect(time.time() < deadline, "reload did not finish")
            time.sleep(0.1)
        expect(b.js("document.querySelectorAll('.msg').length") == count == 4, f"{count} messages before reload")
        expect(b.js("document.getElementById('system').value") == "You are a terse assistant.", "system prompt not kept")

    def markdown():
        html = b.js("render('Use `ls` and **care**:\\n\\n```sh\\necho <b>hi</b>\\n```')")
        expect("<code>ls</code>" in html and "<strong>care</strong>" in html, html)
        expect("<pre><code>echo &lt;b&gt;hi&lt;/b&gt;\n</code></pre>" in html, html)

    def nothing_external():
        urls = [e["params"]["request"]["url"] for e in b.events if e.get("method") == "Network.requestWillBeSent"]
        outside = [u for u in urls if not u.startswith(base) and not u.startswith("data:")]
        expect(urls and not outside, f"requests elsewhere: {outside}")

    def screenshot():
        data = b.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        with open(shot, "wb") as f:
            f.write(base64.b64decode(data))
        expect(os.path.getsize(shot) > 10000, "screenshot too small")

    for name, fn in [("streamed reply after asking for the key", streamed_reply_with_key),
                     ("system prompt and temperature sent", request_fields), ("stop mid-stream", stop_mid_stream),
                     ("conversation kept after reload", kept_after_reload), ("markdown and code blocks", markdown),
                     ("nothing loaded from elsewhere", nothing_external), ("screenshot", screenshot)]:
        check(name, fn)
finally:
    b.close()
print(json.dumps({"checks": checks, "failures": failures, "screenshot": os.path.abspath(shot)}))
