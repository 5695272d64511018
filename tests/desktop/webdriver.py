"""A small W3C WebDriver client (plain HTTP with requests): enough to drive the desktop app's
webview through tauri-driver and WebKitWebDriver."""
from __future__ import annotations

import base64
import time

import requests

# The W3C spec's key for an element reference in JSON.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(RuntimeError):
    pass


class Session:
    def __init__(self, base: str, capabilities: dict, timeout: float = 120):
        self.base = base.rstrip("/")
        r = requests.post(f"{self.base}/session", json={"capabilities": {"alwaysMatch": capabilities}},
                          timeout=timeout)
        value = self._value(r, "new session")
        self.id = value["sessionId"]
        self.url = f"{self.base}/session/{self.id}"

    @staticmethod
    def _value(r: requests.Response, what: str):
        try:
            body = r.json()
        except ValueError:
            raise WebDriverError(f"{what}: HTTP {r.status_code}: {r.text[:500]}") from None
        value = body.get("value")
        if r.status_code >= 400 or (isinstance(value, dict) and "error" in value):
            raise WebDriverError(f"{what}: HTTP {r.status_code}: {value}")
        return value

    def _call(self, method: str, path: str, body=None, timeout: float = 60):
        r = requests.request(method, f"{self.url}{path}", json=body, timeout=timeout)
        return self._value(r, f"{method} {path}")

    def quit(self) -> None:
        try:
            requests.delete(self.url, timeout=30)
        except requests.RequestException:
            pass

    # --- page -------------------------------------------------------------------------------

    def execute(self, script: str, *args):
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script: str, *args):
        return self._call("POST", "/execute/async", {"script": script, "args": list(args)})

    def find_all(self, css: str) -> list[str]:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def find_in(self, element: str, css: str) -> str:
        found = self._call("POST", f"/element/{element}/element", {"using": "css selector", "value": css})
        return found[ELEMENT]

    def text(self, element: str) -> str:
        return self._call("GET", f"/element/{element}/text")

    def attribute(self, element: str, name: str) -> str | None:
        return self._call("GET", f"/element/{element}/attribute/{name}")

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click", {})

    def screenshot_png(self) -> bytes:
        """The page as shown, after the next two frames (so the last DOM change is painted)."""
        self.execute_async("const done = arguments[arguments.length - 1];"
                           "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
        return base64.b64decode(self._call("GET", "/screenshot"))

    def wait_for(self, css: str, timeout: float = 30, text: str | None = None) -> str:
        """The first element matching css (and containing text, when given); raises with the
        page's visible text when none appears in time."""
        deadline = time.monotonic() + timeout
        while True:
            for el in self.find_all(css):
                if text is None or text in self.text(el):
                    return el
            if time.monotonic() > deadline:
                body = self.execute("return document.body ? document.body.innerText : ''")
                raise WebDriverError(f"no element {css!r}{f' with text {text!r}' if text else ''} "
                                     f"after {timeout}s; the page shows:\n{body[:2000]}")
            time.sleep(0.2)
