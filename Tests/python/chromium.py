"""Headless Chromium over the DevTools protocol, for the page tests (chat_page.py, feedback_page.py ...).

A script makes a `Browser`, loads a page with `open(url, ready_js)`, drives it with `js(...)`, records named checks in a
`Checks` and prints `checks.result(path)`: one JSON object {"checks": [...], "failures": [...], "screenshot": path}.
"""
import base64, json, os, shutil, subprocess, tempfile, time, urllib.request

import websocket


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


class Browser:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            raise RuntimeError("no chromium on PATH (the test command installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="forge-chromium-")
        self.process = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                         "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                                         "--window-size=1000,800", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(open(port_file).read().split("\n")[0])
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.dialog_answer = None

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.event(message)

    def event(self, message):
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening" and self.dialog_answer is not None:
            self.ws.send(json.dumps({"id": 10**6 + len(self.events), "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": True, "promptText": self.dialog_answer}}))

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def pump(self, seconds):
        """Handles events (dialogs) for a while."""
        self.ws.settimeout(seconds)
        try:
            self.event(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(60)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=20)
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url, ready_js, timeout=30):
        """Enables page, runtime and network events, navigates and waits until `ready_js` is true."""
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Page.navigate", url=url)
        deadline = time.time() + timeout
        while self.js("document.readyState") != "complete" or not self.js(ready_js):
            expect(time.time() < deadline, f"{url} did not load")
            self.pump(0.1)

    def requests(self):
        """The URLs the page requested so far."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def expect_nothing_external(self, base):
        urls = self.requests()
        outside = [u for u in urls if not u.startswith(base) and not u.startswith("data:")]
        expect(urls and not outside, f"requests elsewhere: {outside}")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        expect(os.path.getsize(path) > 10000, "screenshot too small")


# The chat page's last reply, and waiting for it to finish.
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


class Checks:
    """Named checks: each runs, and a failure is recorded by name without stopping the others."""

    def __init__(self):
        self.passed, self.failures = [], []
        self.facts = {}  # what a script observed for its caller, beside the checks

    def run(self, name, fn):
        try:
            fn()
            self.passed.append(name)
        except Exception as e:  # noqa: BLE001 - every failure is reported by name
            self.failures.append(f"{name}: {type(e).__name__}: {e}")

    def result(self, screenshot):
        return json.dumps({"checks": self.passed, "failures": self.failures, "screenshot": os.path.abspath(screenshot), **self.facts})
