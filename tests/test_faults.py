"""The bad-input and fault matrix (docs/faults.md), row by row, through the command line.

Every failing row must end in one line on stderr that names the problem, a
non-zero exit status, no traceback, the input untouched and nothing left in
the output folder (no output, no temporary file). Every succeeding row must
exit 0 with a complete output.

How the command runs. Most rows run ``clarity_fx.cli.main(argv)``, the
``clarity`` entry point, in a fresh child process forked from a forkserver
that imported numpy, pedalboard and clarity_fx once: its own exit status, its
own stdout and stderr, and a traceback shows up exactly as it would, at a
fraction of a subprocess's start-up cost. ``test_forked_rows_match_the_real_command``
checks that the real ``clarity`` executable agrees. Rows that need a real
signal (Ctrl-C), a crashing plugin or dropped privileges run the real
command with ``subprocess``; the full-disk row runs in this process, with the
writer patched to fail with ENOSPC.

Every row must pass; docs/faults.md has the same table.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import test_batch
import yaml

from clarity_fx.batching import partial_files
from clarity_fx.errors import ClarityError

vst3_bundles = test_batch.vst3_bundles  # the session fixture, visible here
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SR = 48000
RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
FAULT_CHAIN = [  # a realistic chain: a native filter, an FFT denoiser, dynamics, a true-peak limiter
    {"highpass_filter": {"cutoff_frequency_hz": 60}},
    {"spectral_subtraction": {"noise_seconds": 0.1}},
    {"compressor": {"threshold_db": -20, "ratio": 2}},
    {"true_peak_limiter": {"ceiling_dbtp": -1}},
]


# --------------------------------------------------------------------------- building the cases
@dataclass
class Case:
    """One command line: its input, output and extra arguments."""

    folder: Path
    input: Path
    output: Path
    args: list[str] = field(default_factory=list)
    preset: Path | None = None

    def argv(self) -> list[str]:
        return ["apply", str(self.preset), str(self.input), "-o", str(self.output), "--no-progress",
                *self.args]


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((frames, channels))).astype(np.float32)


def wav(path: Path, audio: np.ndarray, rate: int = SR, subtype: str = "FLOAT", fmt: str | None = None
        ) -> Path:
    sf.write(str(path), audio, rate, subtype=subtype, format=fmt)
    return path


def truncated(path: Path, fmt: str) -> Path:
    full = wav(path.with_name("full" + path.suffix), noise(SR), subtype="PCM_16")
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def with_bad_sample(path: Path, value: float) -> Path:
    audio = noise(SR)
    audio[SR // 2, 1] = value
    return wav(path, audio)


def locked_folder(folder: Path) -> Path:
    inner = folder / "locked"
    inner.mkdir()
    src = wav(inner / "in.wav", noise(SR))
    inner.chmod(0)
    return src


def unreadable(path: Path) -> Path:
    wav(path, noise(SR)).chmod(0)
    return path


def folder_named_wav(path: Path) -> Path:
    path.mkdir()
    return path


def text_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def binary_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    "missing-file": lambda f: f / "in.wav",
    "folder": lambda f: folder_named_wav(f / "in.wav"),
    "unreadable-file": lambda f: unreadable(f / "in.wav"),
    "unsearchable-folder": locked_folder,
    "empty-file": lambda f: text_file(f / "in.wav", ""),
    "text-as-wav": lambda f: text_file(f / "in.wav", "just text, named .wav\n"),
    "truncated-wav": lambda f: truncated(f / "in.wav", "WAV"),
    "truncated-flac": lambda f: truncated(f / "in.flac", "FLAC"),
    "unsupported-format": lambda f: wav(f / "in.au", noise(SR), subtype="PCM_16", fmt="AU"),
    "unsupported-output": lambda f: wav(f / "in.wav", noise(SR)),
    "nan-samples": lambda f: with_bad_sample(f / "in.wav", np.nan),
    "inf-samples": lambda f: with_bad_sample(f / "in.wav", np.inf),
    "all-zero": lambda f: wav(f / "in.wav", np.zeros((SR, 2), np.float32)),
    "shorter-than-fft-frame": lambda f: wav(f / "in.wav", noise(100)),
    "one-sample": lambda f: wav(f / "in.wav", noise(1, channels=1)),
    "two-frames-stereo": lambda f: wav(f / "in.wav", noise(2)),
    "eight-channels": lambda f: wav(f / "in.wav", noise(SR // 2, channels=8)),
    **{f"rate-{rate}": (lambda r: lambda f: wav(f / "in.wav", noise(r // 2), rate=r, subtype="PCM_24"))(rate)
       for rate in RATES},
    "noise-clip-other-rate": lambda f: wav(f / "in.wav", noise(SR)),
    "output-equals-input": lambda f: wav(f / "in.wav", noise(SR)),
    "output-folder-missing": lambda f: wav(f / "in.wav", noise(SR)),
    "output-folder-unwritable": lambda f: wav(f / "in.wav", noise(SR)),
    "disk-full": lambda f: wav(f / "in.wav", noise(4 * SR)),
    "decoder-crash": lambda f: binary_file(f / "in.wav", test_batch.DECODER_CRASH),
}


@dataclass(frozen=True)
class Row:
    """One row of the matrix (docs/faults.md has the same table)."""

    id: str
    expect: str | None  # the error line must contain this; None: the command must succeed
    runner: str = "fork"  # fork | unprivileged | in-process | sigint-apply | sigint-batch | vst3

    def __str__(self) -> str:
        return self.id


ROWS = [
    Row("missing-file", "no such file"),
    Row("folder", "is a folder, not an audio file"),
    Row("unreadable-file", "permission denied", runner="unprivileged"),
    Row("unsearchable-folder", "permission denied", runner="unprivileged"),
    Row("empty-file", "is empty (0 bytes)"),
    Row("text-as-wav", "is not audio clarity can read"),
    Row("truncated-wav", "is truncated"),
    Row("truncated-flac", "is truncated"),
    Row("unsupported-format", "is not audio clarity can read"),
    Row("decoder-crash", "in.wav"),
    Row("unsupported-output", "cannot write '.xyz' files"),
    Row("nan-samples", "has NaN or infinite samples from 0.500 s"),
    Row("inf-samples", "has NaN or infinite samples from 0.500 s"),
    Row("all-zero", None),
    Row("shorter-than-fft-frame", None),
    Row("one-sample", None),
    Row("two-frames-stereo", None),
    Row("eight-channels", None),
    *[Row(f"rate-{rate}", None) for rate in RATES],
    Row("noise-clip-other-rate", None),
    Row("output-equals-input", "is the input file"),
    Row("output-folder-missing", "output folder does not exist"),
    Row("output-folder-unwritable", "cannot write there (permission denied)", runner="unprivileged"),
    Row("disk-full", "the disk is full", runner="in-process"),
    Row("ctrl-c-apply", "interrupted", runner="sigint-apply"),
    Row("ctrl-c-batch", "interrupted after", runner="sigint-batch"),
    Row("vst3-crash", "plugin crashed (SIGABRT)", runner="vst3"),
    Row("vst3-hang", "timed out after 2 s", runner="vst3"),
    Row("vst3-crash-apply", "plugin crashed (SIGABRT)", runner="vst3-apply"),
]


def write_preset(path: Path, chain: list) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "description": "fault matrix", "chain": chain},
                                   sort_keys=False))
    return path


def build_case(row_id: str, base: Path) -> Case:
    folder = base / row_id
    folder.mkdir(parents=True)
    (folder / "out").mkdir()
    source = MAKERS[row_id](folder)
    case = Case(folder, source, folder / "out" / "out.wav", preset=write_preset(folder / "preset.yaml",
                                                                               FAULT_CHAIN))
    if row_id == "unsupported-output":
        case.output = folder / "out" / "out.xyz"
    elif row_id == "output-equals-input":
        case.output = source
    elif row_id == "output-folder-missing":
        case.output = folder / "out" / "nope" / "out.wav"
    elif row_id == "output-folder-unwritable":
        case.output = folder / "out" / "locked" / "out.wav"
        case.output.parent.mkdir()
        case.output.parent.chmod(0o555)
    elif row_id == "noise-clip-other-rate":
        clip = wav(folder / "noise-16k.wav", noise(16000, channels=1, seed=9) * 0.1, rate=16000)
        chain = [{"spectral_subtraction": {"noise_clip": str(clip)}}]
        case.preset = write_preset(folder / "preset.yaml", chain)
    return case


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except PermissionError:
        return "unreadable"


def snapshot(case: Case) -> dict[str, str | None]:
    """What the case's folder holds: names and contents (of what this process can read)."""
    return {str(p.relative_to(case.folder)): digest(p) for p in sorted(case.folder.rglob("*"))}


