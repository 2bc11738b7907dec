"""batch: many files, local processes or a Dask cluster; one bad file never stops the others."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from clarity_fx.batching import (
    BatchResults,
    FileResult,
    batch,
    partial_files,
    plan_outputs,
    preset_text,
    summary_table,
)
from clarity_fx.errors import ClarityError
from clarity_fx.isolate import ChildPool, Lost, RemoteError

TESTS = Path(__file__).resolve().parent
SR = 16000
#: 52 bytes (found by benchmarks/fuzz.py) on which pedalboard 0.9's WAV reader segfaults: a float WAV
#: header for 7 channels, a `fact` chunk, a truncated `PEAK` chunk and no `data` chunk.
DECODER_CRASH = (b"RIFF`\x14\x00\x00WAVEfmt \x10\x00\x00\x00\x03\x00\x07\x00\x00w\x01\x00"
                 b"\x00\x08R\x008\x00@\x00fact\x04\x00\x00\x00[\x00\x00\x00PEAK")


def clarity_command(*args: str) -> list[str]:
    """argv for ``clarity ARGS``."""
    return [sys.executable, "-m", "clarity_fx", *map(str, args)]


def run_clarity(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(clarity_command(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env)


# --------------------------------------------------------------------------- fixtures
def write(path: Path, seconds: float = 0.25, sr: int = SR, channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32), sr,
             subtype="PCM_16")
    return path


def write_preset(path: Path, chain: list, **extra) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "description": "test", **extra, "chain": chain},
                                   sort_keys=False))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def level_db(path: Path) -> float:
    audio, _ = sf.read(str(path), dtype="float64")
    return 20 * np.log10(np.sqrt(np.mean(audio**2)))


@pytest.fixture
def preset(tmp_path) -> Path:
    """Cheap to run in a fresh process: pedalboard built-ins only."""
    return write_preset(tmp_path / "cheap.yaml", [{"highpass_filter": {"cutoff_frequency_hz": 60}},
                                                  {"gain": {"gain_db": -6}}])


@pytest.fixture
def tree(tmp_path) -> Path:
    """rec/a.wav, rec/b.flac, rec/day2/c.wav, rec/day2/bad.wav (text), rec/.hidden.wav, rec/notes.txt."""
    rec = tmp_path / "rec"
    write(rec / "a.wav", seed=1)
    write(rec / "b.flac", seed=2)
    write(rec / "day2" / "c.wav", seed=3)
    (rec / "day2" / "bad.wav").write_text("not audio")
    write(rec / ".hidden.wav", seed=4)
    (rec / "notes.txt").write_text("notes")
    return rec


VST3_DIR = TESTS / "vst3"


@pytest.fixture(scope="session")
def vst3_bundles() -> dict[str, Path]:
    """The test VST3 plugins, built once (skipped without g++/DPF unless CLARITY_REQUIRE_VST3=1)."""
    dpf = Path(os.environ.get("DPF_PATH", "/usr/share/dpf"))
    missing = []
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        missing.append("g++")
    if not (dpf / "distrho" / "DistrhoPluginMain.cpp").is_file():
        missing.append("DPF (dpf-source)")
    if missing:
        if os.environ.get("CLARITY_REQUIRE_VST3") == "1":
            pytest.fail(f"CLARITY_REQUIRE_VST3=1 but {', '.join(missing)} missing", pytrace=False)
        pytest.skip(f"VST3 test plugins need {', '.join(missing)}")
    out = VST3_DIR / "build"
    built = subprocess.run(["bash", str(VST3_DIR / "build.sh"), str(out)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stderr
    return {name: out / f"ClarityTest{name.title()}.vst3" for name in ("gain", "latency", "crash")}


# --------------------------------------------------------------------------- planning
def test_plan_keeps_folder_structure_from_folders_globs_and_files(tree, tmp_path):
    single = write(tmp_path / "loose" / "take.wav")
    out = tmp_path / "out"
    pairs, problems = plan_outputs([str(tree), str(tmp_path / "rec" / "**" / "*.wav"), str(single),
                                    str(tmp_path / "nothing" / "*.wav")], out, suffix="-clean", format="flac")
    got = {src.relative_to(tmp_path).as_posix(): dst.relative_to(out).as_posix() for src, dst in pairs}
    assert got == {  # the glob's files are the folder's again: not planned twice
        "rec/a.wav": "a-clean.flac", "rec/b.flac": "b-clean.flac", "rec/day2/bad.wav": "day2/bad-clean.flac",
        "rec/day2/c.wav": "day2/c-clean.flac", "loose/take.wav": "take-clean.flac",
    }
    assert [(p.status, p.reason) for p in problems] == [
        ("failed", f"no audio files match {tmp_path / 'nothing' / '*.wav'}")]


def test_plan_default_format_collisions_and_output_equal_to_input(tmp_path):
    a, b = write(tmp_path / "x" / "take.wav"), write(tmp_path / "y" / "take.wav")
    pairs, problems = plan_outputs([str(a), str(b), str(a)], tmp_path / "out")
    assert pairs == [(a, tmp_path / "out" / "take.wav")]  # same input twice: planned once
    assert "would also be written from" in problems[0].reason and problems[0].input == b
    _, problems = plan_outputs([str(a)], tmp_path / "x")  # no suffix, same folder: the input itself
    assert "is the input file" in problems[0].reason
    with pytest.raises(ClarityError, match="--format xyz"):
        plan_outputs([str(a)], tmp_path / "out", format="xyz")


def test_outputs_inside_an_input_folder_are_not_inputs(tree):
    pairs, _ = plan_outputs([str(tree)], tree / "clean")
    write(tree / "clean" / "a.wav")
    again, _ = plan_outputs([str(tree)], tree / "clean")
    assert again == pairs


# --------------------------------------------------------------------------- running
def test_batch_results_summary_and_one_bad_file(tree, tmp_path, preset):
    before = {p: digest(p) for p in tree.rglob("*") if p.is_file()}
    seen = []
    results = batch(str(preset), [str(tree), str(tmp_path / "missing.wav")], tmp_path / "out", jobs=1,
                    suffix="-clean", on_result=seen.append)
    assert isinstance(results, BatchResults) and len(seen) == len(results) == 5
    by_name = {r.input.name: r for r in results}
    assert {n: r.status for n, r in by_name.items()} == {
        "a.wav": "done", "b.flac": "done", "c.wav": "done", "bad.wav": "failed", "missing.wav": "failed"}
    assert "is not audio" in by_name["bad.wav"].reason and "no such file" in by_name["missing.wav"].reason
    assert all("\n" not in r.reason for r in results)
    done = by_name["c.wav"]
    assert isinstance(done, FileResult) and done.output == tmp_path / "out" / "day2" / "c-clean.wav"
    assert done.audio_seconds == pytest.approx(0.25) and done.wall_seconds > 0
    assert sf.info(str(tmp_path / "out" / "b-clean.flac")).format == "FLAC"
    assert results.audio_hours == pytest.approx(0.75 / 3600) and results.realtime_factor > 0
    assert {p: digest(p) for p in tree.rglob("*") if p.is_file()} == before

    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(summary_table(results))
    text = console.export_text()
    assert "bad.wav" in text and "is not audio" in text and "x realtime" in text


def test_processes_render_the_same_as_inline(tree, tmp_path, preset):
    inline = batch(str(preset), [str(tree)], tmp_path / "one", jobs=1)
    pooled = batch(str(preset), [str(tree)], tmp_path / "two", jobs=2)
    assert [(r.input, r.status, r.reason) for r in inline] == [(r.input, r.status, r.reason) for r in pooled]
    for row in inline.done:
        twin = tmp_path / "two" / row.output.relative_to(tmp_path / "one")
        np.testing.assert_array_equal(sf.read(str(row.output))[0], sf.read(str(twin))[0])


def test_skip_existing_finishes_an_interrupted_batch(tree, tmp_path, preset):
    out = tmp_path / "out"
    first = batch(str(preset), [str(tree)], out, jobs=1)
    (out / "a.wav").unlink()  # as if the batch had stopped before a.wav
    leftover = out / ".c.x1y2.part.wav"  # a killed run's temporary file is neither input nor output
    leftover.write_bytes(b"partial")
    stamps = {r.output: r.output.stat().st_mtime_ns for r in first.done if r.output.exists()}
    again = batch(str(preset), [str(tree)], out, jobs=2, skip_existing=True, progress=True)
    status = {r.input.name: r.status for r in again}
    assert status == {"a.wav": "done", "b.flac": "skipped", "c.wav": "skipped", "bad.wav": "failed"}
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())
    assert [r.reason for r in again.skipped] == ["output exists"] * 2


def test_overrides_travel_with_the_preset_text(tmp_path, preset):
    src = write(tmp_path / "in.wav")
    spec, text, source = preset_text(str(preset), ["gain.gain_db=-20"])
    assert source == str(preset) and "gain_db: -20" in text and spec.name == "cheap"
    batch(str(preset), [str(src)], tmp_path / "a", jobs=1)
    batch(str(preset), [str(src)], tmp_path / "b", jobs=2, isolate=True, overrides=["gain.gain_db=-20"])
    difference = level_db(tmp_path / "a" / "in.wav") - level_db(tmp_path / "b" / "in.wav")
    assert difference == pytest.approx(14, abs=0.1)


def test_batch_level_errors_come_before_any_file(tmp_path, preset):
    src = write(tmp_path / "in.wav")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchain:\n  - gain: {gain_dbb: 1}\n")
    with pytest.raises(ClarityError, match=r"bad.yaml:3: .*gain_dbb"):
        batch(str(bad), [str(src)], tmp_path / "out")
    with pytest.raises(ClarityError, match="no input files"):
        batch(str(preset), [], tmp_path / "out")
    (tmp_path / "file").write_text("")
    with pytest.raises(ClarityError, match="is a file; --out-dir needs a folder"):
        batch(str(preset), [str(src)], tmp_path / "file")
    with pytest.raises(ClarityError, match="cannot create the output folder"):
        batch(str(preset), [str(src)], tmp_path / "file" / "out")
    with pytest.raises(ClarityError, match="--jobs 0"):
        batch(str(preset), [str(src)], tmp_path / "out", jobs=0)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_preset_sample_rate_requirement_fails_the_file(tmp_path):
    needs = write_preset(tmp_path / "speech48k.yaml", [{"gain": {"gain_db": 0}}], sample_rate=48000)
    results = batch(str(needs), [str(write(tmp_path / "in.wav"))], tmp_path / "out", jobs=1)
    assert "in.wav is 16000 Hz but preset speech48k needs 48000 Hz" in results[0].reason


def test_disk_full_fails_that_file_only(tmp_path, preset, monkeypatch):
    import pedalboard.io

    real = pedalboard.io.AudioFile
    a, b = write(tmp_path / "a.wav"), write(tmp_path / "b.wav")

    class FullDisk:
        def __init__(self, path, mode="r", *args, **kwargs):
            self.inner = real(path, mode, *args, **kwargs)
            self.is_writer = mode == "w" and Path(path).name.startswith(".a.")

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def write(self, block):
            if self.is_writer:
                raise OSError(28, "No space left on device")
            return self.inner.write(block)

    monkeypatch.setattr(pedalboard.io, "AudioFile", FullDisk)
    results = batch(str(preset), [str(a), str(b)], tmp_path / "out", jobs=1)
    assert [r.status for r in results] == ["failed", "done"]
    assert "disk is full" in results[0].reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.wav"]


# --------------------------------------------------------------------------- crashes and hangs
def misbehave(payload: str) -> str:
    """Module-level, so a child can import it."""
    if payload == "abort":
        os.abort()
    if payload == "hang":
        time.sleep(600)
    if payload == "raise":
        raise ValueError("bad payload")
    if payload == "exit":
        os._exit(3)
    return payload.upper()


def test_child_pool_survives_crashes_hangs_and_errors():
    pool = ChildPool(misbehave, workers=2, timeout=2.0)
    started = time.monotonic()
    outcomes = dict(pool.map_unordered(["a", "abort", "b", "hang", "raise", "exit", "c"]))
    assert time.monotonic() - started < 20
    assert [outcomes[i] for i in (0, 2, 6)] == ["A", "B", "C"]
    assert outcomes[1] == Lost("crashed (SIGABRT)", signal="SIGABRT")
    assert outcomes[3] == Lost("timed out after 2 s", timed_out=True)
    assert outcomes[4] == RemoteError("ValueError: bad payload")
    assert outcomes[5] == Lost("exited with status 3")


def test_a_fresh_process_per_task_and_a_bad_script_guard(tmp_path):
    """isolate: each task in a new process, and the caller's __main__ is never re-run in children."""
    script = tmp_path / "script.py"  # no `if __name__ == "__main__"` guard, on purpose
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from clarity_fx.isolate import ChildPool\n"
        "from test_batch import child_pid\n"
        "pids = [pid for _, pid in ChildPool(child_pid, 2, tasks_per_child=1).map_unordered(range(4))]\n"
        "print(len(set(pids)))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4" and "Traceback" not in done.stderr


