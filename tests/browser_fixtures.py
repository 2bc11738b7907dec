"""A real headless Chromium for the page tests, driven by selenium (the ``browser`` extra).

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; other paths by ``CLARITY_CHROMIUM`` and
``CLARITY_CHROMEDRIVER``) and ``pip install -e ".[browser]"``. Without them the
tests skip with the reason; with ``CLARITY_REQUIRE_BROWSER=1`` (as CI sets it)
a missing browser fails them instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from needs import skip_or_fail

CHROMIUM = os.environ.get("CLARITY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLARITY_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Headless flags: no network chatter, no first-run work, audio allowed to start without a gesture.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,1600",
)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[browser]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and shutil.which(path) is None:
            return f"{path} not found (apt-get install {package})"
    return None


def require_browser() -> None:
    """Skip the calling test, or fail it when CLARITY_REQUIRE_BROWSER=1, without a browser."""
    skip_or_fail(missing_browser(), "CLARITY_REQUIRE_BROWSER", "headless Chromium")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A selenium WebDriver on a headless Chromium with a fresh profile, shared by the session."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, path: Path, player: str | None = None, timeout_s: float = 20.0) -> float:
    """Load ``path`` and wait until its player has decoded its audio; returns the seconds it took."""
    started = time.perf_counter()
    driver.get(path.resolve().as_uri())
    players = "(window.clarityPlayers || {})"
    found = f"{players}[{player!r}]" if player else f"Object.values({players})[0]"
    script = f"const p = {found}; return p ? [p.ready, p.root.dataset.error || null] : null;"
    while time.perf_counter() - started < timeout_s:
        state = driver.execute_script(script)
        if state and state[1]:
            raise AssertionError(f"the page could not decode its audio: {state[1]}")
        if state and state[0]:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise AssertionError(f"{path.name}: the player was not ready after {timeout_s} s")


# --------------------------------------------------------------------------- Firefox
FIREFOX = os.environ.get("CLARITY_FIREFOX", "/usr/bin/firefox-esr")
#: A fresh profile's prefs: sound allowed without a gesture, a mock audio device (a container
#: has none), no first-run or update chatter.
FIREFOX_PREFS = {
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    "media.cubeb.force_mock_context": True,
    "browser.shell.checkDefaultBrowser": False,
    "app.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
}


def missing_firefox() -> str | None:
    """Why the Firefox test cannot run here, or None (it needs no geckodriver: WebDriver BiDi)."""
    try:
        import websocket  # noqa: F401  (websocket-client, which selenium brings)
    except ImportError:
        return "websocket-client not installed (pip install -e '.[browser]')"
    if not Path(FIREFOX).is_file():
        return f"{FIREFOX} not found (apt-get install firefox-esr)"
    return None


class FirefoxBiDi:
    """Headless Firefox driven over WebDriver BiDi (its built-in remote protocol), no geckodriver.

    ``evaluate(js)`` runs an expression in the page and returns its value (strings, numbers,
    booleans; return ``JSON.stringify(...)`` for more), ``click(selector)`` clicks like a user.
    """

    def __init__(self, profile: Path, port: int = 0) -> None:
        import socket
        import subprocess

        import websocket

        prefs = "".join(f"user_pref({json_text(k)}, {json_text(v)});\n" for k, v in FIREFOX_PREFS.items())
        (profile / "user.js").write_text(prefs)
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile", str(profile), "--remote-debugging-port",
             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.perf_counter() + 60
        while True:
            try:
                self.socket = websocket.create_connection(f"ws://127.0.0.1:{port}/session", timeout=60,
                                                          suppress_origin=True)  # fmt: skip
                break
            except OSError:
                if time.perf_counter() > deadline or self.process.poll() is not None:
                    self.close()
                    raise
                time.sleep(0.2)
        self._id = 0
        self.call("session.new", {"capabilities": {}})
        self.context = self.call("browsingContext.getTree", {})["contexts"][0]["context"]

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        import json

        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._id:
                if message.get("type") == "error":
                    raise AssertionError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]

    def get(self, path: Path) -> None:
        self.call("browsingContext.navigate",
                  {"context": self.context, "url": path.resolve().as_uri(), "wait": "complete"})  # fmt: skip

    def evaluate(self, expression: str) -> Any:
        result = self.call("script.evaluate", {"expression": expression, "target": {"context": self.context},
                                               "awaitPromise": True})  # fmt: skip
        if result.get("type") == "exception":
            raise AssertionError(f"{expression[:60]}…: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        import json

        box = json.loads(self.evaluate(
            f"(() => {{ const r = document.querySelector({json_text(selector)}).getBoundingClientRect();"
            " return JSON.stringify([r.x + r.width / 2, r.y + r.height / 2]); })()"
        ))  # fmt: skip
        moves = [{"type": "pointerMove", "x": int(box[0]), "y": int(box[1])},
                 {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]  # fmt: skip
        self.call("input.performActions", {"context": self.context,
                                           "actions": [{"type": "pointer", "id": "mouse", "actions": moves}]})

    def close(self) -> None:
        sock = getattr(self, "socket", None)
        if sock is not None:
            sock.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except Exception:
            self.process.kill()


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.fixture(scope="session")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirefoxBiDi]:
    """A headless Firefox with a fresh profile (skips without firefox-esr; CI does not require it)."""
    reason = missing_firefox()
    if reason is not None:
        pytest.skip(f"headless Firefox unavailable: {reason}")
    driver = FirefoxBiDi(tmp_path_factory.mktemp("firefox-profile"))
    try:
        yield driver
    finally:
        driver.close()