# --------------------------------------------------------------------------- running the command
@dataclass
class Run:
    code: int | None
    stdout: str
    stderr: str


def _cli_child(argv: list[str], cwd: str, out_path: str, err_path: str) -> None:
    """In a fresh child: the ``clarity`` entry point, with its own stdout and stderr files."""
    os.chdir(cwd)
    os.environ["COLUMNS"] = "250"
    for fd, name in ((1, out_path), (2, err_path)):
        target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    import clarity_fx.cli as cli

    cli.main(argv)


def run_forked(jobs: list[tuple[list[str], Path]], logs: Path, workers: int = 2,
               timeout: float = 120) -> list[Run]:
    """Run ``clarity ARGV`` for each job in fresh forked children, ``workers`` at a time."""
    from clarity_fx.isolate import mp_context

    context = mp_context()
    pending = list(enumerate(jobs))
    running: list[tuple[int, object, float]] = []
    results: dict[int, Run] = {}
    while pending or running:
        while pending and len(running) < workers:
            index, (argv, cwd) = pending.pop(0)
            files = (str(logs / f"{index}.out"), str(logs / f"{index}.err"))
            child = context.Process(target=_cli_child, args=(argv, str(cwd), *files))
            child.start()
            running.append((index, child, time.monotonic()))
        time.sleep(0.02)
        for entry in list(running):
            index, child, started = entry
            if child.is_alive() and time.monotonic() - started < timeout:
                continue
            if child.is_alive():
                child.kill()
            child.join()
            running.remove(entry)
            out, err = (_read(logs / f"{index}.{kind}") for kind in ("out", "err"))
            results[index] = Run(child.exitcode, out, err)
    return [results[i] for i in range(len(jobs))]


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def clarity_argv(*args: str) -> list[str]:
    """The real ``clarity`` executable (or ``python -m clarity_fx``), as a user runs it."""
    exe = Path(sys.executable).with_name("clarity")
    return [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "clarity_fx"]),
            *args]


def run_real(argv: list[str], cwd: Path, timeout: float = 120, prefix: list[str] | None = None) -> Run:
    done = subprocess.run([*(prefix or []), *argv], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "COLUMNS": "250"})
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, tuple[Case, dict, Run]]:
    """Every "fork" row, run up front two at a time: ``{id: (case, folder before, run)}``."""
    base = tmp_path_factory.mktemp("faults")
    logs = tmp_path_factory.mktemp("fault-logs")
    rows = [row for row in ROWS if row.runner == "fork"]
    cases = {row.id: build_case(row.id, base) for row in rows}
    before = {row_id: snapshot(case) for row_id, case in cases.items()}
    runs = run_forked([(case.argv(), case.folder) for case in cases.values()], logs)
    return {row_id: (cases[row_id], before[row_id], run) for row_id, run in zip(cases, runs, strict=True)}


