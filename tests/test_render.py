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


def test_progress_bar_on_long_files(tmp_path, capsys):
    src = write(tmp_path / "in.wav", noise(1, 25.0, level=0.01))
    cfx.render(src, tmp_path / "out.flac", pedalboard.Gain(0), progress=True)
    assert (tmp_path / "out.flac").exists()
