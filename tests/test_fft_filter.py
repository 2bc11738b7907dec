"""FFTFilter: Y(f) = X(f)·H(f) measured against H, and convolution against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SR, noise, stream

import clarity_fx as cfx

RESPONSES = {
    "lowpass-1k": lambda f: 1 / (1 + 1j * f / 1000),
    "highpass-80": lambda f: (1j * f / 80) / (1 + 1j * f / 80),
    "zero-phase-shelf": lambda f: np.where(f > 2000, 0.5, 1.0) + 0j,
    "band-hp300-lp3000": lambda f: (1j * f / 300) / (1 + 1j * f / 300) / (1 + 1j * f / 3000),
}


def measured_response(plugin, sr=SR, n=1 << 16):
    impulse = np.zeros(n, np.float32)
    impulse[n // 2] = 1
    y = plugin(impulse, sr).astype(np.float64)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    return freqs, np.fft.rfft(np.roll(y, -n // 2))


@pytest.mark.parametrize("name", [k for k in RESPONSES if k != "zero-phase-shelf"])
@pytest.mark.parametrize("sr", [44100, 48000])
def test_magnitude_within_0_1_db_from_20hz_to_20khz(name, sr):
    H = RESPONSES[name]
    freqs, Y = measured_response(cfx.FFTFilter(transfer_function=H), sr)
    band = (freqs >= 20) & (freqs <= 20000)
    err = 20 * np.log10(np.abs(Y[band])) - 20 * np.log10(np.abs(H(freqs[band])))
    assert np.abs(err).max() < 0.1


def test_phase_is_the_phase_of_h():
    H = RESPONSES["lowpass-1k"]
    freqs, Y = measured_response(cfx.FFTFilter(transfer_function=H))
    band = (freqs >= 20) & (freqs <= 20000)
    assert np.abs(np.angle(Y[band] / H(freqs[band]))).max() < 1e-3


def test_latency_is_half_the_taps_and_output_is_aligned():
    f = cfx.FFTFilter(transfer_function=lambda f: np.ones_like(f) + 0j, n_taps=2048)
    x = noise()
    assert f.latency_for(SR) == 1024
    np.testing.assert_allclose(f(x, SR), x, atol=1e-5)


def test_impulse_response_is_causal_convolution():
    h = np.random.default_rng(3).standard_normal(300) * 0.1
    x = noise()
    want = np.stack([np.convolve(c, h)[: x.shape[1]] for c in x.astype(np.float64)])
    f = cfx.FFTFilter(impulse_response=h)
    np.testing.assert_allclose(f(x, SR), want, atol=1e-5)
    np.testing.assert_allclose(stream(f, x, [17, 999]), want, atol=1e-5)


def test_per_channel_impulse_response_and_frequency_response():
    h = np.array([[1.0, 0.0], [0.5, 0.5]])
    f = cfx.FFTFilter(impulse_response=h)
    x = noise()
    out = f(x, SR)
    np.testing.assert_allclose(out[0], x[0], atol=1e-6)
    np.testing.assert_allclose(out[1, 1:], 0.5 * (x[1, 1:] + x[1, :-1]), atol=1e-6)
    resp = f.frequency_response(np.array([0.0, SR / 2]), SR)
    np.testing.assert_allclose(np.abs(resp), [1.0, 1.0], atol=1e-9)


def test_needs_exactly_one_definition():
    with pytest.raises(ValueError):
        cfx.FFTFilter()
    with pytest.raises(ValueError):
        cfx.FFTFilter(transfer_function=lambda f: f, impulse_response=[1.0])
    with pytest.raises(ValueError):
        cfx.FFTFilter(transfer_function=lambda f: f + 0j, n_taps=3)
