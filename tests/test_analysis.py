"""Tests for clarity_fx.analysis: BS.1770-4 / EBU R 128 meters and the health report.

Conformance cases are generated from the written definitions in EBU Tech 3341
(loudness meter) and Tech 3342 (loudness range); every "dBFS" there is the
peak level of a 1 kHz sine, stereo unless stated.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from clarity_fx import analysis as an
from clarity_fx.errors import AudioFileError, ParameterError

FS = 48000


# --- signal generators -----------------------------------------------------------


def tone_segments(segments, fs=FS, freq=1000.0, channels=2, phase=0.0):
    """One continuous sine whose peak level steps through ``(dbfs, seconds)`` segments."""
    gains = [np.full(round(sec * fs), 10.0 ** (db / 20.0)) for db, sec in segments]
    gain = np.concatenate(gains)
    t = np.arange(gain.size) / fs
    return np.tile(gain * np.sin(2 * np.pi * freq * t + phase), (channels, 1))


def white(seconds, fs=FS, channels=2, rms=0.1, seed=0):
    return np.random.default_rng(seed).standard_normal((channels, round(seconds * fs))) * rms


def pink(seconds, fs=FS, rms=0.1, seed=0):
    """Pink noise (power ~ 1/f) by shaping white noise in the frequency domain."""
    n = round(seconds * fs)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x * rms / np.sqrt(np.mean(x * x))


def speech_like(seconds, fs=FS, channels=2, seed=0):
    """Syllable-sized voiced bursts at varying levels, pauses, and a quiet passage."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    x = np.zeros(n)
    t = 0
    while t < n:
        dur = round(rng.uniform(0.08, 0.35) * fs)
        f0 = rng.uniform(90.0, 220.0)
        tt = np.arange(dur) / fs
        voiced = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 12))
        burst = (voiced + 0.3 * rng.standard_normal(dur)) * np.hanning(dur)
        burst *= 10.0 ** (rng.uniform(-32.0, -10.0) / 20.0)
        end = min(n, t + dur)
        x[t:end] += burst[: end - t]
        t += dur + round(rng.uniform(0.05, 0.6) * fs)
    x[n // 3 : n // 3 + 2 * fs] *= 0.03  # a quiet stretch the relative gate must drop
    x += 10.0 ** (-65.0 / 20.0) * rng.standard_normal(n)  # room noise
    if channels == 1:
        return x[np.newaxis, :]
    other = 0.7 * np.roll(x, 37) + 10.0 ** (-60.0 / 20.0) * rng.standard_normal(n)
    return np.stack([x, other][:channels])


def stream(meter, audio, rng):
    """Feed ``audio`` in random chunk sizes, some of a single sample."""
    pos = 0
    while pos < audio.shape[1]:
        size = int(rng.choice([1, 2, 7, int(rng.integers(1, 20000))]))
        meter.add(audio[:, pos : pos + size])
        pos += size
    return meter.result()


# --- K-weighting and pyloudnorm agreement ----------------------------------------


def test_k_weighting_reproduces_bs1770_table_at_48k():
    # BS.1770-4 Table 1 (shelf) and Table 2 (high-pass), a0 = 1.
    expected = [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
         -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]  # fmt: skip
    np.testing.assert_allclose(an.k_weighting_sos(48000), expected, atol=1e-10)


@pytest.mark.parametrize("fs", [44100, 88200, 96000])
def test_k_weighting_curve_is_the_same_at_other_rates(fs):
    import scipy.signal

    freqs = [100.0, 1000.0, 10000.0]
    _, ref = scipy.signal.sosfreqz(an.k_weighting_sos(48000), worN=freqs, fs=48000)
    _, got = scipy.signal.sosfreqz(an.k_weighting_sos(fs), worN=freqs, fs=fs)
    np.testing.assert_allclose(20 * np.log10(abs(got)), 20 * np.log10(abs(ref)), atol=0.03)


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
    ours = an.integrated_loudness(audio, fs)
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
    meter = an.LoudnessMeter(FS, 2)
    meter.add(tone_segments(segments))
    assert meter.result().integrated_lufs == pytest.approx(target, abs=0.1)


def test_tech3341_case1_momentary_and_short_term():
    meter = an.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(-23.0, 20.0)]))
    r = meter.result()
    assert r.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert r.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert r.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_tech3341_case6_five_channels():
    # L, R at -28 dBFS, C at -24 dBFS, Ls, Rs at -30 dBFS -> -23.0 LUFS.
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]
    audio = np.concatenate([tone_segments([(db, 20.0)], channels=1) for db in levels])
    assert an.integrated_loudness(audio, FS) == pytest.approx(-23.0, abs=0.1)


