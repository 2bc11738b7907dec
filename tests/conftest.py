"""Shared fixtures: synthetic audio the tests generate themselves."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

# Commands the tests run (clarity, dask) come from the interpreter's own environment: a venv's
# bin/ need not be on PATH, and another install of clarity on PATH must not answer instead.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

SR = 48000


def noise(
    channels: int = 2, seconds: float = 0.5, sr: int = SR, seed: int = 0, level: float = 0.1
) -> np.ndarray:
    """White noise plus two tones, ``(channels, n)`` float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    tones = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    x = level * rng.standard_normal((channels, n)) + tones
    return x.astype(np.float32)


def stream(plugin, audio: np.ndarray, sizes, sr: float = SR, buffer_size: int = 8192) -> np.ndarray:
    """Push ``audio`` through ``plugin`` in chunks of the cycling ``sizes``, then flush."""
    plugin.reset()
    outs, i, k = [], 0, 0
    n = audio.shape[-1]
    while i < n:
        size = sizes[k % len(sizes)]
        k += 1
        outs.append(plugin.process(audio[..., i : i + size], sr, buffer_size=buffer_size, reset=False))
        i += size
    outs.append(plugin.flush())
    return np.concatenate(outs, axis=-1)


@pytest.fixture
def audio() -> np.ndarray:
    return noise()


from vst3_fixtures import vst3_plugins  # noqa: E402,F401  (the session fixture, for every test module)
