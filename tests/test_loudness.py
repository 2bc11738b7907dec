"""LoudnessNormalize: ±0.1 LU of the target (pyloudnorm), true peak under the ceiling, two-pass render."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from conftest import SR, stream

import clarity_fx as cfx
from clarity_fx.analysis import true_peak_dbtp


def programme(seconds=8.0, spikes=True, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.05 * rng.standard_normal((2, t.size)) * (1 + 0.8 * np.sin(2 * np.pi * 0.3 * t))
    if spikes:
        x[:, ::4800] *= 12  # transients the ceiling must catch
    return x.astype(np.float32)


@pytest.mark.parametrize("target,ceiling", [(-14.0, -1.0), (-16.0, -1.0), (-23.0, -1.0), (-18.0, -2.0)])
def test_hits_target_and_respects_ceiling(target, ceiling):
    x = programme()
    stage = cfx.LoudnessNormalize(target_lufs=target, true_peak_dbtp=ceiling)
    y = stage(x, SR)
    assert abs(pyloudnorm.Meter(SR).integrated_loudness(y.T.astype(np.float64)) - target) <= 0.1
    assert true_peak_dbtp(y, SR) <= ceiling
    assert stage.gain_db is not None


def test_quiet_material_without_limiting_is_a_pure_gain():
    x = programme(spikes=False) * 0.2
    stage = cfx.LoudnessNormalize(target_lufs=-30.0)
    y = stage(x, SR)
    gain = 10 ** (stage.gain_db / 20)
    np.testing.assert_allclose(y, x * gain, atol=1e-6)


def test_silence_is_left_alone():
    x = np.zeros((2, SR), np.float32)
    np.testing.assert_array_equal(cfx.LoudnessNormalize()(x, SR), x)


def test_render_two_pass_equals_whole_call(tmp_path):
    x = programme(6.0)
    src = tmp_path / "in.wav"
    sf.write(str(src), x.T, SR, subtype="FLOAT")
    cfx.render(src, tmp_path / "out.wav", cfx.LoudnessNormalize(target_lufs=-16.0), block_seconds=0.5)
    got, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    np.testing.assert_allclose(got.T, cfx.LoudnessNormalize(target_lufs=-16.0)(x, SR), atol=1e-6)


def test_unfitted_stream_holds_until_flush_and_equals_whole():
    x = programme(4.0)
    stage = cfx.LoudnessNormalize(target_lufs=-16.0)
    np.testing.assert_allclose(stream(stage, x, [4096, 1000]), stage(x, SR), atol=1e-6)
