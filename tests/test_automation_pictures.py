"""Automation that shows in a spectrogram: a cutoff sweep on a built-in filter, a gain lane on a VST3."""

from __future__ import annotations

import numpy as np
import pedalboard

import clarity_fx as cfx
from clarity_fx.plot import plot_single, spectrogram_db

SR = 48000


def white(seconds=4.0):
    return (0.2 * np.random.default_rng(0).standard_normal((2, int(seconds * SR)))).astype(np.float32)


def edge_hz(column_db, freqs, below_db=12.0):
    """The highest frequency within ``below_db`` of the column's low-frequency level (first-order
    slopes are gentle, so the column is smoothed over 31 bins first)."""
    smooth = np.convolve(column_db, np.ones(31) / 31, mode="same")
    reference = np.median(smooth[(freqs > 50) & (freqs < 150)])
    return freqs[np.nonzero(smooth[: freqs.size - 16] > reference - below_db)[0].max()]


def test_cutoff_sweep_on_a_builtin_filter_rises_in_the_spectrogram(tmp_path):
    sweep = cfx.Automate(pedalboard.LowpassFilter(), {"cutoff_frequency_hz": [(0, 200), (4, 8000)]})
    out = sweep(white(), SR)
    times, freqs, s_db = spectrogram_db(out, SR)
    edges = [edge_hz(s_db[:, i], freqs) for i in range(s_db.shape[1])]
    quarter = len(edges) // 4
    assert np.median(edges[:quarter]) < 0.25 * np.median(edges[-quarter:])
    assert np.corrcoef(times, np.log(edges))[0, 1] > 0.9  # rises steadily, on a log axis
    path = plot_single(out, SR, tmp_path / "sweep.png", title="LowpassFilter cutoff 200 Hz → 8 kHz")
    assert path.path.stat().st_size > 10_000


def test_gain_lane_on_a_vst3_parameter_shows_in_the_spectrogram(tmp_path, vst3_plugins):
    plugin = pedalboard.load_plugin(str(vst3_plugins["gain"]))
    lane = cfx.Automate(plugin, {"gain_db": [(0, -40.0), (4, 0.0)]})
    out = lane(white(), SR)
    times, _, s_db = spectrogram_db(out, SR)
    level = s_db.mean(axis=0)
    start, end = level[times < 0.5].mean(), level[times > 3.5].mean()
    assert 30 < end - start < 40  # -40 dB → 0 dB, averaged over the first and last half second
    assert np.all(np.diff(level[(times > 0.2) & (times < 3.8)]) > -1.0)  # it only rises
    plot_single(out, SR, tmp_path / "vst3.png", title="VST3 gain_db -40 → 0 dB")
