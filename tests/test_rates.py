"""Presets at any sample rate: every shipped preset renders at 8–96 kHz; frequencies a rate cannot hold
are clamped where a user means that (a key band, a pass band's top) with a one-line notice, and refused
otherwise, naming preset, stage and line; ``--set`` reaches item keys and key chains and is named in its
errors; a declared ``sample_rate`` is checked by ``presets validate``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clarity_fx.errors import PresetError
from clarity_fx.preset import SHIPPED_DIRS, load_preset_spec, parse_preset
from clarity_fx.rates import CLAMP_FRACTION, FrequencyClamped
from clarity_fx.rendering import render

RATES = (8000, 16000, 22050, 44100, 48000, 96000)
SHIPPED = sorted(path.stem for folder in SHIPPED_DIRS for path in folder.glob("*.yaml"))
#: The shipped presets whose 4–9 kHz / 5–9 kHz sibilance key band a low rate cannot hold.
KEY_BAND_PRESETS = {"de-esser": (4000, 9000), "podcast-voice": (5000, 9000), "vocal-clarity": (5000, 9000)}
#: Shipped presets whose every frequency fits at 8 kHz: no notice at any rate.
WITHOUT_NOTICES = {"dialogue-denoise", "hum-removal", "hum-removal-60", "master-broadcast", "master-podcast",
                   "master-streaming", "music-master-light", "podcast-duck", "telephone-band"}


def voice_like(rate: int, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A vowel (150 Hz and 6 harmonics) with a little noise, then a sibilant burst in the key band."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    vowel = 0.3 * sum(np.sin(2 * np.pi * 150 * k * t) / k**2 for k in range(1, 8))
    band = [min(0.6 * rate / 2, 5000), min(0.85 * rate / 2, 8000)]  # inside the de-esser's key band
    hiss = sosfilt(butter(4, band, "bandpass", fs=rate, output="sos"),
                   rng.standard_normal(n))
    hiss *= np.where(t > seconds * 0.6, 0.15 / np.sqrt(np.mean(hiss**2)), 0.0)
    return (vowel + hiss + 0.003 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("rates")
    paths = {}
    for rate in RATES:
        paths[rate] = folder / f"voice-{rate}.wav"
        sf.write(paths[rate], voice_like(rate), rate, subtype="FLOAT")
    return paths


def test_the_shipped_presets_are_all_covered():
    assert len(SHIPPED) >= 12 and set(KEY_BAND_PRESETS) <= set(SHIPPED)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_renders_at_every_rate(inputs, tmp_path, name, rate):
    source = inputs[rate]
    spec = load_preset_spec(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chain = spec.build_for(source)
        key = source if name == "podcast-duck" else None  # it ducks under a key, here the voice itself
        result = render(source, tmp_path / "out.wav", chain, key=key, progress=False)
    out, out_rate = sf.read(tmp_path / "out.wav", dtype="float32")
    x, _ = sf.read(source, dtype="float32")
    assert out_rate == rate and out.shape == x.shape and result.frames == len(x)
    assert np.isfinite(out).all() and np.sqrt(np.mean(out**2)) > 1e-3  # sound came out, not NaN or silence
    notices = [str(w.message) for w in caught if issubclass(w.category, FrequencyClamped)]
    assert all(n.startswith(f"{name}: stage ") and "\n" not in n for n in notices), notices
    band = KEY_BAND_PRESETS.get(name)
    if band is None or band[1] < rate / 2:
        assert notices == [] or name not in WITHOUT_NOTICES  # a preset added later is checked above only
    else:  # one line for the key band's stage, naming the preset, the stage, the file's line, the value used
        assert len(notices) == 1 and "\n" not in notices[0]
        assert notices[0].startswith(f"{name}: stage ") and f"{name}.yaml:" in notices[0]
        assert f"high_hz={CLAMP_FRACTION * rate / 2:g} Hz" in notices[0]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_the_clamped_de_esser_still_takes_the_sibilant_down_and_leaves_the_vowel(rate):
    """Measured: the sibilant burst goes down by the preset's range (10 dB), the vowel stays within 0.1 dB."""
    x = voice_like(rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrequencyClamped)
        chain = load_preset_spec("de-esser").build(rate)
    y = chain(x, rate)
    n = len(x)

    def change_db(a: slice) -> float:
        return 20 * np.log10(np.sqrt(np.mean(y[a] ** 2)) / np.sqrt(np.mean(x[a] ** 2)))

    vowel, hiss = change_db(slice(n // 10, int(0.55 * n))), change_db(slice(int(0.7 * n), n))
    assert abs(vowel) < 0.1, vowel
    assert -10.5 < hiss < -8, hiss


def test_a_band_that_does_not_fit_at_all_keeps_its_width_in_octaves():
    spec = load_preset_spec("de-esser")
    with pytest.warns(FrequencyClamped) as caught:
        chain = spec.build(8000)
    band = chain[0].key[0]
    assert band.high_hz == pytest.approx(3600) and band.low_hz == pytest.approx(3600 * 4000 / 9000)
    assert np.log2(band.high_hz / band.low_hz) == pytest.approx(np.log2(9000 / 4000))
    (notice,) = [str(w.message) for w in caught]
    assert "stage 0.key.0 (butterworth_filter, " in notice and "de-esser.yaml:15)" in notice
    assert "low_hz=4000 Hz, high_hz=9000 Hz does not fit below Nyquist (4000 Hz at 8000 Hz)" in notice
    assert "using low_hz=1600 Hz, high_hz=3600 Hz" in notice


def write(folder: Path, text: str, name: str = "p.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_pass_band_top_is_clamped_but_a_high_pass_above_nyquist_is_refused_with_preset_stage_and_line(
        tmp_path):
    path = write(tmp_path, "name: p\nchain:\n  - lowpass_filter: {cutoff_frequency_hz: 30000}\n"
                           "  - gain: {gain_db: -1}\n  - highpass_filter: {cutoff_frequency_hz: 9000}\n")
    spec = load_preset_spec(path)
    clamped = r"^p: stage 0 \(lowpass_filter, .*p\.yaml:3\): cutoff_frequency_hz=30000 Hz .* using .*=21600"
    with pytest.warns(FrequencyClamped, match=clamped):
        spec.build(48000)
    with pytest.raises(PresetError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore", FrequencyClamped)
        spec.build(16000)
    assert str(err.value).startswith(f"p: stage 2 (highpass_filter, {path}:5): cutoff_frequency_hz=9000 Hz "
                                     "is at or above Nyquist (8000 Hz at 16000 Hz)")
    # Overridden, the option is named, not the file's line.
    spec = load_preset_spec(path, ["2.cutoff_frequency_hz=9500"])
    named = r"stage 2 \(highpass_filter, --set '2\.cutoff_frequency_hz=9500'\)"
    with pytest.raises(PresetError, match=named), warnings.catch_warnings():
        warnings.simplefilter("ignore", FrequencyClamped)
        spec.build(16000)


def test_a_declared_sample_rate_is_checked_strictly(tmp_path):
    text = "name: p\nsample_rate: 48000\nchain:\n  - butterworth_filter: {kind: lowpass, cutoff_hz: 30000}\n"
    refused = (r"^p: stage 0 \(butterworth_filter, .*p\.yaml:4\): cutoff_hz=30000 Hz "
               r"is at or above Nyquist \(24000 Hz at 48000 Hz\); the preset declares")
    with pytest.raises(PresetError, match=refused):
        parse_preset(text, str(tmp_path / "p.yaml"))
    parse_preset(text.replace("30000", "20000"), "p.yaml")  # fits
    # Without a declared rate the same preset is fine: its rate is the audio's.
    parse_preset(text.replace("sample_rate: 48000\n", ""), "p.yaml")
    path = write(tmp_path, text.replace("30000", "20000"))
    with pytest.raises(PresetError, match=r"^p: stage 0 \(butterworth_filter, --set '0\.cutoff_hz=25000'\): "
                                          r"cutoff_hz=25000 Hz is at or above Nyquist"):
        load_preset_spec(path, ["0.cutoff_hz=25000"])


def test_set_reaches_item_keys_key_chains_and_mix_branches(tmp_path):
    spec = load_preset_spec("vocal-clarity", [
        "2.key.0.high_hz=7500", "2.key.butterworth_filter.order=2", "true_peak_limiter.bypass=true",
        "3.wet=0.5", "0.listen=removed"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrequencyClamped)
        chain = spec.build(16000)  # 7500 Hz fits at 16 kHz: no notice
    band = chain[2].key[0]
    assert (band.high_hz, band.low_hz, band.order) == (7500, 5000, 2)
    assert len(chain) == 4  # the limiter is bypassed
    assert type(chain[3]).__name__ == "Blend" and chain[3].wet == 0.5
    assert chain[0].listen == "removed"
    path = write(tmp_path, "name: m\nchain:\n  - mix:\n    - [{gain: {gain_db: -6}}]\n"
                           "    - [{gain: {gain_db: -6}}, {gain: {gain_db: -1}}]\n")
    chain = load_preset_spec(path, ["0.1.1.gain_db=-9"]).build()
    assert [g.gain_db for g in chain[0][1]] == [-6, -9]
    for override, message in (
        ("2.key.0.high_hz=-5", r"^--set '2\.key\.0\.high_hz=-5': butterworth_filter\.high_hz=-5 Hz"),
        ("2.key.3.order=2", r"^--set '2\.key\.3\.order=2': the chain has 1 items"),
        ("1.key.0.order=2", r"^--set '1\.key\.0\.order=2': analytic_filter holds no chain 'key'"),
        ("2.bypass=maybe", r"^--set '2\.bypass=maybe': bypass must be true or false"),
    ):
        with pytest.raises(PresetError, match=message):
            load_preset_spec("vocal-clarity", [override])


def clarity_main(*args: object) -> int:
    """``clarity ARGS`` in this process (the CLI's own warning display and error lines); its exit code."""
    from clarity_fx.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # this process may have said the same notice before
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in args])
    return done.value.code


def test_cli_prints_one_notice_line_and_validate_checks_the_declared_rate(tmp_path, capsys):
    source = tmp_path / "in.wav"
    sf.write(source, voice_like(16000, seconds=0.3), 16000)
    assert clarity_main("apply", "de-esser", source, "-o", tmp_path / "out.wav", "--no-progress") == 0
    notices = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(notices) == 1
    assert notices[0].startswith("clarity: warning: de-esser: stage 0.key.0 (butterworth_filter, ")
    assert notices[0].endswith("de-esser.yaml:15): high_hz=9000 Hz does not fit below Nyquist "
                               "(8000 Hz at 16000 Hz); using high_hz=7200 Hz")
    assert sf.info(tmp_path / "out.wav").frames == sf.info(source).frames
    preset = write(tmp_path, "name: q\nsample_rate: 48000\nchain:\n"
                             "  - lowpass_filter: {cutoff_frequency_hz: 30000}\n")
    assert clarity_main("presets", "validate", preset) == 1
    err = capsys.readouterr().err
    assert "q: stage 0 (lowpass_filter, " in err
    assert "p.yaml:4): cutoff_frequency_hz=30000 Hz is at or above" in err


def test_a_chain_loaded_without_a_rate_names_preset_stage_and_line_when_the_rate_cannot_hold_it(tmp_path):
    import clarity_fx as cfx

    x = np.zeros(1600, np.float32)
    named = r"^vocal-clarity: stage 2\.key\.0 \(butterworth_filter, .*vocal-clarity\.yaml:17\): high_hz=9000"
    with pytest.raises(cfx.ParameterError, match=named):
        cfx.load_preset("vocal-clarity")(x, 16000)
    path = write(tmp_path, "name: lp\nchain:\n  - gain: {}\n"
                           "  - highpass_filter: {cutoff_frequency_hz: 9000}\n")
    for call in (lambda chain: chain(x, 16000), lambda chain: list(chain.stream([x[None]], 16000))):
        with pytest.raises(cfx.ParameterError, match=r"^lp: stage 1 \(highpass_filter, .*p\.yaml:4\): "
                                                     r"highpass_filter\.cutoff_frequency_hz=9000 Hz"):
            call(cfx.load_preset(path))  # whole-buffer and streamed alike


def test_a_notice_names_the_option_only_for_the_value_it_set():
    with pytest.warns(FrequencyClamped) as caught:
        load_preset_spec("vocal-clarity", ["2.key.0.order=3"]).build(16000)
    assert "vocal-clarity.yaml:17): high_hz=9000 Hz" in str(caught[0].message)  # the file's value
    with pytest.warns(FrequencyClamped) as caught:
        load_preset_spec("vocal-clarity", ["2.key.0.high_hz=8500"]).build(16000)
    assert "(butterworth_filter, --set '2.key.0.high_hz=8500'): high_hz=8500 Hz" in str(caught[0].message)