def child_pid(_: object) -> int:
    return os.getpid()


@pytest.mark.parametrize("isolate", [False, True], ids=["pool", "isolate"])
def test_a_file_that_crashes_the_decoder_costs_only_that_file(tmp_path, preset, isolate):
    good = [str(write(tmp_path / f"{name}.wav", seed=i)) for i, name in enumerate("ab")]
    (tmp_path / "crash.wav").write_bytes(DECODER_CRASH)
    results = batch(str(preset), [good[0], str(tmp_path / "crash.wav"), good[1]], tmp_path / "out", jobs=2,
                    isolate=isolate)
    status = [(r.input.name, r.status) for r in results]
    assert status == [("a.wav", "done"), ("crash.wav", "failed"), ("b.wav", "done")]
    reason = results[1].reason
    if "crashed" not in reason:  # a pedalboard that no longer crashes: a plain one-line error
        assert "crash.wav" in reason
    else:
        assert reason == "worker process crashed (SIGSEGV) while rendering crash.wav"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav"]


def test_vst3_crash_and_hang_cost_one_file_each(vst3_bundles, tmp_path):
    files = [str(write(tmp_path / f"{name}.wav", channels=2, seed=i)) for i, name in enumerate("ab")]
    crash = write_preset(tmp_path / "crash.yaml", [{"vst3": {"path": str(vst3_bundles["crash"]),
                                                             "parameters": {"mode": 1}}}])
    hang = write_preset(tmp_path / "hang.yaml", [{"vst3": {"path": str(vst3_bundles["crash"]),
                                                           "parameters": {"mode": 2}}}])
    crashed = batch(str(crash), files, tmp_path / "out", jobs=2, isolate=True)
    assert [r.reason for r in crashed] == [f"plugin crashed (SIGABRT) while rendering {n}.wav" for n in "ab"]
    started = time.monotonic()
    hung = batch(str(hang), files[:1], tmp_path / "out", isolate=True, timeout=1.5)
    assert hung[0].reason.startswith("timed out after 1.5 s") and time.monotonic() - started < 15
    assert not list((tmp_path / "out").iterdir())  # no outputs, no temporary files


