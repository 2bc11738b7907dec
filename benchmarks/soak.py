"""Soak ``clarity_fx.batching``: a few hundred short files, throughput and peak memory.

    python benchmarks/soak.py [--files 300] [--jobs N] [--isolate] [--seconds 2]

Writes ``--files`` short recordings (0.5x to 1.5x ``--seconds`` long; 16, 44.1
and 48 kHz; mono and stereo; in nested folders; 1 in 50 is deliberately
broken, half of those so that pedalboard's decoder crashes its process) under
a temporary folder, runs one batch over them with a realistic chain
(high-pass, spectral subtraction, compressor, true-peak limiter), then
reruns it with ``skip_existing`` as a resumed batch would. Prints files per
second, audio hours per hour, and peak memory of the whole process tree
(this process, the forkserver and every worker, sampled every 100 ms): the sum
of resident sets (RSS, which counts shared libraries once per process), the
sum of proportional sets (PSS, shared pages split between their users: the
real footprint), and the largest single process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_load, mb, print_table  # noqa: E402

CHAIN = [
    {"highpass_filter": {"cutoff_frequency_hz": 70}},
    {"spectral_subtraction": {"noise_seconds": 0.25}},
    {"compressor": {"threshold_db": -20, "ratio": 3}},
    {"true_peak_limiter": {"ceiling_dbtp": -1}},
]


#: A damaged WAV header on which pedalboard 0.9's reader segfaults (found by fuzz.py).
DECODER_CRASH = (b"RIFF`\x14\x00\x00WAVEfmt \x10\x00\x00\x00\x03\x00\x07\x00\x00w\x01\x00"
                 b"\x00\x08R\x008\x00@\x00fact\x04\x00\x00\x00[\x00\x00\x00PEAK")


def make_files(folder: Path, count: int, seconds: float, seed: int = 0) -> int:
    """Write ``count`` recordings; return how many are broken on purpose.

    Every 50th file is not audio; every 100th of those crashes the decoder.
    """
    rng = np.random.default_rng(seed)
    broken = 0
    for i in range(count):
        path = folder / f"day{i % 7}" / f"take{i:04d}.{'flac' if i % 3 == 0 else 'wav'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i % 50 == 49:
            path = path.with_suffix(".wav")
            path.write_bytes(DECODER_CRASH if i % 100 == 99 else b"RIFF....WAVEbroken")
            broken += 1
            continue
        rate = (16000, 44100, 48000)[i % 3 if i % 3 != 0 else 2]
        n = int(seconds * rng.uniform(0.5, 1.5) * rate)
        channels = 1 + i % 2
        t = np.arange(n) / rate
        voice = 0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
        audio = voice[:, None] + 0.02 * rng.standard_normal((n, channels))
        sf.write(str(path), audio.astype(np.float32), rate, subtype="PCM_16")
    return broken


def _pss(pid: int, default: int) -> int:
    """Proportional set size from /proc/PID/smaps_rollup (cheap, unlike a full smaps read)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return default


class PeakMemory:
    """Sample the resident memory of this process and all its descendants."""

    def __init__(self, interval_s: float = 0.1) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval_s = interval_s
        self.peak_tree = 0
        self.peak_tree_pss = 0  # shared pages counted once (Linux); RSS counts them in every process
        self.peak_single = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            sizes, shares = [], []
            for proc in [self.process, *self.process.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                sizes.append(rss)
                shares.append(_pss(proc.pid, rss))
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_tree_pss = max(self.peak_tree_pss, sum(shares))
            self.peak_single = max(self.peak_single, max(sizes, default=0))
            self.peak_processes = max(self.peak_processes, len(sizes))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=2.0, help="mean length of a file")
    parser.add_argument("--jobs", type=int, default=None, help="default: one per core")
    parser.add_argument("--isolate", action="store_true", help="a fresh process per file")
    args = parser.parse_args(argv)

    from clarity_fx.batching import batch

    print(f"soak: {args.files} files of ~{args.seconds:g} s, jobs {args.jobs or 'one per core'}"
          f"{', isolated' if args.isolate else ''}; {machine_load()}")
    with tempfile.TemporaryDirectory(prefix="clarity-soak-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        broken = make_files(folder / "in", args.files, args.seconds)
        preset = folder / "soak.yaml"
        preset.write_text(yaml.safe_dump({"name": "soak", "chain": CHAIN}, sort_keys=False))
        print(f"wrote the inputs in {time.perf_counter() - started:.1f} s")

        inputs, out = [str(folder / "in")], folder / "out"
        options = {"jobs": args.jobs, "suffix": "-clean", "format": "flac"}
        with PeakMemory() as memory:
            results = batch(str(preset), inputs, out, isolate=args.isolate, **options)
        resumed = batch(str(preset), inputs, out, skip_existing=True, **options)
        expected = ("is not audio", "crashed (SIGSEGV)")
        unexpected = [r for r in results.failed if not any(e in r.reason for e in expected)]

    wall = results.wall_seconds
    rows = [
        ["files", len(results)],
        ["done", len(results.done)],
        ["failed (broken on purpose)", f"{len(results.failed)} ({broken})"],
        ["  of which crashed a worker", sum("crashed (" in r.reason for r in results.failed)],
        ["wall seconds", f"{wall:.1f}"],
        ["files per second", f"{len(results) / wall:.1f}"],
        ["audio hours", f"{results.audio_hours:.3f}"],
        ["audio hours per hour", f"{results.realtime_factor:.0f}x"],
        ["peak RSS, all processes (MB)", f"{mb(memory.peak_tree):.0f}"],
        ["peak PSS, all processes (MB)", f"{mb(memory.peak_tree_pss):.0f}"],
        ["peak RSS, largest process (MB)", f"{mb(memory.peak_single):.0f}"],
        ["most processes at once", memory.peak_processes],
        ["rerun with skip_existing (s)", f"{resumed.wall_seconds:.2f} ({len(resumed.skipped)} skipped)"],
    ]
    print_table(["measure", "value"], rows)
    if unexpected or len(results.failed) != broken or len(resumed.skipped) != len(results.done):
        print("UNEXPECTED:", [(str(r.input), r.reason) for r in unexpected][:5])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
