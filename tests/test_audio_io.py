"""The one reader and writer: vetting by content, true lengths, closed files, verified writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import soundfile as sf
from conftest import SR, noise
from test_batch import DECODER_CRASH, run_clarity

import clarity_fx as cfx
from clarity_fx.analysis import analyze_file
from clarity_fx.audio_io import (
    MAX_ABS_SAMPLE,
    AudioReader,
    _writer_options,
    atomic_output,
    open_audio,
    read_all,
    read_blocks,
    write_audio,
)
from clarity_fx.errors import AudioFileError
from clarity_fx.keys import KeySource

CRASH_NAMES = ["crash.wav", "crash.bwf", "crash.mp3", "crash.xyz", "crash"]


def write(path: Path, audio: np.ndarray, sr: int = SR, subtype: str = "PCM_16", **kw) -> Path:
    sf.write(str(path), audio.T, sr, subtype=subtype, **kw)
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def ffmpeg_frames(path: Path, channels: int) -> int:
    """The length ffmpeg decodes: the reference every player agrees with."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"], capture_output=True,
                         check=True).stdout
    return len(raw) // (4 * channels)


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")
needs_libsndfile_mp3 = pytest.mark.skipif(
    "MP3" not in sf.available_formats(),
    reason=f"libsndfile {sf.__libsndfile_version__} reads no MP3 (1.1 and later do, through mpg123)")


def truncated_wav(path: Path) -> Path:
    full = write(path.with_name("full.wav"), noise(2, 1.0))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# --------------------------------------------------------------------------- MP3 at its true length
@needs_ffmpeg
@needs_libsndfile_mp3
@pytest.mark.parametrize("encoder", ["ffmpeg", "lame", "pedalboard", "clarity"])
def test_mp3_reads_at_its_true_length(tmp_path, encoder):
    """Encoder delay and padding are trimmed by the LAME header, as ffmpeg trims them."""
    x = noise(2, 1.0)
    frames = x.shape[1]
    src = write(tmp_path / "in.wav", x)
    mp3 = tmp_path / "out.mp3"
    if encoder == "ffmpeg":
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), str(mp3)], check=True)
    elif encoder == "lame":
        if shutil.which("lame") is None:
            pytest.skip("lame is not installed (apt-get install lame)")
        subprocess.run(["lame", "--quiet", str(src), str(mp3)], check=True)
    elif encoder == "pedalboard":
        with pedalboard.io.AudioFile(str(mp3), "w", SR, 2) as f:
            f.write(x)
    else:
        cfx.render(src, mp3, pedalboard.Gain(0))
    with pedalboard.io.AudioFile(str(mp3)) as f:
        assert f.frames > frames  # pedalboard counts the padding: the old "truncated" false alarm
    info = open_audio(mp3)
    audio, rate = read_all(mp3)
    assert info.frames == audio.shape[1] == frames == ffmpeg_frames(mp3, 2)
    assert rate == SR and info.format == "MP3"
    assert analyze_file(mp3)["duration_s"] == pytest.approx(frames / SR)


@needs_ffmpeg
@needs_libsndfile_mp3
def test_mp3_without_a_length_header_reads_what_ffmpeg_reads(tmp_path):
    """No Xing header: nothing to trim, and libsndfile's length is an estimate, so the frames are counted."""
    src = write(tmp_path / "in.wav", noise(2, 1.0))
    mp3 = tmp_path / "noxing.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-write_xing", "0", str(mp3)], check=True)
    assert sf.info(str(mp3)).frames != ffmpeg_frames(mp3, 2)  # the estimate
    assert open_audio(mp3).frames == read_all(mp3)[0].shape[1] == ffmpeg_frames(mp3, 2)


@needs_ffmpeg
@needs_libsndfile_mp3
@pytest.mark.skipif(shutil.which("lame") is None, reason="lame is not installed (apt-get install lame)")
def test_vbr_mp3_without_a_length_header_is_refused_not_cut_short(tmp_path):
    """libsndfile (and pedalboard) stop at a length guessed from the first frame; ffmpeg reads it all."""
    src = write(tmp_path / "in.wav", noise(2, 1.0))
    mp3 = tmp_path / "vbr.mp3"
    subprocess.run(["lame", "--quiet", "-V2", "-t", str(src), str(mp3)], check=True)  # -t: no Xing frame
    assert len(sf.read(str(mp3))[0]) < ffmpeg_frames(mp3, 2)  # what reading it would have done
    with pytest.raises(AudioFileError, match=r"is a VBR MP3 without a length \(Xing\) header") as err:
        open_audio(mp3)
    one_line(err)


