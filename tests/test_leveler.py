"""Leveler: passages at different loudness come out at one loudness; pauses are not lifted."""

from __future__ import annotations

import numpy as np
import pytest

import clarity_fx as cfx
from clarity_fx.analysis import LoudnessMeter

SR = 48000


def lufs(x: np.ndarray) -> float:
    meter = LoudnessMeter(SR, 1)
    meter.add(x[None, :])
    return meter.result().integrated_lufs


def short_term(x: np.ndarray) -> np.ndarray:
    meter = LoudnessMeter(SR, 1)
    meter.add(x[None, :])
    return meter.short_term()


def syllables(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like: bursts of noise 80-300 ms long with 50-200 ms gaps, levels varying by 6 dB."""
    out, n = [], int(seconds * SR)
    total = 0
    while total < n:
        burst = rng.standard_normal(int(rng.uniform(0.08, 0.3) * SR)) * 10 ** (rng.uniform(-3, 3) / 20)
        burst *= np.hanning(burst.size)
        gap = np.zeros(int(rng.uniform(0.05, 0.2) * SR))
        out += [burst, gap]
        total += burst.size + gap.size
    return np.concatenate(out)[:n]


def programme(levels=(-30.0, -18.0, -24.0), passage_s=10.0, pause_s=4.0, noise_dbfs=-65.0, seed=0):
    rng = np.random.default_rng(seed)
    parts, marks, pos = [], [], 0
    for level in levels:
        s = syllables(passage_s, rng)
        s *= 10 ** ((level - lufs(s)) / 20)
        parts += [s, np.zeros(int(pause_s * SR))]
        end = pos + s.size
        marks += [("speech", pos, end), ("pause", end, end + int(pause_s * SR))]
        pos = end + int(pause_s * SR)
    x = np.concatenate(parts)
    x += 10 ** (noise_dbfs / 20) * rng.standard_normal(x.size)
    return x, marks


def speech_short_term(y: np.ndarray, marks) -> np.ndarray:
    st = short_term(y)
    keep = []
    for kind, a, b in marks:
        if kind == "speech":
            keep += [st[k] for k in range(st.size) if k * SR // 10 >= a and k * SR // 10 + 3 * SR <= b]
    return np.array(keep)


def spread(values: np.ndarray) -> float:
    return float(np.percentile(values, 95) - np.percentile(values, 5))


def test_passages_come_out_within_2_lu():
    x, marks = programme()
    leveler = cfx.Leveler(target_lufs=-18.0)
    y = leveler(x.astype(np.float32), SR).astype(np.float64)
    assert spread(speech_short_term(x, marks)) >= 10.0
    st = speech_short_term(y, marks)
    assert spread(st) <= 2.0
    assert abs(np.median(st) - (-18.0)) <= 1.0


def test_pauses_do_not_lift():
    x, marks = programme()
    leveler = cfx.Leveler()
    leveler(x.astype(np.float32), SR)
    gain = leveler.gain_db
    for kind, a, b in marks:
        if kind != "pause":
            continue
        # where the 400 ms speech gate reaches neither the speech before (0.3 s) nor after (0.2 s)
        frames = gain[a // (SR // 10) + 3 : b // (SR // 10) - 2]
        # the gain never rises while nobody speaks: it may only fall (ahead of a louder passage)
        assert frames.max() - frames[0] <= 1e-9
        assert np.all(np.diff(frames) <= 1e-9)


def test_gain_falls_before_a_loud_passage_arrives():
    x, marks = programme(levels=(-30.0, -15.0), pause_s=0.5)
    leveler = cfx.Leveler(target_lufs=-18.0)
    y = leveler(x.astype(np.float32), SR)
    onset = marks[2][1]  # the loud passage starts here
    gain = leveler.gain_db
    before = gain[onset // (SR // 10) - 25]  # 2.5 s before the onset, levelling the quiet passage
    at_onset = gain[onset // (SR // 10)]
    assert before > 8.0
    assert at_onset < before - 3.0  # the gain is already on its way down
    # so the loud passage's first second is not blasted out at the quiet passage's gain
    first = y[onset : onset + SR].astype(np.float64)
    assert 20 * np.log10(np.std(first) / np.std(x[onset : onset + SR])) < before - 3.0


def test_boost_and_cut_are_bounded():
    rng = np.random.default_rng(1)
    s = syllables(12.0, rng)
    quiet = s * 10 ** ((-50.0 - lufs(s)) / 20)
    loud = s * 10 ** ((-2.0 - lufs(s)) / 20)
    for x, expected in ((quiet, 10.0), (loud, -6.0)):
        leveler = cfx.Leveler(target_lufs=-18.0, max_boost_db=10.0, max_cut_db=6.0, gate_lufs=-70.0)
        leveler(x.astype(np.float32), SR)
        settled = leveler.gain_db[40:100]
        np.testing.assert_allclose(settled, expected, atol=1e-9)


def test_silence_keeps_unity_gain():
    x = np.zeros(5 * SR, np.float32)
    leveler = cfx.Leveler()
    assert np.array_equal(leveler(x, SR), x)
    assert np.all(leveler.gain_db == 0.0)


def test_removed_plus_processed_is_the_input():
    x, _ = programme(levels=(-30.0,), passage_s=4.0, pause_s=1.0)
    x = x.astype(np.float32)
    processed = cfx.Blend(cfx.Leveler())(x, SR)
    removed = cfx.Blend(cfx.Leveler(), listen="removed")(x, SR)
    np.testing.assert_allclose(processed + removed, x, atol=1e-6)
    assert np.std(removed) > np.std(x)  # the leveler boosted it, so "removed" is negative gain


def test_latency_is_the_look_ahead():
    assert cfx.Leveler(smoothing_s=1.5).latency_for(48000) == (15 + 17) * 4800


def test_parameters_are_checked():
    with pytest.raises(cfx.ParameterError):
        cfx.Leveler(max_boost_db=-1.0)
    from clarity_fx.registry import get_type

    assert get_type("leveler").build({"target_lufs": -16.0}).target_lufs == -16.0
