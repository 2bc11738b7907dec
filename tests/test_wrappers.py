"""Blend and Automate around any plugin: exact wet/dry, processed + removed = input, automation lanes."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest
from conftest import SR, noise, stream
from test_chain import Delay

import clarity_fx as cfx

WRAPPABLE = {
    "native-highpass": lambda: pedalboard.HighpassFilter(300),
    "native-resample": lambda: pedalboard.Resample(16000),
    "fft-filter": lambda: cfx.FFTFilter(transfer_function=lambda f: 1 / (1 + 1j * f / 500), n_taps=2048),
    "python-delay": lambda: Delay(delay_samples=123),
    "chain": lambda: cfx.Chain([pedalboard.Gain(-6), Delay(delay_samples=5), pedalboard.LowpassFilter(2000)]),
}


@pytest.mark.parametrize("name", WRAPPABLE)
def test_processed_plus_removed_is_input(name):
    x = noise()
    processed = cfx.Blend(WRAPPABLE[name]())(x, SR)
    removed = cfx.Blend(WRAPPABLE[name](), listen="removed")(x, SR)
    assert np.abs(processed + removed - x).max() <= 1e-6


@pytest.mark.parametrize("name", WRAPPABLE)
def test_wet_extremes_are_exact(name):
    x = noise()
    plain = cfx.Chain([WRAPPABLE[name]()])(x, SR)
    np.testing.assert_array_equal(cfx.Blend(WRAPPABLE[name](), wet=1.0)(x, SR), plain)
    np.testing.assert_array_equal(cfx.Blend(WRAPPABLE[name](), wet=0.0)(x, SR), x)
    half = cfx.Blend(WRAPPABLE[name](), wet=0.25)(x, SR)
    np.testing.assert_allclose(half, 0.25 * plain + 0.75 * x, atol=1e-6)


@pytest.mark.parametrize("name", WRAPPABLE)
@pytest.mark.parametrize("listen", ["processed", "removed"])
def test_blend_streams_exactly(name, listen):
    x = noise()
    blend = cfx.Blend(WRAPPABLE[name](), wet=0.7, listen=listen)
    np.testing.assert_allclose(stream(blend, x, [37, 1000, 4096]), blend(x, SR), atol=1e-6)


def test_blend_validates():
    with pytest.raises(ValueError):
        cfx.Blend(pedalboard.Gain(), wet=1.5)
    with pytest.raises(ValueError, match="processed, removed"):
        cfx.Blend(pedalboard.Gain(), listen="noise")


def _level_db(x, start, stop):
    return 20 * np.log10(np.sqrt(2 * np.mean(x[start:stop].astype(np.float64) ** 2)))


@pytest.mark.parametrize("make", [lambda: pedalboard.Gain(), lambda: cfx.Chain([pedalboard.Gain()])])
def test_gain_ramp_follows_breakpoints(make):
    """A ramp on a steady tone: within 0.5 dB everywhere, 0.1 dB at the breakpoints."""
    points = [(0.0, -20.0), (1.0, 0.0), (1.5, -6.0)]
    t = np.arange(int(2.0 * SR)) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    plugin = make()
    target = plugin if isinstance(plugin, pedalboard.Gain) else plugin[0]
    auto = cfx.Automate(target, {"gain_db": points})
    out = (auto if plugin is target else cfx.Chain([auto]))(tone, SR)
    win = 480  # 10 ms, 10 periods
    for start in range(0, out.size - win, win):
        mid = (start + win / 2) / SR
        want = np.interp(mid, [p[0] for p in points], [p[1] for p in points]) + 20 * np.log10(0.5)
        assert abs(_level_db(out, start, start + win) - want) < 0.5, mid
    for sec, db in points:
        # the gain applied in the update interval that starts at the breakpoint
        i = int(sec * SR)
        seg = slice(i, i + 48)
        loud = np.abs(tone[seg]) > 0.1
        gain_db = 20 * np.log10(np.abs(out[seg][loud] / tone[seg][loud]))
        assert np.abs(gain_db - db).max() < 0.1, (sec, gain_db)


def test_automation_streams_exactly_and_follows_absolute_time():
    x = noise(2, 1.0)
    auto = cfx.Automate(pedalboard.LowpassFilter(), {"cutoff_frequency_hz": [(0, 200), (1.0, 8000)]})
    np.testing.assert_allclose(stream(auto, x, [37, 1000, 4096, 12345]), auto(x, SR), atol=1e-6)


def test_log_interpolation_for_hz():
    auto = cfx.Automate(pedalboard.LowpassFilter(), {"cutoff_frequency_hz": [(0, 100), (2, 10000)]})
    assert auto.lanes["cutoff_frequency_hz"](1.0) == pytest.approx(1000.0)
    lin = cfx.Automate(pedalboard.Gain(), {"gain_db": [(0, -20), (2, 0)]})
    assert lin.lanes["gain_db"](1.0) == pytest.approx(-10.0)


def test_automate_our_processor_and_unknown_names():
    d = Delay(delay_samples=4)
    with pytest.raises(ValueError, match="did you mean 'gain_db'"):
        cfx.Automate(pedalboard.Gain(), {"gain_d": [(0, 0)]})
    with pytest.raises(ValueError, match="not go backwards"):
        cfx.Automate(pedalboard.Gain(), {"gain_db": [(1, 0), (0, 1)]})
    cfx.Automate(d, {"delay_samples": [(0, 4)]})


def test_preset_item_keys_wrap_and_round_trip(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(
        "name: keys\nchain:\n"
        "  - highpass_filter: {cutoff_frequency_hz: 300}\n    wet: 0.5\n"
        "  - lowpass_filter: {cutoff_frequency_hz: 3000}\n    listen: removed\n"
        "  - gain: {gain_db: 0}\n    automate: {gain_db: [[0, -20], [0.4, 0]]}\n"
    )
    chain = cfx.load_preset(path)
    x = noise()
    hp = pedalboard.HighpassFilter(300)(x, SR)
    stage1 = 0.5 * hp + 0.5 * x
    stage2 = stage1 - pedalboard.LowpassFilter(3000)(stage1, SR)
    ramp = cfx.Automate(pedalboard.Gain(), {"gain_db": [(0, -20), (0.4, 0)]})(stage2.astype(np.float32), SR)
    np.testing.assert_allclose(chain(x, SR), ramp, atol=1e-5)
    cfx.save_preset(chain, tmp_path / "again.yaml")
    np.testing.assert_array_equal(cfx.load_preset(tmp_path / "again.yaml")(x, SR), chain(x, SR))


def test_bad_item_keys_are_preset_errors(tmp_path):
    for bad, match in (
        ("wet: 2", "wet must be"),
        ("listen: noise", "listen must be"),
        ("automate: {gian_db: [[0, 1]]}", "did you mean 'gain_db'"),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(f"name: bad\nchain:\n  - gain: {{}}\n    {bad}\n")
        with pytest.raises(cfx.PresetError, match=match):
            cfx.load_preset(path)


def test_cli_listen_removed_writes_what_the_stage_took_away(tmp_path):
    import subprocess

    import soundfile as sf

    x = noise(2, 1.0)
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    (tmp_path / "p.yaml").write_text(
        "name: p\nchain:\n  - gain: {gain_db: -3}\n  - highpass_filter: {cutoff_frequency_hz: 200}\n"
        "  - reverb: {}\n"
    )
    subprocess.run(
        [
            "clarity",
            "apply",
            str(tmp_path / "p.yaml"),
            str(tmp_path / "in.wav"),
            "-o",
            str(tmp_path / "removed.wav"),
            "--listen-removed",
            "highpass_filter",
        ],
        check=True,
    )
    removed, _ = sf.read(tmp_path / "removed.wav", dtype="float32", always_2d=True)
    before = pedalboard.Gain(-3)(x, SR)
    want = before - pedalboard.HighpassFilter(200)(before, SR)  # the reverb after it is dropped
    np.testing.assert_allclose(removed.T, want, atol=1e-6)


def _every_processor():
    from test_conformance import PYTHON

    return PYTHON


@pytest.mark.parametrize("name", list(_every_processor()))
def test_processed_plus_removed_is_input_for_every_processor(name):
    factory = _every_processor()[name]
    x = noise(2, 1.2)  # longer than SpectralSubtraction's one-second noise region
    processed = cfx.Blend(factory())(x, SR)
    removed = cfx.Blend(factory(), listen="removed")(x, SR)
    assert np.abs(processed + removed - x).max() <= 1e-6


def test_processed_plus_removed_with_a_vst3_that_reports_latency(vst3_plugins):
    def plugin():
        p = pedalboard.load_plugin(str(vst3_plugins["latency"]))
        p.gain_db = -6.0
        return p

    x = noise()
    processed = cfx.Blend(plugin())(x, SR)
    removed = cfx.Blend(plugin(), listen="removed")(x, SR)
    np.testing.assert_allclose(processed, x * 10 ** (-6 / 20), atol=1e-6)  # latency aligned
    assert np.abs(processed + removed - x).max() <= 1e-6
    blend = cfx.Blend(plugin(), wet=0.5, listen="removed")
    np.testing.assert_allclose(stream(blend, x, [1000, 37]), blend(x, SR), atol=1e-6)


def test_a_wrapped_loudness_stage_still_gets_all_its_render_passes(tmp_path):
    import soundfile as sf
    from test_loudness import programme

    x = programme(4.0)
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    cfx.render(
        tmp_path / "in.wav",
        tmp_path / "out.wav",
        cfx.Blend(cfx.LoudnessNormalize(target_lufs=-16.0), wet=1.0),
    )
    got, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(got.T, cfx.LoudnessNormalize(target_lufs=-16.0)(x, SR), atol=1e-6)


def _automated(kind, vst3_plugins):
    if kind == "ours":
        return cfx.HardKneeCompressor(threshold_db=-18.0), "threshold_db", [(0.0, -40.0), (0.2, -10.0)]
    if kind == "built-in":
        return pedalboard.Gain(gain_db=-2.0), "gain_db", [(0.0, -20.0), (0.2, 0.0)]
    plugin = pedalboard.load_plugin(str(vst3_plugins["gain"]))
    plugin.gain_db = -2.0
    return plugin, "gain_db", [(0.0, -20.0), (0.2, 0.0)]


@pytest.mark.parametrize("kind", ["ours", "built-in", "vst3"])
def test_automate_gives_the_plugin_back_its_parameters(kind, request, tmp_path):
    import soundfile as sf

    plugins = request.getfixturevalue("vst3_plugins") if kind == "vst3" else None
    plugin, name, points = _automated(kind, plugins)
    before = getattr(plugin, name)
    lane = cfx.Automate(plugin, {name: points})
    x = noise(2, 0.3)
    whole = lane(x, SR)
    assert getattr(plugin, name) == before  # after a whole-buffer call
    streamed = stream(lane, x, [1000, 37])
    assert getattr(plugin, name) == before  # after streaming and flush
    np.testing.assert_allclose(streamed, whole, atol=1e-5)  # and the next stream starts from the same place
    lane.process(x[:, :5000], SR, reset=False)  # a stream left open mid-ramp ...
    assert getattr(plugin, name) != before
    lane.reset()  # ... is undone by the reset that must come before the next one
    assert getattr(plugin, name) == before
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    cfx.render(tmp_path / "in.wav", tmp_path / "out.wav", cfx.Chain([lane]))
    assert getattr(plugin, name) == before
    got, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(got.T, whole, atol=1e-5)
