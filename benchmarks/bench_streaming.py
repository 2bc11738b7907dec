"""Streaming equals whole for native plugins, including ones whose output depends on their blocks.

For each native plugin, hosted in a one-item ``clarity_fx.Chain``, on 3 s of
stereo 48 kHz noise plus tones, the script prints:

- ``block-dependent``: max |Δ| between pedalboard's own whole-buffer calls at
  ``buffer_size`` 8192 and 4096 (0 for a plugin whose output ignores its blocks);
- ``run to run``: max |Δ| between two whole-buffer Chain calls (a plugin that
  draws random numbers is not repeatable, and no streaming can equal it);
- ``pb tail``: max |Δ| between pedalboard's own whole call, which ends on a
  short block, and the Chain's whole call, which pads its last block with silence;
- max |Δ| between streaming plus ``flush`` and the whole-buffer call, for the
  chunk patterns of issue 14 (1000, 4096, 37, 12345 cycling; each alone) and
  for 20 random patterns (chunk sizes 1 to 20000).

Plugins: pedalboard's Reverb, MP3Compressor and GSMFullRateCompressor, and
tests/vst3's ClarityTestBlock (a block-rate LFO plus the block's mean, built with
tests/vst3/build.sh when g++ and DPF are there). ``--vst3 PATH`` adds any VST3.

Run: ``python benchmarks/bench_streaming.py [--vst3 PATH ...]`` (about 20 s). Run
it against another tree with ``PYTHONPATH=that/tree`` to compare.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pedalboard as pb
from _util import print_table

import clarity_fx as cfx

SAMPLE_RATE = 48000
SECONDS = 3.0
PATTERNS = {"1000,4096,37,12345": [1000, 4096, 37, 12345], "37": [37], "1000": [1000], "4096": [4096],
            "12345": [12345]}
RANDOM_PATTERNS = 20
GOAL = 0.0  # exactly the whole call's samples
VST3_DIR = Path(__file__).resolve().parent.parent / "tests" / "vst3"


def signal() -> np.ndarray:
    rng = np.random.default_rng(14)
    t = np.arange(int(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    tones = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    return (0.1 * rng.standard_normal((2, t.size)) + tones).astype(np.float32)


def stream(chain: cfx.Chain, audio: np.ndarray, sizes: list[int]) -> np.ndarray:
    chain.reset()
    outs, i, k = [], 0, 0
    while i < audio.shape[1]:
        size = sizes[k % len(sizes)]
        outs.append(chain.process(audio[:, i : i + size], SAMPLE_RATE, reset=False))
        i, k = i + size, k + 1
    outs.append(chain.flush())
    return np.concatenate(outs, axis=1)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)))


def block_plugin() -> Path | None:
    """tests/vst3's ClarityTestBlock, built if the toolchain is there; None otherwise."""
    try:
        result = subprocess.run(["bash", str(VST3_DIR / "build.sh")], capture_output=True, text=True,
                                timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = VST3_DIR / "build" / "ClarityTestBlock.vst3"
    return path if result.returncode == 0 and path.is_dir() else None


def measure(name: str, make: Callable[[], pb.Plugin], audio: np.ndarray) -> list[str]:
    plugin = make()
    dependent = diff(plugin(audio, SAMPLE_RATE, buffer_size=8192),
                     plugin(audio, SAMPLE_RATE, buffer_size=4096))
    chain = cfx.Chain([make()])
    whole = chain(audio, SAMPLE_RATE)
    repeat = diff(chain(audio, SAMPLE_RATE), whole)
    tail = diff(make()(audio, SAMPLE_RATE), whole)
    row = [name, f"{dependent:.1e}", f"{repeat:.1e}", f"{tail:.1e}"]
    for sizes in PATTERNS.values():
        row.append(f"{diff(stream(chain, audio, sizes), whole):.1e}")
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(RANDOM_PATTERNS):
        sizes = [int(s) for s in rng.integers(1, 20001, size=int(rng.integers(1, 7)))]
        sizes[0] = max(sizes[0], 3)  # 1-2 stereo samples are an ambiguous layout, as in pedalboard
        worst = max(worst, diff(stream(chain, audio, sizes), whole))
    row.append(f"{worst:.1e}")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vst3", action="append", default=[], help="another VST3 to measure")
    args = parser.parse_args()
    audio = signal()
    plugins: dict[str, Callable[[], pb.Plugin]] = {
        "Reverb": lambda: pb.Reverb(room_size=0.9, wet_level=0.5),
        "MP3Compressor": lambda: pb.MP3Compressor(),
        "GSMFullRateCompressor": lambda: pb.GSMFullRateCompressor(),
    }
    block = block_plugin()
    if block is None:
        print("ClarityTestBlock not measured: tests/vst3/build.sh needs g++ and dpf-source")
    else:
        plugins["ClarityTestBlock"] = lambda: pb.load_plugin(str(block))
    for path in args.vst3:
        plugins[Path(path).stem] = lambda path=path: pb.load_plugin(path)
    print(f"streamed + flush vs whole, one-item Chain, {SECONDS:g} s stereo {SAMPLE_RATE} Hz, "
          f"buffer_size 8192: max |Δ| (goal {GOAL:g})\n")
    rows = [measure(name, make, audio) for name, make in plugins.items()]
    print_table(["plugin", "block-dependent", "run to run", "pb tail", *PATTERNS,
                 f"{RANDOM_PATTERNS} random"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
