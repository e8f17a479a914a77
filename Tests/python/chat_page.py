#!/usr/bin/env python3
"""Headless Chromium drives the chat page of a running `forge serve` over the DevTools protocol.

Usage: python3 Tests/python/chat_page.py BASE_URL API_KEY SCREENSHOT.png
The server must require API_KEY: the page asks for it (a prompt dialog, answered here). Checked: the page loads nothing
from elsewhere; a message gets a reply that arrives in pieces (streamed) and ends; a second, long reply is stopped
mid-stream with the Stop button and the page is ready again (the caller checks the server logged it as cancelled); the system prompt and temperature are sent; the
conversation survives a reload (kept in the browser); markdown renders code blocks and escapes HTML. A screenshot is
saved. Prints one JSON object: {"checks": [...], "failures": [...], "screenshot": path} (exit 0 either way).
"""
import json, sys, time

from chromium import LAST, Browser, Checks, expect, wait_reply

base, key, shot = sys.argv[1], sys.argv[2], sys.argv[3]
checks = Checks()


b = Browser()
try:
    b.dialog_answer = key
    b.open(base + "/", "!!document.getElementById('send')")

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

    for name, fn in [("streamed reply after asking for the key", streamed_reply_with_key),
                     ("system prompt and temperature sent", request_fields), ("stop mid-stream", stop_mid_stream),
                     ("conversation kept after reload", kept_after_reload), ("markdown and code blocks", markdown),
                     ("nothing loaded from elsewhere", lambda: b.expect_nothing_external(base)),
                     ("screenshot", lambda: b.screenshot(shot))]:
        checks.run(name, fn)
finally:
    b.close()
print(checks.result(shot))
