"""Clean test speech for the benchmarks, synthesised with espeak-ng and cached.

espeak-ng writes 22.05 kHz mono; :func:`clean_speech` resamples it (polyphase,
``scipy.signal.resample_poly``) to the rate asked for. Every clip is cached
under ``benchmarks/out/speech/`` (git-ignored), so only the first run calls
espeak-ng. If ``espeak-ng`` is not on the path it is installed with
``apt-get install -y espeak-ng``.

Examples
--------
>>> from benchmarks.speech import clean_speech, VOICES
>>> speech = clean_speech(16000, voice=VOICES[0], take=0)   # float32, mono, 16 kHz
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["VOICES", "SENTENCES", "clean_speech", "long_speech", "ensure_espeak"]

OUT = Path(__file__).resolve().parent / "out" / "speech"

#: espeak-ng voices: a male US voice, a female British variant, a higher male variant.
VOICES = ("en-us", "en-gb+f3", "en-us+m4")

#: Harvard sentences (IEEE 1969), public domain; each take reads five of them.
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)

ESPEAK_RATE = 22050
SENTENCES_PER_TAKE = 5


def ensure_espeak() -> str:
    """Path of ``espeak-ng``, installing the Debian package if it is missing."""
    path = shutil.which("espeak-ng")
    if path is None:
        subprocess.run(["apt-get", "install", "-y", "espeak-ng"], check=True)
        path = shutil.which("espeak-ng")
        if path is None:
            raise RuntimeError("espeak-ng is still missing after apt-get install -y espeak-ng")
    return path


def _synthesise(voice: str, take: int) -> np.ndarray:
    """espeak-ng output for one take at 22.05 kHz, cached as a WAV file."""
    raw = OUT / f"{voice.replace('+', '_')}_take{take}_{ESPEAK_RATE}.wav"
    if not raw.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        start = (take * SENTENCES_PER_TAKE) % len(SENTENCES)
        text = " ".join(SENTENCES[(start + i) % len(SENTENCES)] for i in range(SENTENCES_PER_TAKE))
        # Speed varies a little between voices so pauses and syllable rates differ.
        speed = str(150 + 15 * (VOICES.index(voice) if voice in VOICES else 0))
        tmp = raw.with_suffix(".tmp.wav")
        subprocess.run([ensure_espeak(), "-v", voice, "-s", speed, "-w", str(tmp), text], check=True)
        tmp.replace(raw)
    audio, rate = sf.read(raw, dtype="float64")
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"{raw} is at {rate} Hz, expected {ESPEAK_RATE}; delete it to regenerate")
    return audio


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if rate_in == rate_out:
        return audio
    ratio = Fraction(rate_out, rate_in)
    return resample_poly(audio, ratio.numerator, ratio.denominator)


def clean_speech(sample_rate: int, voice: str = VOICES[0], take: int = 0) -> np.ndarray:
    """Five Harvard sentences read by ``voice``, at ``sample_rate``, peak 0.5.

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz (the 22.05 kHz synthesis is resampled).
    voice : str
        An espeak-ng voice name, e.g. one of :data:`VOICES`.
    take : int
        Which five sentences (takes 0..3 read different sentences).

    Returns
    -------
    numpy.ndarray
        Mono float32 speech with leading and trailing silence trimmed to 50 ms.
    """
    cached = OUT / f"{voice.replace('+', '_')}_take{take}_{sample_rate}.npy"
    if cached.exists():
        return np.load(cached)
    audio = _synthesise(voice, take)
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    pad = int(0.05 * ESPEAK_RATE)
    audio = audio[max(loud[0] - pad, 0) : loud[-1] + pad]
    audio = _resample(audio, ESPEAK_RATE, sample_rate)
    audio = (0.5 * audio / np.abs(audio).max()).astype(np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(cached, audio)
    return audio


def long_speech(sample_rate: int, seconds: float, channels: int = 2) -> np.ndarray:
    """``(channels, seconds·rate)`` speech: the takes back to back, in another order per channel."""
    n = int(round(seconds * sample_rate))
    out = np.zeros((channels, n), dtype=np.float32)
    clips = [clean_speech(sample_rate, v, t) for t in range(2) for v in VOICES]
    for c in range(channels):
        pos, i = 0, c
        while pos < n:
            clip = clips[i % len(clips)][: n - pos]
            out[c, pos : pos + clip.size] = clip
            pos += clip.size
            i += 1
    return out
