"""The tables of ITU-R BS.1770-4 (clarity_fx.bs1770): the K-weighting filter, true-peak phases, weights."""

from __future__ import annotations

import numpy as np
import pytest

from clarity_fx import bs1770


def test_k_weighting_reproduces_bs1770_table_at_48k():
    # BS.1770-4 Table 1 (shelf) and Table 2 (high-pass), a0 = 1.
    expected = [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
         -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]  # fmt: skip
    np.testing.assert_allclose(bs1770.k_weighting_sos(48000), expected, atol=1e-10)


@pytest.mark.parametrize("fs", [44100, 88200, 96000])
def test_k_weighting_curve_is_the_same_at_other_rates(fs):
    import scipy.signal

    freqs = [100.0, 1000.0, 10000.0]
    _, ref = scipy.signal.sosfreqz(bs1770.k_weighting_sos(48000), worN=freqs, fs=48000)
    _, got = scipy.signal.sosfreqz(bs1770.k_weighting_sos(fs), worN=freqs, fs=fs)
    np.testing.assert_allclose(20 * np.log10(abs(got)), 20 * np.log10(abs(ref)), atol=0.03)


def test_true_peak_phases_are_the_annex_filter():
    # Annex 2: 48 taps as 4 phases of 12; phases 2 and 3 are phases 1 and 0 reversed.
    assert bs1770.TRUE_PEAK_PHASES.shape == (4, 12)
    np.testing.assert_array_equal(bs1770.TRUE_PEAK_PHASES[3], bs1770.TRUE_PEAK_PHASES[0][::-1])
    np.testing.assert_array_equal(bs1770.TRUE_PEAK_PHASES[2], bs1770.TRUE_PEAK_PHASES[1][::-1])


def test_channel_weights_of_table_3():
    np.testing.assert_array_equal(bs1770.default_weights(2), [1.0, 1.0])
    np.testing.assert_array_equal(bs1770.default_weights(5), [1.0, 1.0, 1.0, 1.41, 1.41])
    np.testing.assert_array_equal(bs1770.default_weights(6), [1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
