"""Speed and ceiling accuracy of the compressor and the true-peak limiter, against pedalboard.

1. Speed of ``HardKneeCompressor`` against ``pedalboard.Compressor`` (JUCE
   C++), same settings (threshold −18 dB, ratio 3, attack 5 ms, release
   80 ms), 60 s of stereo 48 kHz, one whole-buffer ``process`` call each
   (``buffer_size`` 8192). Ours in its three detector/link variants.
   Goal: speed ≥ 1 (pedalboard's time over ours).
2. ``TruePeakLimiter(ceiling_dbtp=-1)`` against
   ``pedalboard.BrickwallLimiter(ceiling_db=-1, true_peak=True)`` (both at
   their default release and lookahead, and BrickwallLimiter also at ours):
   the highest output true peak of each by two meters — the project's
   ITU-R BS.1770-4 Annex 2 meter (4×, 12 taps) and the independent
   reference of ``tests/reference_peak.py`` (16× Kaiser-windowed sinc of 128
   zero crossings, refined by FFT interpolation) — on the limiter test
   signals: white and pink noise 12 dB over the ceiling, white noise σ 0.5,
   tones at and near fs/4 and near fs/2 with inter-sample peaks, a
   hard-clipped brick-walled master, and real music (neverball-data's
   band recordings, if installed) driven 6 and 12 dB over; then the speed on
   60 s of stereo 48 kHz of the clipped master and of the white noise.
   Goal: never above −1.0 dBTP by either meter; speed ≥ 2.
3. What numba's first call costs: in fresh processes, once compiling (empty
   cache directory) and once loading the cache; the import of numba itself
   is counted, since clarity_fx imports it only on that first call.

Seconds are the best of 5 interleaved runs after a warm-up; ``speed`` is on
wall-clock and on CPU time (which other processes on a shared machine cannot
inflate).

Run: ``python benchmarks/bench_dynamics.py`` (about 1 min).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard as pb
from _util import best_of, machine_load, print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference_peak import reference_dbtp  # noqa: E402  (the one copy, shared with the tests)

from clarity_fx.processors.compressor import HardKneeCompressor
from clarity_fx.processors.dynamics import true_peak, true_peak_dbtp
from clarity_fx.processors.limiter import TruePeakLimiter

SAMPLE_RATE = 48000
SECONDS = 60.0
REPEAT = 5
CEILING_DBTP = -1.0
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- signals
def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    return np.fft.irfft(spectrum, n)


def to_dbtp(x: np.ndarray, dbtp: float) -> np.ndarray:
    return (x * 10 ** (dbtp / 20) / true_peak(x)).astype(np.float32)


def tone(freq: float, n: int, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(n) / SAMPLE_RATE + phase)


def clipped_master(n: int, rng: np.random.Generator) -> np.ndarray:
    """Loud 'music' (bass and lead tones, noise beats, pink bed) hard-clipped at 0 dBFS."""
    t = np.arange(n) / SAMPLE_RATE
    beat = (np.sin(2 * np.pi * 2 * t) > 0.6) * rng.standard_normal(n)
    music = np.sin(2 * np.pi * 110 * t) + 0.7 * np.sin(2 * np.pi * 2637 * t) + 0.8 * beat
    music += 0.3 * pink(n, rng)
    return np.clip(np.stack([music, np.roll(music, 37)]) * 3, -1.0, 1.0).astype(np.float32)


def limiter_signals(seconds: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    over = CEILING_DBTP + 12
    fs = SAMPLE_RATE
    return {
        "white +12 dB": to_dbtp(rng.standard_normal((2, n)), over),
        "pink +12 dB": to_dbtp(np.stack([pink(n, rng), pink(n, rng)]), over),
        "fs/4 at 45°": to_dbtp(np.stack([tone(fs / 4, n, math.pi / 4)] * 2), CEILING_DBTP + 6),
        "near fs/4": to_dbtp(
            np.stack([tone(fs / 4 - 50, n, 0.3), tone(fs / 4 + 70, n, 1.0)]), over
        ),
        "near fs/2": to_dbtp(
            np.stack([tone(0.45 * fs, n, 0.2), tone(0.47 * fs, n, 2.0)]), CEILING_DBTP + 6
        ),
        "clipped master": clipped_master(n, rng),
        "white σ 0.5": (0.5 * rng.standard_normal((2, n))).astype(np.float32),
        **band_recordings(seconds),
    }


MUSIC = Path("/usr/share/games/neverball/bgm")


def band_recordings(seconds: float) -> dict[str, np.ndarray]:
    """Two neverball-data band recordings, resampled to 48 kHz, driven 6 and 12 dB over (if installed)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    found = {}
    for name in ("track1.ogg", "track3.ogg"):
        if not (MUSIC / name).exists():
            continue
        x, rate = sf.read(MUSIC / name, always_2d=True, frames=int(40 * 44100))
        x = x[int(30 * rate) : int((30 + seconds) * rate)].T
        x = resample_poly(x, SAMPLE_RATE // 300, int(rate) // 300, axis=1)
        for over in (6, 12):
            found[f"{name} +{over} dB"] = to_dbtp(x, CEILING_DBTP + over)
    return found


def speed(ref: float, ours: float) -> str:
    return f"{ref / ours:.2f}x"


def speed_rows(timings: dict, ratios: Callable[[Any], tuple[str, str]]) -> list[list[str]]:
    """Table rows: name, wall seconds, × realtime, then the wall and CPU ratios ``ratios(t)`` gives."""
    return [[name, f"{t.wall:.4f}", f"{SECONDS / t.wall:.0f}", *ratios(t)] for name, t in timings.items()]


# --------------------------------------------------------------------------- 1. compressor
def bench_compressor() -> None:
    rng = np.random.default_rng(1)
    n = int(SECONDS * SAMPLE_RATE)
    x = (0.3 * rng.standard_normal((2, n))).astype(np.float32)
    settings = dict(threshold_db=-18.0, ratio=3.0, attack_ms=5.0, release_ms=80.0)
    plugins = {
        "pedalboard.Compressor": pb.Compressor(**settings),
        "ours peak, link max": HardKneeCompressor(**settings),
        "ours peak, link none": HardKneeCompressor(**settings, link="none"),
        "ours rms, link max": HardKneeCompressor(**settings, detector="rms"),
    }
    timings = best_of(
        {k: (lambda p=p: p.process(x, SAMPLE_RATE)) for k, p in plugins.items()}, REPEAT
    )
    ref = timings["pedalboard.Compressor"]
    rows = speed_rows(timings, lambda t: (speed(ref.wall, t.wall), speed(ref.cpu, t.cpu)))
    print(
        f"\n1. Compressor, {SECONDS:.0f} s stereo {SAMPLE_RATE} Hz noise (σ 0.3), one process call"
    )
    print_table(["plugin", "seconds", "x realtime", "speed (wall)", "speed (cpu)"], rows)


# --------------------------------------------------------------------------- 2. limiter
def bench_limiter() -> None:
    limiters = {
        "TruePeakLimiter (50 ms, 1.5 ms)": lambda: TruePeakLimiter(ceiling_dbtp=CEILING_DBTP),
        "BrickwallLimiter TP (100 ms, 5 ms)": lambda: pb.BrickwallLimiter(
            ceiling_db=CEILING_DBTP, true_peak=True
        ),
        "BrickwallLimiter TP (50 ms, 1.5 ms)": lambda: pb.BrickwallLimiter(
            ceiling_db=CEILING_DBTP, true_peak=True, release_ms=50.0, lookahead_ms=1.5
        ),
    }
    signals = limiter_signals(2.0)
    rows = []
    worst = {name: [-math.inf, -math.inf] for name in limiters}
    for sig_name, x in signals.items():
        row = [sig_name, f"{true_peak_dbtp(x):+.2f}", f"{reference_dbtp(x):+.2f}"]
        for name, make in limiters.items():
            y = make().process(x, SAMPLE_RATE)
            peaks = (true_peak_dbtp(y), reference_dbtp(y))
            worst[name] = [max(w, p) for w, p in zip(worst[name], peaks, strict=True)]
            row += [f"{peaks[0]:+.3f}", f"{peaks[1]:+.3f}"]
        rows.append(row)
    rows.append(["worst", "-", "-"] + [f"{w:+.3f}" for name in limiters for w in worst[name]])
    print(
        f"\n2a. Output true peak (dBTP) for a {CEILING_DBTP:+.1f} dBTP ceiling, 2 s stereo 48 kHz;"
        " 'bs' = BS.1770-4 Annex 2 meter, 'ref' = reference (16x long sinc + FFT)"
    )
    short = {"TruePeakLimiter (50 ms, 1.5 ms)": "ours", "BrickwallLimiter TP (100 ms, 5 ms)": "BW default",
             "BrickwallLimiter TP (50 ms, 1.5 ms)": "BW ours' times"}
    heads = [f"{short[name]} {meter}" for name in limiters for meter in ("bs", "ref")]
    print_table(["signal", "in bs", "in ref"] + heads, rows)

    long = limiter_signals(SECONDS, seed=1)
    for sig_name in ("clipped master", "white +12 dB"):
        x = long[sig_name]
        plugins = {name: make() for name, make in limiters.items()}
        timings = best_of(
            {k: (lambda p=p, x=x: p.process(x, SAMPLE_RATE)) for k, p in plugins.items()}, REPEAT
        )
        ours = timings["TruePeakLimiter (50 ms, 1.5 ms)"]
        rows = speed_rows(timings, lambda t, ours=ours: (speed(t.wall, ours.wall), speed(t.cpu, ours.cpu)))
        print(f"\n2b. Limiter speed, {SECONDS:.0f} s stereo {SAMPLE_RATE} Hz, {sig_name}")
        print_table(
            ["plugin", "seconds", "x realtime", "ours faster (wall)", "ours faster (cpu)"], rows
        )


# --------------------------------------------------------------------------- 3. numba first call
FIRST_CALL = """
import time
import numpy as np
t0 = time.perf_counter()
from clarity_fx.processors.compressor import HardKneeCompressor
from clarity_fx.processors.limiter import TruePeakLimiter
x = (0.5 * np.random.default_rng(0).standard_normal((2, 4800))).astype(np.float32)
t1 = time.perf_counter()
HardKneeCompressor()(x, 48000); TruePeakLimiter()(x, 48000)
t2 = time.perf_counter()
HardKneeCompressor()(x, 48000); TruePeakLimiter()(x, 48000)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_call(cache_dir: str) -> tuple[float, float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    imports, first, second = (float(v) for v in out.split())
    return imports, first, second


def bench_first_call() -> None:
    with tempfile.TemporaryDirectory() as cache:
        compiled = first_call(cache)
        loaded = first_call(cache)
    rows = [
        ["compile (empty cache)", f"{compiled[0]:.3f}", f"{compiled[1]:.3f}", f"{compiled[2]:.4f}"],
        ["load numba's disk cache", f"{loaded[0]:.3f}", f"{loaded[1]:.3f}", f"{loaded[2]:.4f}"],
    ]
    print("\n3. numba first call (compressor + limiter, 0.1 s of audio), fresh processes")
    print_table(["case", "import s", "first call s", "second call s"], rows)


def main() -> None:
    print(f"bench_dynamics: {machine_load()}; pedalboard {pb.__version__}")
    HardKneeCompressor()(np.zeros((2, 64), np.float32), SAMPLE_RATE)  # compile or load kernels
    TruePeakLimiter()(np.zeros((2, 64), np.float32), SAMPLE_RATE)
    bench_compressor()
    bench_limiter()
    bench_first_call()


if __name__ == "__main__":
    main()
