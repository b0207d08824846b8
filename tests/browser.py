"""Open an HTML file in headless Chromium over the DevTools protocol (pipe transport).

We listen to the page's own events: console calls and log entries (errors, CSP violations) and every
network request the page makes. Chromium's own background traffic is not attributed to the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class PageLoad:
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    text: str = ""
    svg_count: int = 0


class _Pipe:
    """Chromium's --remote-debugging-pipe: JSON messages separated by NUL bytes on fds 3 (in) / 4 (out)."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends above 9 so the shell can place them on 3 and 4 without clobbering.
        to_browser_r, from_browser_w = (_above_nine(fd) for fd in (to_browser_r, from_browser_w))
        # The browser expects the pipe on fds 3 and 4; the shell moves our ends there before exec.
        shell = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        self._proc = subprocess.Popen(
            ["bash", "-c", shell, chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(self._read())

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        """Kill the browser and its helper processes (renderer, zygote), which share its session."""
        import signal

        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait(timeout=30)
        os.close(self._to_browser)
        os.close(self._from_browser)


def _above_nine(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


def load_page(html_file: Path, chromium: str, settle_seconds: float = 1.0) -> PageLoad:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        pipe = _Pipe(chromium, profile)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.call(f"{domain}.enable", session)
            pipe.call("Page.navigate", session, url=html_file.resolve().as_uri())
            pipe.wait_for("Page.loadEventFired", timeout=60)
            time.sleep(settle_seconds)
            text = pipe.call("Runtime.evaluate", session, expression="document.body.innerText",
                             returnByValue=True)["result"].get("value", "")
            svgs = pipe.call("Runtime.evaluate", session, expression="document.querySelectorAll('svg').length",
                             returnByValue=True)["result"].get("value", 0)
            load = PageLoad(text=text, svg_count=svgs)
            for event in pipe.events:
                params = event.get("params", {})
                if event.get("method") == "Runtime.consoleAPICalled":
                    load.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                                 for a in params.get("args", [])))
                elif event.get("method") == "Log.entryAdded":
                    load.console.append(f"{params['entry']['level']}: {params['entry']['text']}")
                elif event.get("method") == "Runtime.exceptionThrown":
                    load.console.append(params["exceptionDetails"].get("text", "exception"))
                elif event.get("method") == "Network.requestWillBeSent":
                    url = params["request"]["url"]
                    if not url.startswith(("file:", "data:", "about:")):
                        load.requests.append(url)
            return load
        finally:
            pipe.close()
