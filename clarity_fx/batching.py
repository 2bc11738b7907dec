"""Many files: one preset over files, folders and globs, on local processes or a Dask cluster.

The unit of work is one file: a :class:`Task` carries the preset as YAML text,
the input and output paths and the render options, and :func:`render_task`
turns it into a :class:`FileResult`. It never raises for a bad file, so one
bad file never stops the others. Where the tasks run is a separate choice:

- in this process (one job, no ``isolate``),
- in local child processes, one per core (:class:`~clarity_fx.isolate.ChildPool`):
  a child that crashes or overruns ``timeout`` costs its file, not the batch,
- on a Dask cluster (``scheduler="tcp://host:8786"``): every worker parses the
  YAML and builds its own chain.

Outputs are written atomically by :func:`~clarity_fx.rendering.render`, so an
output that exists is complete: ``skip_existing=True`` finishes an interrupted
batch without redoing work.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._paths import expand_user
from .errors import ClarityError

__all__ = [
    "BatchInterrupted", "BatchResults", "FileResult", "Task", "batch", "plan_outputs",
    "preset_text", "render_isolated", "render_task", "summary_table",
]

Status = Literal["done", "skipped", "failed"]
#: Output format when the input's own cannot be written.
FALLBACK_FORMAT = ".flac"
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT_S = 10


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FileResult:
    """What happened to one input file.

    Attributes
    ----------
    input : pathlib.Path
        The input file (or the pattern that matched nothing).
    output : pathlib.Path or None
        Where its output is (or would have been) written.
    status : {"done", "skipped", "failed"}
        ``skipped``: the output existed and ``skip_existing`` was set.
    reason : str
        One line: why it failed, or why it was skipped.
    audio_seconds : float
        Length of the input in seconds (0 unless done).
    wall_seconds : float
        Time spent on this file.
    warnings : tuple of str
        Warnings raised while rendering it (first line of each).
    """

    input: Path
    output: Path | None
    status: Status
    reason: str = ""
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    warnings: tuple[str, ...] = ()


class BatchResults(list):
    """The :class:`FileResult` of every input, plus totals.

    A plain list: inputs that could not be planned first (a glob that matched
    nothing), then the files in input order. ``wall_seconds`` is the whole
    batch's time.
    """

    def __init__(self, results: Iterable[FileResult] = (), wall_seconds: float = 0.0) -> None:
        super().__init__(results)
        self.wall_seconds = wall_seconds

    def _with(self, status: str) -> list[FileResult]:
        return [r for r in self if r.status == status]

    @property
    def done(self) -> list[FileResult]:
        """Files rendered."""
        return self._with("done")

    @property
    def skipped(self) -> list[FileResult]:
        """Files whose output already existed."""
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        """Files that failed, each with its reason."""
        return self._with("failed")

    @property
    def audio_hours(self) -> float:
        """Hours of audio rendered."""
        return sum(r.audio_seconds for r in self.done) / 3600.0

    @property
    def realtime_factor(self) -> float:
        """Audio rendered per wall-clock time of the whole batch (audio hours per hour)."""
        return self.audio_hours * 3600.0 / max(self.wall_seconds, 1e-9)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: every child was stopped and no partial output was left.

    Attributes
    ----------
    results : BatchResults
        The files that finished before the interruption.
    total : int
        How many files the batch had.
    """

    def __init__(self, results: BatchResults, total: int) -> None:
        super().__init__(f"interrupted after {len(results)} of {total} files")
        self.results = results
        self.total = total


# --------------------------------------------------------------------------- one file
@dataclass(frozen=True)
class Task:
    """Everything a worker needs to render one file; small and picklable."""

    preset_text: str
    preset_source: str
    input: Path
    output: Path
    skip_existing: bool = False
    render_options: dict[str, Any] = field(default_factory=dict)
    #: ``--set`` overrides the worker applies to the file's own text, so messages keep the file's
    #: line numbers and blame the option for what it changed.
    overrides: tuple[str, ...] = ()
    #: ``--listen-removed`` stage, applied after the overrides.
    listen_removed: str | None = None


