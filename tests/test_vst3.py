"""Real VST3 plugins (tests/vst3, built from source) hosted in presets, Chains and the CLI. No mocks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import scipy.signal
import soundfile as sf
import yaml
from conftest import SR, noise, stream

import clarity_fx as cfx
from clarity_fx.errors import PluginLoadError, PresetError
from clarity_fx.preset import load_preset, load_vst3, save_preset
from clarity_fx.rendering import render

CHUNKS = [37, 1000, 4096, 12345]
IR = np.array([1.0, 0.5, 0.25])  # y[n] = x[n] + x[n-1]/2 + x[n-2]/4


def db(gain_db: float) -> float:
    return 10 ** (gain_db / 20)


def write_preset(path: Path, chain: list) -> Path:
    data = {"name": path.stem, "description": "test", "chain": chain}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def clarity(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "clarity_fx", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_preset_mixing_ours_builtins_and_vst3_renders_the_expected_math(vst3_plugins, tmp_path):
    sf.write(tmp_path / "ir.wav", IR, SR, subtype="DOUBLE")
    preset = write_preset(tmp_path / "mixed.yaml", [
        {"fft_filter": {"impulse_response": "ir.wav"}},  # relative to the preset's folder
        {"gain": {"gain_db": -3}},
        {"vst3": {"path": str(vst3_plugins["gain"]), "parameters": {"gain_db": -6}}},
        {"vst3": {"path": str(vst3_plugins["latency"])}},  # 64 samples, compensated
        {"highpass_filter": {"cutoff_frequency_hz": 1000}, "bypass": True},
    ])
    x = noise(seconds=0.5)
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")

    result = render(tmp_path / "in.wav", tmp_path / "out.wav", load_preset(preset))

    y, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == SR and result.frames == x.shape[1] and y.shape == x.T.shape
    expected = scipy.signal.lfilter(IR, [1.0], x.astype(np.float64), axis=1) * db(-3) * db(-6)
    np.testing.assert_allclose(y.T, expected, atol=2e-6)


def test_vst3_parameters_are_set_by_name_in_real_units(vst3_plugins, tmp_path):
    preset = write_preset(tmp_path / "g.yaml", [
        {"vst3": {"path": str(vst3_plugins["gain"]), "parameters": {"gain_db": -6}}},
    ])
    chain = load_preset(preset)
    assert chain[0].gain_db == pytest.approx(-6, abs=1e-4)
    x = noise()
    np.testing.assert_allclose(chain(x, SR), x * 0.50119, rtol=1e-4)
    assert load_vst3(vst3_plugins["gain"], {"gain_db": 0})(x, SR) == pytest.approx(x, abs=0)  # 0 dB is exact


def test_vst3_parameter_errors_name_the_line_and_the_fix(vst3_plugins, tmp_path):
    path = str(vst3_plugins["gain"])
    typo = [{"vst3": {"path": path, "parameters": {"gian_db": 1}}}]
    unknown = write_preset(tmp_path / "unknown.yaml", typo)
    with pytest.raises(PluginLoadError, match=r"unknown\.yaml:\d+: .*'gian_db'.*did you mean 'gain_db'") \
            as err:
        load_preset(unknown)
    assert "\n" not in str(err.value)
    too_loud = write_preset(tmp_path / "loud.yaml", [{"vst3": {"path": path, "parameters": {"gain_db": 60}}}])
    with pytest.raises(PluginLoadError, match=r"loud\.yaml:\d+: .*gain_db=60.*range") as err:
        load_preset(too_loud)
    assert "\n" not in str(err.value)


def test_latency_plugin_is_compensated_and_streaming_equals_the_whole_call(vst3_plugins):
    latency = load_vst3(vst3_plugins["latency"], {"gain_db": -6})
    assert latency.reported_latency_samples == 64
    x = noise(seconds=1.0)
    chain = cfx.Chain([cfx.FFTFilter(impulse_response=IR), latency, pedalboard.Gain(-3)])
    whole = chain(x, SR)
    expected = scipy.signal.lfilter(IR, [1.0], x.astype(np.float64), axis=1) * db(-6) * db(-3)
    np.testing.assert_allclose(whole, expected, atol=2e-6)  # aligned with the input, no 64-sample shift
    streamed = stream(chain, x, CHUNKS)
    assert streamed.shape == x.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_mix_aligns_a_vst3_branch_with_a_dry_one(vst3_plugins):
    x = noise(seconds=1.0)
    mix = cfx.Mix([cfx.Chain([load_vst3(vst3_plugins["latency"], {})]), pedalboard.Gain(0)])
    np.testing.assert_allclose(mix(x, SR), 2 * x, atol=1e-6)
    np.testing.assert_allclose(stream(mix, x, CHUNKS), 2 * x, atol=1e-5)


def test_saved_vst3_state_restores_the_same_output(vst3_plugins, tmp_path, monkeypatch):
    gain = load_vst3(vst3_plugins["gain"], {})
    gain.gain_db = -12.5  # changed after loading: save_preset must still see it
    chain = cfx.Chain([gain, load_vst3(vst3_plugins["latency"], {"gain_db": -2})])
    x = noise()
    before = chain(x, SR)
    folder = tmp_path / "saved"
    folder.mkdir()
    preset = save_preset(chain, folder / "voice.yaml")

    states = sorted(p.name for p in folder.glob("*.vststate"))
    assert len(states) == 2
    monkeypatch.chdir(tmp_path)  # paths in the preset are relative to the preset, not to the cwd
    np.testing.assert_array_equal(load_preset(preset)(x, SR), before)

    # The state file alone restores the plugin: move the folder and drop the parameters.
    moved = shutil.copytree(folder, tmp_path / "moved")
    data = yaml.safe_load((moved / "voice.yaml").read_text())
    for item in data["chain"]:
        assert item["vst3"]["state"] in states
        del item["vst3"]["parameters"]
    (moved / "voice.yaml").write_text(yaml.safe_dump(data))
    shutil.rmtree(folder)
    restored = load_preset(moved / "voice.yaml")
    assert restored[0].gain_db == pytest.approx(-12.5, abs=1e-4)
    np.testing.assert_array_equal(restored(x, SR), before)


def test_clarity_plugins_lists_a_vst3s_parameters_with_their_range(vst3_plugins):
    result = clarity("plugins", "--vst3", str(vst3_plugins["gain"]))
    assert result.returncode == 0, result.stderr
    line = next(row for row in result.stdout.splitlines() if "gain_db" in row)
    assert "-76" in line and "24" in line and "dB" in line
    listed = json.loads(clarity("plugins", "--vst3", str(vst3_plugins["latency"]), "--json").stdout)
    assert listed["latency_samples"] == 64
    assert (listed["parameters"]["gain_db"]["min"], listed["parameters"]["gain_db"]["max"]) == (-76, 24)


def test_a_missing_vst3_path_is_a_one_line_preset_error_with_file_and_line(tmp_path):
    preset = tmp_path / "missing.yaml"
    preset.write_text("name: missing\nchain:\n  - gain: {gain_db: -1}\n  - vst3: {path: Nope.vst3}\n")
    with pytest.raises(PresetError) as err:
        load_preset(preset)
    message = str(err.value)
    assert message.startswith(f"{preset}:4: ") and "not found" in message and "Nope.vst3" in message
    assert "\n" not in message


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b"\x7fELF not really a plugin"),
    lambda p: (p / "Contents").mkdir(parents=True),
], ids=["file", "empty-bundle"])
def test_a_file_that_is_not_a_plugin_is_a_plugin_load_error(tmp_path, make):
    fake = tmp_path / "Fake.vst3"
    make(fake)
    with pytest.raises(PluginLoadError, match="cannot load VST3") as err:
        load_vst3(fake, {})
    assert "\n" not in str(err.value)
    preset = write_preset(tmp_path / "fake.yaml", [{"vst3": {"path": str(fake)}}])
    with pytest.raises(PluginLoadError, match=rf"^{preset}:\d+: cannot load VST3") as err:
        load_preset(preset)
    assert "\n" not in str(err.value)


def test_a_plugin_that_aborts_leaves_no_output_and_the_input_intact(vst3_plugins, tmp_path):
    x = noise(seconds=0.2)
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    before = (tmp_path / "in.wav").read_bytes()
    preset = write_preset(tmp_path / "crash.yaml", [
        {"vst3": {"path": str(vst3_plugins["crash"]), "parameters": {"mode": 1}}},  # abort() in process
    ])
    result = clarity("apply", str(preset), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"))
    assert result.returncode != 0
    assert not (tmp_path / "out.wav").exists()
    assert (tmp_path / "in.wav").read_bytes() == before


def test_mono_audio_through_a_stereo_only_plugin(vst3_plugins):
    plugin = pedalboard.load_plugin(str(vst3_plugins["gain"]))
    plugin.gain_db = -6.0
    mono = np.random.default_rng(2).standard_normal(4800).astype(np.float32) * 0.1
    chain = cfx.Chain([plugin])
    np.testing.assert_allclose(chain(mono, 48000), mono * 10 ** (-6 / 20), atol=1e-6)
    np.testing.assert_allclose(stream(chain, mono, [1000, 37]), chain(mono, 48000), atol=1e-7)


@pytest.mark.parametrize("block_seconds", [8.0, 0.0771], ids=["default", "uneven"])
def test_render_streams_a_block_size_dependent_vst3_like_the_whole_call(vst3_plugins, tmp_path,
                                                                        block_seconds):
    # ClarityTestBlock's output depends on its blocks (tests/vst3/README.md); render's streamed pass
    # must feed it as the whole-buffer call does, whatever blocks the file is read in.
    x = noise(seconds=1.3)
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    chain = cfx.Chain([pedalboard.load_plugin(str(vst3_plugins["block"])), pedalboard.Reverb(room_size=0.9)])
    render(tmp_path / "in.wav", tmp_path / "out.wav", chain, block_seconds=block_seconds)
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    np.testing.assert_array_equal(y.T, chain(x, SR))