# --------------------------------------------------------------------------- vetting by content
def test_decoder_crash_bytes_are_refused_under_every_name(tmp_path):
    """pedalboard 0.9 segfaults on these bytes; libsndfile judges them by their RIFF magic, whatever the name.

    Run in a child so that a regression fails this test instead of killing the test session.
    """
    for name in CRASH_NAMES:
        (tmp_path / name).write_bytes(DECODER_CRASH)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from clarity_fx.analysis import analyze_file
        from clarity_fx.audio_io import open_audio
        from clarity_fx.errors import AudioFileError
        from clarity_fx.keys import KeySource
        for name in {CRASH_NAMES!r}:
            for reader in (open_audio, analyze_file, KeySource):
                try:
                    reader(Path({str(tmp_path)!r}) / name)
                except AudioFileError as err:
                    print(reader.__name__, name, err)
                else:
                    print(reader.__name__, name, "ACCEPTED")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3 * len(CRASH_NAMES)
    for line in lines:
        assert "is not audio clarity can read (Error in WAV file. No 'data' chunk marker.)" in line, line


def test_key_files_get_the_what_in_their_messages(tmp_path):
    (tmp_path / "voice.mp3").write_bytes(DECODER_CRASH)
    with pytest.raises(AudioFileError, match=r"^key .*voice.mp3 is not audio clarity can read") as err:
        KeySource(tmp_path / "voice.mp3")
    one_line(err)


@pytest.mark.parametrize("reader", ["open_audio", "analyze_file", "key", "noise clip", "impulse response"])
def test_truncated_wav_is_refused_by_every_reader(tmp_path, reader):
    cut = truncated_wav(tmp_path / "cut.wav")
    call = {"open_audio": open_audio, "analyze_file": analyze_file, "key": KeySource}.get(
        reader, lambda p: read_all(p, what=reader))
    promise = "is truncated: its header promises 48000 frames but it holds"
    with pytest.raises(AudioFileError, match=promise) as err:
        call(cut)
    one_line(err)
    if reader in ("key", "noise clip", "impulse response"):
        assert str(err.value).startswith(f"{reader} ")


@pytest.mark.parametrize("fmt,suffix", [("WAV", ".wav"), ("RF64", ".wav"), ("AIFF", ".aiff")])
def test_truncation_names_the_promised_and_held_frames(tmp_path, fmt, suffix):
    full = tmp_path / f"full{suffix}"
    sf.write(str(full), noise(2, 1.0).T, SR, format=fmt, subtype="PCM_24")
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    held = sf.info(str(cut)).frames  # libsndfile quietly shortens it
    with pytest.raises(AudioFileError) as err:
        open_audio(cut)
    assert one_line(err) == (f"{cut} is truncated: its header promises {SR} frames but it holds {held}; "
                             "re-export or repair the file")


def test_truncated_flac_is_refused(tmp_path):
    full = write(tmp_path / "full.flac", noise(2, 1.0))
    data = full.read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match="is truncated"):
        open_audio(tmp_path / "cut.flac")