def test_six_channels_ignore_lfe():
    levels = [-28.0, -28.0, -24.0, -3.0, -30.0, -30.0]  # a loud LFE must not count
    audio = np.concatenate([tone_segments([(db, 5.0)], channels=1) for db in levels])
    assert an.integrated_loudness(audio, FS) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case9_short_term_constant():
    # 20 x (1.34 s at -20 dBFS, 1.66 s at -30 dBFS): every 3 s window is -23.0.
    meter = an.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(-20.0, 1.34), (-30.0, 1.66)] * 20))
    short_term = meter.short_term()
    assert short_term.size > 500
    np.testing.assert_allclose(short_term, -23.0, atol=0.1)
    assert meter.result().short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case12_momentary_constant():
    # 25 x (0.18 s at -20 dBFS, 0.22 s at -30 dBFS): every 400 ms window is -23.0.
    meter = an.LoudnessMeter(FS, 2)
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
    meter = an.LoudnessMeter(FS, 2)
    meter.add(tone_segments([(db, 20.0) for db in levels]))
    assert meter.result().loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_loudness_range_of_a_ramp_uses_the_10th_and_95th_percentiles():
    # Level rising 1/3 dB per second for 60 s: the 3 s windows centred from 1.5 s
    # to 58.5 s read (almost exactly) the level at their centre, so
    # LRA = (0.95 - 0.10) * 57 s / 3 s per dB = 16.15 LU.
    t = np.arange(60 * FS) / FS
    audio = np.tile(10 ** ((-40.0 + t / 3.0) / 20.0) * np.sin(2 * np.pi * 1000.0 * t), (2, 1))
    meter = an.LoudnessMeter(FS, 2)
    meter.add(audio)
    assert meter.result().loudness_range_lu == pytest.approx(16.15, abs=0.05)


# --- true peak -------------------------------------------------------------------


@pytest.mark.parametrize("fs", [44100, 48000, 192000])
def test_true_peak_of_quarter_rate_sine_between_samples(fs):
    # A sine at fs/4 with a 45 degree phase is sampled at +-A/sqrt(2) only: the
    # sample peak is 3.01 dB under the true peak A.
    amplitude = 0.5
    audio = tone_segments([(20 * math.log10(amplitude), 1.0)], fs, fs / 4, 2, math.pi / 4)
    report = an.analyze_array(audio, fs)
    assert report["peak"]["sample_peak_dbfs"] == pytest.approx(
        20 * math.log10(amplitude / math.sqrt(2)), abs=1e-6
    )
    assert an.true_peak_dbtp(audio, fs) == pytest.approx(20 * math.log10(amplitude), abs=0.2)
    assert report["peak"]["true_peak_dbtp"] == an.true_peak_dbtp(audio, fs)


def test_true_peak_counts_ringing_after_the_last_sample():
    # An isolated full-scale pair overshoots between and after its samples.
    audio = np.zeros((1, 100))
    audio[0, -2:] = [1.0, -1.0]
    assert an.true_peak_dbtp(audio, FS) > 0.5


def test_true_peak_never_below_sample_peak():
    audio = white(2, channels=2, seed=11)
    assert an.true_peak_dbtp(audio, FS) >= 20 * np.log10(np.abs(audio).max())


def test_true_peak_meter_speed_60s_stereo():
    audio = white(60, channels=2, seed=12).astype(np.float32)
    meter = an.TruePeakMeter(FS, 2)
    start = time.process_time()  # CPU time: other jobs on the machine do not count
    for i in range(0, audio.shape[1], FS):
        meter.add(audio[:, i : i + FS])
    meter.result()
    assert time.process_time() - start < 1.0


# --- block-size independence -------------------------------------------------------


def _test_signal(fs, seed):
    audio = speech_like(4, fs, channels=2, seed=seed)
    audio[:, fs // 2 : fs] = np.clip(audio[:, fs // 2 : fs] * 400, -1, 1)  # clipped flat tops
    return audio


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fs=st.sampled_from([11025, 44100, 48000]))
def test_meters_do_not_depend_on_block_size(seed, fs):
    audio = _test_signal(fs, seed % 5)
    rng = np.random.default_rng(seed)

    whole = an.LoudnessMeter(fs, 2)
    whole.add(audio)
    parts = stream(an.LoudnessMeter(fs, 2), audio, rng)
    for field in ("integrated_lufs", "loudness_range_lu", "short_term_max_lufs",
                  "momentary_max_lufs"):  # fmt: skip
        assert getattr(parts, field) == pytest.approx(getattr(whole.result(), field), abs=1e-9)

    assert stream(an.TruePeakMeter(fs, 2), audio, rng) == pytest.approx(
        an.true_peak_dbtp(audio, fs), abs=1e-9
    )

    assert _same(stream(an.AudioAnalyzer(fs, 2), audio, rng), an.analyze_array(audio, fs))


