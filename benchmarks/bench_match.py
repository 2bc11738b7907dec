"""Reference matching: MatchEQ against matchering, on real music pairs, in one run.

For each pair (input, reference) of real recordings this prints, for every method:

- the largest and the RMS difference between the output's and the reference's long-term
  third-octave spectrum, 40 Hz to 16 kHz (27 base-10 bands, IEC 61260), in dB, and how many
  bands are within ±1 dB (the goal: all 27);
- the output's integrated loudness minus the reference's, LU (the goal: within ±0.1);
- the CPU seconds of this process (all its threads; steadier than wall-clock on a busy machine), and
  matchering's over MatchEQ's.

The referees are independent of the processor's code: pyloudnorm for loudness, and for the
spectrum scipy's Welch PSD of 65536-point Hann frames, 50 % overlap (0.67 Hz bins at 44.1 kHz),
summed over the bins inside each band. Note that MatchEQ's own analysis (since its profile
version 2) also uses Hann frames of 65536 points at 44.1 kHz, so it sees the same frames; it
then averages them into 1/96-octave bands and sums those into the bands. A second spectral
referee, printed beside the first (the "2nd referee" columns), is a 131072-point Welch
(0.34 Hz bins, 75 % overlap): a different resolution and time weighting, to show how much of
the match depends on the analysis agreeing with the first referee's.

Methods: ``MatchEQ`` as it ships (±30 dB safety bound, float output, no limiter); ``MatchEQ
±12 dB`` (the earlier bound, to show where the bound is what stops it); ``clarity match`` (what
the command writes: ``MatchEQ(ceiling_dbtp=-1)``, whose fit refines gain and curve through its
limiter); ``MatchEQ, LoudnessNorm.`` (MatchEQ then a separate LoudnessNormalize to the
reference's loudness under −1 dBTP, what the command wrote before: its limiter changes the
spectrum); ``matchering`` (2.0.6, its default output with its limiter) and ``matchering, no
limiter`` (its unlimited result, same run). matchering runs in memory on the same float arrays
(``matchering.stages.main``, what ``matchering.process`` calls after loading).

Recordings (Debian packages; a missing one is skipped with a message): ``neverball-data``
(/usr/share/games/neverball/bgm/*.ogg, 44.1 kHz stereo), ``pingus-data``
(/usr/share/games/pingus/data/music/*.it, tracker modules rendered by ffmpeg's libopenmpt) and
``fb-music-high`` (/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm). The first
``EXCERPT_S`` seconds of each, decoded by ffmpeg to 44.1 kHz stereo float. matchering is in the
``bench`` extra (``pip install -e ".[bench]"``); without it its rows are skipped.

Usage: python benchmarks/bench_match.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import scipy.signal
from _util import machine_load, print_table

import clarity_fx as cfx
from clarity_fx.processors.match_profile import analyse_audio

SR = 44100
EXCERPT_S = 45.0
NEVERBALL = "/usr/share/games/neverball/bgm"
PINGUS = "/usr/share/games/pingus/data/music"
FROZEN = "/usr/share/games/frozen-bubble/snd"
#: (input, reference, package).
PAIRS = [
    (f"{NEVERBALL}/track1.ogg", f"{NEVERBALL}/track4.ogg", "neverball-data"),
    (f"{NEVERBALL}/track2.ogg", f"{NEVERBALL}/title.ogg", "neverball-data"),
    (f"{NEVERBALL}/track6.ogg", f"{NEVERBALL}/track3.ogg", "neverball-data"),
    (f"{PINGUS}/pingus-1.it", f"{NEVERBALL}/track5.ogg", "pingus-data, neverball-data"),
    (f"{PINGUS}/sorcerer.it", f"{PINGUS}/rough_journey.it", "pingus-data"),
    (f"{FROZEN}/frozen-mainzik-2p.xm", f"{NEVERBALL}/track2.ogg", "fb-music-high, neverball-data"),
]
THIRDS = 1000.0 * 10.0 ** (np.arange(-14, 13) / 10.0)  # 40 Hz ... 16 kHz


def decode(path: str) -> np.ndarray:
    """``(2, n)`` float64 at 44.1 kHz: the first EXCERPT_S seconds."""
    args = ["ffmpeg", "-v", "error", "-i", path, "-t", str(EXCERPT_S), "-ac", "2", "-ar", str(SR),
            "-f", "f32le", "-"]
    raw = subprocess.run(args, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, 2).T.astype(np.float64)


def third_octave_db(x: np.ndarray) -> np.ndarray:
    """The referee: 65536-point Welch PSD (50 % overlap), summed over the bins of each band, dB."""
    f, p = scipy.signal.welch(x, SR, nperseg=1 << 16, axis=-1)
    p = p.mean(axis=0)
    return np.array([10 * np.log10(p[(f >= c * 10**-0.05) & (f < c * 10**0.05)].sum()) for c in THIRDS])


def third_octave_db_fine(x: np.ndarray) -> np.ndarray:
    """The 2nd referee: 131072-point Welch PSD, 75 % overlap, summed over the bins of each band, dB."""
    f, p = scipy.signal.welch(x, SR, nperseg=1 << 17, noverlap=3 << 15, axis=-1)
    p = p.mean(axis=0)
    return np.array([10 * np.log10(p[(f >= c * 10**-0.05) & (f < c * 10**0.05)].sum()) for c in THIRDS])


def loudness(x: np.ndarray) -> float:
    import pyloudnorm

    return pyloudnorm.Meter(SR).integrated_loudness(x.T)


def timed(run):
    started = time.process_time()
    out = run()
    return np.asarray(out, np.float64), time.process_time() - started


def methods(reference: np.ndarray) -> dict:
    """name -> function(input) -> output, each given the reference audio (profile analysis included)."""

    def match(bound: float):
        def run(x):
            profile = analyse_audio(reference, SR)
            return cfx.MatchEQ(reference=profile, max_gain_db=bound)(x.astype(np.float32), SR)
        return run

    def clarity_match(x):
        profile = analyse_audio(reference, SR)
        return cfx.MatchEQ(reference=profile, ceiling_dbtp=-1.0)(x.astype(np.float32), SR)

    def then_normalize(x):
        profile = analyse_audio(reference, SR)
        chain = cfx.Chain([cfx.MatchEQ(reference=profile),
                           cfx.LoudnessNormalize(target_lufs=profile.loudness_lufs, true_peak_dbtp=-1.0)])
        return chain(x.astype(np.float32), SR)

    found = {"MatchEQ": match(30.0), "MatchEQ +-12 dB": match(12.0), "clarity match": clarity_match,
             "MatchEQ, LoudnessNorm.": then_normalize}
    try:
        import matchering
        from matchering.stages import main as matchering_main
    except ImportError:
        print("skipped matchering: not installed (pip install -e '.[bench]')")
        return found
    config = matchering.Config()
    cache: dict[int, tuple] = {}

    def run_matchering(x, which):
        key = id(x)
        if key not in cache:
            started = time.process_time()
            result, unlimited, _ = matchering_main(x.T.copy(), reference.T.copy(), config,
                                                   need_default=True, need_no_limiter=True)
            cache.clear()
            cache[key] = (result.T, unlimited.T, time.process_time() - started)
        return cache[key][which]

    found["matchering"] = lambda x: run_matchering(x, 0)
    found["matchering, no limiter"] = lambda x: run_matchering(x, 1)
    found["_matchering_seconds"] = lambda x: run_matchering(x, 2)
    return found


def main() -> None:
    print(machine_load())
    if shutil.which("ffmpeg") is None:
        print("skipped: ffmpeg not found (apt-get install ffmpeg)")
        return
    rows, summary = [], {}
    for source_path, reference_path, package in PAIRS:
        missing = [p for p in (source_path, reference_path) if not os.path.exists(p)]
        if missing:
            print(f"skipped {os.path.basename(source_path)} -> {os.path.basename(reference_path)}: "
                  f"{missing[0]} is missing (apt-get install {package})")
            continue
        x, reference = decode(source_path), decode(reference_path)
        name = f"{os.path.basename(source_path)} -> {os.path.basename(reference_path)}"
        target_bands, target_lufs = third_octave_db(reference), loudness(reference)
        target_fine = third_octave_db_fine(reference)
        before = third_octave_db(x) - target_bands
        within = int(np.sum(np.abs(before) <= 1.0))
        rows.append([name, "input", f"{np.abs(before).max():.2f}", f"{np.sqrt(np.mean(before**2)):.2f}",
                     f"{within}/27", "-", f"{loudness(x) - target_lufs:+.2f}", "-", "-"])
        runs = methods(reference)
        seconds = {}
        for method, run in runs.items():
            if method.startswith("_"):
                continue
            out, elapsed = timed(lambda run=run, x=x: run(x))
            if method.startswith("matchering"):
                elapsed = runs["_matchering_seconds"](x)
            seconds[method] = elapsed
            error = third_octave_db(out) - target_bands
            fine = third_octave_db_fine(out) - target_fine
            lu = loudness(out) - target_lufs
            worst = float(np.abs(error).max())
            within = int(np.sum(np.abs(error) <= 1.0))
            summary.setdefault(method, []).append((worst, abs(lu), elapsed, x.shape[1] / SR, within,
                                                   float(np.abs(fine).max()),
                                                   int(np.sum(np.abs(fine) <= 1.0))))
            ratio = seconds[method] / seconds["MatchEQ"] if "MatchEQ" in seconds else float("nan")
            rows.append([name, method, f"{worst:.2f}", f"{np.sqrt(np.mean(error**2)):.2f}",
                         f"{int(np.sum(np.abs(error) <= 1.0))}/27",
                         f"{int(np.sum(np.abs(fine) <= 1.0))}/27", f"{lu:+.3f}", f"{elapsed:.2f}",
                         f"{ratio:.2f}x"])
    if not rows:
        print("no recordings found: apt-get install neverball-data pingus-data fb-music-high")
        return
    print(f"\nthird-octave spectrum (40 Hz-16 kHz) and loudness of the output against the reference; "
          f"first {EXCERPT_S:g} s of each, 44.1 kHz stereo")
    print_table(["pair", "method", "max |dB|", "rms dB", "bands <=1 dB", "2nd referee", "LU error",
                 "CPU s", "CPU / MatchEQ"], rows)
    print("\nsummary over the pairs")
    table = []
    for method, values in summary.items():
        worst, lu, elapsed, audio, within, fine_worst, fine_within = (
            np.array(v) for v in zip(*values, strict=True))
        table.append([method, f"{int(np.sum(worst <= 1.0))}/{len(worst)}",
                      f"{int(within.sum())}/{27 * len(within)}", f"{np.median(worst):.2f}",
                      f"{int(fine_within.sum())}/{27 * len(within)}", f"{fine_worst.max():.2f}",
                      f"{int(np.sum(lu <= 0.1))}/{len(lu)}", f"{lu.max():.3f}",
                      f"{audio.sum() / elapsed.sum():.1f}x"])
    print_table(["method", "pairs within +-1 dB", "bands within +-1 dB", "median max |dB|",
                 "2nd referee: bands", "2nd: worst |dB|", "pairs within +-0.1 LU", "worst LU",
                 "realtime (CPU)"], table)
    if "matchering" in summary and "MatchEQ" in summary:
        ours = np.array([v[0] for v in summary["MatchEQ"]])
        theirs = np.array([v[0] for v in summary["matchering"]])
        ours_in = sum(v[4] for v in summary["MatchEQ"])
        theirs_in = sum(v[4] for v in summary["matchering"])
        speed = sum(v[2] for v in summary["matchering"]) / sum(v[2] for v in summary["MatchEQ"])
        print(f"\nMatchEQ against matchering: median worst-band error {np.median(ours):.2f} dB against "
              f"{np.median(theirs):.2f} dB ({np.median(theirs) / np.median(ours):.1f}x smaller); "
              f"{ours_in} bands within +-1 dB against {theirs_in} ({ours_in / max(theirs_in, 1):.1f}x); "
              f"{speed:.2f}x its speed (CPU seconds)")


if __name__ == "__main__":
    main()
