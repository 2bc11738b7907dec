"""A chain built in Python: our processors, pedalboard's built-ins and a VST3 plugin together.

Usage: python examples/python_chain.py IN.wav OUT.flac [PLUGIN.vst3]

Without a VST3 path it uses the test plugin built by tests/vst3/build.sh when
that exists, and otherwise runs the chain without one.
"""

import sys
from pathlib import Path

import pedalboard

import clarity_fx as cfx

source, target = sys.argv[1], sys.argv[2]
vst3 = (
    Path(sys.argv[3])
    if len(sys.argv) > 3
    else Path(__file__).parent.parent / "tests/vst3/build/ClarityTestGain.vst3"
)

chain = cfx.Chain(
    [
        cfx.SpectralSubtraction(noise_seconds=1.0),  # ours: noise profile from the first second
        cfx.AnalyticFilter("highpass", cutoff_hz=80),  # ours: H(f) = (j f/fc) / (1 + j f/fc)
        pedalboard.PeakFilter(cutoff_frequency_hz=3000, gain_db=2, q=1.0),  # pedalboard's built-in
        cfx.HardKneeCompressor(threshold_db=-24, ratio=3),  # ours: T + (in - T)/R above T
    ]
)
if vst3.exists():
    plugin = pedalboard.load_plugin(str(vst3))
    plugin.gain_db = -1.0  # VST3 parameters by name, in real units
    chain.append(plugin)
else:
    print(f"(no VST3 at {vst3}; running without one)")
chain.append(cfx.TruePeakLimiter(ceiling_dbtp=-1.0))

result = cfx.render(source, target, chain)
seconds = result.frames / result.sample_rate
print(f"{result.output_path}: {seconds:.1f} s at {result.realtime_factor:.0f}x realtime")
print("chain:", ", ".join(type(p).__name__ for p in chain))
