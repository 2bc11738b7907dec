"""Generate ``examples/take.wav``: a noisy spoken take, the example every README command uses.

Speech comes from Debian's ``espeak-ng`` when it is installed; otherwise a
voiced, formant-shaped stand-in is synthesised, so the script runs anywhere.
The recording gets what real takes have: a 1 s noise-only lead-in, pink
hiss, 50 Hz mains hum with harmonics, and low rumble.

Usage: python examples/make_take.py [OUT.wav]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

SR = 48000
TEXT = (
    "Clarity makes recordings clearer. It removes steady noise, rumble and hum, "
    "evens out the level, and shows you what changed."
)


def speech(sr: int = SR) -> np.ndarray:
    """Mono speech at ``sr``, peak-normalised to -3 dBFS."""
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True)
            voice, rate = sf.read(wav, dtype="float64")
        voice = resample_poly(voice, sr, rate)
    else:  # a buzz through three formants, syllable-gated
        t = np.arange(int(6 * sr)) / sr
        f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
        buzz = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / sr))
        voice = np.zeros_like(t)
        for freq, bw in ((700, 80), (1200, 100), (2600, 150)):
            r = np.exp(-np.pi * bw / sr)
            voice += lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], buzz)
        voice *= (np.sin(2 * np.pi * 3.5 * t) > -0.2) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))
    return 0.7 * voice / np.max(np.abs(voice))


def noise(n: int, sr: int = SR, seed: int = 7) -> np.ndarray:
    """Pink hiss at about -45 dBFS RMS, 50 Hz hum with harmonics, and rumble."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    # Paul Kellet's pink filter (economy version)
    pink = lfilter(
        [0.049922035, -0.095993537, 0.050612699, -0.004408786],
        [1, -2.494956002, 2.017265875, -0.522189400],
        white,
    )
    pink *= 10 ** (-45 / 20) / np.sqrt(np.mean(pink**2))
    t = np.arange(n) / sr
    hum = sum(
        a * np.sin(2 * np.pi * 50 * k * t + k) for k, a in ((1, 0.010), (2, 0.004), (3, 0.003), (5, 0.001))
    )
    rumble = lfilter([0.002], [1, -0.998], rng.standard_normal(n)) * 0.05
    return pink + hum + rumble


def main(out: str = str(Path(__file__).with_name("take.wav"))) -> None:
    voice = speech()
    lead = SR  # 1 s of room tone before the first word
    take = noise(lead + voice.size + SR // 2)
    take[lead : lead + voice.size] += voice
    sf.write(out, take.astype(np.float32), SR, subtype="PCM_16")
    print(f"wrote {out}: {take.size / SR:.1f} s, {SR} Hz mono")


if __name__ == "__main__":
    main(*sys.argv[1:])
