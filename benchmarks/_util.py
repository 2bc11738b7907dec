"""Small helpers shared by the benchmark scripts: timing, child-process peak RSS, tables.

Import it from a script run as ``python benchmarks/<script>.py`` (the script's
folder is on ``sys.path``)::

    from _util import best_of, machine_load, peak_rss_of, print_table
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Timing", "best_of", "machine_load", "mb", "peak_rss_of", "print_table"]


@dataclass(frozen=True)
class Timing:
    """Best (minimum) wall-clock and CPU seconds of one case over its runs.

    ``cpu`` is this process's CPU time (all its threads): unlike ``wall`` it
    does not grow when other processes take the cores, so ratios of ``cpu``
    stay meaningful on a busy machine. A case that runs threads in parallel
    has ``cpu > wall``.
    """

    wall: float
    cpu: float


def best_of(cases: dict[str, Callable[[], object]], repeat: int = 5, warmup: int = 1) -> dict[str, Timing]:
    """Best wall-clock and CPU seconds of each case over ``repeat`` runs.

    Runs are interleaved (round ``r`` runs every case once, in order), so a
    burst of load from other processes hits all cases alike instead of one;
    the minimum is the least-disturbed run. ``warmup`` untimed rounds come first.
    """
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    wall = {name: float("inf") for name in cases}
    cpu = dict(wall)
    for _ in range(repeat):
        for name, fn in cases.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            w1, c1 = time.perf_counter(), time.process_time()
            wall[name], cpu[name] = min(wall[name], w1 - w0), min(cpu[name], c1 - c0)
    return {name: Timing(wall[name], cpu[name]) for name in cases}


def machine_load() -> str:
    """One line on how busy the machine is (timings on a loaded machine are noisy)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs, load average {load:.2f} (1 min)"


def peak_rss_of(argv: Sequence[str], cwd: str | None = None) -> tuple[int, str]:
    """Run ``argv`` in a fresh process; return (its peak RSS in bytes, its stdout).

    The peak is the kernel's own high-water mark for that one child
    (``os.wait4`` rusage, i.e. ``getrusage(RUSAGE_CHILDREN)`` for a single
    child), so nothing is missed between polls. Raises ``RuntimeError`` with the
    child's stderr if it fails.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=err, cwd=cwd)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.read().decode()}")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(usage.ru_maxrss) * scale, out


def mb(nbytes: float) -> float:
    """Bytes to MB (10**6)."""
    return nbytes / 1e6


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as a plain, column-aligned text table (text left, numbers and "-" right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [_numeric_column([row[i] for row in cells[1:]]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def _numeric_column(column: Sequence[str]) -> bool:
    """Whether a column holds numbers (``"-"`` or empty cells aside), to right-align it."""
    filled = [c for c in column if c not in ("", "-")]
    return bool(filled) and all(_is_number(c) for c in filled)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("x×%").lstrip("+"))
    except ValueError:
        return False
    return True
