"""Duck a music bed under a voice, in Python and with the podcast-duck preset.

Usage: python examples/duck_music.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

import clarity_fx as cfx

out_dir = Path(sys.argv[1])
rate = 48000
t = np.arange(6 * rate) / rate
music = (0.2 * np.sin(2 * np.pi * 110 * t) * (1 + 0.3 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
voice = np.zeros_like(music)
voice[2 * rate : 4 * rate] = 0.3 * np.sin(2 * np.pi * 180 * t[: 2 * rate])  # speaks from 2 s to 4 s

bed = cfx.duck(music, voice, rate, depth_db=12)  # Python
sf.write(out_dir / "music.wav", music, rate)
sf.write(out_dir / "voice.wav", voice, rate)
# The same with the preset, file to file (clarity apply podcast-duck music.wav --key voice.wav -o bed.wav):
cfx.render(
    out_dir / "music.wav", out_dir / "bed.wav", cfx.load_preset("podcast-duck"), key=out_dir / "voice.wav"
)


def level(a, start, stop):
    return 20 * np.log10(np.sqrt(np.mean(a[int(start * rate) : int(stop * rate)] ** 2)))


print(
    f"ducked by {level(music, 2.5, 3.5) - level(bed, 2.5, 3.5):.1f} dB while the voice speaks; "
    f"{level(music, 5.5, 6) - level(bed, 5.5, 6):.1f} dB 1.5 s after it stops"
)
