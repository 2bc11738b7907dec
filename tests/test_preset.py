"""Presets: one-line ``file:line`` errors with the fix, hostile files, --set, Chain ⇄ YAML, named presets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import soundfile as sf
import yaml
from conftest import SR, noise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clarity_fx as cfx
from clarity_fx import preset as preset_module
from clarity_fx.cli import main
from clarity_fx.errors import ClarityError, PluginLoadError, PresetError
from clarity_fx.preset import (
    MAX_PRESET_BYTES,
    find_preset,
    list_presets,
    load_preset,
    load_preset_spec,
    parse_preset,
    preset_to_dict,
    save_preset,
)
from clarity_fx.registry import processor_types
from clarity_fx.schema import preset_schema

IR = np.array([1.0, -0.5, 0.25, 0.125])

# --------------------------------------------------------------------------- error classes
#: (id, preset text, error class, line, pattern the one-line message must match: the problem and the fix)
ERRORS = [
    ("yaml-syntax", "name: x\nchain:\n  - gain: {gain_db: -3\n  - reverb: {}\n", PresetError, None,
     r"YAML syntax error: .*; fix the line"),
    ("yaml-tab", "chain:\n\t- gain: {}\n", PresetError, 2, r"YAML syntax error"),
    ("unknown-type", "chain:\n  - gain: {}\n  - spectral_subtraktion: {}\n", PresetError, 3,
     r"unknown processor type 'spectral_subtraktion'; did you mean '\w+'\?"),
    ("unknown-type-2", "chain:\n  - highpas_filter: {cutoff_frequency_hz: 80}\n", PresetError, 2,
     r"unknown processor type 'highpas_filter'; did you mean 'highpass_filter'\?"),
    ("unknown-param", "chain:\n  - compressor:\n      treshold_db: -20\n", PresetError, 2,
     r"compressor has no parameter 'treshold_db'; did you mean 'threshold_db'\?"),
    ("wrong-type", "chain:\n  - gain: {gain_db: loud}\n", PresetError, 2, r"gain\.gain_db must be a number"),
    ("wrong-type-bool", "chain:\n  - brickwall_limiter: {true_peak: 3}\n", PresetError, 2,
     r"true_peak must be true or false"),
    ("wrong-choice", "chain:\n  - resample: {quality: Best}\n", PresetError, 2,
     r"resample\.quality='Best' is not known: use one of .*Linear"),
    ("out-of-range-builtin", "chain:\n  - reverb: {room_size: 2}\n", PresetError, 2,
     r"reverb\.room_size=2 is out of range: use at most 1"),
    ("out-of-range-cutoff", "chain:\n  - highpass_filter: {cutoff_frequency_hz: -80}\n", PresetError, 2,
     r"highpass_filter\.cutoff_frequency_hz=-80 Hz is out of range: use > 0 Hz"),
    ("out-of-range-ours", "chain:\n  - fft_filter: {impulse_response: [1.0], n_taps: 4}\n", PresetError, 2,
     r"fft_filter\.n_taps=4 is out of range: use at least 16"),
    ("not-finite", "chain:\n  - gain: {gain_db: .nan}\n", PresetError, 2, r"gain_db must be a finite number"),
    ("missing-vst3", "chain:\n  - vst3: {path: /no/such/Plugin.vst3}\n", PresetError, 2,
     r"VST3 plugin not found at /no/such/Plugin\.vst3; install it or fix the path"),
    ("unloadable-vst3", "chain:\n  - vst3: {path: Fake.vst3}\n", PluginLoadError, 2,
     r"cannot load VST3 .*Fake\.vst3 .*; check it is a VST3 bundle"),
    ("vst3-bad-key", "chain:\n  - vst3: {path: Fake.vst3, parameter: {}}\n", PresetError, 2,
     r"vst3 has no key 'parameter'; did you mean 'parameters'\?"),
    ("not-a-mapping", "- gain: {gain_db: -3}\n", PresetError, 1,
     r"a preset must be a mapping .*; got a list"),
    ("just-text", "hello world\n", PresetError, None, r"a preset must be a mapping .*; got text"),
    ("empty", "", PresetError, None, r"a preset must be a mapping .*; got nothing"),
    ("unknown-key", "name: x\nchian: []\n", PresetError, 1,
     r"unknown preset key 'chian'; did you mean 'chain'\?"),
    ("no-chain", "name: x\n", PresetError, 1, r"preset has no 'chain'; add a list"),
    ("item-not-mapping", "chain:\n  - gain\n", PresetError, None, r"each chain item is a mapping like"),
    ("two-types", "chain:\n  - gain: {}\n    reverb: {}\n", PresetError, 2,
     r"2 processor types .*give exactly one"),
    ("bad-bypass", "chain:\n  - gain: {}\n    bypass: maybe\n", PresetError, 2,
     r"bypass must be true or false"),
    ("params-not-mapping", "chain:\n  - gain: -3\n", PresetError, 2, r"parameters of gain must be a mapping"),
    ("bad-mix", "chain:\n  - mix: {gain: {}}\n", PresetError, 2, r"mix takes a list of branches"),
    ("bad-in-mix", "chain:\n  - mix:\n    - - gain: {}\n    - - reverb: {wet_level: 5}\n", PresetError, 4,
     r"reverb\.wet_level=5 is out of range"),
    ("bad-sample-rate", "sample_rate: -1\nchain: []\n", PresetError, 1,
     r"sample_rate must be a positive number"),
    ("python-tag", 'chain:\n  - !!python/object/apply:os.system ["touch PWNED"]\n', PresetError, 2,
     r"python/object/apply:os\.system.*plain values only"),
]


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def error_folder(tmp_path) -> Path:
    """A folder where relative paths in the ERRORS presets make sense (Fake.vst3 is not a plugin)."""
    (tmp_path / "Fake.vst3").write_bytes(b"MZ\x90\x00 not a plugin")
    return tmp_path


def assert_one_line_error(message: str, path: Path, line: int | None, pattern: str) -> None:
    assert "\n" not in message, message
    prefix = f"{path}:{line}: " if line else f"{path}"
    assert message.startswith(prefix), f"{message!r} does not start with {prefix!r}"
    assert re.search(pattern, message), f"{message!r} !~ {pattern!r}"


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_every_error_is_one_line_with_file_line_and_fix(error_folder, monkeypatch, case):
    name, text, error, line, pattern = case
    monkeypatch.chdir(error_folder)
    path = write(error_folder, f"{name}.yaml", text.replace("PWNED", str(error_folder / "pwned")))
    with pytest.raises(error) as err:
        load_preset(path)
    assert_one_line_error(str(err.value), path, line, pattern)
    assert not (error_folder / "pwned").exists()


def test_did_you_mean_suggests_real_names():
    types = processor_types()
    for typo in ("spectral_subtraktion", "highpas_filter", "hard_nee_compressor", "revreb"):
        with pytest.raises(PresetError, match="did you mean") as err:
            parse_preset(f"chain:\n  - {typo}: {{}}\n", "x.yaml")
        suggested = re.search(r"did you mean '(\w+)'", str(err.value)).group(1)
        assert suggested in types


# --------------------------------------------------------------------------- the CLI, for real
def clarity_command() -> list[str]:
    beside = Path(sys.executable).with_name("clarity")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("clarity")
    return [found] if found else [sys.executable, "-m", "clarity_fx"]


#: A representative few run as real processes (each costs an interpreter); main() runs them all.
CLI_CASES = [c for c in ERRORS if c[0] in {
    "yaml-syntax", "unknown-type", "unknown-param", "out-of-range-builtin", "missing-vst3", "unloadable-vst3",
    "not-a-mapping", "python-tag",
}]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Run ``clarity apply`` on every bad preset at once (real processes, in parallel: fast)."""
    folder = tmp_path_factory.mktemp("cli_errors")
    (folder / "Fake.vst3").write_bytes(b"MZ\x90\x00 not a plugin")
    sf.write(folder / "in.wav", noise(seconds=0.1).T, SR, subtype="FLOAT")
    jobs = {}
    cases = [(n, t.replace("PWNED", str(folder / "pwned"))) for n, t, *_ in CLI_CASES]
    cases += [("set-unknown", None), ("alias-bomb", None), ("binary", None)]
    for name, text in cases:
        if name == "alias-bomb":
            text = billion_laughs()
        if name == "binary":
            write(folder, f"{name}.yaml", np.random.default_rng(1).bytes(4096))
        else:
            write(folder, f"{name}.yaml", text or "chain:\n  - gain: {gain_db: -3}\n  - reverb: {}\n")
        extra = {"set-unknown": ["--set", "gain.gian_db=4"]}
        command = [*clarity_command(), "apply", f"{name}.yaml", "in.wav", "-o", f"out-{name}.wav",
                   *extra.get(name, [])]
        jobs[name] = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
    runs = {}
    for name, job in jobs.items():
        out, err = job.communicate(timeout=120)
        runs[name] = (subprocess.CompletedProcess(job.args, job.returncode, out, err), folder)
    return runs


