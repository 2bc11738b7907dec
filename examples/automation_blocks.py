"""Automate a parameter over time and process in blocks, as a live or streaming host would.

A low-pass sweep from 200 Hz to 8 kHz and a fade-in, processed in 512-sample
blocks with reset=False; flush() returns the tail, so the blocks add up to the
whole-buffer result exactly.

Usage: python examples/automation_blocks.py IN.wav OUT.wav
"""

import sys

import numpy as np
import pedalboard
import soundfile as sf

import clarity_fx as cfx

audio, rate = sf.read(sys.argv[1], dtype="float32", always_2d=True)
audio = audio.T  # (channels, samples)
seconds = audio.shape[1] / rate

chain = cfx.Chain(
    [
        cfx.Automate(pedalboard.LowpassFilter(), {"cutoff_frequency_hz": [(0, 200), (seconds, 8000)]}),
        cfx.Automate(pedalboard.Gain(), {"gain_db": [(0, -30), (2.0, 0)]}),
    ]
)

chain.reset()
blocks = [chain.process(audio[:, i : i + 512], rate, reset=False) for i in range(0, audio.shape[1], 512)]
blocks.append(chain.flush())
streamed = np.concatenate(blocks, axis=1)

whole = chain.process(audio, rate)
print(
    f"streamed {streamed.shape[1]} samples; max difference from the whole-buffer call: "
    f"{np.abs(streamed - whole).max():.2e}"
)
sf.write(sys.argv[2], streamed.T, int(rate), subtype="FLOAT")