def _same(a, b):
    """Deep comparison with a float tolerance (pytest.approx does not nest dicts)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-9)
        return True
    assert a == b
    return True


def test_clipped_runs_are_counted_across_block_edges():
    x = np.zeros((1, 40))
    x[0, 8:13] = 1.0  # run of 5, split 2 + 3 by the blocks below
    x[0, 20] = 1.0  # lone full-scale sample: a peak, not a clip
    x[0, 30:32] = -1.0  # run of 2: below CLIP_MIN_RUN
    x[0, 36:40] = -1.0  # run of 4 still open at the end
    analyzer = an.AudioAnalyzer(FS, 1)
    analyzer.add(x[:, :10])
    analyzer.add(x[:, 10:])
    peak = analyzer.result()["peak"]
    assert (peak["clipped_samples"], peak["clipped_runs"]) == (9, 2)


# --- health report -----------------------------------------------------------------


def hum(seconds, mains, fs=FS):
    t = np.arange(round(seconds * fs)) / fs
    amps = [4e-3, 2e-3, 1.5e-3, 1e-3, 7e-4]  # about -48 dBFS down to -63 dBFS
    return sum(a * np.sin(2 * np.pi * k * mains * t + k) for k, a in enumerate(amps, 1))


@pytest.mark.parametrize("mains", [50, 60])
def test_hum_found_under_noise(mains):
    audio = white(5, channels=2, rms=0.02, seed=21) + hum(5, mains)
    report = an.analyze_array(audio, FS)["hum"]
    assert report["detected"] is True
    assert report["mains_hz"] == mains
    assert report["level_db"] > 10.0


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_no_hum_in_pink_or_white_noise(seed):
    for audio in (pink(5, seed=seed), white(5, channels=2, seed=seed)):
        report = an.analyze_array(audio, FS)["hum"]
        assert report == {"detected": False, "mains_hz": None, "level_db": None}


def test_spectral_balance_puts_100hz_in_low():
    audio = tone_segments([(-20.0, 3.0)], freq=100.0) + white(3, rms=1e-4, seed=41)
    report = an.analyze_array(audio, FS)
    balance = report["spectral_balance_db"]
    assert balance["low"] > -0.01
    assert max(balance["low_mid"], balance["presence"], balance["air"]) < -30.0
    # A lone 100 Hz tone is a note, not 50 Hz hum.
    assert report["hum"]["detected"] is False


def test_spectral_balance_shares_sum_to_one():
    balance = an.analyze_array(pink(3, seed=42), FS)["spectral_balance_db"]
    assert sum(10 ** (v / 10) for v in balance.values()) == pytest.approx(1.0, rel=1e-9)
    # Pink noise has equal energy per octave: low (3.6 oct) beats presence (1.6 oct).
    assert balance["low"] > balance["presence"]


def test_noise_floor_snr_and_dc():
    fs = FS
    noise_rms = 10 ** (-60 / 20)
    quiet = np.random.default_rng(51).standard_normal((1, 3 * fs)) * noise_rms
    loud = tone_segments([(-20 + 3.0103, 7.0)], channels=1)  # RMS -20 dBFS
    loud += np.random.default_rng(52).standard_normal(loud.shape) * noise_rms
    audio = np.concatenate([np.zeros((1, 2 * fs)), quiet, loud], axis=1)
    level = an.analyze_array(audio, fs)["level"]  # the digital silence is left out
    assert level["noise_floor_dbfs"] == pytest.approx(-60.0, abs=0.5)
    assert level["snr_db"] == pytest.approx(40.0, abs=0.5)
    dc = an.analyze_array(audio + 0.01, fs)["level"]["dc_offset"]
    assert dc == [pytest.approx(0.01, abs=1e-6)]


def test_rms_and_crest_factor_of_a_sine():
    level = an.analyze_array(tone_segments([(0.0, 1.0)], channels=1) * 0.5, FS)["level"]
    assert level["rms_dbfs"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert level["crest_factor_db"] == pytest.approx(3.01, abs=0.01)


# --- files, JSON, compare ------------------------------------------------------------


def test_analyze_file_json_roundtrip(tmp_path):
    audio = speech_like(4, channels=2, seed=61).astype(np.float32)
    path = tmp_path / "speech.wav"
    sf.write(path, audio.T, FS, subtype="FLOAT")
    report = an.analyze_file(path, block_seconds=0.37)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["schema_version"] == an.SCHEMA_VERSION
    assert (report["sample_rate"], report["channels"], report["duration_s"]) == (FS, 2, 4.0)
    assert _same(report, an.analyze_array(audio, FS))
    assert _same(report, an.analyze_file(path))  # default block size


def test_all_zero_file_gives_nulls_not_nan(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((FS * 2, 2), dtype=np.float32), FS, subtype="PCM_16")
    report = an.analyze_file(path)
    json.loads(json.dumps(report, allow_nan=False))
    assert all(v is None for v in report["loudness"].values())
    assert report["peak"] == {
        "true_peak_dbtp": None, "sample_peak_dbfs": None, "clipped_samples": 0,
        "clipped_runs": 0,
    }  # fmt: skip
    assert report["level"]["dc_offset"] == [0.0, 0.0]
    assert report["level"]["rms_dbfs"] is None and report["level"]["snr_db"] is None
    assert report["hum"] == {"detected": False, "mains_hz": None, "level_db": None}
    assert all(v is None for v in report["spectral_balance_db"].values())
    assert an.integrated_loudness(np.zeros((2, FS)), FS) == -math.inf
    assert an.true_peak_dbtp(np.zeros(FS), FS) == -math.inf


def test_empty_and_short_input():
    report = an.analyze_array(np.zeros((2, 0)), FS)
    json.dumps(report, allow_nan=False)
    short = an.analyze_array(white(0.3, seed=71), FS)
    assert short["loudness"]["integrated_lufs"] is None  # under one 400 ms block
    assert short["spectral_balance_db"]["low"] is not None  # zero-padded segment


def test_compare_pairs_fields():
    audio = speech_like(4, seed=81)
    before, after = an.analyze_array(audio, FS), an.analyze_array(audio * 0.5, FS)
    diff = an.compare(before, after)
    json.dumps(diff, allow_nan=False)
    assert diff["schema_version"] == an.SCHEMA_VERSION
    loud = diff["loudness"]["integrated_lufs"]
    assert loud["before"] == before["loudness"]["integrated_lufs"]
    assert loud["difference"] == pytest.approx(-6.02, abs=0.01)
    assert diff["peak"]["sample_peak_dbfs"]["difference"] == pytest.approx(-6.02, abs=0.01)
    assert diff["level"]["dc_offset"][1]["after"] == after["level"]["dc_offset"][1]
    assert diff["hum"]["detected"]["difference"] is None
    assert diff["hum"]["mains_hz"]["difference"] is None
    assert diff["duration_s"]["difference"] == 0.0
    with pytest.raises(ParameterError):
        an.compare(before, {**after, "schema_version": 0})


# --- errors and module hygiene ---------------------------------------------------------


def test_bad_input_is_a_parameter_error():
    meter = an.LoudnessMeter(FS, 2)
    with pytest.raises(ParameterError, match="channels"):
        meter.add(np.zeros((1, 100)))
    with pytest.raises(ParameterError, match="channels must be a whole number from 1 to 32"):
        an.analyze_array(np.zeros((40, 1000)), FS)
    with pytest.raises(ParameterError, match="NaN"):
        an.TruePeakMeter(FS, 1).add(np.array([0.0, np.nan]))
    with pytest.raises(ParameterError, match="floating"):
        an.integrated_loudness(np.zeros((2, 100), dtype=np.int16), FS)
    with pytest.raises(ParameterError, match="sample_rate"):
        an.LoudnessMeter(0, 2)


def test_analysis_takes_either_layout_as_every_plugin_does():
    # The one input rule (clarity_fx.validate): channels are the smaller axis, (n, 2) as (2, n).
    audio = speech_like(4, seed=82)
    assert audio.shape[0] == 2
    assert an.analyze_array(np.ascontiguousarray(audio.T), FS) == an.analyze_array(audio, FS)
    assert an.integrated_loudness(audio.T, FS) == an.integrated_loudness(audio, FS)
    assert an.true_peak_dbtp(audio.T, FS) == an.true_peak_dbtp(audio, FS)
    meter = an.LoudnessMeter(FS, 2)
    meter.add(audio[:, :FS].T)  # a stream's blocks may come either way too
    meter.add(audio[:, FS:])
    assert meter.result().integrated_lufs == an.integrated_loudness(audio, FS)


def test_missing_file_is_an_audio_file_error(tmp_path):
    with pytest.raises(AudioFileError, match="nope.wav"):
        an.analyze_file(tmp_path / "nope.wav")


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, clarity_fx.analysis; "
        "print([m for m in ('scipy.signal', 'matplotlib', 'numba') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