# --------------------------------------------------------------------------- the checks
def assert_clean_failure(run: Run, case: Case, before: dict, expect: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code not in (0, None), f"exit status {run.code}"
    assert len(lines) == 1, f"stderr is not one line: {run.stderr!r}"
    assert expect in lines[0], lines[0]
    assert snapshot(case) == before, "the input changed, or something was left in the folder"


def assert_success(run: Run, case: Case, row_id: str) -> None:
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 2, run.stderr  # the summary line, a warning at most
    source, rate = sf.read(str(case.input), dtype="float32", always_2d=True)
    out, out_rate = sf.read(str(case.output), dtype="float32", always_2d=True)
    assert out_rate == rate and out.shape == source.shape and np.isfinite(out).all()
    if row_id == "all-zero":
        assert np.abs(out).max() < 1e-6  # silence in, silence out
    assert not partial_files(case.output)


def _can_drop_privileges() -> list[str] | None:
    """A command prefix that makes permission bits bite, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    # root ignores permission bits through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; drop both.
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", "true"],
                           capture_output=True)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"] if probe.returncode == 0 else None


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_fault_row(row: Row, request, tmp_path) -> None:
    if row.runner == "fork":
        case, before, run = request.getfixturevalue("matrix")[row.id]
        if row.expect is None:
            assert_success(run, case, row.id)
        else:
            assert_clean_failure(run, case, before, row.expect)
    elif row.runner == "unprivileged":
        prefix = _can_drop_privileges()
        if prefix is None:
            pytest.skip("running as root without setpriv: root reads and writes regardless of permissions")
        case = build_case(row.id, tmp_path)
        before = snapshot(case)
        try:
            run = run_real(clarity_argv(*case.argv()), case.folder, prefix=prefix)
        finally:
            for path in case.folder.rglob("*"):
                if path.is_dir():
                    path.chmod(0o755)
        assert_clean_failure(run, case, before, row.expect)
    elif row.runner == "in-process":
        check_disk_full(row, tmp_path, request.getfixturevalue("monkeypatch"),
                        request.getfixturevalue("capsys"))
    elif row.runner == "sigint-apply":
        check_ctrl_c_apply(row, tmp_path)
    elif row.runner == "sigint-batch":
        check_ctrl_c_batch(row, tmp_path)
    elif row.runner == "vst3":
        check_vst3_batch(row, tmp_path, request.getfixturevalue("vst3_runs"))
    elif row.runner == "vst3-apply":
        check_vst3_apply(row, tmp_path, request.getfixturevalue("vst3_bundles"))
    else:  # pragma: no cover
        raise AssertionError(row.runner)


def test_forked_rows_match_the_real_command(matrix):
    """The forked entry point and the real executable say the same, exit the same."""
    chosen = ["missing-file", "text-as-wav", "nan-samples", "one-sample"]
    procs = {}
    for row_id in chosen:
        case = matrix[row_id][0]
        argv = clarity_argv(*case.argv())
        if row_id == "one-sample":
            argv[argv.index(str(case.output))] = str(case.output.with_name("again.wav"))
        procs[row_id] = subprocess.Popen(argv, cwd=case.folder, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
    for row_id, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        forked = matrix[row_id][2]
        assert proc.returncode == forked.code, err
        if row_id != "one-sample":  # (the success line carries a speed)
            assert err == forked.stderr


# --------------------------------------------------------------------------- the special rows
def check_disk_full(row: Row, tmp_path: Path, monkeypatch, capsys) -> None:
    """ENOSPC from the writer in the middle of the file, through the real entry point."""
    import pedalboard.io

    import clarity_fx.cli as cli

    case = build_case(row.id, tmp_path)
    before = snapshot(case)
    real = pedalboard.io.AudioFile

    class FillsUp:
        """The real AudioFile; a writer whose disk is full after the first block."""

        def __init__(self, path, mode="r", *args, **kwargs):
            self.inner = real(path, mode, *args, **kwargs)
            self.blocks = 0 if mode == "w" else None

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def write(self, block):
            self.blocks += 1
            if self.blocks > 1:
                raise OSError(28, "No space left on device")
            return self.inner.write(block)

    monkeypatch.setattr(pedalboard.io, "AudioFile", FillsUp)
    with pytest.raises(SystemExit) as stop:
        cli.main([*case.argv(), "--buffer-size", "4096"])
    err = capsys.readouterr().err
    assert_clean_failure(Run(stop.value.code, "", err), case, before, row.expect)


def long_input(path: Path, seconds: float = 120.0, rate: int = 16000) -> Path:
    audio = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


SLOW_CHAIN = [{"pitch_shift": {"semitones": 1}}] * 8  # ~1 s of work per 10 s of audio on a slow core


def interrupt_when_writing(proc: subprocess.Popen, outputs: list[Path], count: int = 1,
                           sig: int = signal.SIGINT) -> None:
    """Send ``sig`` (SIGINT: Ctrl-C) once ``count`` renders have opened their temporary files."""
    deadline = time.monotonic() + 60
    while sum(bool(partial_files(o)) for o in outputs) < count:
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be interrupted: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no render started within 60 s")
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(sig)


def check_ctrl_c_apply(row: Row, tmp_path: Path) -> None:
    source = long_input(tmp_path / "long.wav")
    preset = write_preset(tmp_path / "slow.yaml", SLOW_CHAIN)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "long.wav"
    before = digest(source)
    argv = clarity_argv("apply", str(preset), str(source), "-o", str(target), "--no-progress")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupt_when_writing(proc, [target])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert digest(source) == before and not list((tmp_path / "out").iterdir())
    assert len(err.strip().splitlines()) == 1 and row.expect in err


def check_ctrl_c_batch(row: Row, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    sources = [long_input(tmp_path / "in" / f"take{i}.wav") for i in range(3)]
    preset = write_preset(tmp_path / "slow.yaml", SLOW_CHAIN)
    before = [digest(s) for s in sources]
    out = tmp_path / "out"
    proc = subprocess.Popen(test_batch.clarity_command("batch", preset, tmp_path / "in", "--out-dir", out,
                                                       "--jobs", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupt_when_writing(proc, [out / s.name for s in sources], count=2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and row.expect in err, err
    assert [digest(s) for s in sources] == before
    for path in out.iterdir():  # finished files are whole; nothing else is there
        assert not path.name.startswith(".") and sf.info(str(path)).frames == 120 * 16000


@pytest.fixture(scope="module")
def vst3_runs(vst3_bundles, tmp_path_factory):
    """Both VST3 batches, started together: ``{row id: (folder, Popen)}``."""
    runs = {}
    for row_id, mode, extra in (("vst3-crash", 1, []), ("vst3-hang", 2, ["--timeout", "2"])):
        folder = tmp_path_factory.mktemp(row_id)
        for name in ("a", "b"):
            wav(folder / f"{name}.wav", noise(SR // 4))
        preset = write_preset(folder / "preset.yaml", [{"gain": {"gain_db": -1}},
                                                       {"vst3": {"path": str(vst3_bundles["crash"]),
                                                                 "parameters": {"mode": mode}}}])
        argv = test_batch.clarity_command("batch", preset, folder / "a.wav", folder / "b.wav", "--out-dir",
                                          folder / "out", "--isolate", "--jobs", "2", *extra)
        env = {**os.environ, "COLUMNS": "250"}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        runs[row_id] = (folder, proc)
    yield runs
    for _, proc in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_vst3_batch(row: Row, tmp_path: Path, vst3_runs) -> None:
    folder, proc = vst3_runs[row.id]
    before = {name: digest(folder / name) for name in ("a.wav", "b.wav")}
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "Traceback" not in out
    failed = [line for line in out.splitlines() if "failed" in line and ".wav" in line]
    assert len(failed) == 2 and all(row.expect in line for line in failed), out
    assert {name: digest(folder / name) for name in ("a.wav", "b.wav")} == before
    assert not list((folder / "out").iterdir())  # no output, no temporary file


def check_vst3_apply(row: Row, tmp_path: Path, vst3_bundles) -> None:
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "crash.yaml", [{"vst3": {"path": str(vst3_bundles["crash"]),
                                                              "parameters": {"mode": 1}}}])
    (tmp_path / "out").mkdir()
    run = run_real(clarity_argv("apply", str(preset), str(source), "-o", str(tmp_path / "out" / "o.wav"),
                                "--isolate"), tmp_path)
    assert run.code not in (0, None) and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and row.expect in run.stderr
    assert not list((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------- fuzzing, small
#: Non-ClarityError exceptions the fuzzer finds that are already reported (docs/faults.md), by signature.
KNOWN_FUZZ_FINDINGS: dict[str, str] = {
}  # each listed in the fuzz report; a new finding fails the test

def test_fuzz_presets_and_audio_inputs_only_raise_clarity_errors():
    """200 cases of benchmarks/fuzz.py (its full run does 10,000)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))  # by name, so that its worker processes import it too
    try:
        fuzz = importlib.import_module("fuzz")
        report = fuzz.run(200, seed_value=int(os.environ.get("CLARITY_FUZZ_SEED", "0")))
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert report.total >= 200
    unknown = [bug for bug in report.bugs if not any(sign in bug[2] for sign in KNOWN_FUZZ_FINDINGS)]
    assert not unknown, "\n\n".join(f"[{t}] {shown}\n{trace}" for t, shown, trace in unknown[:3])
    if report.bugs:
        pytest.xfail("; ".join(KNOWN_FUZZ_FINDINGS[sign] for sign in KNOWN_FUZZ_FINDINGS
                               if any(sign in bug[2] for bug in report.bugs)))


