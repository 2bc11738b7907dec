"""Whole-process speed of ``clarity apply`` against SoX, in the same run.

A 10-minute stereo 48 kHz 24-bit WAV (a 1 s noise-only lead-in, then noise
with speech-like bursts: harmonic tones whose pitch glides and whose level
follows a 4 Hz syllable envelope) is written to a temporary folder, with two
presets beside it:

- denoise-only: ``spectral_subtraction`` with its defaults (the profile from
  the first second);
- gain-only: pedalboard ``gain: {gain_db: -3}``.

Four commands are then timed as whole processes (interpreter start, imports,
reading, processing, writing), best of N, taking turns so load from other
processes hits all alike:

- ``clarity apply denoise.yaml in.wav -o out.wav``
- ``sox in.wav out.wav noisered prof 0.21`` (the profile made beforehand with
  ``sox in.wav -n trim 0 1 noiseprof prof``, untimed)
- ``clarity apply gain.yaml in.wav -o out.wav``
- ``sox in.wav out.wav`` (a plain copy: read and write 24-bit WAV)

One untimed round comes first (numba's cache is warm after it, and the input
is in the page cache). Wall time decides the goals; CPU time (user + system of
the child, from ``os.wait4``) is printed beside it. ``clarity`` is run as
``python -m clarity_fx`` with this interpreter, from the temporary folder, with
this checkout (or ``--tree DIR``) first on ``PYTHONPATH``: that tree's
``clarity_fx`` is the one measured.

Goals (whole-process wall time, same run):

- denoise: clarity ≤ 0.35× SoX noisered;
- gain only: clarity ≤ 2× a plain SoX copy.

Run: ``python benchmarks/bench_render.py [--repeat 3] [--seconds 600] [--keep DIR] [--tree DIR]`` (about
2 minutes; needs ``sox``, installed with ``apt-get install -y sox`` if missing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import machine_load, print_table

SAMPLE_RATE = 48000
CHANNELS = 2
SECONDS = 600
LEAD_IN_S = 1.0
GOAL_DENOISE = 0.35
GOAL_GAIN = 2.0

DENOISE_PRESET = """name: bench-denoise
description: Denoise only, defaults.
chain:
  - spectral_subtraction: {}
"""
GAIN_PRESET = """name: bench-gain
description: Gain only.
chain:
  - gain: {gain_db: -3}
"""


# --------------------------------------------------------------------------- setup
def ensure_sox() -> str:
    """Path of ``sox``; installs Debian's package if it is missing."""
    found = shutil.which("sox")
    if found:
        return found
    print("sox not found: apt-get install -y sox", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "sox"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("sox")
    if not found:
        raise SystemExit("could not install sox; install it and run again")
    return found


def write_input(path: Path, seconds: float) -> None:
    """Noisy speech-like stereo: pink-ish noise, then harmonic bursts on a syllable envelope.

    Written 10 s at a time, so memory stays small whatever the length.
    """
    import numpy as np
    import soundfile as sf
    from scipy.signal import lfilter

    rng = np.random.default_rng(7)
    frames = int(seconds * SAMPLE_RATE)
    block = 10 * SAMPLE_RATE
    lead = int(LEAD_IN_S * SAMPLE_RATE)
    state = np.zeros(CHANNELS)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, CHANNELS, subtype="PCM_24", format="WAV") as f:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            t = (start + np.arange(n)) / SAMPLE_RATE
            white = rng.standard_normal((n, CHANNELS))
            # one-pole low-pass mixed with white: a gently falling, steady noise floor
            smooth = np.empty_like(white)
            for c in range(CHANNELS):
                smooth[:, c], zf = lfilter([0.05], [1, -0.95], white[:, c], zi=[state[c]])
                state[c] = zf[0]
            noise = 0.01 * white + 0.05 * smooth
            f0 = 140 + 30 * np.sin(2 * np.pi * 0.3 * t)  # gliding pitch
            phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
            voice = sum(np.sin(h * phase) / h for h in range(1, 9))
            envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2
            envelope *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.11 * t) ** 2  # phrases
            speech = 0.15 * voice * envelope
            speech[start + np.arange(n) < lead] = 0.0
            audio = noise + speech[:, None] * np.array([1.0, 0.8])
            f.write(np.clip(audio, -1.0, 1.0).astype(np.float32))


