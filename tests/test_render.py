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


def test_progress_bar_on_long_files(tmp_path, capsys):
    src = write(tmp_path / "in.wav", noise(1, 25.0, level=0.01))
    cfx.render(src, tmp_path / "out.flac", pedalboard.Gain(0), progress=True)
    assert (tmp_path / "out.flac").exists()


# --------------------------------------------------------------------------- the one walk, in render
#: Built here and in the memory test's child process, which imports no more than a render needs.
NESTED_CHAINS = """
import pedalboard

import clarity_fx as cfx


def nested_loudness_chains(target=-20.0):
    # A LoudnessNormalize two Chains deep, and one inside Blend(Automate(...)) after a high-pass.
    deepest = cfx.LoudnessNormalize(target_lufs=target)
    deep = cfx.Chain([pedalboard.Gain(-3), cfx.Chain([cfx.Chain([deepest])])])
    inner = cfx.LoudnessNormalize(target_lufs=target)
    lane = cfx.Automate(inner, {"release_ms": [(0.0, 100.0)]}, block_ms=100)
    wrapped = cfx.Chain([pedalboard.HighpassFilter(60), cfx.Blend(lane, wet=1.0)])
    return {"deep": deep, "wrapped": wrapped}
"""
_namespace: dict = {}
exec(NESTED_CHAINS, _namespace)
nested_loudness_chains = _namespace["nested_loudness_chains"]


def test_nested_stages_are_fitted_on_what_they_will_see(tmp_path):
    from test_chain import Delay
    from test_loudness import programme

    x = programme(4.0)
    src = write(tmp_path / "in.wav", x)
    chains = {
        **nested_loudness_chains(-18.0),
        # In a Mix branch: fitted on the Mix's input through the branch's own Delay, not the other branch.
        "mix": cfx.Chain([pedalboard.Gain(2), cfx.Mix([cfx.Chain([Delay(), cfx.LoudnessNormalize()]),
                                                       pedalboard.Gain(-20)])]),
        # A noise profile learnt two levels down, after a gain that changes what it hears.
        "learns": cfx.Chain(
            [pedalboard.Gain(-6), cfx.Blend(cfx.Chain([pedalboard.Gain(3), LearnsLevel()]), 0.5)]
        ),
    }
    for name, chain in chains.items():
        out = tmp_path / f"{name}.wav"
        cfx.render(src, out, chain, block_seconds=0.5)
        got, _ = sf.read(out, dtype="float32", always_2d=True)
        np.testing.assert_allclose(got.T, chain(x, SR), atol=1e-6, err_msg=name)


MEMORY_CHILD = NESTED_CHAINS + """
import sys

for name, chain in nested_loudness_chains().items():
    cfx.render(sys.argv[1], sys.argv[1] + "." + name + ".wav", chain, progress=False)
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1])
"""


def _peak_rss_mb(*args: str) -> float:
    """Peak RSS of a fresh Python process running ``args``, MB.

    The child reports its own high-water mark (``VmHWM``, kB). ``wait4``'s
    ``ru_maxrss`` would not do here: Linux carries the forking parent's peak
    (pytest's, hundreds of MB) across ``exec`` into the child's.
    """
    import subprocess
    import sys

    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def test_nested_loudness_renders_a_long_file_with_flat_memory(tmp_path):
    import pyloudnorm

    def write_long(path, seconds, rate=8000):
        rng = np.random.default_rng(seconds)
        with sf.SoundFile(str(path), "w", rate, 1, subtype="PCM_16", format="WAV") as f:
            for start in range(0, seconds, 60):
                t = start + np.arange(60 * rate) / rate
                f.write(0.05 * rng.standard_normal(t.size) * (1 + 0.8 * np.sin(2 * np.pi * 0.3 * t)))
        return path

    # Mono 8 kHz keeps the test fast; 20 minutes held whole would still be 150 MB in float32 copies.
    long_file, short_file = write_long(tmp_path / "long.wav", 1200), write_long(tmp_path / "short.wav", 120)
    long_peak = _peak_rss_mb("-c", MEMORY_CHILD, str(long_file))
    short_peak = _peak_rss_mb("-c", MEMORY_CHILD, str(short_file))
    assert long_peak < 300.0  # benchmarks/bench_memory.py's goal
    assert long_peak - short_peak < 30.0, (long_peak, short_peak)  # ten times the audio, the same memory
    for name in nested_loudness_chains():
        y, rate = sf.read(f"{long_file}.{name}.wav", dtype="float64")
        # pyloudnorm's default "K-weighting" filter drifts from BS.1770's curve at low rates (0.2 LU
        # at 8 kHz); its "DeMan" filter is the one the standard's 48 kHz table comes from, as ours.
        lufs = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(y)
        assert abs(lufs - (-20.0)) <= 0.1, (name, lufs)


# --------------------------------------------------------------------------- render leaves the chain alone
def ducking_chain(own_key):
    """A keyed compressor (with a key of its own for renders given none) before a loudness stage."""
    comp = cfx.HardKneeCompressor(threshold_db=-40, ratio=20, range_db=12, keyed=True, external_key=own_key)
    return cfx.Chain([pedalboard.Gain(-2), cfx.Blend(comp, wet=0.9), cfx.LoudnessNormalize(target_lufs=-20)])


def _open_files():
    import os

    return {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}


