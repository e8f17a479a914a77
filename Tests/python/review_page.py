#!/usr/bin/env python3
"""Headless Chromium drives the review page of a running `forge serve --feedback DB` over the DevTools protocol.

Usage: python3 Tests/python/review_page.py BASE_URL REVIEWER_KEY USER_KEY SCREENSHOT.png COUNT MODEL_NAME...
The server must require keys and the queue hold COUNT items. The browser starts with USER_KEY stored (a key whose
role may not review): the page is refused (403) and asks for another (a prompt dialog, answered with REVIEWER_KEY). With key presses only: the help opens with ? and closes with Escape; COUNT comparisons are made with
1, 2, 3 and the arrow keys; on the fifth the right answer is flagged "wrong" (g, then 2); the progress reads
"n of COUNT" after each; the done state shows at the end. Also checked: no model name appears on the page, answers
are shown as text (an answer holding <b> makes no element), nothing loads from another origin. A screenshot of the
flagged comparison is saved. Prints {"checks", "failures", "judged": [{"item_id", "choice", "flag_left",
"flag_right"}], "screenshot"} (exit 0 either way).
"""
import json, os, sys, time

from chromium import Browser, Checks, expect

base, key, user_key, shot, count, models = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]
checks, judged = Checks(), []

KEYS = {"1": ("Digit1", 49), "2": ("Digit2", 50), "3": ("Digit3", 51), "f": ("KeyF", 70), "g": ("KeyG", 71),
        "?": ("Slash", 191), "Escape": ("Escape", 27), "ArrowLeft": ("ArrowLeft", 37), "ArrowRight": ("ArrowRight", 39),
        "ArrowDown": ("ArrowDown", 40)}
CHOICE = {"1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right", "3": "tie", "ArrowDown": "tie"}
SEQUENCE = ["1", "ArrowRight", "3", "ArrowLeft", "2", "ArrowDown", "1", "2", "3", "ArrowRight"]
FLAG_AT = 4


def press(b, key):
    code, vk = KEYS[key]
    down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
    if len(key) == 1:
        down["text"] = key
        if key == "?":
            down["modifiers"] = 8
    b.call("Input.dispatchKeyEvent", **down)
    b.call("Input.dispatchKeyEvent", **{k: v for k, v in down.items() if k != "text"} | {"type": "keyUp"})


def state(b):
    return b.js("(() => { const a = document.getElementById('answers'); return a ? [document.body.getAttribute('data-state'),"
                " a.getAttribute('data-item'), document.getElementById('progress-text').textContent] : [null, null, null]; })()")


def wait(b, condition, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        b.pump(0.02)
        s = state(b)
        if condition(s):
            return s
    raise AssertionError(f"{what}: still {state(b)} after {timeout} s")


b = Browser()
try:
    b.dialog_answer = key
    b.call("Page.enable")
    b.call("Runtime.enable")
    b.call("Network.enable")
    b.call("Page.navigate", url=base + "/health")
    deadline = time.time() + 30
    while b.js("document.readyState") != "complete":
        expect(time.time() < deadline, "/health did not load")
        time.sleep(0.1)
    b.js(f"localStorage.setItem('forge.review-key', {json.dumps(user_key)})")
    b.call("Page.navigate", url=base + "/review")

    def first_item_after_key():
        wait(b, lambda s: s[0] == "item", "the first item did not show")
        asked = [e["params"].get("message", "") for e in b.events if e.get("method") == "Page.javascriptDialogOpening"]
        expect(asked and "may not review" in asked[0], f"the page did not ask for a reviewer's key after the 403: {asked}")
        expect(b.js("localStorage.getItem('forge.review-key')") == key, "key not kept")
        expect(state(b)[2] == f"0 of {count}", f"progress {state(b)[2]!r}")

    def help_with_keys():
        press(b, "?")
        expect(b.js("!document.getElementById('help').hidden"), "? did not open the help")
        press(b, "Escape")
        expect(b.js("document.getElementById('help').hidden"), "Escape did not close the help")

    saw_markup = []

    def comparisons():
        for n, key_name in enumerate(SEQUENCE[:count]):
            before = wait(b, lambda s: s[0] == "item", f"comparison {n + 1} did not show")
            text = b.js("document.body.innerText")
            for m in models:
                expect(m not in text, f"model name {m!r} on the page")
            expect(b.js("document.querySelectorAll('#answers b, #prompt b').length") == 0, "an answer was rendered as HTML")
            if "<b>" in b.js("document.getElementById('answers').innerText"):
                saw_markup.append(n)
            flag_right = None
            if n == FLAG_AT:
                press(b, "g")
                expect(b.js("!document.getElementById('picker').hidden"), "g did not open the flag picker")
                press(b, "2")
                flag_right = b.js("document.getElementById('flag-right').textContent")
                expect(flag_right == "wrong", f"flag shown as {flag_right!r}")
                b.screenshot(shot)
            press(b, key_name)
            after = wait(b, lambda s: s[2] == f"{n + 1} of {count}" and (s[0] == "done" or (s[0] == "item" and s[1] != before[1])),
                         f"comparison {n + 1} was not recorded")
            judged.append({"item_id": int(before[1]), "choice": CHOICE[key_name], "flag_left": None, "flag_right": flag_right})
        expect(after[0] == "done", f"not done after {count} comparisons: {after}")
        expect("All done" in b.js("document.getElementById('message').textContent"), "no done message")
        expect(saw_markup, "the answer holding <b> was never seen as text")

    for name, fn in [("a user key refused, a reviewer key asked for", first_item_after_key), ("help with ? and Escape", help_with_keys),
                     (f"{count} comparisons with the keyboard, one flag", comparisons), ("nothing loaded from elsewhere", lambda: b.expect_nothing_external(base))]:
        checks.run(name, fn)
finally:
    b.close()
print(json.dumps({"checks": checks.passed, "failures": checks.failures, "judged": judged, "screenshot": os.path.abspath(shot)}))
