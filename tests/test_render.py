"""render: file to file, equal to the whole-buffer call, atomic, and clear about bad files."""

from __future__ import annotations

import hashlib

import numpy as np
import pedalboard
import pytest
import soundfile as sf
from conftest import SR, noise

import clarity_fx as cfx
from clarity_fx.errors import AudioFileError
from clarity_fx.plugin import Param, Plugin


def write(path, audio, sr=SR, subtype="FLOAT"):
    sf.write(str(path), audio.T, sr, subtype=subtype)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class LearnsLevel(Plugin):
    """Divides by the RMS of the first ``seconds`` of what it is given: it needs a pre-pass."""

    needs_fit = True
    seconds = Param(0.1, minimum=0.001)

    def _measure(self, audio):
        return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))

    def fit(self, blocks, sample_rate):
        need, got = int(self.seconds * sample_rate), []
        for block in blocks:
            got.append(block)
            if sum(b.shape[1] for b in got) >= need:
                break
        self.level = self._measure(np.concatenate(got, axis=1)[:, :need])

    def _unfit(self):
        self.__dict__.pop("level", None)

    def _process_whole(self, audio, sample_rate, buffer_size):
        if "level" not in self.__dict__:
            self.level = self._measure(audio[:, : int(self.seconds * sample_rate)])
            try:
                return super()._process_whole(audio, sample_rate, buffer_size)
            finally:
                self._unfit()
        return super()._process_whole(audio, sample_rate, buffer_size)

    def process_block(self, block, state):
        return block / self.level


class Explodes(Plugin):
    after_samples = Param(50000, kind=int, minimum=0)
    error = Param("runtime", kind=str, choices=("runtime", "interrupt"))

    def process_block(self, block, state):
        if state.position + block.shape[1] > self.after_samples:
            raise KeyboardInterrupt if self.error == "interrupt" else RuntimeError("boom")
        return block


def test_render_equals_whole_buffer_call_and_keeps_input(tmp_path):
    x = noise(2, 3.0)
    src = write(tmp_path / "in.wav", x)
    before = digest(src)
    chain = cfx.Chain(
        [
            pedalboard.HighpassFilter(100),
            LearnsLevel(),
            cfx.FFTFilter(transfer_function=lambda f: 1 / (1 + 1j * f / 2000)),
            pedalboard.Resample(16000),
        ]
    )
    result = cfx.render(src, tmp_path / "out.wav", chain, block_seconds=0.37)
    got, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    assert rate == SR and result.frames == x.shape[1]
    np.testing.assert_allclose(got.T, chain(x, SR), atol=2e-6)
    assert digest(src) == before
    assert "level" not in chain[1].__dict__  # render forgets what it fitted


class ReusesItsBuffer(Plugin):
    """Halves the audio into one buffer it keeps and returns every time (allowed for a plugin)."""

    def process_block(self, block, state):
        if getattr(self, "_buf", None) is None or self._buf.shape != block.shape:
            self._buf = np.empty_like(block)
        return np.multiply(block, 0.5, out=self._buf)


def test_render_writes_what_a_block_held_when_the_plugin_reuses_its_buffer(tmp_path):
    # The writer works on a thread while the chain makes the next blocks: it must be given
    # a copy, or it writes samples of a later block.
    x = noise(2, 4.0)
    src = write(tmp_path / "in.wav", x)
    cfx.render(src, tmp_path / "out.wav", ReusesItsBuffer(), block_seconds=0.05, buffer_size=2400)
    got, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got.T, 0.5 * x)


@pytest.mark.parametrize(
    "suffix,kw,subtype",
    [
        (".flac", {}, "PCM_24"),
        (".flac", {"bit_depth": 16}, "PCM_16"),
        (".wav", {"bit_depth": 24}, "PCM_24"),
        (".aiff", {}, "PCM_24"),
        (".ogg", {}, None),
        (".mp3", {}, None),
    ],
)
def test_output_format_from_extension(tmp_path, suffix, kw, subtype):
    src = write(tmp_path / "in.wav", noise(2, 1.0), subtype="PCM_24")
    out = tmp_path / f"out{suffix}"
    cfx.render(src, out, pedalboard.Gain(-6), **kw)
    with pedalboard.io.AudioFile(str(out)) as f:
        assert f.num_channels == 2 and abs(f.frames - SR) < 2000
    if subtype:
        assert sf.info(str(out)).subtype == subtype


