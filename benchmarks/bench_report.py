"""Size and load time of the HTML report: the example take, and a 10-minute stereo file.

For each file: ``clarity apply vocal-clarity IN -o OUT --report PAGE`` (render, what the two
stages that change most removed, the page), then the page opened in headless Chromium until
its player has decoded every version (``ready``). Prints the page's size, the audio bitrate it
chose, the players it kept or left out, the seconds ``apply --report`` took (and ``apply``
alone), and the load time in the browser.

    python benchmarks/bench_report.py                 # both (~3 min on 2 cores)
    python benchmarks/bench_report.py --quick         # the example only
    python benchmarks/bench_report.py --screenshot docs/report.png   # README's picture

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)
and selenium (pip install -e ".[browser]").
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_fixtures import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, missing_browser, open_page  # noqa: E402


def clarity(*args: object) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "clarity_fx", *map(str, args)], check=True, cwd=ROOT,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def ten_minutes(path: Path) -> None:
    """The example take tiled to 10 minutes, stereo (right channel 0.37 s later): a long spoken session."""
    take, rate = sf.read(ROOT / "examples" / "take.wav", dtype="float32")
    n = int(600 * rate)
    tiled = np.resize(take, n + int(0.37 * rate))
    sf.write(path, np.stack([tiled[:n], tiled[-n:]], axis=1), int(rate), subtype="PCM_24")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='clarity-chromium-')}")
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the example only")
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the example's report here")
    args = parser.parse_args()
    reason = missing_browser()
    if reason:
        sys.exit(f"needs a browser: {reason}")
    with tempfile.TemporaryDirectory(prefix="clarity-report-bench-") as tmp:
        folder = Path(tmp)
        cases = [("example take (10.6 s mono)", ROOT / "examples" / "take.wav")]
        if not args.quick:
            long = folder / "long.wav"
            ten_minutes(long)
            cases.append(("10 min stereo 48 kHz", long))
        driver = browser()
        try:
            rows = []
            clarity("apply", "vocal-clarity", cases[0][1], "-o", folder / "warm.flac")  # numba's cache warm
            for name, source in cases:
                plain = clarity("apply", "vocal-clarity", source, "-o", folder / "clean.flac")
                page = folder / f"{source.stem}.html"
                with_report = clarity("apply", "vocal-clarity", source, "-o", folder / "clean.flac",
                                      "--report", page)  # fmt: skip
                text = page.read_text(encoding="utf-8")
                config = json.loads(re.search(r'class="clarity-config">(.*?)</script>', text, re.S).group(1))
                kbps = re.search(r"Ogg Vorbis (\d+) kbit/s", text).group(1)
                load = min(open_page(driver, page, timeout_s=120) for _ in range(2))
                size = page.stat().st_size / 1e6
                left = "left out" in text
                rows.append((name, size, kbps, len(config["tracks"]), plain, with_report, load, left))
                if args.screenshot and source.name == "take.wav":
                    driver.set_window_size(1280, 1180)
                    open_page(driver, page)
                    driver.execute_script(
                        "const p = Object.values(clarityPlayers)[0]; p.seek(3.2); p.select(1);"
                    )
                    driver.save_screenshot(str(args.screenshot))
                    driver.set_window_size(1280, 1600)
        finally:
            driver.quit()
    print(f"{'file':<28} {'page MB':>8} {'kbit/s':>7} {'tracks':>6} {'apply s':>8} {'+report s':>9} "
          f"{'load s':>7}  removed players left out")  # fmt: skip
    for name, mb, kbps, tracks, plain, report, load, left in rows:
        print(f"{name:<28} {mb:>8.2f} {kbps:>7} {tracks:>6} {plain:>8.1f} {report:>9.1f} {load:>7.2f}  "
              f"{'yes' if left else 'no'}")  # fmt: skip


if __name__ == "__main__":
    main()
