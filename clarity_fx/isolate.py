"""Run work in child processes that may crash or hang: a crash or a timeout costs one task, not the run.

A native plugin (VST3) runs inside our process, so when it calls ``abort()``
or loops forever it takes the whole process with it. :class:`ChildPool`
therefore runs each task in a child process and watches three things at once:
the child's answer, its death (its sentinel) and the task's deadline. A child
that dies or overruns is reported as :class:`Lost` and replaced, and the
remaining tasks carry on.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers
dies, the whole executor is marked broken (``BrokenProcessPool``) and every
pending future fails with it, and it has no per-task timeout.

Children are forked from a *forkserver* that has imported numpy, scipy,
pedalboard and the processors once (about 3 s on a slow machine), so a fresh
child per file costs tens of milliseconds, and a fork never copies the
parent's threads (a progress bar, Dask).

Stopping: children ignore SIGINT (the parent decides) and turn SIGTERM into
``KeyboardInterrupt``, so ``render`` deletes its temporary file on the way
out. A child stuck in native code cannot run Python handlers; it is killed
after a grace period, and the caller's ``cleanup`` removes what it left.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

__all__ = ["ChildPool", "Lost", "PRELOAD", "RemoteError", "describe_exit", "mp_context"]

#: Modules the forkserver imports once, so that every child starts warm.
PRELOAD = (
    "numpy", "scipy.signal", "scipy.fft", "pedalboard", "pedalboard.io", "yaml",
    "clarity_fx.audio_io", "clarity_fx.chain", "clarity_fx.rendering", "clarity_fx.preset",
    "clarity_fx.registry", "clarity_fx.batching", "clarity_fx.isolate",
)
#: Seconds a child may take to stop after SIGTERM before it is killed.
STOP_GRACE_S = 3.0
#: Set only while the forkserver starts: it then warms numba up once (see :func:`_warm_up`).
_WARM_ENV = "CLARITY_FX_WARM_FORKSERVER"

_context: Any = None


def mp_context() -> Any:
    """The multiprocessing context children are started from: forkserver where the OS has it."""
    global _context
    if _context is None:
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            _context = multiprocessing.get_context("forkserver")
            from .registry import CLARITY_PROCESSORS

            modules = sorted(set(CLARITY_PROCESSORS.values()))
            processors = [f"clarity_fx.processors.{name}" for name in modules]
            # A module that fails to import is skipped by the forkserver, not fatal.
            _context.set_forkserver_preload([*PRELOAD, *processors])
        else:  # Windows
            _context = multiprocessing.get_context("spawn")
    return _context


def _warm_up() -> None:
    """Initialise numba's compiler in the forkserver, so forked children start warm.

    The first compiled call in a process costs about 0.4 s (LLVM and the
    type system start up); cached kernels load in milliseconds after that.
    Paid once here, every child inherits it.
    """
    os.environ.pop(_WARM_ENV, None)
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    numba.njit(lambda x: x + 1.0)(1.0)


if os.environ.get(_WARM_ENV) == "1":  # imported by the forkserver's preload
    _warm_up()


@contextlib.contextmanager
def _forkserver_warming() -> Iterator[None]:
    os.environ[_WARM_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(_WARM_ENV, None)


@dataclass(frozen=True)
class Lost:
    """A task whose child process died, or ran past its deadline and was killed.

    Attributes
    ----------
    reason : str
        One line: ``"crashed (SIGABRT)"``, ``"timed out after 5 s"``,
        ``"exited with status 3"``.
    signal : str or None
        The signal's name when the child was killed by one.
    timed_out : bool
        True when the parent killed the child for overrunning.
    """

    reason: str
    signal: str | None = None
    timed_out: bool = False


@dataclass(frozen=True)
class RemoteError:
    """A task whose function raised in the child: ``"ValueError: bad value"``. The child lives on."""

    reason: str


def describe_exit(exitcode: int | None) -> Lost:
    """Turn a child's exit code (negative: the signal that killed it) into a :class:`Lost`."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return Lost(f"crashed ({name})", signal=name)
    if exitcode is None:
        return Lost("stopped answering")
    return Lost(f"exited with status {exitcode}")


