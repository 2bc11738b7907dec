"""A chain's frequency response as numbers (clarity_fx.response): measured, analytic, combined."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pedalboard
import pytest

import clarity_fx as cfx
from clarity_fx import response


def level_db(h: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.abs(h))


SR = 48000
FREQS = np.geomspace(20, 20000, 400)


def juce_first_order_highpass(freqs: np.ndarray, cutoff_hz: float, sr: float) -> np.ndarray:
    """JUCE's ``makeFirstOrderHighPass``: the bilinear transform of s / (s + ω_c), pre-warped."""
    n = np.tan(np.pi * cutoff_hz / sr)
    z = np.exp(2j * np.pi * freqs / sr)
    return (1 - 1 / z) / (1 + n) / (1 + (n - 1) / (n + 1) / z)


def test_measured_highpass_matches_juce_first_order():
    h = response.chain_response(cfx.Chain([pedalboard.HighpassFilter(1000)]), FREQS, SR)
    np.testing.assert_allclose(level_db(h), level_db(juce_first_order_highpass(FREQS, 1000, SR)), atol=0.1)
    at_cutoff = response.chain_response(cfx.Chain([pedalboard.HighpassFilter(1000)]), np.array([1000.0]), SR)
    assert level_db(at_cutoff)[0] == pytest.approx(-3.01, abs=0.05)


def test_fft_filter_response_analytic_and_measured():
    def lowpass(f):
        return 1 / (1 + 1j * f / 2000)

    expected = level_db(lowpass(FREQS))
    fft_filter = cfx.FFTFilter(transfer_function=lowpass)
    analytic = response.stage_responses(cfx.Chain([fft_filter]), FREQS, SR)
    assert analytic[0].method == "analytic"
    np.testing.assert_allclose(level_db(analytic[0].response), expected, atol=0.1)
    # Inside a Blend it has no frequency_response: measured by impulse (latency-aligned FIR).
    measured = response.stage_responses([cfx.Blend(fft_filter, wet=1.0)], FREQS, SR)
    assert measured[0].method == "impulse"
    np.testing.assert_allclose(level_db(measured[0].response), expected, atol=0.1)


def test_responses_multiply_and_containers_are_opened():
    nested = cfx.Chain([None, pedalboard.Pedalboard([pedalboard.Gain(-6)]), cfx.Chain([pedalboard.Gain(-6)])])
    h = response.chain_response(nested, FREQS, SR)
    np.testing.assert_allclose(level_db(h), -12.0, atol=1e-3)
    mix = cfx.Mix([pedalboard.Gain(-6.0206), pedalboard.Gain(-6.0206)])  # two halves sum to one
    stages = response.stage_responses(cfx.Chain([mix]), FREQS, SR)
    assert len(stages) == 1
    np.testing.assert_allclose(level_db(stages[0].response), 0.0, atol=1e-3)


def test_response_numbers_do_not_load_matplotlib():
    code = (
        "import sys, numpy as np, pedalboard, clarity_fx.response as r; "
        "r.chain_response([pedalboard.Gain(-6)], np.array([1000.0]), 48000); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
