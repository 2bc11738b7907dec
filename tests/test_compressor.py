"""HardKneeCompressor against the formulas of Giannoulis, Massberg & Reiss (JAES 2012)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SR, noise, stream

from clarity_fx.errors import ParameterError
from clarity_fx.processors.compressor import HardKneeCompressor, static_curve_db

T_DB = -20.0
TONE_HZ = 1000.0  # 48 samples a period: cos() puts a sample on every crest


def tone(level_db, n: int, freq: float = TONE_HZ) -> np.ndarray:
    """Cosine whose sample peak is ``level_db`` dBFS (a scalar or one level per sample)."""
    t = np.arange(n)
    return (10 ** (np.asarray(level_db) / 20) * np.cos(2 * np.pi * freq * t / SR)).astype(np.float32)


def db(x: float) -> float:
    return 20 * math.log10(x)


def settled_gain_db(comp: HardKneeCompressor, x: np.ndarray) -> float:
    """Output peak over input peak in the last 0.1 s, in dB."""
    y = comp(x, SR)
    tail = slice(-SR // 10, None)
    return db(np.abs(y[..., tail]).max() / np.abs(x[..., tail]).max())


# --------------------------------------------------------------------------- static curve
def test_static_curve_matches_equation_4():
    # eq. (4) by hand: hard knee, then a 12 dB soft knee at its edges and centre.
    assert static_curve_db(-8.0, T_DB, 4.0) == pytest.approx(T_DB + 12 / 4)
    assert static_curve_db(-30.0, T_DB, 4.0) == -30.0
    w, r = 12.0, 4.0
    assert static_curve_db(T_DB - w / 2, T_DB, r, w) == pytest.approx(T_DB - w / 2)
    assert static_curve_db(T_DB + w / 2, T_DB, r, w) == pytest.approx(T_DB + w / 2 / r)
    assert static_curve_db(T_DB, T_DB, r, w) == pytest.approx(T_DB + (1 / r - 1) * (w / 2) ** 2 / (2 * w))
    # Continuous, and a knee below the hard knee by at most (1 − 1/R)·W/8, at T.
    x = np.linspace(T_DB - 20, T_DB + 20, 4001)
    y = static_curve_db(x, T_DB, r, w)
    hard = static_curve_db(x, T_DB, r)
    assert np.abs(np.diff(y)).max() < 0.011
    assert np.all(y <= hard + 1e-12) and np.all(y >= hard - (1 - 1 / r) * w / 8 - 1e-12)


@pytest.mark.parametrize("ratio", [2.0, 4.0, 10.0, 1000.0])
def test_peak_detector_follows_hard_knee_curve(ratio):
    comp = HardKneeCompressor(threshold_db=T_DB, ratio=ratio)
    for level in np.arange(T_DB - 12, T_DB + 24 + 1e-9, 3.0):
        expected = float(static_curve_db(level, T_DB, ratio) - level)
        assert settled_gain_db(comp, tone(level, SR // 2)) == pytest.approx(expected, abs=0.1), level


@pytest.mark.parametrize("ratio, knee", [(4.0, 12.0), (2.0, 6.0)])
def test_soft_knee_follows_equation_4(ratio, knee):
    comp = HardKneeCompressor(threshold_db=T_DB, ratio=ratio, knee_db=knee)
    for level in np.arange(T_DB - 12, T_DB + 24 + 1e-9, 2.0):
        expected = float(static_curve_db(level, T_DB, ratio, knee) - level)
        assert settled_gain_db(comp, tone(level, SR // 2)) == pytest.approx(expected, abs=0.1), level


@pytest.mark.parametrize("ratio", [3.0, 8.0])
def test_rms_detector_uses_rms_level(ratio):
    # A sine's RMS is its peak − 3.01 dB; the gain follows the curve at that level.
    comp = HardKneeCompressor(threshold_db=T_DB, ratio=ratio, detector="rms", rms_ms=10)
    for level in np.arange(T_DB - 9, T_DB + 24 + 1e-9, 3.0):
        rms = level - 10 * math.log10(2)
        expected = float(static_curve_db(rms, T_DB, ratio) - rms)
        assert settled_gain_db(comp, tone(level, SR // 2)) == pytest.approx(expected, abs=0.1), level


def test_no_gain_change_below_threshold():
    x = noise(2, 0.5, level=0.02)
    x *= 0.99 * 10 ** (T_DB / 20) / np.abs(x).max()
    for comp in (
        HardKneeCompressor(threshold_db=T_DB),
        HardKneeCompressor(threshold_db=T_DB + 6, knee_db=12),  # T − W/2 is still above
        HardKneeCompressor(threshold_db=T_DB, link="none", lookahead_ms=2),
    ):
        y = comp(x, SR)
        assert np.abs(y - x).max() <= 1e-6 * np.abs(x).max()
        assert np.all(comp.gain_reduction_db == 0.0)


def test_sign_is_kept_and_gain_is_multiplicative():
    x = noise(2, 0.3, level=0.5)
    comp = HardKneeCompressor(threshold_db=-30, ratio=8, attack_ms=0.5)
    y = comp.process(x, SR, buffer_size=x.shape[1])
    assert np.array_equal(np.sign(y), np.sign(x))
    expected = x * 10 ** (comp.gain_reduction_db / 20)
    assert np.abs(y - expected).max() <= 1e-6


# --------------------------------------------------------------------------- ballistics
def _step_times(attack_ms: float, release_ms: float) -> tuple[float, float]:
    """1 − 1/e times (ms) of the gain reduction after a +20 dB and a −20 dB step."""
    up, down = 4800, 4800 + int(SR * max(0.2, 12 * attack_ms / 1000)) // 48 * 48
    n = down + int(SR * 6 * release_ms / 1000)
    level = np.full(n, T_DB - 10)
    level[up:down] = T_DB + 10  # 20 dB up, then back down below T
    comp = HardKneeCompressor(threshold_db=T_DB, ratio=4, attack_ms=attack_ms, release_ms=release_ms)
    comp.process(tone(level, n), SR, buffer_size=n)  # one block: the whole trajectory
    reduction = -comp.gain_reduction_db[0]
    full = reduction[down - 480 : down].mean()
    assert full == pytest.approx(0.75 * 20 * 0.5, rel=0.01)  # (1 − 1/R)·10 dB over T
    attack = np.argmax(reduction[up:] >= (1 - 1 / math.e) * full)
    release = np.argmax(reduction[down:] <= reduction[down - 1] / math.e)
    return 1000 * attack / SR, 1000 * release / SR


@pytest.mark.parametrize("attack_ms, release_ms", [(5.0, 80.0), (1.0, 50.0), (20.0, 80.0), (2.0, 300.0)])
def test_attack_and_release_time_constants(attack_ms, release_ms):
    attack, release = _step_times(attack_ms, release_ms)
    assert attack == pytest.approx(attack_ms, rel=0.05)
    assert release == pytest.approx(release_ms, rel=0.05)


# --------------------------------------------------------------------------- lookahead, streaming
def test_lookahead_is_latency_and_moves_the_gain_earlier():
    n, look = SR // 2, 4.0
    level = np.where(np.arange(n) < SR // 4, T_DB - 6, T_DB + 12)
    x = np.stack([tone(level, n), tone(level, n) * 0.5]) + np.float32(1e-3)  # no zeros
    plain = HardKneeCompressor(threshold_db=T_DB, attack_ms=1)
    plain.process(x, SR, buffer_size=n)
    gain = plain.gain_reduction_db[0]
    ahead = HardKneeCompressor(threshold_db=T_DB, attack_ms=1, lookahead_ms=look)
    d = round(look * SR / 1000)
    assert ahead.latency_for(SR) == d and ahead.latency_samples == d
    y = ahead(x, SR)
    assert y.shape == x.shape
    # Aligned output y[m] = x[m]·g[m + D]: the gain arrives D samples early.
    expected = x[:, : n - d] * 10 ** (gain[d:] / 20)
    assert np.abs(y[:, : n - d] - expected).max() <= 1e-6


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"detector": "rms", "knee_db": 6.0, "auto_makeup": True},
        {"link": "none", "lookahead_ms": 3.0, "makeup_db": 2.0},
        {"link": "mean", "attack_ms": 0.0, "release_ms": 0.0},
    ],
)
def test_streaming_equals_whole(params):
    x = noise(2, 0.4, level=0.3)
    comp = HardKneeCompressor(threshold_db=-24, ratio=5, **params)
    whole = comp(x, SR)
    for sizes, buffer_size in (([1000], 8192), ([7, 300, 4096], 512), ([x.shape[1]], 64)):
        parts = stream(comp, x, sizes, buffer_size=buffer_size)
        assert np.abs(parts - whole).max() <= 1e-6


# --------------------------------------------------------------------------- link, makeup
def test_link_modes():
    n = SR // 2
    loud = tone(T_DB + 12, n)
    x = np.stack([loud, np.zeros(n, np.float32)])  # left loud, right silent
    mono = HardKneeCompressor(threshold_db=T_DB)
    mono.process(loud, SR, buffer_size=n)
    half = HardKneeCompressor(threshold_db=T_DB)
    half.process(loud / 2, SR, buffer_size=n)  # the mean of |L| and |R|

    linked = HardKneeCompressor(threshold_db=T_DB, link="max")
    linked.process(x, SR, buffer_size=n)
    assert linked.gain_reduction_db.shape == (1, n)
    assert np.abs(linked.gain_reduction_db - mono.gain_reduction_db).max() <= 1e-5

    mean = HardKneeCompressor(threshold_db=T_DB, link="mean")
    mean.process(x, SR, buffer_size=n)
    assert np.abs(mean.gain_reduction_db - half.gain_reduction_db).max() <= 1e-5

    apart = HardKneeCompressor(threshold_db=T_DB, link="none")
    y = apart.process(x[::-1].copy(), SR, buffer_size=n)  # loud on the right now
    assert apart.gain_reduction_db.shape == (2, n)
    assert np.all(apart.gain_reduction_db[0] == 0.0)
    assert np.abs(apart.gain_reduction_db[1] - mono.gain_reduction_db[0]).max() <= 1e-5
    assert np.array_equal(y[0], x[1])

    # Stereo: link max reduces the quiet channel by the loud one's gain.
    both = np.stack([loud, loud * 0.1])
    y = HardKneeCompressor(threshold_db=T_DB, link="max")(both, SR)
    assert db(np.abs(y[1, -4800:]).max()) == pytest.approx(T_DB + 12 / 3 - 20, abs=0.1)


def test_makeup_manual_and_auto():
    x = tone(0.0, SR // 2)  # a 0 dBFS peak tone
    auto = HardKneeCompressor(threshold_db=-24, ratio=4, auto_makeup=True)
    assert auto.makeup_gain_db() == pytest.approx(24 * (1 - 1 / 4))  # M = −T(1 − 1/R)
    assert settled_gain_db(auto, x) == pytest.approx(0.0, abs=0.1)  # 0 dB in, 0 dB out
    trim = HardKneeCompressor(threshold_db=-24, ratio=4, auto_makeup=True, makeup_db=-2)
    assert settled_gain_db(trim, x) == pytest.approx(-2.0, abs=0.1)
    quiet = tone(-40.0, SR // 4)
    y = HardKneeCompressor(makeup_db=6.0)(quiet, SR)
    assert np.abs(y - quiet * 10 ** (6 / 20)).max() <= 1e-6


def test_pydub_defaults_match_pydubs_steady_state():
    comp = HardKneeCompressor.pydub_defaults()
    assert (comp.threshold_db, comp.ratio, comp.attack_ms, comp.release_ms) == (
        -20.0,
        4.0,
        5.0,
        50.0,
    )
    assert (comp.detector, comp.link, comp.knee_db, comp.makeup_db) == ("rms", "mean", 0.0, 0.0)
    # pydub: attenuation → (1 − 1/ratio)·(rms_dB − threshold), rms of all channels
    # over the last `attack` ms (a whole number of 1 kHz periods here).
    x = np.stack([tone(-6.0, SR // 2), tone(-12.0, SR // 2)])
    window = x[:, -240:].astype(np.float64)
    rms_db = 10 * math.log10(np.mean(window**2))
    pydub_gain = -(1 - 1 / 4) * max(rms_db + 20, 0.0)
    assert settled_gain_db(comp, x) == pytest.approx(pydub_gain, abs=0.1)


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "params",
    [
        {"ratio": 0.5},
        {"attack_ms": -1.0},
        {"release_ms": float("nan")},
        {"detector": "loudness"},
        {"link": "left"},
        {"threshold_db": 60.0},
        {"knee_db": -3.0},
        {"lookahead_ms": -1.0},
        {"rms_ms": 0.0},
        {"auto_makeup": 1},
        {"thresold_db": -10.0},
    ],
)
def test_invalid_parameters_raise(params):
    with pytest.raises(ParameterError):
        HardKneeCompressor(**params)


def test_unlinked_key_must_match_channels():
    comp = HardKneeCompressor(link="none")
    with pytest.raises(ParameterError):
        comp._apply_gain(noise(2, 0.01), np.ones((3, 480), np.float32))


def test_gain_trace_is_aligned_and_survives_render_prepasses(tmp_path):
    import subprocess

    import soundfile as sf

    import clarity_fx as cfx

    rate = 48000
    t = np.arange(2 * rate) / rate
    x = (np.where(t >= 1.0, 0.5, 0.01) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, rate, subtype="FLOAT")
    comp = cfx.HardKneeCompressor(threshold_db=-20, ratio=4, attack_ms=1, lookahead_ms=2)
    result = cfx.render(tmp_path / "in.wav", tmp_path / "c.wav", comp, trace_gain=True)
    report = result.stage(())  # the compressor is the root: walk path ()
    gain = report.gain_reduction_db
    assert report.trace_step == 48 and gain.size == x.size // 48
    onset_ms = int(np.argmax(gain < -1.0))  # one value per millisecond
    assert 997 <= onset_ms <= 1001  # the lookahead starts it up to 2 ms early, not later
    # The loudness pre-pass streams the compressor too: the report keeps the real pass only.
    result = cfx.render(tmp_path / "in.wav", tmp_path / "c.wav", cfx.Chain([comp, cfx.LoudnessNormalize()]),
                        trace_gain=True)
    np.testing.assert_array_equal(result.stage("HardKneeCompressor").gain_reduction_db, gain)
    sf.write(tmp_path / "in.wav", x, rate, subtype="FLOAT")
    subprocess.run(
        [
            "clarity",
            "apply",
            "podcast-voice",
            str(tmp_path / "in.wav"),
            "-o",
            str(tmp_path / "o.wav"),
            "--plot",
            str(tmp_path / "r.png"),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
