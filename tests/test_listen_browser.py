"""A blind test taken in headless Chromium: the page plays, switches and saves answers that score right.

The "listener" decides by measuring the sound the page decoded (never by reading the key): in an
A/B trial it prefers the version with less energy below 150 Hz, in an ABX trial it names the side
whose samples are closest to X. The key then has to agree with what the page played: both
presets beat the original in every trial (they both take low end away) and every X is named right.

Needs selenium (the ``browser`` extra) and Debian's ``chromium`` and ``chromium-driver``; without
them the test is skipped with the reason, and with ``CLARITY_REQUIRE_BROWSER=1`` (as in CI) it fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_fixtures import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, require_browser

ROOT = Path(__file__).resolve().parent.parent
TAKE = ROOT / "examples" / "take.wav"
PRESETS = ("telephone-band", "hum-removal")
REPEATS, ABX = 2, 2


@pytest.fixture
def chromium(tmp_path):
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver, downloads
    finally:
        driver.quit()


def wait_for(condition, timeout: float = 15.0, what: str = "the page"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


NOW = "return window.clarityListen.player.currentTime"
#: The listener's ear, run in the page on the buffers the player decoded (index 0 = A, 1 = B, 2 = X).
LISTEN = """
const p = window.clarityListen.player;
const data = p.buffers.map(b => b.getChannelData(0));
if (p.tracks.length === 3) {
  const distance = k => {
    let s = 0;
    for (let i = 0; i < data[2].length; i++) s += (data[2][i] - data[k][i]) ** 2;
    return s;
  };
  return distance(0) < distance(1) ? "1" : "2";
}
const lowShare = (x, rate) => {
  const a = 1 - Math.exp(-2 * Math.PI * 150 / rate); let y = 0, low = 0, all = 0;
  for (let i = 0; i < x.length; i++) { y += a * (x[i] - y); low += y * y; all += x[i] * x[i]; }
  return low / all;
};
const rate = p.buffers[0].sampleRate;
return lowShare(data[0], rate) < lowShare(data[1], rate) ? "1" : "2";
"""


def ready(root, number: int) -> bool:
    return root.get_attribute("data-trial") == str(number) and root.get_attribute("data-ready") == "true"


def test_take_a_blind_test_save_and_score(chromium, tmp_path):
    driver, downloads = chromium
    from selenium.webdriver.common.by import By

    from clarity_fx.listening import make_test

    folder = tmp_path / "test"
    make_test(TAKE, PRESETS, folder, repeats=REPEATS, abx=ABX, seconds=2.0, start=1.0)
    n_trials = len(PRESETS) * (REPEATS + ABX)
    driver.get((folder / "index.html").as_uri())
    body = driver.find_element(By.TAG_NAME, "body")
    root = driver.find_element(By.ID, "listen")
    assert driver.execute_script("return window.clarityListen.trials") == n_trials
    for number in range(1, n_trials + 1):
        wait_for(lambda n=number: ready(root, n), what=f"trial {number} to decode")
        assert root.get_attribute("data-error") is None
        kind = driver.find_element(By.ID, "trial-kind").text
        assert kind == ("A/B" if number <= len(PRESETS) * REPEATS else "ABX")
        body.send_keys(" ")  # play, from the keyboard
        start = driver.execute_script(NOW)
        wait_for(lambda s=start: driver.execute_script(NOW) > s + 0.1, what="playback to advance")
        body.send_keys("b")
        assert driver.execute_script("return window.clarityListen.player.selected") == 1
        if kind == "ABX":
            body.send_keys("x")
            assert driver.execute_script("return window.clarityListen.player.selected") == 2
        choice = driver.execute_script(LISTEN)
        body.send_keys(choice)  # answer: 1 = A, 2 = B
        pressed = driver.find_element(By.CSS_SELECTOR, '#choices button[aria-pressed="true"]')
        assert pressed.get_attribute("data-choice") == {"1": "A", "2": "B"}[choice]
        body.send_keys(" ")  # pause
        if number < n_trials:
            body.send_keys("n")
    assert driver.find_element(By.ID, "progress").text == f"{n_trials} of {n_trials} answered"
    driver.find_element(By.ID, "listener").send_keys("headless")
    driver.find_element(By.ID, "save").click()
    saved = wait_for(lambda: [p for p in downloads.glob("*.json")], what="the answers download")
    answers = json.loads(saved[0].read_text(encoding="utf-8"))
    assert saved[0].name == f"answers-{answers['test']}-headless.json"
    assert answers["listener"] == "headless" and len(answers["answers"]) == n_trials
    assert all(a["seconds"] > 0 and a["switches"] >= 1 for a in answers["answers"])

    # The key is found beside the page, whose address the answers carry.
    result = subprocess.run([sys.executable, "-m", "clarity_fx", "listen", "score", str(saved[0])],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = {line.split()[1]: line.split() for line in lines if line.strip()[:1].isdigit()}
    for name in PRESETS:  # wins / losses / ties, preferred
        assert rows[name][3:8] == [str(REPEATS), str(REPEATS), "0", "0", "100"], result.stdout
        assert re.search(rf"{name} / original\s+{ABX}\s+{ABX}\s+100 %", result.stdout), result.stdout
    assert f"{n_trials} of {n_trials} trials answered" in result.stdout
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
