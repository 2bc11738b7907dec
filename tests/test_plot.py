"""clarity_fx.plot: spectrograms, before/after pictures and frequency responses."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import soundfile

import clarity_fx as cfx
from clarity_fx import plot
from clarity_fx.errors import ParameterError
from clarity_fx.plugin import Plugin

SR = 48000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the 8-byte signature."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def sine(freq: float, seconds: float = 1.0, amplitude: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def level_db(h: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.abs(h))


# --------------------------------------------------------------------------- import cost
def test_import_does_not_load_matplotlib():
    code = "import sys, clarity_fx.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- spectrogram
def test_sine_peaks_at_its_bin_and_matches_stft_by_hand():
    n_fft, hop = 1920, 480  # 25 Hz bins: 1 kHz is bin 40
    x = sine(1000.0, amplitude=0.5)
    times, freqs, s_db = plot.spectrogram_db(x, SR, n_fft=n_fft, hop=hop)
    assert s_db.shape == (n_fft // 2 + 1, times.size) and freqs.size == n_fft // 2 + 1
    assert np.argmax(s_db[:, 50]) == 40 and freqs[40] == 1000.0
    np.testing.assert_allclose(times[:3], [0.0, hop / SR, 2 * hop / SR])

    # |STFT|² by hand: centred frames (n_fft/2 zeros each side), periodic Hann window.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.concatenate([np.zeros(n_fft // 2), x.astype(np.float64), np.zeros(n_fft // 2)])
    for m in (0, 50):
        power = np.abs(np.fft.rfft(padded[m * hop : m * hop + n_fft] * window)) ** 2
        strong = power > power.max() * 1e-6
        np.testing.assert_allclose(s_db[strong, m], 10 * np.log10(power[strong]), atol=1e-3)
    # Amplitude 0.5 with Σw = n_fft/2: |X| = 0.5 · n_fft/4 at the sine's bin.
    assert s_db[40, 50] == pytest.approx(20 * np.log10(0.5 * n_fft / 4), abs=0.01)


def test_full_scale_sine_reads_zero_db_and_default_bin_is_nearest():
    _, _, s_db = plot.spectrogram_db(sine(1000.0), SR, n_fft=1920, hop=480, full_scale=True)
    assert s_db[40, 50] == pytest.approx(0.0, abs=0.01)
    _, freqs, s_db = plot.spectrogram_db(sine(1000.0), SR)  # n_fft=2048: 23.4 Hz bins
    assert np.argmin(np.abs(freqs - 1000.0)) == np.argmax(s_db[:, 40])


def test_long_signal_is_pooled_by_mean_power_and_channels_are_mixed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, SR * 2)).astype(np.float32) * 0.1
    _, _, every = plot.spectrogram_db(x, SR, max_frames=None)
    times, _, pooled = plot.spectrogram_db(x, SR, max_frames=20)
    group = -(-every.shape[1] // 20)
    assert pooled.shape[1] == -(-every.shape[1] // group) <= 20
    expected = 10 * np.log10(np.mean(10 ** (every[:, :group] / 10), axis=1))
    np.testing.assert_allclose(pooled[:, 0], expected, atol=1e-3)
    assert times[0] == pytest.approx((group - 1) / 2 * 512 / SR)
    # Mono mix (mean of channels), channel-last input accepted, one channel on request.
    _, _, mono = plot.spectrogram_db(x.mean(axis=0), SR, max_frames=20)
    np.testing.assert_allclose(pooled, mono, atol=1e-3)
    _, _, last = plot.spectrogram_db(x.T, SR, max_frames=20)
    np.testing.assert_array_equal(pooled, last)
    _, _, left = plot.spectrogram_db(x, SR, max_frames=20, channel=0)
    _, _, left_only = plot.spectrogram_db(x[0], SR, max_frames=20)
    np.testing.assert_array_equal(left, left_only)


def test_spectrogram_rejects_bad_input():
    with pytest.raises(ParameterError, match="hop"):
        plot.spectrogram_db(sine(1000.0), SR, n_fft=512, hop=1024)
    with pytest.raises(ParameterError, match="NaN"):
        plot.spectrogram_db(np.full(1000, np.nan, np.float32), SR)
    with pytest.raises(ParameterError, match="empty"):
        plot.spectrogram_db(np.zeros(0, np.float32), SR)
    with pytest.raises(ParameterError, match="channel"):
        plot.spectrogram_db(np.zeros((2, 1000), np.float32), SR, channel=2)


# --------------------------------------------------------------------------- pictures
def noisy_and_clean(seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    voice = sine(220.0, seconds, 0.3) + sine(660.0, seconds, 0.1)
    noisy = np.stack([voice + 0.05 * rng.standard_normal(voice.size).astype(np.float32)] * 2)
    return noisy, pedalboard.LowpassFilter(2000)(noisy, SR)


def test_plot_compare_writes_png_of_exact_size_with_one_colour_scale(tmp_path):
    noisy, clean = noisy_and_clean()
    gain = np.minimum(0.0, -6.0 * np.sin(np.linspace(0, np.pi, clean.shape[1])))
    result = plot.plot_compare(noisy, clean * 0.1, SR, tmp_path / "compare.png", gain_reduction_db=gain,
                               width_px=1001, height_px=701)  # fmt: skip
    assert png_size(result.path) == (1001, 701)
    assert Path(result) == tmp_path / "compare.png"  # usable as a path
    before_limits, after_limits = result.panel_limits_db
    assert before_limits == after_limits == (result.vmin_db, result.vmax_db)
    # The scale is the loudest cell of both (here the louder "before") minus 90 dB.
    _, _, s_db = plot.spectrogram_db(noisy, SR, full_scale=True)
    assert result.vmax_db == pytest.approx(float(s_db[1:].max()), abs=1e-3)
    assert result.vmax_db - result.vmin_db == pytest.approx(plot.DYNAMIC_RANGE_DB)
    with pytest.raises(ParameterError, match="at least two values"):
        plot.plot_compare(noisy, clean, SR, tmp_path / "bad.png", gain_reduction_db=gain[:1])
    # a decimated trace (one value per millisecond) is spread over the audio
    plot.plot_compare(noisy, clean, SR, tmp_path / "decimated.png", gain_reduction_db=gain[:: SR // 1000])


def test_plot_single_and_files(tmp_path):
    noisy, clean = noisy_and_clean(0.5)
    single = plot.plot_single(noisy, SR, tmp_path / "single.png", title="take", width_px=640, height_px=480)
    assert png_size(single.path) == (640, 480) and len(single.panel_limits_db) == 1
    soundfile.write(tmp_path / "before.wav", noisy.T, SR)
    soundfile.write(tmp_path / "after.flac", clean.T, SR)
    both = plot.plot_file_compare(tmp_path / "before.wav", tmp_path / "after.flac", tmp_path / "files.png",
                                  width_px=800, height_px=500)  # fmt: skip
    assert png_size(both.path) == (800, 500)
    assert both.panel_limits_db[0] == both.panel_limits_db[1]
    one = plot.plot_file(tmp_path / "before.wav", tmp_path / "one.png", width_px=500, height_px=400)
    assert png_size(one.path) == (500, 400)


def test_plot_paths_are_checked(tmp_path):
    x = sine(440.0, 0.2)
    with pytest.raises(ParameterError, match=r"\.png"):
        plot.plot_single(x, SR, tmp_path / "picture.jpg")
    with pytest.raises(ParameterError, match="folder"):
        plot.plot_single(x, SR, tmp_path / "missing" / "picture.png")
    with pytest.raises(cfx.AudioFileError):
        plot.plot_file(tmp_path / "nothing.wav", tmp_path / "p.png")


# --------------------------------------------------------------------------- responses
# The numbers are tested in test_response.py; here, what plot_response draws from them.
FREQS = np.geomspace(20, 20000, 400)


class SoftClipper(Plugin):
    """Not in either list: only the probe can tell that it is not linear."""

    def process_block(self, block, state):
        return np.tanh(4 * block) / 4


def test_non_linear_stages_are_skipped_and_named(tmp_path, monkeypatch):
    chain = cfx.Chain(
        [pedalboard.HighpassFilter(1000), pedalboard.Compressor(threshold_db=-30, ratio=4), SoftClipper()]
    )
    stages = plot.stage_responses(chain, FREQS, SR)
    assert [s.method for s in stages] == ["impulse", "skipped", "skipped"]
    assert stages[1].name.startswith("Compressor(") and stages[1].reason == "dynamics"
    assert stages[2].name == "SoftClipper" and stages[2].reason == "non-linear (probe)"
    np.testing.assert_allclose(plot.chain_response(chain, FREQS, SR), stages[0].response)

    drawn = {}
    save = plot._save
    monkeypatch.setattr(plot, "_save", lambda fig, path: (drawn.setdefault("fig", fig), save(fig, path)))
    out = plot.plot_response(chain, SR, tmp_path / "response.png", width_px=900, height_px=600)
    assert png_size(out) == (900, 600)
    labels = [t.get_text() for legend in drawn["fig"].legends for t in legend.get_texts()]
    assert "combined" in labels
    assert "skipped (dynamics): Compressor" in labels
    assert "skipped (non-linear (probe)): SoftClipper" in labels
    titles = " ".join(ax.get_title(loc="right") for ax in drawn["fig"].axes)
    assert "Compressor" in titles and "SoftClipper" in titles
