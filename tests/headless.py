"""Open a local HTML file in headless Chromium, record console errors and network requests, screenshot it.

Talks to Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
NUL-terminated JSON on file descriptors 3 and 4), so it needs no browser-driver
package. Debian's ``chromium`` is installed with apt-get when missing (CI runs as
root); :func:`find_chromium` returns None only when that is impossible.

Run as a script: ``python tests/headless.py results/report.html shot.png``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:")


def find_chromium(install: bool = True) -> str | None:
    """Path of Chromium; installs Debian's ``chromium`` with apt-get when missing and allowed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode != 0:
                return None
        return shutil.which("chromium")
    return None


@dataclass
class Page:
    """What loading one page showed: console errors, non-local requests, and a PNG screenshot."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    height: int = 0


class _Pipe:
    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.proc, self.w, self.r = proc, write_fd, read_fd
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout=60.0):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)


def open_page(html: Path, chromium: str, width: int = 1400) -> Page:
    """Load ``html`` offline in headless Chromium; collect errors and requests; screenshot the full page."""
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    args = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
        "--remote-debugging-pipe", "about:blank",
    ]  # fmt: skip

    def fds():
        os.dup2(to_chrome_r, 3)
        os.dup2(from_chrome_w, 4)

    proc = subprocess.Popen(
        args, preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    page = Page()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.send("Page.navigate", {"url": html.resolve().as_uri()}, session=session)
        pipe.wait_for("Page.loadEventFired")
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        page.height = int(metrics["cssContentSize"]["height"])
        shot = pipe.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True,
             "clip": {"x": 0, "y": 0, "width": width, "height": page.height, "scale": 1}},
            session=session,
        )  # fmt: skip
        page.screenshot = base64.b64decode(shot["data"])
        pipe.send("Runtime.evaluate", {"expression": "0"}, session=session)  # flush pending events
    finally:
        proc.kill()
        proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
    for ev in pipe.events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            own = html.resolve().as_uri()
            if not url.startswith(LOCAL_SCHEMES) or url.startswith("file:") and url != own:
                page.requests.append(url)
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            page.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            page.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            page.errors.append(params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            page.errors.append(f"load failed: {params.get('errorText')}")
    return page


def main(argv: list[str]) -> int:
    html, shot = Path(argv[0]), Path(argv[1])
    chromium = find_chromium()
    if chromium is None:
        print("chromium is not installed and cannot be installed here", file=sys.stderr)
        return 2
    page = open_page(html, chromium)
    shot.write_bytes(page.screenshot)
    print(f"page height {page.height} px; console errors: {page.errors}; network requests: {page.requests}")
    return 1 if page.errors or page.requests else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