# --------------------------------------------------------------------------- the command
def test_cli_batch_table_and_exit_codes(tree, tmp_path, preset):
    ok = run_clarity("batch", preset, tree / "a.wav", tree / "b.flac", "--out-dir", tmp_path / "o1",
                     "--format", "flac", "--jobs", "1")
    assert ok.returncode == 0, ok.stderr
    assert "done" in ok.stdout and "Traceback" not in ok.stderr
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["a.flac", "b.flac"]
    bad = run_clarity("batch", preset, tree, "--out-dir", tmp_path / "o2", "--suffix", "-clean")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "bad.wav" in bad.stdout and "is not audio clarity can read" in bad.stdout
    assert (tmp_path / "o2" / "day2" / "c-clean.wav").exists()
    usage = run_clarity("batch", tmp_path / "nope.yaml", tree, "--out-dir", tmp_path / "o3")
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1
    assert "nope.yaml" in usage.stderr and "Traceback" not in usage.stderr


# --------------------------------------------------------------------------- Dask
def test_dask_missing_is_a_clear_error(tmp_path, preset, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ClarityError, match=r"pip install 'clarity-fx\[dask\]'"):
        batch(str(preset), [str(write(tmp_path / "in.wav"))], tmp_path / "out", scheduler="tcp://127.0.0.1:1")


