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
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CLARITY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CLARITY_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"headless Chromium unavailable: {reason}")


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
