"""The HTML report and the page parts (clarity_fx.report, clarity_fx.webpage), without a browser."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from test_cli import clarity, one_line_error

from clarity_fx import webpage
from clarity_fx.meters import integrated_loudness
from clarity_fx.report import write_report

SR = 48000


def take(seconds: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy 'take' (tone bursts in hiss) and a 'cleaned' one: the bursts alone, 6 dB down."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    gate = (np.sin(2 * np.pi * 1.5 * t) > 0).astype(np.float32)
    tones = gate * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 2500 * t))
    hiss = 0.02 * rng.standard_normal((2, t.size))
    before = (tones + hiss).astype(np.float32)
    after = (0.5 * np.vstack([tones, tones])).astype(np.float32)
    return before, after


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report")
    before, after = take()
    sf.write(folder / "take.wav", before.T, SR, subtype="PCM_24")
    sf.write(folder / "clean.flac", after.T, SR, subtype="PCM_24")
    return folder / "take.wav", folder / "clean.flac"


@pytest.fixture(scope="module")
def page(pair: tuple[Path, Path]) -> tuple[Path, str, dict]:
    before, after = pair
    out = before.with_name("report.html")
    write_report(before, [after], out)
    text = out.read_text(encoding="utf-8")
    return out, text, config_of(text)


def config_of(text: str) -> dict:
    found = re.search(r'<script type="application/json" class="clarity-config">(.*?)</script>', text, re.S)
    assert found, "no player config in the page"
    return json.loads(found.group(1))


def test_page_is_self_contained(page: tuple[Path, str, dict]) -> None:
    _, text, _ = page
    assert re.search(r"https?://", text) is None
    urls = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', text)
    outside = [u[:40] for u in urls if not u.startswith("data:")]
    assert urls and not outside, outside
    assert "url(" not in text and "@import" not in text  # no CSS fetches either
    assert "default-src 'none'" in text  # and the browser is told to refuse any


def test_embedded_audio_is_the_recording(page: tuple[Path, str, dict], pair: tuple[Path, Path]) -> None:
    """Each data: URI is Ogg Vorbis that decodes to its file: same length, within the codec's error."""
    _, _, config = page
    for track, path in zip(config["tracks"], pair, strict=True):
        assert track["src"].startswith("data:audio/ogg;base64,")
        audio, rate = sf.read(io.BytesIO(base64.b64decode(track["src"].split(",", 1)[1])), always_2d=True)
        source, _ = sf.read(path, always_2d=True)
        assert rate == SR and audio.shape[1] == source.shape[1]
        assert abs(audio.shape[0] - source.shape[0]) < 0.01 * SR
        n = min(audio.shape[0], source.shape[0])
        error = audio[:n] - source[:n]
        assert 10 * np.log10(np.mean(error**2) / np.mean(source[:n] ** 2)) < -20  # SNR over 20 dB


def test_offsets_match_pyloudnorm(page: tuple[Path, str, dict], pair: tuple[Path, Path]) -> None:
    _, text, config = page
    loudness = []
    for path in pair:
        audio, rate = sf.read(path, always_2d=True)
        loudness.append(pyloudnorm.Meter(rate).integrated_loudness(audio))
        ours = integrated_loudness(audio.T.astype(np.float32), rate)
        assert config["tracks"][len(loudness) - 1]["loudness_lufs"] == pytest.approx(ours, abs=1e-3)
    before, after = config["tracks"]
    assert before["offset_db"] == 0.0
    assert after["offset_db"] == pytest.approx(loudness[0] - loudness[1], abs=0.05)
    assert after["offset_db"] > 3.0  # the cleaned take is quieter: matched, it plays louder
    shown = re.findall(r'<td class="offset-db">([^<]*)</td>', text)
    assert shown == [f"{before['offset_db']:+.2f}", f"{after['offset_db']:+.2f}"]
    assert config["matched"] is True


def test_compare_table_has_the_analyze_fields(page: tuple[Path, str, dict], pair: tuple[Path, Path]) -> None:
    from clarity_fx.analysis import analyze_file

    _, text, _ = page
    fields = ("loudness.integrated_lufs", "peak.true_peak_dbtp", "loudness.range_lu",
              "level.noise_floor_dbfs", "level.snr_db", "hum.detected", "spectral_balance_db.air")
    for field in fields:
        assert f'data-field="{field}"' in text
    row = re.search(r'<tr data-field="level.noise_floor_dbfs">(.*?)</tr>', text).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    floors = [analyze_file(p)["level"]["noise_floor_dbfs"] for p in pair]
    assert cells[:2] == [f"{floors[0]:.2f}", f"{floors[1]:.2f}"]
    assert float(cells[2]) == pytest.approx(floors[1] - floors[0], abs=0.01)


def test_spectrograms_share_one_scale(tmp_path: Path) -> None:
    """A copy 20 dB down draws darker: one colour scale for all, not one per picture."""
    before, _ = take(2.0)
    sf.write(tmp_path / "loud.wav", before.T, SR)
    sf.write(tmp_path / "quiet.wav", (0.1 * before).T, SR)
    tracks = webpage.load_tracks([webpage.TrackSource(tmp_path / "loud.wav", "loud", "a"),
                                  webpage.TrackSource(tmp_path / "quiet.wav", "quiet", "b")])  # fmt: skip
    import matplotlib.image

    images = [matplotlib.image.imread(io.BytesIO(t.spectrogram_png), format="png") for t in tracks.tracks]
    assert images[0].shape[:2] == (webpage.SPECTROGRAM_HEIGHT_PX, webpage.SPECTROGRAM_WIDTH_PX)
    assert images[1][..., :3].mean() < 0.8 * images[0][..., :3].mean()
    assert tracks.tracks[1].offset_db == pytest.approx(20.0, abs=0.01)


