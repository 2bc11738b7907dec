"""clarity_fx.meters: BS.1770-4 loudness against pyloudnorm, EBU Tech 3341 and 3342, true peak.

Conformance cases are generated from the written definitions in EBU Tech 3341
(loudness meter) and Tech 3342 (loudness range); every "dBFS" there is the
peak level of a 1 kHz sine, stereo unless stated.
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from loudness_signals import FS, pink, speech_like, tone_segments, white

from clarity_fx import meters

SIGNALS = {
    "white-mono": lambda fs: white(8, fs, channels=1, seed=1),
    "white-stereo": lambda fs: white(8, fs, channels=2, seed=2),
    "pink-stereo": lambda fs: np.stack([pink(8, fs, seed=3), pink(8, fs, seed=4)]),
    "speech-mono": lambda fs: speech_like(8, fs, channels=1, seed=5),
    "speech-stereo": lambda fs: speech_like(8, fs, channels=2, seed=6),
    "speech-5ch": lambda fs: np.concatenate(
        [speech_like(8, fs, 2, seed=7), speech_like(8, fs, 2, seed=8)[:, ::-1],
         0.5 * speech_like(8, fs, 1, seed=9)]
    ),
}


@pytest.mark.parametrize("fs", [44100, 48000])
@pytest.mark.parametrize("name", list(SIGNALS))
def test_integrated_loudness_matches_pyloudnorm(name, fs):
    audio = SIGNALS[name](fs)
    ours = meters.integrated_loudness(audio, fs)
    assert ours == pytest.approx(pyloudnorm.Meter(fs).integrated_loudness(audio.T), abs=0.1)
    # pyloudnorm's "DeMan" filter is the same K-filter as ours, so only the
    # gating could differ: it must agree much more closely.
    deman = pyloudnorm.Meter(fs, filter_class="DeMan").integrated_loudness(audio.T)
    assert ours == pytest.approx(deman, abs=0.01)


# --- EBU Tech 3341 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "case, segments",
    [
        ("1", [(-23.0, 20.0)]),
        ("2", [(-33.0, 20.0)]),
        ("3", [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
        ("4", [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)]),
        ("5", [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
    ],
)
def test_tech3341_integrated(case, segments):
    target = -33.0 if case == "2" else -23.0
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(tone_segments(segments))
    assert meter.result().integrated_lufs == pytest.approx(target, abs=0.1)


def test_tech3341_case1_momentary_and_short_term():
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(-23.0, 20.0)]))
    r = meter.result()
    assert r.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert r.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert r.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_tech3341_case6_five_channels():
    # L, R at -28 dBFS, C at -24 dBFS, Ls, Rs at -30 dBFS -> -23.0 LUFS.
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]
    audio = np.concatenate([tone_segments([(db, 20.0)], channels=1) for db in levels])
    assert meters.integrated_loudness(audio, FS) == pytest.approx(-23.0, abs=0.1)


def test_six_channels_ignore_lfe():
    levels = [-28.0, -28.0, -24.0, -3.0, -30.0, -30.0]  # a loud LFE must not count
    audio = np.concatenate([tone_segments([(db, 5.0)], channels=1) for db in levels])
    assert meters.integrated_loudness(audio, FS) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case9_short_term_constant():
    # 20 x (1.34 s at -20 dBFS, 1.66 s at -30 dBFS): every 3 s window is -23.0.
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(-20.0, 1.34), (-30.0, 1.66)] * 20))
    short_term = meter.short_term()
    assert short_term.size > 500
    np.testing.assert_allclose(short_term, -23.0, atol=0.1)
    assert meter.result().short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case12_momentary_constant():
    # 25 x (0.18 s at -20 dBFS, 0.22 s at -30 dBFS): every 400 ms window is -23.0.
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(-20.0, 0.18), (-30.0, 0.22)] * 25))
    np.testing.assert_allclose(meter.momentary(), -23.0, atol=0.1)
    assert meter.result().momentary_max_lufs == pytest.approx(-23.0, abs=0.1)


# --- EBU Tech 3342 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "levels, expected",
    [
        ([-20.0, -30.0], 10.0),
        ([-20.0, -15.0], 5.0),
        ([-40.0, -20.0], 20.0),
        ([-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ],
)
def test_tech3342_loudness_range(levels, expected):
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(db, 20.0) for db in levels]))
    assert meter.result().loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_loudness_range_of_a_ramp_uses_the_10th_and_95th_percentiles():
    # Level rising 1/3 dB per second for 60 s: the 3 s windows centred from 1.5 s
    # to 58.5 s read (almost exactly) the level at their centre, so
    # LRA = (0.95 - 0.10) * 57 s / 3 s per dB = 16.15 LU.
    t = np.arange(60 * FS) / FS
    audio = np.tile(10 ** ((-40.0 + t / 3.0) / 20.0) * np.sin(2 * np.pi * 1000.0 * t), (2, 1))
    meter = meters.LoudnessMeter(FS, 2)
    meter.add(audio)
    assert meter.result().loudness_range_lu == pytest.approx(16.15, abs=0.05)


# --- true peak -------------------------------------------------------------------


def test_true_peak_counts_ringing_after_the_last_sample():
    # An isolated full-scale pair overshoots between and after its samples.
    audio = np.zeros((1, 100))
    audio[0, -2:] = [1.0, -1.0]
    assert meters.true_peak_dbtp(audio, FS) > 0.5


def test_true_peak_never_below_sample_peak():
    audio = white(2, channels=2, seed=11)
    assert meters.true_peak_dbtp(audio, FS) >= 20 * np.log10(np.abs(audio).max())


def test_true_peak_meter_streamed_in_blocks_equals_the_whole_buffer():
    # Its speed is measured in benchmarks/ (a timed unit test fails on a loaded machine, not a slow meter).
    audio = white(60, channels=2, seed=12).astype(np.float32)
    meter = meters.TruePeakMeter(FS, 2)
    for i in range(0, audio.shape[1], FS - 7):  # blocks that do not line up with the 4x phases
        meter.add(audio[:, i : i + FS - 7])
    assert meter.result() == pytest.approx(meters.true_peak_dbtp(audio, FS), abs=1e-9)
