"""Overhead of ``clarity_fx.Chain`` over a plain ``pedalboard.Pedalboard``.

Both hold the same native plugins (HighpassFilter, Gain, Compressor, Reverb,
Limiter) and process 60 s of stereo 48 kHz noise:

- whole buffer: one ``process(audio, 48000)`` call (reset=True, buffer 8192);
- streamed: 4096-sample chunks with ``reset=False`` and ``buffer_size=4096``;
  the Chain then calls ``flush()`` (pedalboard has none and drops its tail).

Seconds are the best of 5 interleaved runs after one warm-up; realtime is
audio seconds per wall-clock second. The ratio is given on wall-clock and on
CPU time; the goal, Chain/pedalboard ≤ 1.05×, is judged on CPU time, which
other processes on a shared machine cannot inflate (on an idle machine the two
agree). ``max |Δ|`` compares the Chain's output with pedalboard's over the
samples both return, so the two sides are known to do the same work.

Then a mixed chain, [HighpassFilter, FFTFilter(low-pass), Gain, Resample(16 kHz),
Compressor], whole vs streamed, with its realtime factor; ``max |Δ|`` there is
streamed+flush against whole.

Run: ``python benchmarks/bench_chain.py`` (about 1 minute).
"""

from __future__ import annotations

import sys

import numpy as np
import pedalboard as pb
from _util import best_of, machine_load, print_table

import clarity_fx as cfx

SAMPLE_RATE = 48000
SECONDS = 60.0
CHUNK = 4096
REPEAT = 5
GOAL = 1.05


def native_plugins() -> list[pb.Plugin]:
    """Fresh instances of the five native plugins (each side needs its own state)."""
    return [
        pb.HighpassFilter(cutoff_frequency_hz=80),
        pb.Gain(gain_db=-3),
        pb.Compressor(threshold_db=-20, ratio=4, attack_ms=5, release_ms=100),
        pb.Reverb(room_size=0.5, wet_level=0.2),
        pb.Limiter(threshold_db=-1, release_ms=100),
    ]


def lowpass(freqs: np.ndarray) -> np.ndarray:
    """First-order analog low-pass at 6 kHz, H(f) = 1 / (1 + j f / fc)."""
    return 1.0 / (1.0 + 1j * freqs / 6000.0)


def mixed_chain() -> cfx.Chain:
    return cfx.Chain([
        pb.HighpassFilter(cutoff_frequency_hz=80),
        cfx.FFTFilter(transfer_function=lowpass),
        pb.Gain(gain_db=-3),
        pb.Resample(target_sample_rate=16000),
        pb.Compressor(threshold_db=-20, ratio=4),
    ])


def stream(plugin, audio: np.ndarray, flush: bool) -> np.ndarray:
    """Feed ``audio`` in CHUNK-sample pieces with reset=False; optionally flush."""
    plugin.reset()
    outs = [
        plugin.process(audio[:, i : i + CHUNK], SAMPLE_RATE, buffer_size=CHUNK, reset=False)
        for i in range(0, audio.shape[1], CHUNK)
    ]
    if flush:
        outs.append(plugin.flush())
    return np.concatenate(outs, axis=1)


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[1], b.shape[1])
    return float(np.max(np.abs(a[:, :n] - b[:, :n]))) if n else float("nan")


def main() -> int:
    rng = np.random.default_rng(20240601)
    audio = (0.1 * rng.standard_normal((2, int(SECONDS * SAMPLE_RATE)))).astype(np.float32)
    print(f"clarity_fx.Chain vs pedalboard.Pedalboard: {SECONDS:g} s stereo {SAMPLE_RATE} Hz noise, "
          f"best of {REPEAT}")
    print("plugins: HighpassFilter, Gain, Compressor, Reverb, Limiter")
    print(f"machine: {machine_load()}\n")

    board = pb.Pedalboard(native_plugins())
    chain = cfx.Chain(native_plugins())
    results: dict[str, np.ndarray] = {}

    def keep(name, fn):
        def run():
            results[name] = fn()
        return run

    times = best_of(
        {
            "pb whole": keep("pb whole", lambda: board.process(audio, SAMPLE_RATE)),
            "chain whole": keep("chain whole", lambda: chain.process(audio, SAMPLE_RATE)),
            "pb stream": keep("pb stream", lambda: stream(board, audio, flush=False)),
            "chain stream": keep("chain stream", lambda: stream(chain, audio, flush=True)),
        },
        repeat=REPEAT,
    )

    rows = []
    worst = 0.0
    for mode, label in (("whole", "whole buffer"), ("stream", f"streamed {CHUNK} + flush")):
        t_pb, t_chain = times[f"pb {mode}"], times[f"chain {mode}"]
        wall_ratio, cpu_ratio = t_chain.wall / t_pb.wall, t_chain.cpu / t_pb.cpu
        worst = max(worst, cpu_ratio)
        rows.append([
            label, f"{t_pb.wall:.3f}", f"{t_chain.wall:.3f}", f"{SECONDS / t_pb.wall:.0f}x",
            f"{SECONDS / t_chain.wall:.0f}x", f"{wall_ratio:.3f}x", f"{cpu_ratio:.3f}x", f"<= {GOAL:.2f}x",
            "ok" if cpu_ratio <= GOAL else "MISSED",
            f"{max_diff(results[f'chain {mode}'], results[f'pb {mode}']):.1e}",
        ])
    print_table(
        ["case", "pedalboard s", "Chain s", "pb RT", "Chain RT", "ratio wall", "ratio CPU", "goal", "",
         "max |Δ|"],
        rows,
    )
    n_pb, n_chain = results["pb stream"].shape[1], results["chain stream"].shape[1]
    print(f"streamed samples returned: pedalboard {n_pb}, Chain {n_chain} (input {audio.shape[1]})")

    print("\nmixed chain: HighpassFilter, FFTFilter(low-pass, 8192 taps), Gain, Resample(16 kHz), Compressor")
    mixed = mixed_chain()
    mtimes = best_of(
        {
            "whole": keep("m whole", lambda: mixed.process(audio, SAMPLE_RATE)),
            "stream": keep("m stream", lambda: stream(mixed, audio, flush=True)),
        },
        repeat=REPEAT,
    )
    diff = max_diff(results["m stream"], results["m whole"])
    whole, streamed = mtimes["whole"], mtimes["stream"]
    print_table(
        ["case", "seconds", "CPU s", "realtime", "vs whole", "samples out", "max |Δ| vs whole"],
        [
            ["whole buffer", f"{whole.wall:.3f}", f"{whole.cpu:.3f}", f"{SECONDS / whole.wall:.0f}x",
             "1.000x", results["m whole"].shape[1], "-"],
            [f"streamed {CHUNK} + flush", f"{streamed.wall:.3f}", f"{streamed.cpu:.3f}",
             f"{SECONDS / streamed.wall:.0f}x", f"{streamed.wall / whole.wall:.3f}x",
             results["m stream"].shape[1], f"{diff:.1e}"],
        ],
    )
    print(f"\noverhead goal (Chain/pedalboard <= {GOAL:.2f}x, judged on CPU time): "
          f"{'met' if worst <= GOAL else 'MISSED'} (worst {worst:.3f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
