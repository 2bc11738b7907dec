"""Synthetic signals for the loudness tests (test_meters, test_analysis), made from their definitions."""

from __future__ import annotations

import numpy as np

FS = 48000


def tone_segments(segments, fs=FS, freq=1000.0, channels=2, phase=0.0):
    """One continuous sine whose peak level steps through ``(dbfs, seconds)`` segments."""
    gains = [np.full(round(sec * fs), 10.0 ** (db / 20.0)) for db, sec in segments]
    gain = np.concatenate(gains)
    t = np.arange(gain.size) / fs
    return np.tile(gain * np.sin(2 * np.pi * freq * t + phase), (channels, 1))


def white(seconds, fs=FS, channels=2, rms=0.1, seed=0):
    return np.random.default_rng(seed).standard_normal((channels, round(seconds * fs))) * rms


def pink(seconds, fs=FS, rms=0.1, seed=0):
    """Pink noise (power ~ 1/f) by shaping white noise in the frequency domain."""
    n = round(seconds * fs)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x * rms / np.sqrt(np.mean(x * x))


def speech_like(seconds, fs=FS, channels=2, seed=0):
    """Syllable-sized voiced bursts at varying levels, pauses, and a quiet passage."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    x = np.zeros(n)
    t = 0
    while t < n:
        dur = round(rng.uniform(0.08, 0.35) * fs)
        f0 = rng.uniform(90.0, 220.0)
        tt = np.arange(dur) / fs
        voiced = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 12))
        burst = (voiced + 0.3 * rng.standard_normal(dur)) * np.hanning(dur)
        burst *= 10.0 ** (rng.uniform(-32.0, -10.0) / 20.0)
        end = min(n, t + dur)
        x[t:end] += burst[: end - t]
        t += dur + round(rng.uniform(0.05, 0.6) * fs)
    x[n // 3 : n // 3 + 2 * fs] *= 0.03  # a quiet stretch the relative gate must drop
    x += 10.0 ** (-65.0 / 20.0) * rng.standard_normal(n)  # room noise
    if channels == 1:
        return x[np.newaxis, :]
    other = 0.7 * np.roll(x, 37) + 10.0 ** (-60.0 / 20.0) * rng.standard_normal(n)
    return np.stack([x, other][:channels])


def stream(meter, audio, rng):
    """Feed ``audio`` in random chunk sizes, some of a single sample."""
    pos = 0
    while pos < audio.shape[1]:
        size = int(rng.choice([1, 2, 7, int(rng.integers(1, 20000))]))
        meter.add(audio[:, pos : pos + size])
        pos += size
    return meter.result()
