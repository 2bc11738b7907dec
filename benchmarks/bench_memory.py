"""Peak memory of ``clarity_fx.render`` on a long and a short file.

Renders a 20-minute and a 2-minute stereo 48 kHz 24-bit WAV of noise through
[HighpassFilter(80), FFTFilter(low-pass), Compressor, Limiter] into FLAC, each
in a fresh Python process, and reports that process's peak RSS (the kernel's
high-water mark for the child, from ``os.wait4``). A third process only imports
what a render loads (clarity_fx and its render/chain/FFTFilter modules,
pedalboard, numpy, scipy, soundfile): its peak is the interpreter and
libraries, the rest is the render's working memory.

Goals: the 20-minute peak below 300 MB, and within 20 % of the 2-minute peak
(memory must not grow with the file's length).

The inputs are generated once, block by block, into ``benchmarks/out/memory/``
(git-ignored); the FLAC outputs are deleted afterwards.

Run: ``python benchmarks/bench_memory.py`` (about 1 minute; the first run also
writes the 350 MB input).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from _util import machine_load, mb, peak_rss_of, print_table

SAMPLE_RATE = 48000
CHANNELS = 2
FILES = {"2 min": 120, "20 min": 1200}  # label -> seconds
OUT = Path(__file__).resolve().parent / "out" / "memory"
GOAL_PEAK_MB = 300.0
GOAL_RATIO = 1.20


# --------------------------------------------------------------------------- inputs
def ensure_input(seconds: int) -> Path:
    """A ``seconds``-long 24-bit stereo noise WAV, written 10 s at a time (kept across runs)."""
    import numpy as np
    import soundfile as sf

    path = OUT / f"noise_{seconds}s_{SAMPLE_RATE}_stereo.wav"
    frames = seconds * SAMPLE_RATE
    if path.exists():
        try:
            info = sf.info(str(path))
            if (info.frames, info.samplerate, info.channels, info.subtype) == (
                frames, SAMPLE_RATE, CHANNELS, "PCM_24"
            ):
                return path
        except RuntimeError:
            pass
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.wav")
    rng = np.random.default_rng(seconds)
    block = 10 * SAMPLE_RATE
    with sf.SoundFile(str(tmp), "w", SAMPLE_RATE, CHANNELS, subtype="PCM_24", format="WAV") as f:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            f.write(np.clip(0.1 * rng.standard_normal((n, CHANNELS)), -1.0, 1.0).astype(np.float32))
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- children
def lowpass(freqs):
    """First-order analog low-pass at 6 kHz, H(f) = 1 / (1 + j f / fc)."""
    return 1.0 / (1.0 + 1j * freqs / 6000.0)


def _import_everything() -> None:
    import numpy  # noqa: F401
    import pedalboard  # noqa: F401
    import pedalboard.io  # noqa: F401
    import scipy.fft  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    import clarity_fx  # noqa: F401
    import clarity_fx.chain  # noqa: F401
    import clarity_fx.processors.fft_filter  # noqa: F401
    import clarity_fx.rendering  # noqa: F401


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        import os

        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_baseline() -> None:
    _import_everything()
    print(json.dumps({"rss_after_imports": _current_rss()}))


def child_render(source: str, target: str) -> None:
    _import_everything()
    import pedalboard as pb

    import clarity_fx as cfx
    from clarity_fx.rendering import render  # cfx.render is the module once clarity_fx.render is imported

    chain = cfx.Chain([
        pb.HighpassFilter(cutoff_frequency_hz=80),
        cfx.FFTFilter(transfer_function=lowpass),
        pb.Compressor(threshold_db=-20, ratio=4),
        pb.Limiter(threshold_db=-1),
    ])
    before = _current_rss()
    result = render(source, target, chain, progress=False)
    print(json.dumps({
        "rss_after_imports": before,
        "rss_at_end": _current_rss(),
        "seconds": result.seconds,
        "realtime": result.realtime_factor,
        "frames": result.frames,
    }))


# --------------------------------------------------------------------------- parent
def main() -> int:
    print(f"clarity_fx.render peak RSS: stereo {SAMPLE_RATE} Hz 24-bit wav -> FLAC, "
          "chain [HighpassFilter(80), FFTFilter(low-pass), Compressor, Limiter]")
    print(f"machine: {machine_load()}")
    started = time.perf_counter()
    inputs = {label: ensure_input(seconds) for label, seconds in FILES.items()}
    print(f"inputs ready in {time.perf_counter() - started:.1f} s ({OUT})\n")

    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    bare_peak, _ = peak_rss_of([sys.executable, "-c", "pass"])
    base_peak, out = peak_rss_of(me + ["baseline"])
    base = json.loads(out)
    rows = [
        ["bare interpreter (python -c pass)", "-", "-", f"{mb(bare_peak):.0f}", "-", "-", "-", "-"],
        ["imports only (baseline)", "-", "-", f"{mb(base_peak):.0f}", "0", "-", "-", "-"],
    ]
    peaks: dict[str, int] = {}
    for label, source in inputs.items():
        target = OUT / f"{source.stem}.flac"
        try:
            peak, out = peak_rss_of(me + ["render", str(source), str(target)])
        finally:
            target.unlink(missing_ok=True)
        info = json.loads(out)
        peaks[label] = peak
        rows.append([
            f"render {label}", f"{FILES[label]}", f"{mb(source.stat().st_size):.0f}", f"{mb(peak):.0f}",
            f"{mb(peak - base_peak):.0f}", f"{mb(info['rss_at_end'] - info['rss_after_imports']):+.0f}",
            f"{info['seconds']:.1f}", f"{info['realtime']:.0f}x",
        ])
    print_table(
        ["process", "audio s", "input MB", "peak RSS MB", "above baseline MB", "RSS growth MB",
         "render s", "realtime"],
        rows,
    )
    print("(MB = 10^6 bytes; RSS growth = resident memory at the end of render minus before it)")

    long_peak, short_peak = peaks["20 min"], peaks["2 min"]
    ratio = long_peak / short_peak
    above = (long_peak - base_peak) / max(short_peak - base_peak, 1)
    print()
    print_table(
        ["goal", "target", "measured", ""],
        [
            ["20-min peak RSS", f"< {GOAL_PEAK_MB:.0f} MB", f"{mb(long_peak):.0f} MB",
             "ok" if mb(long_peak) < GOAL_PEAK_MB else "MISSED"],
            ["20-min / 2-min peak", f"<= {GOAL_RATIO:.2f}x", f"{ratio:.2f}x",
             "ok" if ratio <= GOAL_RATIO else "MISSED"],
        ],
    )
    print(f"(above-baseline ratio 20-min / 2-min: {above:.2f}x; "
          f"baseline after imports: {mb(base['rss_after_imports']):.0f} MB resident)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if sys.argv[2] == "baseline":
            child_baseline()
        else:
            child_render(sys.argv[3], sys.argv[4])
        sys.exit(0)
    sys.exit(main())