@functools.lru_cache(maxsize=8)
def _parsed(text: str, source: str, overrides: tuple[str, ...] = (),
            listen_removed: str | None = None) -> Any:
    from .preset import apply_overrides, parse_preset
    from .preset import listen_removed as make_listen_removed

    spec = parse_preset(text, source)
    if overrides:
        apply_overrides(spec, list(overrides))
    if listen_removed is not None:
        make_listen_removed(spec, listen_removed)
    return spec


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else "unknown error"


def render_task(task: Task) -> FileResult:
    """Render one file; return its :class:`FileResult`. Only Ctrl-C escapes.

    The chain is built here, from the preset text, so each worker has its own.
    A :class:`~clarity_fx.ClarityError` becomes the failed row's reason; any
    other exception is a bug, reported as such in the reason.
    """
    started = time.perf_counter()

    def result(status: Status, reason: str = "", audio_seconds: float = 0.0,
               caught: tuple[str, ...] = ()) -> FileResult:
        return FileResult(task.input, task.output, status, _one_line(reason) if reason else "",
                          audio_seconds, time.perf_counter() - started, caught)

    if task.skip_existing and task.output.exists():
        return result("skipped", "output exists")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rendered = _render(task)
        except ClarityError as err:
            return result("failed", str(err))
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            return result("failed", f"{where}{err.strerror or err}")
        except MemoryError:
            return result("failed", f"{task.input}: out of memory; use fewer --jobs")
        except Exception as err:  # noqa: BLE001 - one bad file never stops the others
            return result("failed", f"internal error ({type(err).__name__}: {_one_line(str(err))}); "
                                    "please report it with the file")
    seen = tuple(dict.fromkeys(_one_line(str(w.message)) for w in caught))
    return result("done", audio_seconds=rendered.frames / rendered.sample_rate, caught=seen)


def _render(task: Task) -> Any:
    from .rendering import render

    spec = _parsed(task.preset_text, task.preset_source, tuple(task.overrides), task.listen_removed)
    chain = spec.build_for(task.input)
    try:
        task.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ClarityError(f"{task.output.parent}: cannot create the output folder "
                           f"({err.strerror}); choose another --out-dir") from None
    return render(task.input, task.output, chain, progress=False, **task.render_options)


def partial_files(output: Path) -> list[Path]:
    """Temporary files a killed render may have left beside ``output``.

    The pattern is :func:`clarity_fx.audio_io.atomic_output`'s ``.<stem>.*.part<suffix>``.
    """
    from .audio_io import _part_stem

    pattern = f".{glob.escape(_part_stem(output))}.*.part{glob.escape(output.suffix)}"
    try:
        return sorted(output.parent.glob(pattern))
    except OSError:
        return []


def _remove_partials(task: Task) -> None:
    for path in partial_files(task.output):
        try:
            path.unlink()
        except OSError:
            pass


def _lost_reason(task: Task, lost: Any) -> str:
    """A one-line reason for a child that crashed or overran."""
    if lost.timed_out:
        return f"{lost.reason}; raise --timeout or check the plugins"
    if lost.signal is not None:
        who = "plugin" if "vst3" in task.preset_text else "worker process"
        return f"{who} {lost.reason} while rendering {task.input.name}"
    return f"worker process {lost.reason} while rendering {task.input.name}"


def _as_result(task: Task, outcome: Any) -> FileResult:
    from .isolate import Lost, RemoteError

    if isinstance(outcome, Lost):
        return FileResult(task.input, task.output, "failed", _lost_reason(task, outcome))
    if isinstance(outcome, RemoteError):
        return FileResult(task.input, task.output, "failed", f"internal error ({outcome.reason})")
    return outcome


def render_isolated(task: Task, timeout: float | None = None) -> FileResult:
    """Render one task in a fresh child process: a crash or a hang fails this file only."""
    from .isolate import ChildPool

    pool = ChildPool(render_task, 1, tasks_per_child=1, timeout=timeout, cleanup=_remove_partials)
    for _, outcome in pool.map_unordered([task]):
        return _as_result(task, outcome)
    raise AssertionError("the pool returned no outcome")  # pragma: no cover


# --------------------------------------------------------------------------- planning
def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


def _is_hidden(path: Path, base: Path) -> bool:
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        parts = path.parts
    return any(part.startswith(".") for part in parts)