def _is_input(path: Path, seconds: float) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return (info.frames, info.samplerate, info.channels, info.subtype) == (
        int(seconds * SAMPLE_RATE), SAMPLE_RATE, CHANNELS, "PCM_24"
    )


# --------------------------------------------------------------------------- timing
def run_timed(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float]:
    """Run ``argv`` as a fresh process; return (wall seconds, its CPU seconds: user + system).

    The CPU time is the kernel's account of that one child (``os.wait4``).
    """
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def best_of_processes(
    cases: dict[str, list[str]], repeat: int, env: dict[str, str], cwd: Path
) -> dict[str, tuple[float, float]]:
    """Best wall and CPU seconds of each command over ``repeat`` interleaved rounds, after one warm-up."""
    for argv in cases.values():  # warm-up: numba's cache, the page cache
        run_timed(argv, env, cwd)
    best = {name: (float("inf"), float("inf")) for name in cases}
    for _ in range(repeat):
        for name, argv in cases.items():
            wall, cpu = run_timed(argv, env, cwd)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (best of)")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="input length")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="folder holding the clarity_fx package to measure (default: this checkout)")
    args = parser.parse_args()
    sox = ensure_sox()
    version = subprocess.run([sox, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"clarity apply vs SoX, whole processes: {args.seconds:g} s stereo {SAMPLE_RATE} Hz 24-bit wav")
    print(f"machine: {machine_load()}; {version}; best of {args.repeat} after one warm-up round")
    print(f"clarity_fx from {args.tree.resolve()}")

    with tempfile.TemporaryDirectory(prefix="bench_render.") as tmp_name:
        work = args.keep or Path(tmp_name)
        work.mkdir(parents=True, exist_ok=True)
        source = work / "in.wav"
        started = time.perf_counter()
        if not _is_input(source, args.seconds):  # --keep reuses the input of an earlier run
            write_input(source, args.seconds)
        print(f"input: {source.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")
        (work / "denoise.yaml").write_text(DENOISE_PRESET)
        (work / "gain.yaml").write_text(GAIN_PRESET)
        prof = work / "noise.prof"
        subprocess.run([sox, str(source), "-n", "trim", "0", f"{LEAD_IN_S:g}", "noiseprof", str(prof)],
                       check=True)

        clarity = [sys.executable, "-m", "clarity_fx", "apply"]
        cases = {
            "clarity apply denoise": clarity + [str(work / "denoise.yaml"), str(source), "-o",
                                                str(work / "out-denoise.wav")],
            "sox noisered prof 0.21": [sox, str(source), str(work / "out-sox-denoise.wav"),
                                       "noisered", str(prof), "0.21"],
            "clarity apply gain": clarity + [str(work / "gain.yaml"), str(source), "-o",
                                             str(work / "out-gain.wav")],
            "sox copy": [sox, str(source), str(work / "out-sox-copy.wav")],
        }
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(args.tree.resolve())] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ))
        best = best_of_processes(cases, args.repeat, env, cwd=work)

    rows = [[name, f"{wall:.2f}", f"{cpu:.2f}", f"{args.seconds / wall:.0f}x"]
            for name, (wall, cpu) in best.items()]
    print()
    print_table(["command", "wall s", "CPU s", "realtime"], rows)

    def ratio(ours: str, theirs: str) -> tuple[float, float]:
        return best[ours][0] / best[theirs][0], best[ours][1] / best[theirs][1]

    denoise, denoise_cpu = ratio("clarity apply denoise", "sox noisered prof 0.21")
    gain, gain_cpu = ratio("clarity apply gain", "sox copy")
    print()
    print_table(
        ["goal", "target", "wall ratio", "CPU ratio", ""],
        [
            ["denoise: clarity / sox noisered", f"<= {GOAL_DENOISE:.2f}x", f"{denoise:.2f}x",
             f"{denoise_cpu:.2f}x", "ok" if denoise <= GOAL_DENOISE else "MISSED"],
            ["gain: clarity / sox copy", f"<= {GOAL_GAIN:.2f}x", f"{gain:.2f}x", f"{gain_cpu:.2f}x",
             "ok" if gain <= GOAL_GAIN else "MISSED"],
        ],
    )
    print("(goals are judged on wall time; CPU = user + system of the child process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