def test_size_stays_under_the_ceiling(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """A lower ceiling: a lower bitrate, a page under it, a removed-signal player that cannot fit left out."""
    before, after = pair
    small = write_report(before, [after], tmp_path / "small.html", max_bytes=1_150_000,
                         removed=[webpage_removed(after)])  # fmt: skip
    assert small.size_bytes <= 1_150_000 and small.kbps < 160
    assert small.left_out == ("what went",)
    assert "Left out to keep the page under 1.15 MB: what went." in (tmp_path / "small.html").read_text()
    with pytest.raises(webpage.ParameterError, match="do not fit"):
        write_report(before, [after], tmp_path / "tiny.html", max_bytes=500_000)
    assert not (tmp_path / "tiny.html").exists()
    # Ten minutes of two stereo versions fit 20 MB at 80 kbit/s (what `load_tracks` would choose).
    reserve = webpage._RESERVE_PAGE + 2 * webpage._RESERVE_PER_TRACK
    assert webpage.choose_bitrate_kbps(2 * 600, webpage.DEFAULT_MAX_BYTES, reserve) == 80


def webpage_removed(path: Path):
    from clarity_fx.report import RemovedSignal

    return RemovedSignal("what went", path, -30.0)


def test_cli_report_and_no_match(pair: tuple[Path, Path], tmp_path: Path) -> None:
    before, after = pair
    out = tmp_path / "r.html"
    result = clarity("report", before, after, after, "-o", out, "--no-match", "--label", "one",
                     "--label", "two")  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = config_of(out.read_text(encoding="utf-8"))
    assert config["matched"] is False
    assert [t["label"] for t in config["tracks"]] == ["before", "one", "two"]
    assert [t["key"] for t in config["tracks"]] == ["a", "b", "c"]
    assert "r.html" in result.stderr and "MB" in result.stderr
    assert not list(tmp_path.glob(".*"))  # the atomic write left nothing beside it


def test_cli_report_errors_are_one_line(pair: tuple[Path, Path], tmp_path: Path) -> None:
    before, after = pair
    assert "ending in .html" in one_line_error(clarity("report", before, after, "-o", tmp_path / "r.png"))
    missing = one_line_error(clarity("report", before, tmp_path / "nope.wav", "-o", tmp_path / "r.html"))
    assert "nope.wav" in missing
    assert not (tmp_path / "r.html").exists() and not list(tmp_path.iterdir())


def test_apply_report(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """apply --report: the render's page, with what the stages removed, the gain reduction and the preset."""
    before, _ = pair
    preset = tmp_path / "p.yaml"
    preset.write_text(
        "name: test-clean\ndescription: Rumble out, level even.\nchain:\n"
        "  - analytic_filter: {kind: highpass, cutoff_hz: 300, order: 2}\n"
        "  - hard_knee_compressor: {threshold_db: -30, ratio: 4, attack_ms: 2, release_ms: 50}\n"
        "  - gain: {gain_db: 3}\n"
    )
    out = tmp_path / "report.html"
    result = clarity("apply", preset, before, "-o", tmp_path / "clean.wav", "--report", out)
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    config = config_of(text)
    labels = [t["label"] for t in config["tracks"]]
    assert labels[:2] == ["before", "after: test-clean"]
    assert sorted(labels[2:]) == [
        "removed by analytic_filter (stage 0)", "removed by hard_knee_compressor (stage 1)"
    ]
    assert all(t["follows_match"] is False and t["offset_db"] == 0 for t in config["tracks"][2:])
    assert "gain reduction: HardKneeCompressor (stage 1)" in text
    trace = json.loads(re.search(r'data-trace="([^"]*)"', text).group(1).replace("&quot;", '"'))
    assert min(trace) < -3.0 and max(trace) <= 0.0
    assert "Preset: test-clean" in text and "cutoff_hz: 300" in text and "Rumble out" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # removed signals cleaned up
    assert "ending in .html" in one_line_error(
        clarity("apply", preset, before, "-o", tmp_path / "c2.wav", "--report", tmp_path / "r.txt")
    )
    assert not (tmp_path / "c2.wav").exists()  # refused before the render


def test_fast_rates_are_resampled_for_the_page(tmp_path: Path) -> None:
    """A 96 kHz file is embedded at 48 kHz (Vorbis in browsers), same length and level."""
    t = np.arange(96000) / 96000
    tone = (0.25 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(tmp_path / "fast.wav", tone, 96000, subtype="FLOAT")
    source = webpage.TrackSource(tmp_path / "fast.wav", "fast", "a", spectrogram=False)
    (track,) = webpage.load_tracks([source]).tracks
    audio, rate = sf.read(io.BytesIO(track.audio))
    assert rate == 48000 and track.sample_rate == 96000
    assert abs(audio.shape[0] - 48000) < 500
    assert np.sqrt(np.mean(audio[4800:-4800] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.05)
    assert track.spectrogram_png is None