def _resolved(path: Path) -> Path:
    """``path.resolve()``, or its absolute form where a symlink loop makes resolving impossible."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError("Symlink loop from ...")
        return path.absolute()


def _within(path: Path, folder: Path | None) -> bool:
    return folder is not None and _resolved(path).is_relative_to(folder)


@functools.lru_cache(maxsize=1)
def audio_extensions() -> tuple[str, ...]:
    """Extensions picked up from folders and globs: what pedalboard reads on this machine."""
    from pedalboard.io import get_supported_read_formats

    return tuple(ext.lower() for ext in get_supported_read_formats())


def _audio_files(candidates: Iterable[Path], base: Path, out_dir: Path | None) -> list[Path]:
    """Audio files among ``candidates``: not hidden (our temporary files are), not outputs."""
    found = []
    extensions = audio_extensions()
    for path in candidates:
        if path.suffix.lower() not in extensions or _is_hidden(path, base):
            continue
        # A dangling link or a symlink loop is kept: its render fails with the reason, the batch goes on.
        if _within(path, out_dir) or not (path.is_file() or path.is_symlink()):
            continue
        found.append(path)
    return sorted(found)


def _expand(text: str, out_dir: Path | None) -> tuple[list[tuple[Path, Path]], str | None]:
    """``(input, path relative to its base)`` pairs for one INPUT, or why there are none."""
    path = expand_user(text)
    if _has_magic(text) and not path.exists():
        parts = expand_user(text).parts
        fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if _has_magic(p))]]
        base = Path(*fixed) if fixed else Path(".")
        matches = _audio_files((Path(p) for p in glob.glob(str(path), recursive=True)), base, out_dir)
        if not matches:
            return [], f"no audio files match {text}"
        return [(m, m.relative_to(base)) for m in matches], None
    try:
        is_dir = path.is_dir()
    except OSError:
        is_dir = False
    if is_dir:
        if not os.access(path, os.R_OK | os.X_OK):  # rglob would quietly find nothing
            return [], f"{path}: permission denied; cannot list the folder (chmod +rx)"
        try:
            matches = _audio_files(path.rglob("*"), path, out_dir)
        except OSError as err:
            return [], f"{path}: cannot list the folder ({err.strerror})"
        if not matches:
            if out_dir is not None and _within(path, out_dir) and any(
                    p.suffix.lower() in audio_extensions() for p in path.iterdir()):
                return [], f"{path} is inside the output folder; choose another --out-dir"
            return [], f"no audio files in {path}"
        return [(m, m.relative_to(path)) for m in matches], None
    # A file named on the command line is taken as given; render says what is wrong with it.
    return [(path, Path(path.name))], None


def _output_format(format: str | None) -> str | None:
    from .audio_io import WRITE_FORMATS

    if format is None:
        return None
    suffix = "." + format.strip().lstrip(".").lower()
    if suffix not in WRITE_FORMATS:
        raise ClarityError(f"--format {format}: cannot write that; use one of "
                           + ", ".join(f.lstrip(".") for f in WRITE_FORMATS))
    return suffix


def _check_suffix(suffix: str) -> None:
    if any(sep and sep in suffix for sep in ("/", os.sep, os.altsep, "\0")):
        raise ClarityError(f"--suffix {suffix!r} holds a path separator; a suffix is added to the file "
                           "name (e.g. -clean), use --out-dir for another folder")


def plan_outputs(inputs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                 suffix: str = "", format: str | None = None
                 ) -> tuple[list[tuple[Path, Path]], list[FileResult]]:
    """Map INPUTS (files, folders, globs) to output paths under ``out_dir``.

    A folder's files keep their path below the folder; a glob's keep their
    path below the glob's fixed prefix (``rec/**/*.wav`` → below ``rec``); a
    file goes to the top of ``out_dir``. The output is named
    ``<stem><suffix>.<format>``; the format defaults to the input's own, or
    FLAC when that cannot be written.

    Returns
    -------
    pairs : list of (input, output)
        The work, in input order, without duplicates.
    problems : list of FileResult
        Failed rows for inputs that cannot be planned (a pattern that matched
        nothing, two inputs that would write the same output, an output that
        would overwrite its input).
    """
    from .audio_io import WRITE_FORMATS

    out_dir = expand_user(out_dir)
    try:
        out_resolved: Path | None = _resolved(out_dir)
    except OSError:
        out_resolved = None
    extension = _output_format(format)
    _check_suffix(suffix)
    pairs: list[tuple[Path, Path]] = []
    problems: list[FileResult] = []
    planned: list[tuple[Path, Path, Path]] = []  # (input, its resolved path, its relative path)
    seen_inputs: set[Path] = set()
    for text in inputs:
        found, problem = _expand(os.fspath(text), out_resolved)
        if problem:
            problems.append(FileResult(Path(os.fspath(text)), None, "failed", problem))
        for source, relative in found:
            key = _resolved(source)
            if key not in seen_inputs:
                seen_inputs.add(key)
                planned.append((source, key, relative))
    # Every input is known before any output is planned: no output may land on any input of the batch.
    writers: dict[Path, Path] = {}
    for source, key, relative in planned:
        ext = extension or (relative.suffix.lower() if relative.suffix.lower() in WRITE_FORMATS
                            else FALLBACK_FORMAT)
        target = out_dir / relative.parent / f"{relative.stem}{suffix}{ext}"
        resolved = _resolved(target)
        if out_resolved is not None and not resolved.is_relative_to(out_resolved):
            reason = f"{target} would be written outside {out_dir}; use a plain --suffix"
            problems.append(FileResult(source, target, "failed", reason))
        elif resolved == key:
            reason = f"{target} is the input file; use --suffix or another --out-dir"
            problems.append(FileResult(source, target, "failed", reason))
        elif resolved in seen_inputs:
            reason = f"{target} is another input of this batch; use --suffix or another --out-dir"
            problems.append(FileResult(source, target, "failed", reason))
        elif resolved in writers:
            reason = f"{target} would also be written from {writers[resolved]}; rename one of them"
            problems.append(FileResult(source, target, "failed", reason))
        else:
            writers[resolved] = source
            pairs.append((source, target))
    return pairs, problems


# --------------------------------------------------------------------------- the preset
def _plain(value: Any) -> Any:
    """YAML-safe copies of the loader's line-numbered dict and list subclasses."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def preset_text(preset: Any, overrides: list[str] | None = None) -> tuple[Any, str, str]:
    """The preset as ``(Preset, YAML text, source)``, with ``--set`` overrides applied.

    This text is what travels to the workers. ``source`` stays the preset's
    path, because relative paths in a preset (a VST3, a noise clip) are read
    beside it. A file without overrides travels verbatim, so a worker's
    message carries the file's own line numbers; with overrides the text is
    re-written, and line numbers refer to that text.

    Parameters
    ----------
    preset : str, os.PathLike or Preset
        A preset name, a YAML file, or a parsed :class:`~clarity_fx.preset.Preset`.
    overrides : list of str, optional
        ``STAGE.PARAM=VALUE``.
    """
    import yaml

    from .preset import Preset, apply_overrides, find_preset, parse_preset, read_preset_text

    if isinstance(preset, Preset):
        spec, text, source = preset, None, preset.source
    else:
        path = find_preset(preset)
        source = str(path)
        text = read_preset_text(path)
        spec = parse_preset(text, source)
    if overrides:
        apply_overrides(spec, list(overrides))
        text = None
    if text is None:
        data: dict[str, Any] = {"name": spec.name}
        if spec.description:
            data["description"] = spec.description
        if spec.sample_rate:
            data["sample_rate"] = spec.sample_rate
        data["chain"] = _plain(spec.chain_spec)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return spec, text, source