def test_dask_local_cluster_matches_local_mode(tree, tmp_path, preset):
    distributed = pytest.importorskip("distributed")
    local = batch(str(preset), [str(tree)], tmp_path / "local", jobs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        remote = batch(str(preset), [str(tree)], tmp_path / "remote", scheduler=cluster.scheduler_address)
    assert [(r.input, r.output.relative_to(tmp_path / "remote"), r.status) for r in remote] == [
        (r.input, r.output.relative_to(tmp_path / "local"), r.status) for r in local]
    bad = next(r for r in remote if r.status == "failed")
    assert bad.reason.startswith("on inproc://") and "is not audio" in bad.reason
    for row in local.done:
        twin = tmp_path / "remote" / row.output.relative_to(tmp_path / "local")
        np.testing.assert_array_equal(sf.read(str(row.output))[0], sf.read(str(twin))[0])


def test_dask_worker_without_the_vst3_fails_that_file_naming_the_path(tmp_path, vst3_bundles):
    distributed = pytest.importorskip("distributed")
    plugin = shutil.copytree(vst3_bundles["gain"], tmp_path / "plugins" / "Gain.vst3")
    with_vst3 = write_preset(tmp_path / "vst3.yaml", [{"vst3": {"path": str(plugin)}}])
    from clarity_fx.preset import load_preset_spec

    spec = load_preset_spec(str(with_vst3))  # validated here, where the plugin exists ...
    shutil.rmtree(plugin.parent)  # ... and missing where the worker looks
    src = write(tmp_path / "in.wav", channels=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        missing = batch(spec, [str(src)], tmp_path / "out", scheduler=cluster.scheduler_address)
    assert missing[0].status == "failed"
    assert f"VST3 plugin not found at {plugin}; install it or fix the path" in missing[0].reason
    assert "\n" not in missing[0].reason


def test_a_folder_that_cannot_be_listed_is_a_failed_row(tmp_path):
    locked = tmp_path / "locked"
    write(locked / "a.wav")
    prefix = []
    if os.geteuid() == 0:  # root lists anything; drop the two capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: root can list any folder")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    code = ("import sys; from clarity_fx.batching import plan_outputs; "
            "pairs, problems = plan_outputs([sys.argv[1]], sys.argv[2]); print(problems[0].reason)")
    locked.chmod(0)
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", code, str(locked), str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=60)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{locked}: permission denied; cannot list the folder (chmod +rx)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1, always torn down."""
    distributed = pytest.importorskip("distributed")
    if shutil.which("dask") is None:
        pytest.skip("the dask command is not installed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    elsewhere = tmp_path_factory.mktemp("worker-cwd")  # workers do not share our current folder
    scheduler = ["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                 "--idle-timeout", "300"]
    procs = [subprocess.Popen(scheduler, stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "w"),
                              start_new_session=True)]
    for i in range(2):
        procs.append(subprocess.Popen(["dask", "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--name", f"w{i}", "--death-timeout", "60", "--memory-limit", "0"],
                                      stdout=subprocess.DEVNULL, stderr=open(logs / f"w{i}.log", "w"),
                                      cwd=elsewhere, start_new_session=True))
    try:
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the whole session: nanny, worker and any forkserver they started
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


def test_dask_scheduler_and_two_workers(dask_cluster, tree, tmp_path, preset, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths here mean nothing on the workers: batch sends absolute ones
    results = batch(str(preset.name), ["rec"], "out", scheduler=dask_cluster, suffix="-clean")
    assert {r.input.as_posix(): r.status for r in results} == {
        "rec/a.wav": "done", "rec/b.flac": "done", "rec/day2/c.wav": "done", "rec/day2/bad.wav": "failed"}
    bad = next(r for r in results if r.status == "failed")
    assert bad.reason.startswith("on tcp://127.0.0.1:") and "is not audio clarity can read" in bad.reason
    assert (tmp_path / "out" / "day2" / "c-clean.wav").exists()


def test_dask_workers_isolate_a_crashing_plugin(dask_cluster, vst3_bundles, tmp_path):
    crash = write_preset(tmp_path / "crash.yaml", [{"vst3": {"path": str(vst3_bundles["crash"]),
                                                             "parameters": {"mode": 1}}}])
    src = write(tmp_path / "in.wav", channels=2)
    results = batch(str(crash), [str(src)], tmp_path / "out", scheduler=dask_cluster, isolate=True)
    assert results[0].status == "failed"
    assert "plugin crashed (SIGABRT) while rendering in.wav" in results[0].reason
    assert not list((tmp_path / "out").iterdir())
    ok = batch(str(write_preset(tmp_path / "ok.yaml", [{"gain": {"gain_db": -1}}])), [str(src)],
               tmp_path / "out", scheduler=dask_cluster)
    assert ok[0].status == "done"  # the workers survived


def test_partial_files_pattern_matches_the_renderer(tmp_path):
    from clarity_fx.audio_io import atomic_output

    target = tmp_path / "take [1].wav"
    with atomic_output(target) as tmp:
        assert partial_files(target) == [tmp]
        tmp.write_bytes(b"x")
    assert partial_files(target) == [] and target.exists()