# --------------------------------------------------------------------------- presets (#13: 10, 14, 20)
def _nested_keys(depth: int) -> str:
    inner = "[]"
    for _ in range(depth):
        inner = "[{hard_knee_compressor: {threshold_db: -20, key: " + inner + "}}]"
    return f"name: deep\ndescription: nested keys\nchain: {inner}\n"


def test_nested_key_chains_validate_in_linear_time(tmp_path):
    """Depth 60 (3 KB) took forever: each level was validated and then built again (2^depth)."""
    preset = tmp_path / "deep.yaml"
    preset.write_text(_nested_keys(60))
    user = tmp_path / "config" / "clarity-fx" / "presets"
    user.mkdir(parents=True)
    (user / "deep.yaml").write_text(_nested_keys(60))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    started = time.monotonic()
    for args in (["presets", "validate", str(preset)], ["presets", "list"]):
        done = subprocess.run(clarity_argv(*args), capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert "deep" in done.stdout
    assert time.monotonic() - started < 60  # depth 16 took 3.7 s and depth 60 never ended
    from clarity_fx.preset import parse_preset

    started = time.perf_counter()
    parse_preset(_nested_keys(60)).build()
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("text, expect", [
    ("1e9", 1e9), ("1e-30", 1e-30), ("-2.5e1", -25.0), ("010", 10), ("0x10", 16), (".5", 0.5),
])
def test_preset_numbers_are_read_as_a_user_means_them(text, expect):
    from clarity_fx.preset import parse_preset

    # release_ms takes any non-negative number; -2.5e1 is read, then refused as negative
    text_item = f"name: n\nchain:\n  - limiter: {{release_ms: {text}}}\n"
    if expect < 0:
        with pytest.raises(ClarityError, match=r"n.yaml:3: limiter.release_ms=-25 .*out of range"):
            parse_preset(text_item, "n.yaml")
        return
    preset = parse_preset(text_item, "n.yaml")
    assert preset.chain_spec[0]["limiter"]["release_ms"] == expect


def test_preset_numbers_beyond_range_and_text_are_refused_as_such():
    from clarity_fx.preset import parse_preset

    with pytest.raises(ClarityError, match=r"n.yaml:3: .*threshold_db must be a finite number"):
        parse_preset("name: n\nchain:\n  - hard_knee_compressor: {threshold_db: 1e999}\n", "n.yaml")
    # YAML 1.1 read -1:30 as the base-60 number -90 and applied it silently
    with pytest.raises(ClarityError, match=r"n.yaml:3: .*must be a number, not '-1:30'"):
        parse_preset("name: n\nchain:\n  - hard_knee_compressor: {threshold_db: -1:30}\n", "n.yaml")


@pytest.mark.parametrize("text, line", [
    ("name: n\nchain:\n  - gain: {gain_db: -3, gain_db: 40}\n", 3),
    ("name: n\nchain: []\nchain:\n  - gain: {gain_db: 40}\n", 3),
    ("name: n\nchain:\n  - gain:\n      gain_db: -3\n      gain_db: 40\n", 5),
])
def test_duplicate_keys_are_refused_with_file_and_line(text, line):
    from clarity_fx.preset import parse_preset

    with pytest.raises(ClarityError, match=rf"^n.yaml:{line}: duplicate key '\w+'; keep one of them$"):
        parse_preset(text, "n.yaml")


def test_set_reads_numbers_like_the_file(tmp_path):
    from clarity_fx.preset import load_preset_spec

    preset = write_preset(tmp_path / "p.yaml", [{"hard_knee_compressor": {"threshold_db": -20}}])
    spec = load_preset_spec(preset, ["compressor.threshold_db=-1e1"])
    assert spec.chain_spec[0]["hard_knee_compressor"]["threshold_db"] == -10.0


def test_sample_rate_nan_is_refused_by_validation():
    from clarity_fx.preset import parse_preset

    with pytest.raises(ClarityError, match=r"n.yaml:1: sample_rate must be a positive number"):
        parse_preset("name: n\nsample_rate: .nan\nchain: []\n", "n.yaml")


# --------------------------------------------------------------------------- batch outputs (#13: 2, 3, 22)
def _batch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    preset = write_preset(tmp_path / "gain.yaml", [{"gain": {"gain_db": -6}}])
    return subprocess.run(clarity_argv("batch", str(preset), *args, "--no-progress", "--jobs", "1"),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "250"})