def test_render_leaves_the_chain_as_it_found_it(tmp_path):
    t = np.arange(3 * SR) / SR
    music = write(tmp_path / "music.wav", (0.2 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32))
    voice = write(tmp_path / "voice.wav", noise(1, 3.0) * (t < 1.5))  # speaks for the first 1.5 s
    own = write(tmp_path / "own.wav", noise(1, 3.0) * (t >= 1.5))  # the compressor's own key: the second half

    def rendered(chain, name, **kw):
        result = cfx.render(music, tmp_path / name, chain, **kw)
        return sf.read(tmp_path / name, dtype="float32")[0], result

    chain = ducking_chain(str(own))
    comp, loud = chain[1].plugin, chain[2]
    with_key, _ = rendered(chain, "a.wav", key=voice)
    assert str(voice) not in _open_files()  # the key render opened is closed again
    without_key, _ = rendered(chain, "b.wav")
    np.testing.assert_array_equal(with_key, rendered(ducking_chain(str(own)), "c.wav", key=voice)[0])
    np.testing.assert_array_equal(without_key, rendered(ducking_chain(str(own)), "d.wav")[0])
    assert np.abs(with_key - without_key).max() > 0.05  # the two keys duck different halves
    assert comp.external_key.path == own and loud.gain_db is None  # no key, no fit left behind
    # A chain keyed only by the render still asks for a key after a render that had one.
    only = cfx.Chain([cfx.HardKneeCompressor(keyed=True)])
    rendered(only, "e.wav", key=voice)
    with pytest.raises(AudioFileError, match="pass --key"):
        cfx.render(music, tmp_path / "f.wav", only)


# --------------------------------------------------------------------------- what render returns
def test_render_reports_fitted_gain_and_gain_reduction(tmp_path):
    import pyloudnorm

    from clarity_fx.processors.compressor import static_curve_db

    t = np.arange(4 * SR) / SR
    level = np.where(t < 2.0, 10 ** (-30 / 20), 10 ** (-6 / 20))  # a sine at -30, then -6 dBFS peak
    x = (level * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32)
    src = write(tmp_path / "in.wav", x)
    comp = cfx.HardKneeCompressor(threshold_db=-20, ratio=4, attack_ms=1, knee_db=6)
    fed_by = cfx.Chain([cfx.Blend(cfx.Chain([pedalboard.Gain(-1), comp]))])
    chain = cfx.Chain([fed_by[0], cfx.LoudnessNormalize(target_lufs=-23)])
    result = cfx.render(src, tmp_path / "out.wav", chain, trace_gain=True)
    assert [(r.path, r.type_name) for r in result.stages] == [((0, 0, 1), "HardKneeCompressor"),
                                                               ((1,), "LoudnessNormalize")]
    # The compressor's trace: one value per ms, on its static curve where the level is steady.
    trace = result.stage((0, 0, 1))
    assert trace.trace_step == SR // 1000 and trace.gain_reduction_db.size == x.shape[1] // trace.trace_step
    quiet, loud = trace.gain_reduction_db[500:1900], trace.gain_reduction_db[2500:3900]
    assert np.all(quiet == 0.0)
    expected = static_curve_db(-7.0, -20, 4, 6) - (-7.0)  # -6 dBFS less Gain(-1): 13 dB over, 9.75 down
    assert np.abs(loud - expected).max() < 0.05
    # The loudness stage: what it measured, as pyloudnorm measures the compressed signal it was fed ...
    fed = fed_by(x, SR)
    report = result.stage("LoudnessNormalize")
    fed_lufs = pyloudnorm.Meter(SR).integrated_loudness(fed[0].astype(np.float64))
    assert report.input_lufs == pytest.approx(fed_lufs, abs=0.1)
    # ... and the gain it applied: the output is the fed signal times that gain (no limiting at -23 LUFS).
    got, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    np.testing.assert_allclose(got, fed[0] * 10 ** (report.gain_db / 20), atol=1e-5)
    assert pyloudnorm.Meter(SR).integrated_loudness(got.astype(np.float64)) == pytest.approx(-23, abs=0.1)
    assert "trace" not in vars(comp) and chain[1].gain_db is None  # nothing kept on the stages
    with pytest.raises(KeyError):
        result.stage("Nothing")
    # Without trace_gain no trace is kept; the fitted gain is reported all the same.
    plain = cfx.render(src, tmp_path / "out2.wav", chain)
    assert [r.type_name for r in plain.stages] == ["LoudnessNormalize"]
    assert plain.stage((1,)).gain_db == report.gain_db


def test_limiter_reports_its_gain_reduction(tmp_path):
    t = np.arange(2 * SR) / SR
    src = write(tmp_path / "in.wav", (0.9 * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32))
    result = cfx.render(src, tmp_path / "out.wav", cfx.TruePeakLimiter(ceiling_dbtp=-6.0), trace_gain=True)
    report = result.stage(())  # a single plugin: the root
    gain = report.gain_reduction_db
    assert gain.size == 2 * SR // report.trace_step and gain.max() <= 0.0
    # A steady sine 0.9 dB below full scale under a -6 dBTP ceiling: about 5 dB down once settled.
    assert np.median(gain[500:]) == pytest.approx(-6.0 - 20 * np.log10(0.9), abs=0.3)


@pytest.mark.parametrize("suffix,bits", [(".wav", 24), (".wav", 16), (".flac", 24), (".aiff", 16)])
def test_int32_hand_over_writes_the_bytes_pedalboard_writes_from_floats(tmp_path, suffix, bits):
    # render converts to int32 PCM itself (faster to encode); the file must not change.
    from pedalboard.io import AudioFile

    from clarity_fx.audio_io import _as_pcm32

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
