"""A de-esser: a compressor whose detector hears only 4-9 kHz (a sidechain key).

Makes a vowel-like tone with sibilant bursts, runs the shipped de-esser preset, and prints how
much the bursts and the vowel changed. Usage: python examples/de_ess.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

import clarity_fx as cfx

out_dir = Path(sys.argv[1])
rate = 48000
t = np.arange(3 * rate) / rate
vowel = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1100 * t)
sibilant = (t % 0.6) < 0.12  # an "s" every 0.6 s
hiss = 0.25 * np.random.default_rng(0).standard_normal(t.size) * sibilant
x = (vowel + np.convolve(hiss, [1, -0.9], "same")).astype(np.float32)

# The same as cfx.load_preset("de-esser"), built in Python:
de_esser = cfx.HardKneeCompressor(
    threshold_db=-30,
    ratio=6,
    attack_ms=0.5,
    release_ms=40,
    lookahead_ms=2,
    range_db=10,
    key=cfx.Chain([cfx.ButterworthFilter("bandpass", low_hz=4000, high_hz=9000, order=4)]),
)
y = de_esser(x, rate)


def level(a, mask):
    return 20 * np.log10(np.sqrt(np.mean(a[mask] ** 2)))


print(
    f"sibilance: {level(y, sibilant) - level(x, sibilant):+.1f} dB, "
    f"vowel alone: {level(y, ~sibilant) - level(x, ~sibilant):+.2f} dB"
)
sf.write(out_dir / "de-essed.wav", y, rate)