# --------------------------------------------------------------------------- the child side
def _stop_requested(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _child_main(conn: Any, fn: Callable[[Any], Any]) -> None:
    """Answer ``(index, payload)`` messages with ``(index, fn(payload))`` until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_requested)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the parent went away
            if message is None:
                return
            index, payload = message
            try:
                answer: tuple[str, Any] = ("ok", fn(payload))
            except Exception as err:  # noqa: BLE001 - reported to the parent, which decides
                answer = ("error", f"{type(err).__name__}: {_first_line(err)}")
            conn.send((index, answer))
    except KeyboardInterrupt:
        # Asked to stop (SIGTERM): the finally blocks on the way here have cleaned up.
        sys.stderr.flush()
        os._exit(130)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


@contextlib.contextmanager
def _allow_children() -> Iterator[None]:
    """Let a daemonic process (a Dask nanny's worker) start children.

    multiprocessing refuses because a daemon's children could outlive it; ours
    cannot: :class:`ChildPool` reaps every child before it returns, and kills
    them on the way out of an error.
    """
    config = multiprocessing.current_process()._config  # noqa: SLF001 - no public switch exists
    was_daemon = config.get("daemon", False)
    config["daemon"] = False
    try:
        yield
    finally:
        config["daemon"] = was_daemon


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """Start children without the caller's ``__main__``.

    multiprocessing re-runs the parent's main script in every spawned or
    forkserver child, so a script without an ``if __name__ == "__main__"``
    guard would run its batch again in each child, and a script read from
    stdin cannot be re-run at all. Our children only run clarity_fx code
    (``fn`` must be importable, not defined in ``__main__``), so they are
    given an empty main module instead.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


# --------------------------------------------------------------------------- the parent side
class _Child:
    """One worker process, its pipe, and the task it is running."""

    def __init__(self, context: Any, fn: Callable[[Any], Any], number: int) -> None:
        parent_end, child_end = context.Pipe()
        self.process = context.Process(target=_child_main, args=(child_end, fn),
                                       name=f"clarity-child-{number}", daemon=True)
        if context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with _forkserver_warming():
                forkserver.ensure_running()  # outside _without_main: the server starts once, slowly
        with _allow_children(), _without_main():
            self.process.start()
        child_end.close()
        self.conn = parent_end
        self.index: int | None = None
        self.payload: Any = None
        self.started = 0.0
        self.tasks_done = 0

    def assign(self, index: int, payload: Any) -> None:
        self.index, self.payload, self.started = index, payload, time.monotonic()
        self.conn.send((index, payload))

    def release(self) -> None:
        self.index, self.payload = None, None

    def retire(self) -> None:
        """Ask an idle child to leave; :meth:`close` or ``is_alive`` reaps it later."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)

    def close(self) -> None:
        """Ask an idle child to leave, and reap it."""
        self.retire()
        self.process.join(STOP_GRACE_S)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(STOP_GRACE_S)
        with contextlib.suppress(OSError):
            self.conn.close()


class ChildPool:
    """Run ``fn(payload)`` for many payloads in child processes that may crash or hang.

    Parameters
    ----------
    fn : callable
        A picklable, module-level function. An exception it raises comes
        back as a :class:`RemoteError`; it should return its own failure values.
    workers : int
        Most children alive at once.
    tasks_per_child : int, optional
        Retire a child after this many tasks; ``1`` gives every task a fresh
        process. Default: children live for the whole run.
    timeout : float, optional
        Seconds a task may run before its child is killed. Default: no limit.
    cleanup : callable, optional
        ``cleanup(payload)`` runs after a child was lost or stopped during
        its task, to remove what it left behind (a temporary file).

    Examples
    --------
    >>> pool = ChildPool(abs, workers=2, timeout=10)  # doctest: +SKIP
    >>> sorted(pool.map_unordered([-1, -2]))           # doctest: +SKIP
    [(0, 1), (1, 2)]
    """

    def __init__(self, fn: Callable[[Any], Any], workers: int, *, tasks_per_child: int | None = None,
                 timeout: float | None = None, cleanup: Callable[[Any], None] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.fn = fn
        self.workers = int(workers)
        self.tasks_per_child = tasks_per_child
        self.timeout = timeout
        self.cleanup = cleanup
        self._spawned = 0

    def map_unordered(self, payloads: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(payload))`` as tasks finish: a :class:`Lost` for a lost task,
        a :class:`RemoteError` when ``fn`` raised.

        Closing the iterator early, or an exception (Ctrl-C) while waiting,
        stops every child: SIGTERM first, so Python code can clean up, then
        SIGKILL after :data:`STOP_GRACE_S`.
        """
        context = mp_context()
        pending = deque(enumerate(payloads))
        idle: list[_Child] = []
        busy: list[_Child] = []
        retiring: list[_Child] = []
        try:
            while pending or busy:
                for child in [c for c in retiring if not c.process.is_alive()]:  # is_alive() reaps
                    child.kill()  # closes its pipe
                    retiring.remove(child)
                while pending and (idle or len(busy) < self.workers):
                    child = idle.pop() if idle else self._spawn(context)
                    index, payload = pending.popleft()
                    try:
                        child.assign(index, payload)
                    except OSError:  # the child died before its first task: it could not start
                        child.kill()
                        lost = describe_exit(child.process.exitcode)
                        yield index, Lost(f"could not start ({lost.reason})", signal=lost.signal)
                        continue
                    busy.append(child)
                if not busy:
                    continue
                for child, outcome in self._wait(busy):
                    busy.remove(child)
                    index = child.index
                    assert index is not None
                    if isinstance(outcome, Lost):
                        child.kill()
                        if self.cleanup is not None:
                            self.cleanup(child.payload)
                    else:
                        child.tasks_done += 1
                        if self.tasks_per_child and child.tasks_done >= self.tasks_per_child:
                            child.retire()  # without waiting: its exit overlaps the next task
                            retiring.append(child)
                        else:
                            idle.append(child)
                    child.release()
                    yield index, outcome
        finally:
            self._stop(busy, idle + retiring)

    def _spawn(self, context: Any) -> _Child:
        self._spawned += 1
        return _Child(context, self.fn, self._spawned)

    def _wait(self, busy: list[_Child]) -> list[tuple[_Child, Any]]:
        """Block until some child answers, dies or overruns; return those children's outcomes."""
        now = time.monotonic()
        wait_s = None
        if self.timeout is not None:
            wait_s = max(0.0, min(c.started + self.timeout for c in busy) - now)
        ready = set(wait([c.conn for c in busy] + [c.process.sentinel for c in busy], wait_s))
        now = time.monotonic()
        finished = []
        for child in busy:
            if child.conn in ready or child.process.sentinel in ready:
                finished.append((child, self._answer(child)))
            elif self.timeout is not None and now - child.started >= self.timeout:
                self._terminate(child)
                finished.append((child, Lost(f"timed out after {self.timeout:g} s", timed_out=True)))
        return finished

    def _answer(self, child: _Child) -> Any:
        """The child's answer, or why there is none (it died: a pipe at EOF)."""
        try:
            if child.conn.poll():
                _index, (kind, value) = child.conn.recv()
                return RemoteError(value) if kind == "error" else value
        except (EOFError, OSError):
            pass
        child.process.join(STOP_GRACE_S)
        return describe_exit(child.process.exitcode)

    @staticmethod
    def _terminate(child: _Child) -> None:
        """SIGTERM (Python code cleans up), then SIGKILL (native code never returns)."""
        if child.process.is_alive():
            child.process.terminate()
            child.process.join(min(STOP_GRACE_S, 1.0))
        child.kill()

    def _stop(self, busy: list[_Child], idle: list[_Child]) -> None:
        for child in busy:
            if child.process.is_alive():
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in busy:
            child.process.join(max(0.0, deadline - time.monotonic()))
            child.kill()
            if self.cleanup is not None:
                self.cleanup(child.payload)
        for child in idle:
            child.close()
