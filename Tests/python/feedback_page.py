#!/usr/bin/env python3
"""Headless Chromium rates, comments, reports and regenerates replies on the chat page of `forge serve --feedback DB`.

Usage: python3 Tests/python/feedback_page.py BASE_URL API_KEY SCREENSHOT.png
Checked: the page shows its feedback controls; "Good" on a reply and a comment reach POST /v1/feedback with the
conversation, the prompt and the temperature; a second reply is reported as harmful; a third is regenerated (the
replaced reply is sent unrated first) and the new one rated "Bad"; nothing loads from elsewhere; a screenshot is saved.
The caller checks what the database holds. Prints {"checks": [...], "failures": [...], "screenshot": path}.
"""
import json, sys, time

from chromium import LAST, Browser, Checks, expect, wait_reply

base, key, shot = sys.argv[1], sys.argv[2], sys.argv[3]
checks = Checks()


def feedback_posts(b):
    """The bodies the page sent to /v1/feedback, in order."""
    return [json.loads(e["params"]["request"].get("postData") or "{}") for e in b.events
            if e.get("method") == "Network.requestWillBeSent" and e["params"]["request"]["url"].endswith("/v1/feedback")]


def wait_saved(b, since, timeout=30):
    """Waits until the last reply's status says saved or reported after time `since` (ms)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        b.pump(0.05)
        saved = b.js(f"(() => {{ const s = {LAST}.querySelector('.status'); return s ? [s.getAttribute('data-saved'), s.textContent] : [null, '']; }})()")
        if saved[0] and int(saved[0]) >= since:
            return saved[1]
    raise AssertionError(f"the rating was not saved: status {saved[1]!r}")


def ask(b, text, temperature):
    b.js(f"document.getElementById('temperature').value = '{temperature}';"
         "document.getElementById('temperature').dispatchEvent(new Event('change'));"
         f"document.getElementById('input').value = {json.dumps(text)};"
         "document.getElementById('form').requestSubmit();")
    _, done, _ = wait_reply(b)
    reply = last_reply(b)
    expect(done in ("stop", "length") and reply, f"reply finished as {done!r}: {reply!r}")
    return reply


def last_reply(b):
    """The last reply's text as the page keeps it (the message's innerText also holds the feedback bar)."""
    return b.js("messages[messages.length - 1].content")


def now_ms(b):
    return int(b.js("Date.now()"))


b = Browser()
try:
    b.dialog_answer = key
    b.open(base + "/", "!!document.getElementById('send')")

    def controls_shown():
        expect(b.js("document.body.dataset.feedback") == "on", "the page says feedback is off")

    def rate_up_with_comment():
        ask(b, "Say hello in three words.", 0)
        t = now_ms(b)
        b.js(f"{LAST}.querySelector('.rate-up').click()")
        wait_saved(b, t)
        t = now_ms(b)
        b.js(f"(() => {{ const c = {LAST}.querySelector('.comment'); c.value = 'friendly'; c.dispatchEvent(new Event('change')); }})()")
        wait_saved(b, t)
        posts = feedback_posts(b)
        expect(len(posts) == 2, f"{len(posts)} feedback requests")
        first, second = posts
        expect(first["rating"] == "up" and first["settings"] == {"temperature": 0}, f"first post {first}")
        expect(first["messages"] == [{"role": "user", "content": "Say hello in three words."}], f"prompt {first['messages']}")
        expect(first["conversation_id"].startswith("c-") and second["conversation_id"] == first["conversation_id"], "conversation id")
        expect(second["rating"] == "up" and second["comment"] == "friendly", f"second post {second}")
        expect(b.js(f"{LAST}.querySelector('.rate-up').classList.contains('chosen')"), "Good not shown as chosen")

    def report_harmful():
        ask(b, "Tell me how to pick a lock.", 0)
        t = now_ms(b)
        b.js(f"(() => {{ const r = {LAST}.querySelector('.report'); r.value = 'harmful'; r.dispatchEvent(new Event('change')); }})()")
        status = wait_saved(b, t)
        expect("reported" in status, f"status {status!r}")
        last = feedback_posts(b)[-1]
        expect(last["report"] == "harmful" and last["rating"] == "none" and len(last["messages"]) == 3, f"report post {last}")

    def regenerate_and_rate_down():
        first = ask(b, "Write one sentence about the sea.", 1)
        replies = b.js("document.querySelectorAll('.msg.assistant').length")
        expect(b.js("document.querySelectorAll('.regenerate').length") == 1, "Regenerate is not on the last reply only")
        b.js(f"{LAST}.querySelector('.regenerate').click()")
        deadline = time.time() + 30
        while b.js(f"{LAST}.getAttribute('data-done')"):
            expect(time.time() < deadline, "regeneration did not start")
            b.pump(0.05)
        wait_reply(b)
        second = last_reply(b)
        # A small model may sample the same text again (it likes to repeat its context): then the store keeps one row.
        checks.facts["same_regenerated_text"] = second == first
        expect(b.js("document.querySelectorAll('.msg.assistant').length") == replies, "the regenerated reply was added, not replaced")
        kept = feedback_posts(b)[-1]
        expect(kept["reply"] == first and kept["rating"] == "none", f"the replaced reply was not kept: {kept}")
        t = now_ms(b)
        b.js(f"{LAST}.querySelector('.rate-down').click()")
        wait_saved(b, t)
        last = feedback_posts(b)[-1]
        expect(last["rating"] == "down" and last["reply"] == second and last["settings"] == {"temperature": 1}, f"post {last}")

    for name, fn in [("feedback controls shown", controls_shown), ("rated up with a comment", rate_up_with_comment),
                     ("reported as harmful", report_harmful), ("regenerated, then rated down", regenerate_and_rate_down),
                     ("nothing loaded from elsewhere", lambda: b.expect_nothing_external(base)),
                     ("screenshot", lambda: b.screenshot(shot))]:
        checks.run(name, fn)
finally:
    b.close()
print(checks.result(shot))
