"""Noise profiles: the STFT windows (profile learning is tested through SpectralSubtraction)."""

from __future__ import annotations

import numpy as np

from clarity_fx.processors import noise_profile


def test_synthesis_window_sums_to_one():
    for name in ("hann", "hamming"):
        w = noise_profile.analysis_window(name, 1024)
        for hop in (128, 256, 512):
            ws = noise_profile.synthesis_window(w, hop)
            total = (w * ws).reshape(-1, hop).sum(axis=0)
            assert np.allclose(total, 1.0, atol=1e-12)