@pytest.mark.parametrize(
    "name", [c[0] for c in CLI_CASES] + ["set-unknown", "alias-bomb", "binary"]
)
def test_cli_user_error_is_one_line_exit_2_no_traceback_no_output(cli_runs, name):
    result, folder = cli_runs[name]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("clarity: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / f"out-{name}.wav").exists()
    assert not list(folder.glob(f".out-{name}*"))  # no temporary file left either
    assert not (folder / "pwned").exists()
    case = next((c for c in ERRORS if c[0] == name), None)
    if case is not None:
        assert re.search(case[4], lines[0])
    if name == "set-unknown":
        assert re.search(r"gain has no parameter 'gian_db'; did you mean 'gain_db'", lines[0])


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_main_turns_every_error_into_one_line_and_exit_2(error_folder, monkeypatch, capsys, case):
    name, text, _, line, pattern = case
    monkeypatch.chdir(error_folder)
    sf.write(error_folder / "in.wav", noise(seconds=0.05).T, SR)
    path = write(error_folder, f"{name}.yaml", text.replace("PWNED", str(error_folder / "pwned")))
    with pytest.raises(SystemExit) as exit_:
        main(["apply", str(path), "in.wav", "-o", "out.wav"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("clarity: error: ")
    assert_one_line_error(err[len("clarity: error: "):-1], path, line, pattern)
    assert not (error_folder / "out.wav").exists() and not list(error_folder.glob(".out*"))


# --------------------------------------------------------------------------- hostile files
def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nchain: []\n"


def nested_bomb() -> str:
    """8**8 values from 56 aliases (under the alias limit), all inside the first chain item."""
    lines = ["chain:", "  - - &a [lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"    - &{name} [" + ", ".join([f"*{prev}"] * 8) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [
    billion_laughs(),
    nested_bomb(),
    "chain:\n  - gain: {gain_db: &x [*x]}\n",  # an alias inside itself
    "chain:\n  - gain: {gain_db: " + "[" * 2000 + "]" * 2000 + "}\n",
], ids=["billion-laughs", "nested-under-alias-limit", "recursive", "deep"])
def test_alias_bombs_and_deep_nesting_are_refused_quickly(tmp_path, text):
    path = write(tmp_path, "bomb.yaml", text)
    started = time.perf_counter()
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert time.perf_counter() - started < 5.0  # generous: CI shares 2 cores
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_python_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    for tag in (f'!!python/object/apply:os.system ["touch {marker}"]',
                f'!!python/object/new:subprocess.check_call [["touch", "{marker}"]]',
                "!!python/name:os.system ''"):
        path = write(tmp_path, "evil.yaml", f"name: evil\nchain:\n  - gain:\n      gain_db: {tag}\n")
        with pytest.raises(PresetError, match=r"evil\.yaml:4: .*plain values only"):
            load_preset(path)
    assert not marker.exists()


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "w") as f:
        f.write("chain: []\n")
        f.truncate(10 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(PresetError, match=rf"larger than {MAX_PRESET_BYTES // 1024} KiB"):
        load_preset(path)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("data", [
    np.random.default_rng(0).bytes(3000),
    b"\x00\x01\x02chain: []\n",
    b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40),
], ids=["random", "control-characters", "a-wav-file"])
def test_binary_garbage_is_a_clean_error(tmp_path, data):
    path = write(tmp_path, "garbage.yaml", data)
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- --set
@pytest.fixture
def set_preset(tmp_path) -> Path:
    return write(tmp_path, "voice.yaml", (
        "name: voice\n"
        "chain:\n"
        "  - gain: {gain_db: -6}\n"
        "  - hard_knee_compressor: {threshold_db: -20, ratio: 2}\n"
        "  - highpass_filter: {cutoff_frequency_hz: 80}\n"
        "  - low_shelf_filter: {gain_db: 3}\n"
        "  - reverb: {}\n"
    ))


def test_set_by_type_tail_by_type_and_by_index(set_preset):
    overrides = ["compressor.ratio=4", "0.gain_db=-3", "highpass_filter.cutoff_frequency_hz=120",
                 "-1.room_size=0.25"]
    spec = load_preset_spec(set_preset, overrides)
    items = spec.chain_spec
    assert items[0]["gain"]["gain_db"] == -3
    assert items[1]["hard_knee_compressor"]["ratio"] == 4
    assert items[2]["highpass_filter"]["cutoff_frequency_hz"] == 120
    chain = spec.build()
    assert chain[0].gain_db == -3 and chain[1].ratio == 4 and chain[4].room_size == pytest.approx(0.25)


def test_set_exact_type_wins_over_a_tail(tmp_path):
    text = "chain:\n  - compressor: {ratio: 2}\n  - hard_knee_compressor: {ratio: 2}\n"
    path = write(tmp_path, "c.yaml", text)
    chain = load_preset(path, ["compressor.ratio=4"])
    assert chain[0].ratio == 4 and chain[1].ratio == 2


@pytest.mark.parametrize("override, pattern", [
    # The option is to blame, not the file's line (the file is fine).
    ("gain.gian_db=-3", r"^--set 'gain\.gian_db=-3': gain has no parameter 'gian_db'; did you mean"),
    ("reverb.room_size=3", r"^--set 'reverb\.room_size=3': reverb\.room_size=3 is out of range: use at most"),
    ("0.gain_db=loud", r"^--set '0\.gain_db=loud': gain\.gain_db must be a number"),
    ("0.wet=2", r"^--set '0\.wet=2': wet must be a number from 0"),
    ("0.listen=both", r"^--set '0\.listen=both': listen must be 'processed' or 'removed'"),
    ("1.key.0.gain_db=1", r"^--set '1\.key\.0\.gain_db=1': hard_knee_compressor holds no chain 'key'"),
    ("9.gain_db=1", r"--set '9\.gain_db=1': the chain has 5 items"),
    ("delay.mix=1", r"--set 'delay\.mix=1': no stage 'delay' in voice"),
    ("filter.q=1", r"'filter' matches items \[2, 3\]; use the index instead"),
    ("gain_db=-3", r"write STAGE\.PARAM=VALUE"),
])
def test_bad_set_is_rejected_like_the_file(set_preset, override, pattern):
    with pytest.raises(PresetError, match=pattern) as err:
        load_preset(set_preset, [override])
    assert "\n" not in str(err.value)


def test_set_reaches_a_vst3_item_and_tolerates_empty_parameters(tmp_path):
    (tmp_path / "Fake.vst3").write_bytes(b"not a plugin")
    path = write(tmp_path, "v.yaml", "chain:\n  - vst3:\n      path: Fake.vst3\n      parameters:\n")
    spec = load_preset_spec(path, ["vst3.gain_db=-6"])
    assert spec.chain_spec[0]["vst3"]["parameters"] == {"gain_db": -6}


# --------------------------------------------------------------------------- Chain -> YAML -> Chain
def round_trip(chain, folder: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, Path]:
    before = chain(x, SR)
    path = save_preset(chain, folder / "saved.yaml", description="round trip")
    after = load_preset(path)(x, SR)
    return before, after, path


def test_round_trip_of_builtins_with_enums_is_exact(tmp_path):
    chain = cfx.Chain([
        pedalboard.HighpassFilter(120),
        pedalboard.Compressor(threshold_db=-20, ratio=4, attack_ms=2, release_ms=80),
        pedalboard.Resample(target_sample_rate=16000, quality=pedalboard.Resample.Quality.Linear),
        pedalboard.LadderFilter(mode=pedalboard.LadderFilter.Mode.HPF24, cutoff_hz=300, resonance=0.2),
        pedalboard.Reverb(room_size=0.3, wet_level=0.2),
        None,
        pedalboard.Gain(-2.5),
    ])
    x = noise(seconds=0.3)
    before, after, path = round_trip(chain, tmp_path, x)
    np.testing.assert_array_equal(after, before)
    text = path.read_text()
    assert "quality: Linear" in text and "mode: HPF24" in text
    assert parse_preset(text, str(path)).description == "round trip"


def test_round_trip_of_fft_filter_with_an_impulse_response_file(tmp_path, monkeypatch):
    sf.write(tmp_path / "ir.wav", IR, SR, subtype="DOUBLE")
    text = "chain:\n  - fft_filter: {impulse_response: ir.wav}\n  - gain: {gain_db: -1}\n"
    original = write(tmp_path, "ir.yaml", text)
    monkeypatch.chdir("/")  # relative paths are read from the preset's folder
    chain = load_preset(original)
    x = noise(seconds=0.2)
    out = tmp_path / "out"
    out.mkdir()
    before, after, path = round_trip(chain, out, x)
    np.testing.assert_array_equal(after, before)
    written = yaml.safe_load(path.read_text())["chain"][0]["fft_filter"]["impulse_response"]
    assert (out / written).is_file()
    # and the array itself, not just a file name, survives
    chain = cfx.Chain([cfx.FFTFilter(impulse_response=np.stack([IR, IR[::-1]]))])
    before, after, _ = round_trip(chain, out, x)
    np.testing.assert_array_equal(after, before)


def test_round_trip_of_a_mix(tmp_path):
    mix = cfx.Mix([
        cfx.Chain([pedalboard.Gain(-6), cfx.FFTFilter(impulse_response=IR, ir_delay_samples=1)]),
        cfx.Chain([pedalboard.HighpassFilter(200)]),
        pedalboard.Gain(3),
    ])
    chain = cfx.Chain([pedalboard.LowpassFilter(8000), mix, pedalboard.Gain(-1)])
    x = noise(seconds=0.2)
    before, after, path = round_trip(chain, tmp_path, x)
    np.testing.assert_array_equal(after, before)
    assert len(yaml.safe_load(path.read_text())["chain"][1]["mix"]) == 3


def test_bypassed_items_are_validated_then_skipped(tmp_path):
    path = write(tmp_path, "b.yaml", (
        "chain:\n  - gain: {gain_db: -6}\n  - reverb: {room_size: 0.9}\n    bypass: true\n"
        "  - highpass_filter: {cutoff_frequency_hz: 100}\n    bypass: false\n"
    ))
    chain = load_preset(path)
    assert [type(p).__name__ for p in chain] == ["Gain", "HighpassFilter"]
    x = noise(seconds=0.2)
    expected = cfx.Chain([pedalboard.Gain(-6), pedalboard.HighpassFilter(100)])(x, SR)
    np.testing.assert_array_equal(chain(x, SR), expected)
    saved = save_preset(chain, tmp_path / "saved.yaml")
    assert "reverb" not in saved.read_text()
    bad = write(tmp_path, "bad.yaml", "chain:\n  - reverb: {room_size: 9}\n    bypass: true\n")
    with pytest.raises(PresetError, match=r"bad\.yaml:2: reverb\.room_size=9 is out of range"):
        load_preset(bad)


def test_a_chain_that_cannot_be_a_preset_says_so(tmp_path):
    with pytest.raises(ClarityError, match="transfer_function holds a Python object"):
        chain = cfx.Chain([cfx.FFTFilter(transfer_function=lambda f: np.ones_like(f))])
        save_preset(chain, tmp_path / "x.yaml")
    with pytest.raises(ClarityError, match="give state_dir"):
        preset_to_dict(cfx.Chain([cfx.FFTFilter(impulse_response=IR)]))
    assert not (tmp_path / "x.yaml").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gain_db=st.floats(-60, 24),
    cutoff=st.floats(20, 20000),
    ratio=st.floats(1, 20),
    threshold=st.floats(-60, 0),
)
def test_round_trip_is_exact_for_any_builtin_values(tmp_path, gain_db, cutoff, ratio, threshold):
    chain = cfx.Chain([pedalboard.Gain(gain_db), pedalboard.LowShelfFilter(cutoff, 3.0),
                       pedalboard.Compressor(threshold, ratio)])
    x = noise(seconds=0.05)
    before, after, _ = round_trip(chain, tmp_path, x)
    np.testing.assert_array_equal(after, before)


# --------------------------------------------------------------------------- named presets
@pytest.fixture
def preset_homes(tmp_path, monkeypatch) -> tuple[Path, Path]:
    user = tmp_path / "config" / "clarity-fx" / "presets"
    shipped = tmp_path / "shipped"
    user.mkdir(parents=True)
    shipped.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(preset_module, "SHIPPED_DIRS", (shipped,))
    return user, shipped


def test_named_presets_resolve_from_the_user_folder_and_shadow_shipped_ones(preset_homes):
    user, shipped = preset_homes
    item = "chain:\n  - gain: {gain_db: %s}\n"
    write(shipped, "telephone.yaml", "name: telephone\ndescription: shipped\n" + item % -1)
    write(shipped, "broadcast.yaml", "name: broadcast\ndescription: shipped\n" + item % -2)
    write(user, "telephone.yaml", "name: telephone\ndescription: mine\n" + item % -9)
    write(user, "mine.yaml", "name: mine\ndescription: mine\nchain: []\n")
    presets = list_presets()
    assert presets == {"broadcast": shipped / "broadcast.yaml", "mine": user / "mine.yaml",
                       "telephone": user / "telephone.yaml"}
    assert find_preset("telephone") == user / "telephone.yaml"
    assert load_preset("telephone")[0].gain_db == -9
    assert load_preset("broadcast")[0].gain_db == -2
    with pytest.raises(PresetError, match="unknown preset 'telefone'; did you mean 'telephone'"):
        find_preset("telefone")
    with pytest.raises(PresetError, match="no such preset file"):
        find_preset("missing.yaml")


def test_shipped_presets_all_load():
    shipped = {name: path for name, path in list_presets().items()
               if any(path.is_relative_to(folder) for folder in preset_module.SHIPPED_DIRS)}
    assert len(shipped) >= 6
    for name, path in shipped.items():
        spec = load_preset_spec(path)
        assert spec.name == name and spec.description, f"{path}: give it a name and a description"


def test_main_reports_a_preset_error_in_one_line_in_process(tmp_path, capsys):
    path = write(tmp_path, "x.yaml", "chain:\n  - highpas_filter: {}\n")
    sf.write(tmp_path / "in.wav", noise(seconds=0.05).T, SR)
    with pytest.raises(SystemExit) as exit_:
        main(["apply", str(path), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == f"clarity: error: {path}:2: unknown processor type 'highpas_filter'; " \
                  "did you mean 'highpass_filter'?\n"
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "x.yaml"]


# --------------------------------------------------------------------------- JSON schema
def schema_errors(instance, schema, root=None, where="$") -> list[str]:
    """A minimal JSON Schema 2020-12 validator: the keywords preset_schema uses (jsonschema is not a dep)."""
    root = schema if root is None else root
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_errors(instance, target, root, where)
    errors: list[str] = []
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]

        def is_a(kind):
            if kind in ("number", "integer"):
                if isinstance(instance, bool) or not isinstance(instance, (int, float)):
                    return False
                return kind == "number" or float(instance).is_integer()
            return isinstance(instance, kinds[kind])

        if not any(is_a(k) for k in types):
            return [f"{where}: {instance!r} is not {types}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} not in enum")
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{where}: below minimum")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: not above exclusiveMinimum")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{where}: above maximum")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{where}: missing {key}")
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                errors += schema_errors(value, properties[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(value, schema["additionalProperties"], root, f"{where}.{key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{where}: too few items")
        if "items" in schema:
            for i, value in enumerate(instance):
                errors += schema_errors(value, schema["items"], root, f"{where}[{i}]")
    if "oneOf" in schema:
        passing = sum(not schema_errors(instance, s, root, where) for s in schema["oneOf"])
        if passing != 1:
            errors.append(f"{where}: matches {passing} of oneOf")
    if "anyOf" in schema and all(schema_errors(instance, s, root, where) for s in schema["anyOf"]):
        errors.append(f"{where}: matches none of anyOf")
    return errors


SCHEMA = preset_schema()


@pytest.fixture
def schema() -> dict:
    return SCHEMA


def test_schema_describes_every_processor_and_parameter(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    types = processor_types()
    variants = {next(iter(v["required"])): v for v in defs["item"]["oneOf"]}
    assert set(variants) == {*types, "vst3", "mix"}
    for name, kind in types.items():
        assert variants[name]["properties"]["bypass"] == {"$ref": "#/$defs/bypass"}
        params = defs[name]["properties"]
        assert set(params) == set(kind.params) and defs[name]["additionalProperties"] is False
        for pname, spec in kind.params.items():
            described = params[pname]
            json_types = {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}
            expected_type = json_types.get(spec["type"])
            if expected_type:
                assert expected_type in (described["type"] if isinstance(described["type"], list)
                                         else [described["type"]])
            if spec["choices"]:
                assert set(spec["choices"]) <= set(described["enum"])
            if spec["maximum"] is not None:
                assert described["maximum"] == spec["maximum"]
            if spec["minimum"] is not None:
                assert spec["minimum"] in (described.get("minimum"), described.get("exclusiveMinimum"))
            if spec["unit"]:
                assert f"Unit: {spec['unit']}." in described["description"]
    assert defs["highpass_filter"]["properties"]["cutoff_frequency_hz"] == {
        "type": "number", "exclusiveMinimum": 0, "default": 50.0, "description": "Unit: Hz."}
    assert defs["resample"]["properties"]["quality"]["enum"][:2] == ["ZeroOrderHold", "Linear"]
    assert set(defs["vst3"]["properties"]) == {"path", "parameters", "state", "plugin_name"}
    assert defs["vst3"]["required"] == ["path"]
    json_text = __import__("json").dumps(schema)  # plain JSON: no NaN, no Python objects
    assert "NaN" not in json_text and "Infinity" not in json_text


GOOD_PRESETS = [
    "name: a\ndescription: b\nchain: []\n",
    "chain:\n  - highpass_filter: {cutoff_frequency_hz: 80}\n  - gain:\n  - resample: {quality: Linear}\n",
    "chain:\n  - reverb: {room_size: 0.5}\n    bypass: true\n  - compressor: {ratio: 4, threshold_db: -20}\n",
    "sample_rate: 48000\nchain:\n  - mix:\n    - [{gain: {gain_db: -6}}]\n"
    "    - - reverb: {}\n      - gain: {}\n",
    "chain:\n  - fft_filter: {impulse_response: [1.0, 0.5], ir_delay_samples: 0}\n",
]
BAD_PRESETS = [c[1] for c in ERRORS if c[0] in {
    "unknown-type", "unknown-type-2", "unknown-param", "wrong-type", "wrong-type-bool", "wrong-choice",
    "out-of-range-builtin", "out-of-range-cutoff", "out-of-range-ours", "vst3-bad-key", "not-a-mapping",
    "just-text", "unknown-key", "no-chain", "item-not-mapping", "two-types", "bad-bypass",
    "params-not-mapping", "bad-mix", "bad-in-mix", "bad-sample-rate",
}]


@pytest.mark.parametrize("text", GOOD_PRESETS)
def test_schema_accepts_what_the_loader_accepts(schema, text):
    parse_preset(text, "good.yaml")
    assert schema_errors(yaml.safe_load(text), schema) == []


@pytest.mark.parametrize("text", BAD_PRESETS)
def test_schema_rejects_what_the_loader_rejects(schema, text):
    with pytest.raises(PresetError):
        parse_preset(text, "bad.yaml")
    assert schema_errors(yaml.safe_load(text), schema)


def test_schema_accepts_saved_presets_with_vst3_and_mix(schema, tmp_path):
    chain = cfx.Chain([pedalboard.Resample(quality=pedalboard.Resample.Quality.Lagrange),
                       cfx.Mix([pedalboard.Gain(-3), cfx.Chain([cfx.FFTFilter(impulse_response=IR)])])])
    saved = yaml.safe_load(save_preset(chain, tmp_path / "s.yaml").read_text())
    vst3 = {"path": "X.vst3", "parameters": {"gain_db": -6}, "state": "s.1.vststate"}
    saved["chain"].append({"vst3": vst3})
    assert schema_errors(saved, schema) == []
    for path in list_presets().values():  # shipped and user presets, whatever exists
        assert schema_errors(yaml.safe_load(path.read_text()), schema) == [], path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_the_schema_allows_for_a_builtin_is_accepted_by_the_loader(data):
    schema = SCHEMA
    builtins = sorted(n for n, t in processor_types().items() if t.origin == "pedalboard" and t.params)
    name = data.draw(st.sampled_from(builtins))
    params = {}
    for pname, described in schema["$defs"][name]["properties"].items():
        kind = described.get("type")
        if "enum" in described:
            params[pname] = data.draw(st.sampled_from(described["enum"]))
        elif kind == "boolean":
            params[pname] = data.draw(st.booleans())
        elif kind == "number":
            lo = described.get("minimum", described.get("exclusiveMinimum", -1e4))
            hi = described.get("maximum", 1e4)
            # pedalboard keeps float32 values (the loader checks those): draw what a float32 can hold
            exclusive = "exclusiveMinimum" in described
            params[pname] = data.draw(st.floats(lo, hi, width=32, exclude_min=exclusive))
    preset = {"chain": [{name: params}]}
    assert schema_errors(preset, schema) == []
    parse_preset(yaml.safe_dump(preset), "generated.yaml")  # must not raise
