"""The report in a real headless Chromium: it plays, switches A/B in place, seeks, shows its offsets."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from browser_fixtures import chromium, firefox, open_page  # noqa: F401  (the session fixtures)
from test_report import SR, config_of, take

from clarity_fx.report import GainReduction, write_report

PLAYER = "Object.values(window.clarityPlayers)[0]"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-report")
    before, after = take(4.0)
    sf.write(folder / "take.wav", before.T, SR, subtype="PCM_24")
    sf.write(folder / "clean.flac", after.T, SR, subtype="PCM_24")
    trace = np.minimum(0.0, -6.0 * np.sin(np.linspace(0, 8 * np.pi, 4000)))
    out = folder / "report.html"
    write_report(folder / "take.wav", [folder / "clean.flac"], out,
                 gain_reductions=[GainReduction("gain reduction: test", trace)])  # fmt: skip
    return out


@pytest.fixture
def page(chromium: Any, report: Path) -> Any:  # noqa: F811
    open_page(chromium, report)
    chromium.find_element("css selector", "input.mute").click()  # muted: nothing reaches a speaker
    assert chromium.execute_script(f"return {PLAYER}.muted") is True
    return chromium


def player(driver: Any, expression: str) -> Any:
    return driver.execute_script(f"const p = {PLAYER}; return {expression};")


def test_plays_and_switches_in_place(page: Any, report: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    assert player(page, "p.buffers.map(b => b.duration)") == pytest.approx([4.0, 4.0], abs=0.01)
    ActionChains(page).send_keys(" ").perform()  # space plays
    time.sleep(0.6)
    state = player(page, "[p.playing, p.currentTime, p.ctx.state]")
    assert state[0] is True and state[2] == "running"
    assert 0.3 < state[1] < 2.0  # the audio clock moves
    # Switch with the B key: same position, same sources (no restart), only the gains move.
    started = player(page, "p._startedAt")
    switch = page.execute_script(f"""
        const p = {PLAYER};
        const t0 = performance.now(), a = p.currentTime;
        document.dispatchEvent(new KeyboardEvent("keydown", {{key: "b", bubbles: true}}));
        const b = p.currentTime, t1 = performance.now();
        return [a, b, (t1 - t0) / 1000, p.selected];""")
    before_switch, after_switch, elapsed, selected = switch
    assert selected == 1
    assert abs((after_switch - before_switch) - elapsed) < 0.05
    time.sleep(0.1)
    assert player(page, "[p.playing, p._startedAt]") == [True, started]
    offset = config_of(report.read_text(encoding="utf-8"))["tracks"][1]["offset_db"]
    gains = player(page, "p.gains.map(g => g.gain.value)")
    assert gains == pytest.approx([0.0, 10 ** (offset / 20)], rel=1e-3)
    button = page.find_element("css selector", '.version[data-index="1"]')
    assert button.get_attribute("aria-pressed") == "true"
    ActionChains(page).send_keys("a").perform()  # and back to A, still in step with the clock
    time.sleep(0.05)
    assert player(page, "[p.selected, p._startedAt]") == [0, started]
    ActionChains(page).send_keys(" ").perform()
    paused = player(page, "[p.playing, p.currentTime]")
    time.sleep(0.2)
    assert paused[0] is False and player(page, "p.currentTime") == paused[1]


def test_clicking_the_spectrogram_seeks(page: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    picture = page.find_elements("css selector", ".spectrogram")[1]
    assert page.execute_script("return arguments[0].querySelector('img').naturalWidth", picture) > 0
    width = picture.size["width"]
    ActionChains(page).move_to_element_with_offset(picture, int(0.25 * width), 0).click().perform()
    assert player(page, "p.currentTime") == pytest.approx(3.0, abs=4.0 * 2 / width + 0.01)
    cursor = page.execute_script("return arguments[0].querySelector('.cursor').style.left", picture)
    assert float(cursor.rstrip("%")) == pytest.approx(75.0, abs=0.5)
    assert float(picture.get_attribute("aria-valuenow")) == pytest.approx(3.0, abs=0.05)
    ActionChains(page).send_keys("\ue012").perform()  # left arrow: 5 s back, stops at the start
    assert player(page, "p.currentTime") == 0.0


def test_offsets_shown_and_switchable(page: Any, report: Path) -> None:
    config = config_of(report.read_text(encoding="utf-8"))
    shown = [e.text for e in page.find_elements("css selector", ".version .offset")]
    assert shown == [f"{t['offset_db']:+.1f} dB" for t in config["tracks"]]
    assert player(page, "[p.appliedGainDb(0), p.appliedGainDb(1)]") == pytest.approx(
        [0.0, config["tracks"][1]["offset_db"]]
    )
    page.find_element("css selector", "input.match").click()  # loudness matching off
    assert player(page, "[p.matched, p.appliedGainDb(1)]") == [False, 0]


def test_screenshot_is_not_blank(page: Any, tmp_path: Path) -> None:
    import matplotlib.image

    shot = matplotlib.image.imread(io.BytesIO(page.get_screenshot_as_png()), format="png")[..., :3]
    assert shot.shape[0] > 500 and shot.shape[1] > 800
    assert shot.std() > 0.1  # pictures and text, not one flat colour
    dark = (shot.mean(axis=2) < 0.3).mean()
    assert dark > 0.05  # the spectrograms are drawn
    severe = [e for e in page.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe


def test_plays_in_firefox(firefox: Any, report: Path) -> None:  # noqa: F811
    """The same page in Firefox: it decodes the Vorbis, plays on a click, switches in place."""
    import json

    firefox.get(report)
    deadline = time.perf_counter() + 20
    while not firefox.evaluate(f"(() => {{ const p = {PLAYER}; return !!(p && p.ready); }})()"):
        assert time.perf_counter() < deadline, firefox.evaluate(f"{PLAYER}.root.dataset.error || 'not ready'")
        time.sleep(0.05)
    firefox.click("input.mute")
    firefox.click("button.play")
    time.sleep(0.5)
    first = json.loads(firefox.evaluate(
        f"(() => {{ const p = {PLAYER}; const a = p.currentTime;"
        " document.dispatchEvent(new KeyboardEvent('keydown', {key: 'b'}));"
        " return JSON.stringify([p.ctx.state, p.playing, p.muted, a, p.currentTime, p.selected,"
        " p.buffers.map(b => b.duration)]); })()"
    ))  # fmt: skip
    state, playing, muted, before_switch, after_switch, selected, durations = first
    assert (state, playing, muted, selected) == ("running", True, True, 1)
    assert before_switch > 0.2 and abs(after_switch - before_switch) < 0.05
    assert durations == pytest.approx([4.0, 4.0], abs=0.01)
