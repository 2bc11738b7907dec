"""Tests for clarity_fx.analysis: the health report, streamed and whole (the meters: test_meters.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from loudness_signals import FS, pink, speech_like, stream, tone_segments, white

from clarity_fx import analysis as an
from clarity_fx.errors import AudioFileError, ParameterError

# --- true peak in the report ------------------------------------------------------


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