@pytest.mark.parametrize("error", ["runtime", "interrupt"])
def test_failure_mid_render_leaves_no_output(tmp_path, error):
    src = write(tmp_path / "in.wav", noise(2, 3.0))
    out = tmp_path / "out.flac"
    exc = RuntimeError if error == "runtime" else KeyboardInterrupt
    with pytest.raises(exc):
        cfx.render(src, out, Explodes(error=error), block_seconds=0.25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_existing_output_survives_a_failed_render(tmp_path):
    src = write(tmp_path / "in.wav", noise(2, 3.0))
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        cfx.render(src, out, Explodes())
    assert out.read_bytes() == b"previous"


def test_refuses_to_overwrite_input(tmp_path):
    src = write(tmp_path / "in.wav", noise())
    before = digest(src)
    with pytest.raises(AudioFileError, match="is the input file"):
        cfx.render(src, tmp_path / "." / "in.wav", pedalboard.Gain(-6))
    assert digest(src) == before


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
    full = write(tmp_path / f"full{suffix}", noise(2, 2.0), subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match="truncated"):
        cfx.render(cut, tmp_path / "out.wav", pedalboard.Gain(0))


def test_nan_samples_are_refused_with_their_time(tmp_path):
    x = noise(2, 2.0)
    x[1, SR + 100] = np.nan
    src = write(tmp_path / "nan.wav", x)
    with pytest.raises(AudioFileError, match=r"NaN or infinite samples from 1\.00"):
        cfx.render(src, tmp_path / "out.wav", pedalboard.Gain(0))
    assert not (tmp_path / "out.wav").exists()


def test_unwritable_or_unknown_outputs(tmp_path):
    src = write(tmp_path / "in.wav", noise())
    with pytest.raises(AudioFileError, match="does not exist"):
        cfx.render(src, tmp_path / "nope" / "out.wav", pedalboard.Gain(0))
    with pytest.raises(AudioFileError, match="cannot write '.xyz'"):
        cfx.render(src, tmp_path / "out.xyz", pedalboard.Gain(0))
    with pytest.raises(AudioFileError, match="FLAC holds 16 or 24 bits"):
        cfx.render(src, tmp_path / "out.flac", pedalboard.Gain(0), bit_depth=32)


def test_progress_bar_on_long_files(tmp_path, capsys):
    src = write(tmp_path / "in.wav", noise(1, 25.0, level=0.01))
    cfx.render(src, tmp_path / "out.flac", pedalboard.Gain(0), progress=True)
    assert (tmp_path / "out.flac").exists()


@pytest.mark.parametrize("suffix,bits", [(".wav", 24), (".wav", 16), (".flac", 24), (".aiff", 16)])
def test_int32_hand_over_writes_the_bytes_pedalboard_writes_from_floats(tmp_path, suffix, bits):
    # render converts to int32 PCM itself (faster to encode); the file must not change.
    from pedalboard.io import AudioFile

    from clarity_fx.rendering import _as_pcm32

    rng = np.random.default_rng(5)
    edges = [1.0, -1.0, 0.99999994, -0.99999994, 1.5, -1.5, np.inf, -np.inf, 0.0, -0.0,
             0.5 / 8388607, -0.5 / 8388607, 1.5 / 8388607, 0.5 / 32767, 2.5 / 2147483647, 1e-12]
    x = np.concatenate([rng.uniform(-1.1, 1.1, 20000), 1e-4 * rng.standard_normal(20000), edges])
    x = np.stack([x, -x[::-1]]).astype(np.float32)
    for name, block in (("float", x), ("int", _as_pcm32(x))):
        with AudioFile(str(tmp_path / f"{name}{suffix}"), "w", SR, 2, bit_depth=bits) as f:
            f.write(block)
    assert _as_pcm32(x).dtype == np.int32
    assert (tmp_path / f"int{suffix}").read_bytes() == (tmp_path / f"float{suffix}").read_bytes()
