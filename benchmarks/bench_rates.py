"""The voice presets' sibilance key at every rate, measured on real speech.

Usage: python benchmarks/bench_rates.py

At 8 and 16 kHz the 4–9 kHz / 5–9 kHz key bands of de-esser, vocal-clarity and podcast-voice do not
fit below Nyquist, and the preset's chain is resolved at the rate (clarity_fx/rates.py): the band's
top is clamped to 0.9 × Nyquist, and a band whose bottom reaches that too keeps its width in octaves
below it. This prints, for the real speech of alsa-utils (/usr/share/sounds/alsa, 48 kHz, resampled
with ``scipy.signal.resample_poly``), what the de-essing compressor does at each rate: the key band
used, the share of 10 ms speech frames (above −45 dBFS RMS) it turns down by more than 3 dB, and its
mean change. A clamped key that listened to vowels would show far more frames taken down than at
48 kHz. Then every shipped preset is rendered at 8, 16, 22.05, 44.1, 48 and 96 kHz (5 s of that
speech), each with its render time.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from clarity_fx.preset import list_presets, load_preset_spec
from clarity_fx.rates import FrequencyClamped
from clarity_fx.rendering import render

ALSA = Path("/usr/share/sounds/alsa")
FILES = ("Front_Center.wav", "Front_Left.wav", "Rear_Right.wav", "Side_Left.wav")
RATES = (8000, 16000, 22050, 44100, 48000, 96000)


def speech() -> tuple[np.ndarray, int]:
    """The alsa-utils voice recordings end to end, mono float64, and their rate."""
    parts, rate = [], 48000
    for name in FILES:
        audio, rate = sf.read(ALSA / name, dtype="float64")
        parts.append(audio if audio.ndim == 1 else audio.mean(axis=1))
    return np.concatenate(parts), int(rate)


def at_rate(x: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    ratio = Fraction(rate, source_rate)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def de_essing(x0: np.ndarray, r0: int) -> None:
    print("preset          rate   key band Hz      frames > 3 dB down   mean change dB")
    for name in ("de-esser", "vocal-clarity", "podcast-voice"):
        for rate in (8000, 16000, 22050, 48000):
            x = at_rate(x0, r0, rate)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FrequencyClamped)
                chain = load_preset_spec(name).build(rate)
            compressor = next(p for p in chain if getattr(p, "key", None) is not None)
            y = compressor(x, rate)
            w = int(0.01 * rate)
            n = len(x) // w
            ex = np.sqrt(np.mean(x[: n * w].reshape(n, w) ** 2, axis=1)) + 1e-12
            ey = np.sqrt(np.mean(y[: n * w].reshape(n, w) ** 2, axis=1)) + 1e-12
            change = 20 * np.log10(ey / ex)[ex > 10 ** (-45 / 20)]
            band = compressor.key[0]
            print(f"{name:14s} {rate:6d}   {band.low_hz:6.0f}-{band.high_hz:<6.0f}   "
                  f"{np.mean(change < -3) * 100:16.1f} %   {np.mean(change):10.2f}")


def every_preset(x0: np.ndarray, r0: int) -> None:
    print("\nevery shipped preset at every rate (5 s of speech): render seconds, notices")
    with tempfile.TemporaryDirectory() as folder:
        inputs = {}
        for rate in RATES:
            inputs[rate] = Path(folder) / f"in-{rate}.wav"
            sf.write(inputs[rate], at_rate(x0[: 5 * r0], r0, rate), rate, subtype="FLOAT")
        for name in list_presets():
            row = []
            for rate in RATES:
                spec = load_preset_spec(name)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    started = time.perf_counter()
                    key = inputs[rate] if "keyed: true" in Path(spec.source).read_text() else None
                    render(inputs[rate], Path(folder) / "out.wav", spec.build_for(inputs[rate]), key=key,
                           progress=False)
                    seconds = time.perf_counter() - started
                notices = sum(issubclass(w.category, FrequencyClamped) for w in caught)
                row.append(f"{rate / 1000:g}k {seconds:5.2f}s{'*' * notices}")
            print(f"  {name:20s} " + "  ".join(row))
    print("  (* one clamp notice)")


if __name__ == "__main__":
    x0, r0 = speech()
    print(f"speech: {len(x0) / r0:.1f} s of alsa-utils recordings at {r0} Hz\n")
    de_essing(x0, r0)
    every_preset(x0, r0)