def test_batch_output_never_lands_on_another_input(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        wav(tmp_path / name / "take.wav", noise(SR // 4, seed=ord(name)))
    before = {name: digest(tmp_path / name / "take.wav") for name in ("a", "b")}
    done = _batch(tmp_path, "a/take.wav", "b/take.wav", "--out-dir", "b")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "another input of this batch" in done.stdout + done.stderr
    assert {name: digest(tmp_path / name / "take.wav") for name in ("a", "b")} == before
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["take.wav"]


def test_batch_suffix_cannot_leave_the_output_folder(tmp_path):
    (tmp_path / "in").mkdir()
    source = wav(tmp_path / "in" / "b.wav", noise(SR // 4))
    wav(tmp_path / "in" / "a.wav", noise(SR // 4, seed=1))
    before = digest(source)
    done = _batch(tmp_path, "in/a.wav", "--out-dir", "out/x", "--suffix", "/../../in/b")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "path separator" in done.stderr
    assert digest(source) == before and not (tmp_path / "out").exists()


def test_batch_of_the_output_folder_says_so(tmp_path):
    (tmp_path / "B").mkdir()
    wav(tmp_path / "B" / "take.wav", noise(SR // 4))
    done = _batch(tmp_path, "B", "--out-dir", "B")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "inside the output folder; choose another --out-dir" in done.stdout + done.stderr


# --------------------------------------------------------------------------- --scheduler (#13: 9)
@pytest.fixture
def listener():
    """A loopback TCP server that answers each connection with ``reply`` (None: stays silent)."""
    import socket
    import threading

    servers = []

    def start(reply: bytes | None) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            held = []
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                held.append(conn)
                if reply is not None:
                    conn.sendall(reply)
            for conn in held:
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((server, stop, thread))
        return f"tcp://127.0.0.1:{server.getsockname()[1]}"

    yield start
    for server, stop, thread in servers:
        stop.set()
        thread.join(2)
        server.close()


@pytest.mark.parametrize("reply, expect", [
    (None, "no answer in 2 s"),  # a silent listener hung for over 100 s
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "not as a Dask scheduler"),
    (b"\x00" * 16 + b"garbage", "not as a Dask scheduler"),  # gave a traceback after 21 s
])
def test_scheduler_that_is_not_dask_fails_in_one_line_within_the_timeout(listener, monkeypatch, reply,
                                                                          expect):
    from clarity_fx import batching

    monkeypatch.setattr(batching, "CONNECT_TIMEOUT_S", 2)
    address = listener(reply)
    started = time.monotonic()
    with pytest.raises(ClarityError) as caught:
        batching._dask_client(address)
    assert time.monotonic() - started < 2 + 3
    assert expect in str(caught.value) and "\n" not in str(caught.value)


def test_scheduler_http_port_and_tls_through_the_cli(listener, tmp_path):
    http = listener(b"HTTP/1.0 200 OK\r\n\r\nhello")
    wav(tmp_path / "in.wav", noise(SR // 4))
    for address, expect in ((http, "not as a Dask scheduler"), ("tls://127.0.0.1:1", "tls:// needs")):
        started = time.monotonic()
        done = _batch(tmp_path, "in.wav", "--out-dir", "out", "--scheduler", address)
        assert time.monotonic() - started < 30
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr


# --------------------------------------------------------------------------- bad neighbours (#13: 12, 14, 17)
def test_presets_list_survives_bad_user_presets(tmp_path):
    user = tmp_path / "config" / "clarity-fx" / "presets"
    user.mkdir(parents=True)
    (user / "latin1.yaml").write_bytes(b"name: caf\xe9\nchain: []\n")
    (user / "folder.yaml").mkdir()
    (user / "huge-int.yaml").write_text("name: h\nchain:\n  - gain: {gain_db: " + "9" * 5000 + "}\n")
    (user / "big.yaml").write_bytes(b"# " + b"x" * (50 * 1024 * 1024) + b"\n")
    os.mkfifo(user / "fifo.yaml")
    os.symlink("loop.yaml", user / "loop.yaml")
    (user / "fine.yaml").write_text("name: fine\ndescription: a good one\nchain: []\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "250"}
    done = subprocess.run(clarity_argv("presets", "list"), capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "a good one" in rows["fine"] and "vocal-clarity" in rows
    assert "not a text file" in rows["latin1"]
    assert "is a folder" in rows["folder"]
    assert "shorter number" in rows["huge-int"]
    assert "larger than 256 KiB" in rows["big"]
    assert "special file" in rows["fifo"]
    assert "symlink loop" in rows["loop"]
    for name, expect in (("fifo", "special file"), ("huge-int", "shorter number")):
        shown = subprocess.run(clarity_argv("presets", "validate", str(user / f"{name}.yaml")),
                               capture_output=True, text=True, timeout=60, env=env)
        assert shown.returncode == 1 and len(shown.stderr.strip().splitlines()) == 1  # 1: invalid
        assert expect in shown.stderr and "Traceback" not in shown.stderr


def test_a_symlink_loop_in_a_batch_folder_fails_one_row_not_the_batch(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    wav(tmp_path / "in" / "a.wav", noise(SR // 4))
    wav(tmp_path / "in" / "sub" / "b.wav", noise(SR // 4, seed=1))
    os.symlink("loop.wav", tmp_path / "in" / "loop.wav")
    os.symlink("../../in", tmp_path / "in" / "sub" / "back")
    done = _batch(tmp_path, "in", "--out-dir", "out")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1  # one file failed, the rest were done
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.wav")) == [
        "a.wav", "sub/b.wav"]
    (row,) = [line for line in done.stdout.splitlines() if "loop.wav" in line]
    assert "failed" in row and "symlink loop" in row


# --------------------------------------------------------------------------- stop signals (#13: 8)
def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGUSR1"])
def test_stop_signals_clean_up_like_ctrl_c(name, tmp_path):
    sig = getattr(signal, name)
    source = long_input(tmp_path / "long.wav")
    preset = write_preset(tmp_path / "slow.yaml", SLOW_CHAIN)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "long.wav"
    argv = clarity_argv("apply", str(preset), str(source), "-o", str(target), "--no-progress")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupt_when_writing(proc, [target], sig=sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "no partial output was left" in err, err
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("how", ["batch-jobs-2", "apply-isolate"])
def test_sigterm_ends_the_workers_too(how, tmp_path):
    (tmp_path / "in").mkdir()
    count = 3 if how.startswith("batch") else 1
    sources = [long_input(tmp_path / "in" / f"take{i}.wav") for i in range(count)]
    preset = write_preset(tmp_path / "slow.yaml", SLOW_CHAIN)
    out = tmp_path / "out"
    out.mkdir()
    if how == "batch-jobs-2":
        argv = clarity_argv("batch", str(preset), str(tmp_path / "in"), "--out-dir", str(out), "--jobs", "2",
                            "--no-progress")
    else:
        argv = clarity_argv("apply", str(preset), str(sources[0]), "-o", str(out / sources[0].name),
                            "--isolate", "--no-progress")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while not any(partial_files(out / s.name) for s in sources):
        assert proc.poll() is None and time.monotonic() < deadline, "no render started"
        workers |= descendants(proc.pid)
        time.sleep(0.02)
    workers |= descendants(proc.pid)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert workers, "the render ran in no worker process"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived clarity"
    time.sleep(0.5)
    for path in out.iterdir():  # finished files are whole; nothing else is there
        assert not path.name.startswith("."), path
        assert sf.info(str(path)).frames == 120 * 16000


# --------------------------------------------------------------------------- usage errors (#13: 22)
@pytest.mark.parametrize("args, expect", [
    (["apply"], "Missing argument 'preset'; see 'clarity apply --help'"),
    (["apply", "vocal-clarity", "in.wav", "-o", "x.wav", "--bogus"], "No such option: --bogus"),
    (["apply", "vocal-clarity", "in.wav", "-o", "x.wav", "--buffer-size", "abc"], "--buffer-size"),
    (["batch"], "Missing argument"),
    (["presets", "nope"], "No such command 'nope'"),
])
def test_usage_errors_are_one_line(args, expect, tmp_path):
    done = subprocess.run(clarity_argv(*args), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clarity: error: ") and expect in lines[0], done.stderr


# ----------------------------------------------------------------- validate == build (#13: 13, 14, 15, 21)
@pytest.mark.parametrize("item, expect", [
    ("hard_knee_compressor: {key: 3}", "key must be a sidechain chain of processors"),
    ("hard_knee_compressor: {key: take.wav}", "for another recording use external_key or --key"),
    ("mp3_compressor: {vbr_quality: 10}", "vbr_quality=10 is out of range: use at most 9.99805"),
    ("resample: {target_sample_rate: 0.001}", "target_sample_rate=0.001 is out of range: use at least 1"),
    ("spectral_subtraction: {n_fft: 65536, hop: 1}", "hop=1 is too small for n_fft=65536"),
    ("gain: {gain_db: 0}\n    automate: {gain_db: [[0, 0], [1, 1e300]]}", "too large for the plugin"),
    ("gain: {gain_db: 0}\n    automate: {gain_db: [[0, 0], [.nan, 3]]}", "must be finite numbers"),
    ("gain: {gain_db: 0}\n    automate: {gain_db: [[0, .nan]]}", "must be finite numbers"),
    ("butterworth_filter: {kind: lowpass, cutoff_hz: 1000, order: 2}\n"
     "    automate: {order: [[0, 2], [1, 3.5]]}", "order must be a whole number, not 3.5"),
])
def test_validation_refuses_what_rendering_would_fail_on(item, expect, tmp_path):
    """Each of these passed 'presets validate' and failed only at render, with a traceback."""
    preset = tmp_path / "p.yaml"
    preset.write_text(f"name: p\nchain:\n  - {item}\n")
    done = subprocess.run(clarity_argv("presets", "validate", str(preset)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "p.yaml:3: " in done.stderr and expect in done.stderr, done.stderr


def test_set_of_a_key_to_text_is_refused_like_the_file(tmp_path):
    wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}, {"gain": {"gain_db": -1}},
                                                {"hard_knee_compressor": {"threshold_db": -20}}])
    argv = clarity_argv("apply", str(preset), "in.wav", "-o", "out.wav", "--set", "2.key=hello")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "key must be a sidechain chain" in done.stderr and not (tmp_path / "out.wav").exists()


def test_buffer_size_beyond_the_bound_is_refused(tmp_path):
    wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}])
    started = time.monotonic()
    argv = clarity_argv("apply", str(preset), "in.wav", "-o", "out.wav", "--buffer-size", "1000000000")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert done.returncode == 2 and "buffer_size=1000000000 is too large" in done.stderr
    assert not list(tmp_path.glob("*out*"))


def test_automation_of_a_whole_number_moves_in_steps():
    import clarity_fx as cfx

    lowpass = cfx.ButterworthFilter(kind="lowpass", cutoff_hz=2000, order=2)
    automated = cfx.Automate(lowpass, {"order": [(0.0, 2), (0.01, 8)]})
    out = automated(noise(SR // 10, channels=1).T, SR)
    assert np.isfinite(out).all() and lowpass.order == 2  # given back after the call


# --------------------------------------------------------------------------- tiny buffer sizes (#13: 6)
@pytest.mark.parametrize("buffer_size", [1, 2, 3])
def test_buffer_size_at_or_below_the_channel_count_matches_pedalboard(buffer_size, tmp_path):
    """1 on stereo was 0.40 off pedalboard's own output; 2 (= channels) gave a RuntimeError traceback."""
    import pedalboard

    x = noise(SR // 10)  # (frames, 2)
    source = wav(tmp_path / "in.wav", x)
    # MP3Compressor is fed one block per call (its output depends on call sizes) and has latency.
    preset = write_preset(tmp_path / "p.yaml", [{"compressor": {"threshold_db": -30, "ratio": 4}},
                                                {"mp3_compressor": {"vbr_quality": 2}}])
    argv = clarity_argv("apply", str(preset), str(source), "-o", str(tmp_path / "out.wav"),
                        "--buffer-size", str(buffer_size), "--no-progress")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    board = pedalboard.Pedalboard([pedalboard.Compressor(threshold_db=-30, ratio=4),
                                   pedalboard.MP3Compressor(vbr_quality=2)])
    reference = board.process(x.T.copy(), SR, buffer_size=buffer_size)
    out, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    np.testing.assert_allclose(out.T, reference, atol=1e-6)


# --------------------------------------------------------------------------- resolution kept (#13: 23)
def test_a_32_bit_integer_wav_stays_32_bit_integer(tmp_path):
    x = noise(SR // 10)
    source = wav(tmp_path / "in.wav", x, subtype="PCM_32")
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": 0}}])
    done = subprocess.run(clarity_argv("apply", str(preset), str(source), "-o", str(tmp_path / "out.wav")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sf.info(str(tmp_path / "out.wav")).subtype == "PCM_32"
    out, _ = sf.read(str(tmp_path / "out.wav"), dtype="int32")
    original, _ = sf.read(str(source), dtype="int32")
    assert np.abs(out.astype(np.int64) - original).max() <= 256  # float32 inside: 24 significant bits


# --------------------------------------------------------------------------- misleading options (#13: 22)
@pytest.mark.parametrize("extra, expect", [
    (["--isolate", "--timeout", "-1"], "--timeout -1: use a positive number of seconds"),
    (["--timeout", "5"], "--timeout needs --isolate"),
    (["--quality", "best", "-o", "out.flac"], "--quality best for FLAC: use its compression level, 0"),
])
def test_apply_options_that_mean_nothing_are_refused(extra, expect, tmp_path):
    wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}])
    output = [] if "-o" in extra else ["-o", "out.wav"]
    done = subprocess.run(clarity_argv("apply", str(preset), "in.wav", *output, *extra),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr, done.stderr
    assert not list(tmp_path.glob("out*"))


def test_batch_of_a_ducking_preset_says_apply_per_file(tmp_path):
    wav(tmp_path / "in.wav", noise(SR // 4))
    done = subprocess.run(clarity_argv("batch", "podcast-duck", "in.wav", "--out-dir", "out"),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "clarity apply podcast-duck music.wav --key voice.wav" in done.stderr
    assert "batch cannot" in done.stderr and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- odd but valid WAVs (#13: 11, 18)
def _patched_wav(path: Path, offset_of: bytes, field: int, fmt: str, value: int) -> Path:
    wav(path, noise(SR // 2), subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.find(offset_of) + field
    data[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))
    return path


def test_streaming_and_12_bit_wavs_are_read_by_analyze_and_master(tmp_path):
    """A streaming WAV (data size 0xFFFFFFFF) hung analyze and master; a 12-bit WAV raised RuntimeError."""
    (tmp_path / "album").mkdir()
    streaming = _patched_wav(tmp_path / "album" / "stream.wav", b"data", 4, "<I", 0xFFFFFFFF)
    twelve = _patched_wav(tmp_path / "album" / "twelve.wav", b"fmt ", 8 + 14, "<H", 12)
    for path in (streaming, twelve):
        done = subprocess.run(clarity_argv("analyze", str(path), "--json"), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert abs(json.loads(done.stdout)["duration_s"] - 0.5) < 1e-6
    argv = clarity_argv("master", str(tmp_path / "album"), "-o", str(tmp_path / "new" / "out"))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr  # the folder is created
    for name in ("stream.wav", "twelve.wav"):
        assert sf.info(str(tmp_path / "new" / "out" / name)).frames == SR // 2


# --------------------------------------------------------------------------- a really full disk (#13: 1, 7)
def test_batch_and_master_on_a_really_full_disk(tmp_path):
    """OGG on a full tmpfs exited 0 with 16.6 s of 120; batch called a full disk an internal error."""
    from test_audio_io import small_tmpfs

    (tmp_path / "in").mkdir()
    wav(tmp_path / "in" / "long.wav", noise(120 * 16000, seed=3), rate=16000, subtype="PCM_16")
    with small_tmpfs("size=1m") as full:
        for args, expect in (
            (["batch", "telephone-band", "in", "--out-dir", str(full), "--format", "ogg", "--no-progress"],
             "the disk is full"),
            (["batch", "telephone-band", "in", "--out-dir", str(full), "--format", "ogg", "--no-progress",
              "--skip-existing"], "the disk is full"),  # nothing was left to skip
            (["master", "in", "-o", str(full)], "the disk is full"),
        ):
            done = subprocess.run(clarity_argv(*args), capture_output=True, text=True, timeout=120,
                                  cwd=tmp_path, env={**os.environ, "COLUMNS": "250"})
            assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
            assert expect in done.stdout + done.stderr
            assert "internal error" not in done.stdout + done.stderr
            assert list(full.iterdir()) == []


# --------------------------------------------------------------------------- paths (#13: 16)
def test_long_and_non_utf8_names_and_unwritable_pictures(tmp_path):
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}])
    folder = os.fsencode(tmp_path)

    def run(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([os.fsencode(a) for a in clarity_argv(*map(os.fsdecode, args))],
                              capture_output=True, timeout=60, cwd=tmp_path)

    long_name = "a" * 246 + ".wav"  # the temporary name used to be longer than 255 bytes
    done = run("apply", str(preset), str(source), "-o", str(tmp_path / long_name))
    assert done.returncode == 0, done.stderr
    assert sf.info(str(tmp_path / long_name)).frames == SR // 4
    latin1 = folder + b"/caf\xe9.wav"  # a name that is not UTF-8
    shutil.copy(source, latin1)
    done = run("apply", str(preset), latin1, "-o", folder + b"/out\xe9.flac")
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    done = run("analyze", folder + b"/out\xe9.flac", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["duration_s"] == 0.25
    for args, expect in (
        (("apply", str(preset), str(source), "-o", "/proc/x.wav"), b"/proc/x.wav: cannot write"),
        (("apply", str(preset), str(source), "-o", str(tmp_path / "o.wav"), "--plot", "/proc/p.png"),
         b"/proc/p.png: cannot write the picture there"),
        (("response", "telephone-band", "-o", "/proc/r.png"), b"/proc/r.png: cannot write the picture"),
    ):
        done = run(*args)
        assert done.returncode == 2 and b"Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr
    assert not (tmp_path / "o.wav").exists()  # the picture is checked before the audio is rendered


def test_output_names_the_system_refuses_are_one_line(tmp_path):
    """Found by the fuzzer: -o with a name past 255 bytes was an OSError traceback (Path.is_dir raised)."""
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}])
    for output, expect in (("\u00e9" * 130 + ".wav", "the path is too long"),  # 264 bytes
                           ("in.wav/x.wav", "cannot write there (Not a directory)")):
        done = run_real(clarity_argv("apply", str(preset), str(source), "-o", output), tmp_path, timeout=60)
        assert done.code == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "p.yaml"]


def test_unknown_users_newlines_and_unicode_digits_are_one_line(tmp_path):
    """Found by the fuzzer: '~nobody/x' raised RuntimeError (pathlib), a name with a newline split the
    error over two lines, and --set '¹.x=1' raised ValueError from int()."""
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": -1}}])
    for args, expect in (
        (("~nobody-here/in.wav", "-o", "o.wav"), "~nobody-here/in.wav: no such file"),
        ((str(source), "-o", "~nobody-here/o.wav"), "~nobody-here: output folder does not exist"),
        (("take\n1.wav", "-o", "o.wav"), "take\\n1.wav: no such file"),
        ((str(source), "-o", "o.wav", "--set", "\u00b9.gain_db=1"), "no stage '\u00b9'"),
        ((str(source), "-o", "o.wav", "--set", "--1.gain_db=1"), "no stage '--1'"),
    ):
        done = run_real(clarity_argv("apply", str(preset), *args), tmp_path, timeout=60)
        assert done.code == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr, done.stderr
    done = run_real(clarity_argv("analyze", "~nobody-here/in.wav"), tmp_path, timeout=60)
    assert done.code == 2 and "no such file" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "p.yaml"]


def test_parameter_edges_the_fuzzer_found_render_or_refuse_at_once():
    """release_ms=5e-324 divided by zero at the first block; noise_clip=inf and a hop that does not fit
    the automatic n_fft raised TypeError-like errors mid-render instead of a ParameterError."""
    from clarity_fx import HardKneeCompressor, SpectralSubtraction
    from clarity_fx.errors import ParameterError

    x = noise(SR // 5).astype(np.float32) * 0.1
    for name in ("attack_ms", "release_ms"):
        out = HardKneeCompressor(**{name: 5e-324})(x, SR)
        assert out.shape == x.shape and np.isfinite(out).all()
    with pytest.raises(ParameterError, match="noise_clip must be an audio array"):
        SpectralSubtraction(noise_clip=float("inf"))
    with pytest.raises(ParameterError, match="hop=3000 needs n_fft too"):  # now when it is set
        SpectralSubtraction(hop=3000, adaptive=True)


# --------------------------------------------------------------------------- the stale-temp sweep (#13: 19)
def test_a_live_render_in_another_pid_namespace_keeps_its_temporary_file(tmp_path):
    """The sweep deleted a live render's temp file when its PID meant nothing here (a container)."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-p", "-f", "--mount-proc", "true"], capture_output=True)
    if unshare is None or probe.returncode != 0:
        pytest.skip("cannot make a PID namespace here (needs util-linux unshare and root)")
    source = long_input(tmp_path / "long.wav")
    preset = write_preset(tmp_path / "slow.yaml", SLOW_CHAIN)
    target = tmp_path / "out" / "long.wav"
    target.parent.mkdir()
    # Inside its own namespace the render's PID is 30000, a PID no process here has.
    inner = " ".join(clarity_argv("apply", str(preset), str(source), "-o", str(target), "--no-progress"))
    slow = subprocess.Popen([unshare, "-p", "-f", "--mount-proc", "sh", "-c",
                             f"echo 29999 > /proc/sys/kernel/ns_last_pid; {inner}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not partial_files(target):
        assert slow.poll() is None and time.monotonic() < deadline, slow.communicate()
        time.sleep(0.02)
    assert ".30000." in partial_files(target)[0].name and not Path("/proc/30000").exists()
    quick = write_preset(tmp_path / "quick.yaml", [{"gain": {"gain_db": -1}}])
    other = wav(tmp_path / "short.wav", noise(SR // 4))
    done = subprocess.run(clarity_argv("apply", str(quick), str(other), "-o", str(target)),
                          capture_output=True, text=True, timeout=60)  # sweeps beside the live render
    assert done.returncode == 0, done.stderr
    _, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err  # its temporary file was still there to be renamed
    assert sf.info(str(target)).frames == 120 * 16000


# ----------------------------------------------------------------- output is always finite (#13: 15)
def test_a_chain_that_overflows_writes_nothing(tmp_path):
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    preset = write_preset(tmp_path / "p.yaml", [{"gain": {"gain_db": 120}}] * 7)  # legal, but 840 dB
    (tmp_path / "out").mkdir()
    argv = clarity_argv("apply", str(preset), str(source), "-o", str(tmp_path / "out" / "o.wav"))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "produced NaN or infinite samples" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "out").iterdir())


def test_builtin_filters_past_nyquist_and_tiny_corners_are_refused_in_one_line(tmp_path):
    """Found by the fuzzer: NaN out of a 30 kHz low-pass at 48 kHz; tracebacks below 1e-160 Hz."""
    source = wav(tmp_path / "in.wav", noise(SR // 4))
    for item, expect in (
        # (a low-pass past Nyquist is the top of a pass band: clamped with a notice, see test_rates.py)
        ({"highpass_filter": {"cutoff_frequency_hz": 30000}}, "at or above Nyquist (24000 Hz"),
        ({"butterworth_filter": {"kind": "lowpass", "cutoff_hz": 5e-324}}, "use at least 0.001 Hz"),
        ({"analytic_filter": {"kind": "highpass", "cutoff_hz": 5e-166}}, "use at least 0.001 Hz"),
        ({"resample": {"target_sample_rate": 1}}, "use at least 1000"),
        ({"spectral_subtraction": {"hop": 3000}}, "hop=3000 needs n_fft too"),
        ({"peak_filter": {"cutoff_frequency_hz": 1000, "gain_db": -100}}, "use at least -80 dB"),
    ):
        preset = write_preset(tmp_path / "p.yaml", [item])
        argv = clarity_argv("apply", str(preset), str(source), "-o", str(tmp_path / "o.wav"))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr, done.stderr
        assert not (tmp_path / "o.wav").exists()


def test_a_file_named_mp3_that_is_not_one_is_refused_in_one_line(tmp_path):
    """mpg123 (inside libsndfile) wrote 'Note: Trying to resync...' lines to stderr: 4 lines, not 1."""
    fake = tmp_path / "take.mp3"
    fake.write_bytes(b"\x00" * 64 + b"not an mp3 at all" * 100)
    argv = clarity_argv("apply", "telephone-band", str(fake), "-o", str(tmp_path / "o.wav"))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "take.mp3" in done.stderr, done.stderr


# ----------------------------------------------------------------- ordinary MP3s everywhere (#13: 4)
def test_an_ffmpeg_mp3_goes_through_apply_batch_master_and_key(tmp_path):
    """Every ordinary MP3 was refused as truncated by apply, batch, master and --key."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg); CI installs it")
    (tmp_path / "album").mkdir()
    source = wav(tmp_path / "take.wav", noise(SR, seed=5), subtype="PCM_16")
    mp3 = tmp_path / "album" / "take.mp3"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(source), str(mp3)], check=True)  # its defaults
    env = {**os.environ, "COLUMNS": "250"}
    for args in (["apply", "telephone-band", str(mp3), "-o", str(tmp_path / "a.flac")],
                 ["batch", "telephone-band", str(mp3), "--out-dir", str(tmp_path / "b"), "--format", "flac"],
                 ["master", str(tmp_path / "album"), "-o", str(tmp_path / "m"), "--format", "flac"],
                 ["apply", "podcast-duck", str(source), "--key", str(mp3), "-o", str(tmp_path / "k.wav")]):
        done = subprocess.run(clarity_argv(*args), capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args[0], done.stdout, done.stderr)
    for out in (tmp_path / "a.flac", tmp_path / "b" / "take.flac", tmp_path / "m" / "take.flac"):
        assert sf.info(str(out)).frames == SR  # the MP3's true length: encoder delay and padding trimmed
    assert sf.info(str(tmp_path / "k.wav")).frames == SR