# --------------------------------------------------------------------------- running
def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _run_local(tasks: list[Task], jobs: int, isolate: bool, timeout: float | None
               ) -> Iterator[tuple[int, FileResult]]:
    workers = max(1, min(jobs, len(tasks)))
    if workers == 1 and not isolate and timeout is None:
        for index, task in enumerate(tasks):
            yield index, render_task(task)
        return
    from .isolate import ChildPool

    pool = ChildPool(render_task, workers, tasks_per_child=1 if isolate else None, timeout=timeout,
                     cleanup=_remove_partials)
    outcomes = pool.map_unordered(tasks)
    try:
        for index, outcome in outcomes:
            yield index, _as_result(tasks[index], outcome)
    finally:
        outcomes.close()


def _dask_task(task: Task, isolate: bool, timeout: float | None) -> FileResult:
    """Run on a Dask worker: render, and say which worker a failure happened on."""
    result = render_isolated(task, timeout) if isolate else render_task(task)
    if result.status == "failed":
        try:
            from distributed import get_worker

            where = get_worker().address
        except (ImportError, ValueError):
            where = "a Dask worker"
        result = dataclasses.replace(result, reason=f"on {where}: {result.reason}")
    return result


def _dask_client(scheduler: Any) -> tuple[Any, bool]:
    """A ``distributed.Client`` for an address, a cluster or a client; and whether we own it."""
    try:
        from distributed import Client
    except ImportError:
        raise ClarityError("--scheduler needs Dask: pip install 'clarity-fx[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    hint = "start one with 'dask scheduler' and workers with 'dask worker ADDRESS'"
    if isinstance(scheduler, str):
        _probe_scheduler(scheduler, hint)
    made: dict[str, Any] = {}

    def connect() -> None:
        try:
            made["client"] = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as err:  # noqa: BLE001 - whatever the far end did, it is one line for the user
            made["error"] = err

    # distributed bounds the connection but not every step after it: bound the whole by a deadline.
    worker = threading.Thread(target=connect, name="clarity-dask-connect", daemon=True)
    worker.start()
    worker.join(CONNECT_TIMEOUT_S + 5)
    if "client" in made:
        return made["client"], True
    reason = _one_line(str(made["error"])) if "error" in made else f"no answer in {CONNECT_TIMEOUT_S} s"
    raise ClarityError(f"cannot reach the Dask scheduler at {scheduler} ({reason}); {hint}")


def _probe_scheduler(address: str, hint: str) -> None:
    """Refuse, within ``CONNECT_TIMEOUT_S``, an address where no Dask scheduler answers.

    A scheduler speaks first: on connect it sends its handshake, framed as an
    8-byte little-endian total length, then an 8-byte frame count. A silent
    listener or an HTTP server sends nothing; another protocol sends other bytes.
    """
    import socket
    import struct
    from urllib.parse import urlsplit

    scheme, _, rest = address.rpartition("://")
    if scheme == "tls":
        raise ClarityError(f"--scheduler {address}: tls:// needs Dask security settings; pass a configured "
                           "distributed.Client from Python, or use a tcp:// address")
    if scheme not in ("", "tcp"):
        return  # other transports (ucx, inproc, ws): distributed judges them, under the deadline above
    try:
        parts = urlsplit(f"tcp://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ClarityError(f"--scheduler {address}: write it as tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
            head = b""
            while len(head) < 16:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
                chunk = sock.recv(16 - len(head))
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        raise ClarityError(f"cannot reach the Dask scheduler at {address} (no answer in "
                           f"{CONNECT_TIMEOUT_S} s: is it a Dask scheduler's port?); {hint}") from None
    except OSError as err:
        raise ClarityError(f"cannot reach the Dask scheduler at {address} ({err.strerror or err}); "
                           f"{hint}") from None
    total, frames = struct.unpack("<QQ", head) if len(head) == 16 else (0, 0)
    if not (16 <= total < 1 << 24 and 1 <= frames <= 64):
        raise ClarityError(f"{address} answered, but not as a Dask scheduler; check the port ({hint})")


def _run_dask(tasks: list[Task], scheduler: Any, isolate: bool, timeout: float | None
              ) -> Iterator[tuple[int, FileResult]]:
    client, owned = _dask_client(scheduler)
    from distributed import as_completed

    # A worker's current folder is not ours: send absolute paths.
    absolute = [dataclasses.replace(t, input=Path(os.path.abspath(t.input)),
                                    output=Path(os.path.abspath(t.output))) for t in tasks]
    futures = []
    try:
        run = functools.partial(_dask_task, isolate=isolate or timeout is not None, timeout=timeout)
        futures = client.map(run, absolute, pure=False)
        index_of = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures, loop=client.loop):
            index = index_of[future.key]
            try:
                result = dataclasses.replace(future.result(), input=tasks[index].input,
                                             output=tasks[index].output)
            except Exception as err:  # noqa: BLE001 - a lost worker (KilledWorker) fails its file
                task = tasks[index]
                result = FileResult(task.input, task.output, "failed",
                                    f"Dask lost this file: {type(err).__name__}: {_one_line(str(err))}; "
                                    "try --isolate")
            yield index, result
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if owned:
            client.close()


class _Progress:
    """One rich progress bar for the whole batch, on stderr."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        import sys

        self.bar: Any = None
        if enabled is False or (enabled is None and not sys.stderr.isatty()) or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("files  {task.fields[failed]} failed"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task("batch", total=total, failed=0)
        self.failed = 0

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def advance(self, result: FileResult) -> None:
        if self.bar is not None:
            self.failed += result.status == "failed"
            self.bar.update(self.task, advance=1, failed=self.failed)


def batch(
    preset: Any,
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    overrides: list[str] | None = None,
    jobs: int | None = None,
    suffix: str = "",
    format: str | None = None,
    skip_existing: bool = False,
    isolate: bool = False,
    timeout: float | None = None,
    scheduler: Any = None,
    bit_depth: int | None = None,
    quality: Any = None,
    buffer_size: int = 8192,
    progress: bool | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchResults:
    """Apply one preset to many files, in parallel; one bad file never stops the others.

    Parameters
    ----------
    preset : str, os.PathLike or Preset
        A preset name, a YAML file or a parsed preset.
    inputs : iterable of str or os.PathLike
        Files, folders (searched recursively for audio files) and globs
        (``"rec/**/*.wav"``). Hidden files are skipped.
    out_dir : str or os.PathLike
        Output folder; the inputs' folder structure is kept below it.
    overrides : list of str, optional
        ``STAGE.PARAM=VALUE``, as ``clarity apply --set``.
    jobs : int, optional
        Local processes; default one per core. ``1`` renders in this process.
    suffix : str, optional
        Added to each output's name, e.g. ``"-clean"``.
    format : str, optional
        Output format (``"flac"``); default: the input's own.
    skip_existing : bool, optional
        Skip files whose output exists. Outputs are written atomically, so
        an existing output is complete: a rerun finishes an interrupted batch.
    isolate : bool, optional
        Render every file in its own child process: a plugin that crashes
        fails that file ("plugin crashed (SIGABRT)") and the batch goes on.
    timeout : float, optional
        Seconds one file may take; a file that overruns is killed and fails
        ("timed out after N s"). Renders in child processes.
    scheduler : str, distributed.Client or cluster, optional
        Send the files to a Dask cluster (``"tcp://host:8786"``) instead.
        Every worker builds its own chain from the preset's YAML; input,
        output and VST3 paths must exist on the workers.
    bit_depth, quality, buffer_size : optional
        As :func:`~clarity_fx.rendering.render`.
    progress : bool, optional
        One progress bar for the whole batch; default when stderr is a terminal.
    on_result : callable, optional
        Called with each :class:`FileResult` as it arrives.

    Returns
    -------
    BatchResults
        A list of :class:`FileResult` (files in input order), with totals.

    Raises
    ------
    ClarityError
        Before any file is touched: a bad preset, format or output folder,
        or no inputs at all.
    BatchInterrupted
        On Ctrl-C, after stopping the workers; no partial output is left.

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> results = cfx.batch("vocal-clarity", ["takes/"], "clean/", suffix="-clean")  # doctest: +SKIP
    >>> [(r.input.name, r.status, r.reason) for r in results.failed]  # doctest: +SKIP
    """
    from .preset import Preset, find_preset, read_preset_text

    started = time.perf_counter()
    if jobs is not None and jobs < 1:
        raise ClarityError(f"--jobs {jobs}: use 1 or more")
    if timeout is not None and not timeout > 0:
        raise ClarityError(f"--timeout {timeout}: use a positive number of seconds")
    spec, text, source = preset_text(preset, overrides)
    edits: tuple[str, ...] = ()
    if overrides and not isinstance(preset, Preset):
        # The workers apply the overrides to the file's own text: its line numbers stay true.
        text, edits = read_preset_text(find_preset(preset)), tuple(overrides)
    if _asks_for_a_key(spec.chain_spec):
        raise ClarityError(f"{spec.name} ducks under a key (keyed: true), and batch cannot give each file "
                           f"its own; run 'clarity apply {spec.name} music.wav --key voice.wav' per file")
    out_path = expand_user(out_dir)
    _check_suffix(suffix)
    if scheduler is None:
        _prepare_out_dir(out_path)
    pairs, problems = plan_outputs(inputs, out_path, suffix=suffix, format=format)
    if not pairs and not problems:
        raise ClarityError("no input files given; name files, folders or globs")
    options = {"buffer_size": buffer_size, "bit_depth": bit_depth, "quality": quality}
    tasks = [Task(text, source, src, dst, skip_existing, options, edits) for src, dst in pairs]

    results: list[FileResult | None] = [None] * len(tasks)
    finished = BatchResults(problems)
    with _Progress(len(tasks) + len(problems), progress) as bar:
        for row in problems:
            bar.advance(row)
            if on_result is not None:
                on_result(row)
        todo = list(range(len(tasks)))
        if skip_existing and scheduler is None:  # no need to start workers for finished files
            todo = []
            for index, task in enumerate(tasks):
                if task.output.exists():
                    results[index] = FileResult(task.input, task.output, "skipped", "output exists")
                    bar.advance(results[index])
                else:
                    todo.append(index)
        subset = [tasks[i] for i in todo]
        if scheduler is None:
            runs = _run_local(subset, jobs or _default_jobs(), isolate, timeout)
        else:
            runs = _run_dask(subset, scheduler, isolate, timeout)
        try:
            for position, result in runs:
                results[todo[position]] = result
                finished.append(result)
                bar.advance(result)
                if on_result is not None:
                    on_result(result)
        except KeyboardInterrupt:
            runs.close()
            raise BatchInterrupted(finished, len(tasks) + len(problems)) from None
    ordered = [r for r in results if r is not None]
    return BatchResults(problems + ordered, time.perf_counter() - started)


def _asks_for_a_key(data: Any) -> bool:
    """Whether preset data (items, parameters, key chains, mix branches) has ``keyed: true``."""
    if isinstance(data, dict):
        return data.get("keyed") is True or any(_asks_for_a_key(v) for v in data.values())
    if isinstance(data, list):
        return any(_asks_for_a_key(v) for v in data)
    return False


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ClarityError(f"{out_dir} is a file; --out-dir needs a folder") from None
    except OSError as err:
        raise ClarityError(f"{out_dir}: cannot create the output folder ({err.strerror}); "
                           "choose another --out-dir") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ClarityError(f"{out_dir}: cannot write there (permission denied); choose another --out-dir")


# --------------------------------------------------------------------------- the summary
def summary_table(results: BatchResults, *, max_rows: int = 200) -> Any:
    """A rich table: failed files with their reasons, warnings, then the totals.

    Parameters
    ----------
    results : BatchResults
        What :func:`batch` returned.
    max_rows : int, optional
        Most per-file rows shown; the totals always are.
    """
    from rich.table import Table

    table = Table(title="clarity batch", show_lines=False, title_justify="left")
    table.add_column("status")
    table.add_column("file", overflow="fold")
    table.add_column("reason", overflow="fold")
    shown = 0
    for row in results:
        if shown >= max_rows:
            break
        if row.status == "failed":
            table.add_row("[red]failed[/red]", str(row.input), row.reason)
            shown += 1
        elif row.warnings:
            table.add_row("[yellow]warning[/yellow]", str(row.input), "; ".join(row.warnings))
            shown += 1
    hidden = sum(1 for r in results if r.status == "failed" or r.warnings) - shown
    if hidden > 0:
        table.add_row("...", f"{hidden} more", "")
    if shown:
        table.add_section()
    table.add_row("done", str(len(results.done)), "")
    table.add_row("skipped", str(len(results.skipped)), "output existed" if results.skipped else "")
    table.add_row("failed", str(len(results.failed)), "")
    table.add_row("audio", f"{results.audio_hours:.3f} h", "")
    table.add_row("speed", f"{results.realtime_factor:.1f}x realtime",
                  f"{results.wall_seconds:.1f} s wall")
    return table
