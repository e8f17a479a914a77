#!/usr/bin/env python3
"""Headless Chromium drives the runs dashboard of a running `forge serve --runs FOLDER` over the DevTools protocol.

Usage: python3 Tests/python/runs_page.py BASE_URL FOLDER RUN_A RUN_B USER_KEY ADMIN_KEY SCREENSHOT.png
The server must hold both keys (USER_KEY a user's, ADMIN_KEY an admin's). Checked: the page asks for a key and, given
a user's key (403), asks again and takes the admin's; both runs are listed with their sparklines; opening RUN_A shows
its curves and settings; ticking both overlays their curves (a path per run); a train record appended to RUN_A's
metrics.jsonl shows up in the table and the overlay within a few seconds (live update); the page loads nothing from
elsewhere. A screenshot is saved. Prints one JSON object: {"checks": [...], "failures": [...], "screenshot": path}
(exit 0 either way).
"""
import json, os, sys, time

from chromium import Browser, Checks, expect

base, folder, run_a, run_b, user_key, admin_key, shot = sys.argv[1:8]


class KeyedBrowser(Browser):
    """Answers the page's key prompts from a list, in order (the last one repeated)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)

    def event(self, message):
        if message.get("method") == "Page.javascriptDialogOpening":
            self.dialog_answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        super().event(message)


def wait(b, expression, timeout, what):
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while True:
        value = b.js(expression)
        if value:
            return value
        expect(time.time() < deadline, f"{what} (after {timeout} s)")
        b.pump(0.1)


def row(name):
    return f"document.querySelector('#runs tr[data-name=\"{name}\"]')"


b = KeyedBrowser([user_key, admin_key])
checks = Checks()
try:
    def key_prompts():
        b.open(base + "/runs", "document.querySelectorAll('#runs tbody tr').length > 0")
        prompts = [e for e in b.events if e.get("method") == "Page.javascriptDialogOpening"]
        expect(len(prompts) == 2, f"{len(prompts)} key prompts (expected one for no key, one after the user's key's 403)")
        expect("admin" in prompts[1]["params"]["message"], f"second prompt: {prompts[1]['params']['message']!r}")
        expect(b.js("localStorage.getItem('forge.key')") == admin_key, "admin key not kept")

    def both_listed():
        for name in (run_a, run_b):
            expect(b.js(f"!!{row(name)}"), f"{name} not listed")
            expect(b.js(f"{row(name)}.querySelectorAll('.spark svg path').length") == 1, f"{name}: no sparkline path")

    def open_one():
        b.js(f"{row(run_a)}.querySelector('button.open').click()")
        wait(b, f"document.querySelector('#view h2') && document.querySelector('#view h2').textContent.startsWith('{run_a}')", 10,
             "the run did not open")
        expect(b.js("document.querySelectorAll('#view .plot svg path').length") >= 2, "no train curves")
        expect(b.js("document.querySelectorAll('#view table.settings tr').length") > 3, "no settings table")

    def compare_both():
        expect(b.js(f"{row(run_a)}.querySelector('input.pick').checked"), "the open run is not ticked")
        b.js(f"{row(run_b)}.querySelector('input.pick').click()")
        wait(b, "document.querySelector('#view h2') && document.querySelector('#view h2').textContent.startsWith('Comparing')", 10,
             "no comparison")
        runs = b.js("[...new Set([...document.querySelectorAll('#view .plot svg path[data-run]')].map(p => p.dataset.run))]")
        expect(sorted(runs) == sorted([run_a, run_b]), f"overlaid runs {runs}")
        expect(b.js("document.querySelectorAll('#view table.diff tr.differs').length") >= 1, "no differing settings shown")

    def live_update():
        path = f"#view .plot svg path[data-run=\"{run_a}\"][data-series=\"train\"]"
        before = b.js(f"document.querySelector('{path}').getAttribute('d')")
        steps = int(b.js(f"{row(run_a)}.querySelector('.steps').textContent"))
        with open(os.path.join(folder, run_a, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"kind": "train", "step": steps + 40, "loss": 0.5, "tokens": 1e6}) + "\n")
        started = time.time()
        wait(b, f"{row(run_a)}.querySelector('.steps').textContent === '{steps + 40}'", 8, "the table did not update")
        wait(b, f"document.querySelector('{path}').getAttribute('d') !== {json.dumps(before)}", 8, "the overlay did not redraw")
        expect(time.time() - started < 8, "too slow")

    def nothing_external():
        b.expect_nothing_external(base)

    def screenshot():
        b.screenshot(shot)

    for name, fn in [("asks for a key, then an admin's after a 403", key_prompts), ("both runs listed with curves", both_listed),
                     ("one run's curves and settings", open_one), ("two runs overlaid", compare_both),
                     ("live update from metrics.jsonl", live_update), ("nothing loaded from elsewhere", nothing_external),
                     ("screenshot", screenshot)]:
        checks.run(name, fn)
finally:
    b.close()
print(checks.result(shot))