def streaming_wav(path: Path, x: np.ndarray) -> Path:
    """A WAV whose RIFF and data sizes are 0xFFFFFFFF, as a live writer leaves them."""
    data = bytearray(write(path, x).read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    at = data.index(b"data")
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


def test_streaming_wav_is_read_not_called_truncated(tmp_path):
    x = noise(2, 0.5)
    path = streaming_wav(tmp_path / "live.wav", x)
    script = (f"from clarity_fx.audio_io import read_all; a, r = read_all({str(path)!r}); "
              "print(a.shape[1], r)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(x.shape[1]), str(float(SR))]
    audio, _ = read_all(path)
    np.testing.assert_allclose(audio, x, atol=1 / 32768)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    script = ("from clarity_fx.audio_io import open_audio\n"
              f"try:\n    open_audio({str(fifo)!r})\nexcept Exception as err:\n    print(err)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == (f"{fifo} is a named pipe (FIFO), not an audio file; "
                                  "save the audio to a file first")


def test_device_is_refused(tmp_path):
    with pytest.raises(AudioFileError, match="is a character device, not an audio file") as err:
        open_audio("/dev/null")
    one_line(err)


def test_symlink_loop_is_named(tmp_path):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    with pytest.raises(AudioFileError, match="is a symlink loop; point the link at a real file") as err:
        open_audio(loop)
    one_line(err)
    dangling = tmp_path / "gone.wav"
    dangling.symlink_to(tmp_path / "nowhere.wav")
    with pytest.raises(AudioFileError, match="is a broken symlink"):
        open_audio(dangling)


@pytest.mark.parametrize("rate", [2147483647, 4000, 1_000_000])
def test_sample_rate_outside_8k_to_768k_is_refused(tmp_path, rate):
    path = write(tmp_path / "in.wav", noise(1, 0.1))
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", rate)  # the fmt chunk's nSamplesPerSec
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).samplerate == rate  # libsndfile takes the header as it is
    expected = f"has a sample rate of {rate} Hz; clarity reads 8-768 kHz"
    with pytest.raises(AudioFileError, match=expected) as err:
        open_audio(path)
    one_line(err)


@pytest.mark.parametrize("rate", [8000, 768000])
def test_sample_rate_limits_are_read(tmp_path, rate):
    path = write(tmp_path / "in.wav", noise(1, 0.01, sr=rate), sr=rate)
    assert open_audio(path).sample_rate == rate


# --------------------------------------------------------------------------- samples
def bad_sample_wav(path: Path, value: float, at_s: float = 0.25) -> Path:
    x = noise(2, 0.5)
    x[1, int(at_s * SR)] = value
    return write(path, x, subtype="FLOAT")


@pytest.mark.parametrize("value,match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                         (-1e30, "absurd sample values")])
def test_bad_samples_are_refused_with_their_time_everywhere(tmp_path, value, match):
    path = bad_sample_wav(tmp_path / "bad.wav", value)
    expected = rf"{match} .*from 0\.250 s"
    with pytest.raises(AudioFileError, match=expected):
        list(read_blocks(open_audio(path), 4096))
    with pytest.raises(AudioFileError, match="^noise clip .*" + expected):
        read_all(path, what="noise clip")
    with KeySource(path) as key, pytest.raises(AudioFileError, match="^key .*" + expected):
        key.read(0, SR)
    with pytest.raises(AudioFileError, match=expected):
        analyze_file(path)


def test_read_ahead_gives_the_same_blocks_and_errors_and_stops_its_thread(tmp_path):
    import threading

    path = write(tmp_path / "in.wav", noise(2, 0.5), subtype="FLOAT")
    info = open_audio(path)
    plain = list(read_blocks(info, 1000))
    ahead = list(read_blocks(info, 1000, ahead=True))
    assert len(ahead) == len(plain) == 24
    assert all(np.array_equal(a, b) for a, b in zip(ahead, plain, strict=True))
    # The error comes where the consumer reaches the bad block, after the good ones.
    seen = []
    with pytest.raises(AudioFileError, match=r"NaN or infinite .*from 0\.250 s"):
        for block in read_blocks(open_audio(bad_sample_wav(tmp_path / "bad.wav", np.nan)), 1000, ahead=True):
            seen.append(block)
    assert len(seen) == 12  # frames 0-11999; 0.25 s is frame 12000
    # A consumer that stops early: the worker ends and the file is closed.
    blocks = read_blocks(info, 100, ahead=True)
    next(blocks)
    blocks.close()
    assert not any(t.name == "clarity-render-reader" for t in threading.enumerate())


def test_loud_but_sane_float_samples_are_kept(tmp_path):
    path = bad_sample_wav(tmp_path / "hot.wav", 0.5 * MAX_ABS_SAMPLE)
    assert read_all(path)[0].max() == pytest.approx(0.5 * MAX_ABS_SAMPLE)


# --------------------------------------------------------------------------- closed files
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc/self/fd (Linux)")
def test_key_file_is_closed_by_close_and_by_with(tmp_path):
    path = write(tmp_path / "voice.wav", noise(1, 0.5))
    before = open_fds()
    key = KeySource(path)
    assert open_fds() == before + 1
    assert key.read(100, 10).shape == (1, 10)
    key.close()
    assert open_fds() == before and key.closed
    key.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        key.read(0, 10)
    with KeySource(path) as key:
        assert open_fds() == before + 1
    assert open_fds() == before
    audio = read_all(path)[0]
    list(read_blocks(open_audio(path), 1000))
    blocks = read_blocks(open_audio(path), 1000)
    next(blocks)
    blocks.close()  # a pre-pass that stops reading early
    assert open_fds() == before and audio.shape == (1, SR // 2)


def test_key_reads_by_position_in_step_with_the_file(tmp_path):
    x = noise(2, 0.5)
    path = write(tmp_path / "voice.wav", x, subtype="FLOAT")
    with KeySource(path) as key:
        np.testing.assert_array_equal(key.read(1000, 500), x[:, 1000:1500])
        np.testing.assert_array_equal(key.read(100, 50), x[:, 100:150])  # back again
        tail = key.read(x.shape[1] - 10, 30)
        np.testing.assert_array_equal(tail[:, :10], x[:, -10:])
        assert not tail[:, 10:].any()  # silence after the key's end


def test_reader_seek_and_read_agree_with_read_all(tmp_path):
    x = noise(2, 0.5)
    path = write(tmp_path / "in.flac", x, subtype="PCM_24")
    whole, _ = read_all(path)
    with AudioReader(open_audio(path)) as reader:
        reader.seek(2000)
        np.testing.assert_array_equal(reader.read(300), whole[:, 2000:2300])
        assert reader.tell() == 2300
        reader.seek(whole.shape[1] - 5)
        assert reader.read(100).shape == (2, 5)
    assert whole.dtype == np.float32 and whole.flags.c_contiguous


# --------------------------------------------------------------------------- writing onto a full disk
@contextlib.contextmanager
def small_tmpfs(options: str = "size=1m"):
    folder = Path(tempfile.mkdtemp(prefix="clarity-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip() or 'not root'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_a_full_disk_is_one_line_and_leaves_nothing(suffix):
    """20 s of noise does not fit in 1 MiB: a truncated OGG used to be reported as success."""
    x = (0.3 * np.random.default_rng(0).standard_normal((2, 20 * SR))).astype(np.float32)
    with small_tmpfs() as folder:
        target = folder / f"out{suffix}"
        with pytest.raises(AudioFileError) as err:
            with write_audio(target, SR, 2, options=_writer_options(suffix, "float32", None, None)) as writer:
                for i in range(0, x.shape[1], SR):
                    writer.write(x[:, i : i + SR])
        assert one_line(err) == f"{target}: the disk is full; free space or write elsewhere"
        assert list(folder.iterdir()) == []


def test_a_full_disk_through_render(tmp_path):
    src = write(tmp_path / "in.wav", (0.3 * np.random.default_rng(1).standard_normal((2, 20 * SR))).astype(
        np.float32))
    with small_tmpfs() as folder:
        with pytest.raises(AudioFileError, match="the disk is full; free space or write elsewhere"):
            cfx.render(src, folder / "out.ogg", pedalboard.Gain(0))
        assert list(folder.iterdir()) == []


def test_no_inodes_left_is_one_line():
    """mkstemp's ENOSPC (out of inodes) used to escape as a traceback."""
    with small_tmpfs("size=1m,nr_inodes=2") as folder:  # the root folder and one file
        (folder / "taken").write_bytes(b"")
        target = folder / "out.wav"
        with pytest.raises(AudioFileError) as err, atomic_output(target):
            pass
        assert one_line(err) == f"{target}: the disk is full; free space or write elsewhere"
        assert [p.name for p in folder.iterdir()] == ["taken"]


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".aiff"])
def test_written_files_are_checked_and_complete(tmp_path, suffix):
    x = noise(2, 0.3)
    target = tmp_path / f"out{suffix}"
    with write_audio(target, SR, 2, options=_writer_options(suffix, "int16", None, None)) as writer:
        writer.write(x[:, :1000])
        writer.write(x[:, 1000:1002])  # a square (2, 2) block
        writer.write(x[:, 1002:])
    assert writer.frames == x.shape[1] == open_audio(target).frames
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_an_input_of_no_frames_renders_to_an_output_of_no_frames(tmp_path, suffix):
    src = tmp_path / "empty.wav"
    sf.write(str(src), np.zeros((0, 2), np.float32), SR, subtype="PCM_16")
    assert cfx.render(src, tmp_path / f"out{suffix}", pedalboard.Gain(0)).frames == 0
    assert (tmp_path / f"out{suffix}").exists()


# -------------------------------------------------------------- through render (moved from test_render)
def render_write(path, audio, sr=SR, subtype="FLOAT"):
    sf.write(str(path), audio.T, sr, subtype=subtype)
    return path


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "is a folder"),
        (lambda p: (p.write_bytes(b""), p)[1], "is empty"),
        (lambda p: (p.write_text("hello, I am text"), p)[1], "is not audio"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, make, match):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioFileError, match=match) as info:
        cfx.render(path, tmp_path / "out.wav", pedalboard.Gain(0))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_truncated_file_is_detected(tmp_path, suffix):
    full = render_write(tmp_path / f"full{suffix}", noise(2, 2.0), subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match="truncated"):
        cfx.render(cut, tmp_path / "out.wav", pedalboard.Gain(0))


def test_nan_samples_are_refused_with_their_time(tmp_path):
    x = noise(2, 2.0)
    x[1, SR + 100] = np.nan
    src = render_write(tmp_path / "nan.wav", x)
    with pytest.raises(AudioFileError, match=r"NaN or infinite samples from 1\.00"):
        cfx.render(src, tmp_path / "out.wav", pedalboard.Gain(0))
    assert not (tmp_path / "out.wav").exists()


def test_unwritable_or_unknown_outputs(tmp_path):
    src = render_write(tmp_path / "in.wav", noise())
    with pytest.raises(AudioFileError, match="does not exist"):
        cfx.render(src, tmp_path / "nope" / "out.wav", pedalboard.Gain(0))
    with pytest.raises(AudioFileError, match="cannot write '.xyz'"):
        cfx.render(src, tmp_path / "out.xyz", pedalboard.Gain(0))
    with pytest.raises(AudioFileError, match="FLAC holds 16 or 24 bits"):
        cfx.render(src, tmp_path / "out.flac", pedalboard.Gain(0), bit_depth=32)


# --------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("name", ["crash.mp3", "crash"])
def test_cli_apply_refuses_crash_bytes_in_one_line(tmp_path, name):
    (tmp_path / name).write_bytes(DECODER_CRASH)
    run = run_clarity("apply", "podcast-voice", str(tmp_path / name), "-o", str(tmp_path / "out.wav"),
                      "--no-progress")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "is not audio clarity can read" in run.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("case", ["crash", "truncated", "fifo"])
def test_cli_analyze_refuses_bad_files_in_one_line(tmp_path, case):
    path = tmp_path / "in.wav"
    if case == "crash":
        path.write_bytes(DECODER_CRASH)
    elif case == "truncated":
        truncated_wav(path)
    else:
        os.mkfifo(path)
    run = run_clarity("analyze", str(path), timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert {"crash": "is not audio clarity can read", "truncated": "is truncated",
            "fifo": "is a named pipe (FIFO)"}[case] in lines[0]


def test_cli_apply_refuses_a_truncated_key(tmp_path):
    music = write(tmp_path / "music.wav", noise(2, 1.0))
    key = truncated_wav(tmp_path / "voice.wav")
    run = run_clarity("apply", "podcast-duck", str(music), "--key", str(key), "-o", str(tmp_path / "bed.wav"),
                      "--no-progress")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"clarity: error: key {key} is truncated: its header promises 48000 frames but it holds "
        f"{(len(key.read_bytes()) - 44) // 4}; re-export or repair the file"]


def test_a_lossy_output_of_a_lossy_source_takes_its_bitrate_from_the_source(tmp_path):
    # A 96 kbps voice memo becomes a 128 kbps MP3 (one step up), not pedalboard's 320 kbps.
    import pedalboard
    from pedalboard.io import AudioFile

    import clarity_fx as cfx
    from clarity_fx.audio_io import default_lossy_quality, open_audio

    memo = tmp_path / "memo.mp3"
    voice = (0.1 * np.random.default_rng(0).standard_normal((1, 44100 * 4))).astype(np.float32)
    with AudioFile(str(memo), "w", 44100, 1, quality="96k") as f:
        f.write(voice)
    assert default_lossy_quality(open_audio(memo), ".mp3") == "128k"
    assert default_lossy_quality(open_audio(memo), ".flac") is None
    out = tmp_path / "memo-out.mp3"
    cfx.render(memo, out, pedalboard.Gain(gain_db=-1.0))
    kbps = out.stat().st_size * 8 / 4 / 1000
    assert 115 <= kbps <= 145, kbps


def test_files_opened_in_threads_leave_stderr_working(tmp_path):
    """Opening files in many threads at once must not leave file descriptor 2 on /dev/null.

    The decoders' chatter is silenced by pointing fd 2 at /dev/null for the open; two threads
    doing that at once once restored the wrong descriptor, and `clarity report` (which loads its
    tracks in threads) then printed nothing more. A real child process, real threads, real files.
    """
    path = tmp_path / "a.wav"
    sf.write(path, noise(1, 0.1).T, SR)
    script = textwrap.dedent(f"""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        from clarity_fx.audio_io import open_audio
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: open_audio({str(path)!r}), range(400)))
        print("still heard", file=sys.stderr)
    """)
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "still heard" in result.stderr
