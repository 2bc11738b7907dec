"""Every benchmark in one run, in order, with one heading each.

Usage: python benchmarks/run_all.py [--quick]

- bench_denoise: SI-SDR and STOI against noisereduce, and the speed ratio;
- bench_filters: AnalyticFilter/ButterworthFilter against pedalboard.HighpassFilter;
- bench_dynamics: HardKneeCompressor against pedalboard.Compressor, TruePeakLimiter's overshoot
  and speed against BrickwallLimiter(true_peak=True);
- bench_chain: Chain overhead against a plain Pedalboard;
- bench_streaming: streamed against whole for native plugins, block-size-dependent ones included;
- bench_memory: render's peak RSS on 2- and 20-minute files;
- bench_render: whole-process 'clarity apply' (denoise-only, gain-only) against SoX;
- bench_presets: before/after numbers of every shipped preset;
- bench_dehum_leveler: Dehum against the hum-removal preset and ffmpeg notches, Leveler against
  ffmpeg dynaudnorm and loudnorm, on real recordings (alsa-utils, pingus-data) with synthetic damage;
- bench_declick: Declick and Declip against ffmpeg adeclick and adeclip (alsa-utils, neverball-data);
- bench_rates: the voice presets' sibilance key at 8-48 kHz on real speech, every preset at every rate.
- bench_match: MatchEQ against matchering on real music pairs (neverball-data, pingus-data, fb-music-high).

The soak run and the 10,000-case fuzz run take longer: run benchmarks/soak.py and
benchmarks/fuzz.py on their own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_denoise.py", "bench_filters.py", "bench_dynamics.py", "bench_chain.py",
           "bench_streaming.py", "bench_memory.py", "bench_render.py", "bench_presets.py",
           "bench_dehum_leveler.py", "bench_declick.py", "bench_rates.py", "bench_report.py",
           "bench_match.py"]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for script in SCRIPTS:
        args = [sys.executable, str(HERE / script)]
        if quick and script == "bench_denoise.py":
            args.append("--quick")
        print(f"\n===== {script} =====", flush=True)
        started = time.perf_counter()
        failed += subprocess.run(args).returncode != 0
        print(f"({script}: {time.perf_counter() - started:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
