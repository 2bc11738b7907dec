"""File to file: stream audio through a chain with flat memory and an atomic write.

The data path reads straight down: file → blocks → :class:`~clarity_fx.Chain`
→ temporary file beside the target → rename. A render that fails or is
interrupted leaves no file under the final name, and never touches the input.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AudioFileError

__all__ = [
    "AudioInfo",
    "RenderResult",
    "WRITE_FORMATS",
    "atomic_output",
    "fit_stages",
    "open_audio",
    "read_blocks",
    "render",
]

#: Output formats pedalboard writes, by extension.
WRITE_FORMATS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
#: Containers libsndfile checks before pedalboard opens them.
LIBSNDFILE_FIRST = (".wav", ".flac", ".aiff", ".aif", ".ogg")
#: Seconds of audio read per block. Memory is a few blocks, whatever the file length. Long
#: blocks keep the per-block Python work small and fill SpectralSubtraction's thread pipeline
#: (8 s: 6 chunks of STFT frames per block, against 2 at 2 s).
BLOCK_SECONDS = 8.0
#: Most pre-passes one stage may ask for.
MAX_FIT_PASSES = 6
#: Blocks that may wait for the writer thread (each is block_seconds of audio).
WRITE_QUEUE = 2
#: Files longer than this get a progress bar.
PROGRESS_MIN_SECONDS = 20.0


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`open_audio` learned about an input file."""

    path: Path
    sample_rate: float
    channels: int
    frames: int
    file_dtype: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` did."""

    input_path: Path
    output_path: Path
    sample_rate: float
    channels: int
    frames: int
    seconds: float

    @property
    def realtime_factor(self) -> float:
        """Audio seconds rendered per wall-clock second."""
        return (self.frames / self.sample_rate) / max(self.seconds, 1e-9)


def _check_readable(path: Path) -> None:
    try:
        _check_readable_inner(path)
    except PermissionError:
        raise AudioFileError(f"{path}: permission denied on a folder above it; make it readable") from None


def _check_readable_inner(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise AudioFileError(f"{path} is a folder, not an audio file; give a file (or use 'clarity batch')")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"{path}: permission denied; make it readable (chmod +r) or copy it")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path} is empty (0 bytes); re-export the recording")


def _check_truncated(path: Path, frames: int) -> None:
    """pedalboard zero-fills truncated files silently; libsndfile can tell."""
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as f:
            real = f.frames
            if real < frames:
                raise AudioFileError(
                    f"{path} is truncated: its header promises {frames} frames but it holds {real}; "
                    "re-export or repair the file"
                )
            if f.seekable() and real > 0:
                f.seek(max(real - 64, 0))
                f.read(64)
    except AudioFileError:
        raise
    except RuntimeError as err:  # libsndfile: "psf_fseek() failed", "lost sync" ...
        raise AudioFileError(
            f"{path} is truncated or damaged ({err}); re-export or repair the file"
        ) from None
    except (soundfile.LibsndfileError, TypeError, ValueError):
        return  # a format libsndfile does not read (e.g. some mp3): nothing more to check


def open_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Check that ``path`` is a complete, readable audio file and describe it.

    Parameters
    ----------
    path : str or os.PathLike
        The input file.

    Returns
    -------
    AudioInfo
        Sample rate, channels, frames and sample format.

    Raises
    ------
    AudioFileError
        Missing, a folder, unreadable, empty, not audio, or truncated.
    """
    from pedalboard.io import AudioFile

    path = Path(path).expanduser()
    _check_readable(path)
    if path.suffix.lower() in LIBSNDFILE_FIRST:
        # pedalboard's decoder can crash the process on some damaged headers; libsndfile
        # refuses them cleanly, so it looks first.
        import soundfile

        try:
            soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as err:
            raise AudioFileError(
                f"{path} is not audio clarity can read ({_first_line(err)}); "
                f"use one of {', '.join(e.lstrip('.') for e in WRITE_FORMATS)}"
            ) from None
    try:
        with AudioFile(str(path)) as f:
            info = AudioInfo(path, float(f.samplerate), int(f.num_channels), int(f.frames), str(f.file_dtype))
    except (ValueError, RuntimeError, OSError) as err:
        raise AudioFileError(
            f"{path} is not audio clarity can read ({_first_line(err)}); "
            f"use one of {', '.join(e.lstrip('.') for e in WRITE_FORMATS)}"
        ) from None
    if info.channels < 1:
        raise AudioFileError(f"{path} has no audio channels; re-export the recording")
    _check_truncated(path, info.frames)
    return info


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_blocks(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """Yield ``(channels, <=block_frames)`` float32 blocks of a checked file.

    Raises
    ------
    AudioFileError
        On NaN or infinite samples, naming where they start.
    """
    from pedalboard.io import AudioFile

    done = 0
    with AudioFile(str(info.path)) as f:
        while done < info.frames:
            block = f.read(min(block_frames, info.frames - done))
            if block.shape[1] == 0:
                break
            if not np.isfinite(block).all():
                bad = int(np.argmax(~np.isfinite(block).all(axis=0)))
                raise AudioFileError(
                    f"{info.path} has NaN or infinite samples from {(done + bad) / info.sample_rate:.3f} s; "
                    "repair the file (e.g. re-export it as 24-bit integer)"
                )
            done += block.shape[1]
            yield np.ascontiguousarray(block, dtype=np.float32)


def _sweep_stale_parts(target: Path) -> None:
    """Remove temporary files of earlier renders to ``target`` whose process died.

    A plugin that aborts the process (a crashing VST3) gives Python no chance
    to clean up; the process id in the name tells a live render from a dead one.
    """
    for part in target.parent.glob(f".{glob_escape(target.stem)}.*.part{glob_escape(target.suffix)}"):
        try:
            pid = int(part.name[len(target.stem) + 2 :].split(".", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _is_alive(pid):
            part.unlink(missing_ok=True)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any error, or Ctrl-C, the temporary file is removed and ``target`` is
    left as it was.
    """
    folder = target.parent
    if not folder.exists():
        raise AudioFileError(f"{folder}: output folder does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AudioFileError(
            f"{folder}: cannot write there (permission denied); choose another output folder"
        )
    _sweep_stale_parts(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.{os.getpid()}.", suffix=f".part{target.suffix}", dir=folder
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, target)
    except OSError as err:
        if err.errno == 28:  # ENOSPC
            raise AudioFileError(f"{target}: the disk is full; free space or write elsewhere") from None
        raise AudioFileError(f"{target}: cannot write ({err.strerror}); choose another output path") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _writer_options(suffix: str, source_dtype: str, bit_depth: int | None, quality: Any) -> dict[str, Any]:
    if suffix not in WRITE_FORMATS:
        raise AudioFileError(
            f"cannot write '{suffix or 'no extension'}' files; end the output name with one of "
            + ", ".join(WRITE_FORMATS)
        )
    options: dict[str, Any] = {}
    if suffix in (".wav", ".aiff", ".aif", ".flac"):
        if bit_depth is None:
            # Keep the source's resolution: 16-bit stays 16-bit, float stays float (wav).
            bit_depth = {"int16": 16, "int8": 16, "uint8": 16}.get(source_dtype, 24)
            if source_dtype.startswith("float") and suffix == ".wav":
                bit_depth = 32
        if suffix == ".flac" and bit_depth not in (16, 24):
            raise AudioFileError(f"FLAC holds 16 or 24 bits, not {bit_depth}; use --bit-depth 16 or 24")
        if bit_depth not in (16, 24, 32):
            raise AudioFileError(f"bit depth {bit_depth} is not supported; use 16, 24 or 32")
        options["bit_depth"] = bit_depth
    elif bit_depth is not None:
        raise AudioFileError(f"{suffix} files have no bit depth; use --quality instead")
    if quality is not None:
        if suffix not in (".mp3", ".ogg", ".flac"):
            raise AudioFileError(f"{suffix} files have no quality setting; drop --quality")
        options["quality"] = quality
    return options


def _progress(total_frames: int, sample_rate: float, enabled: bool | None, label: str):
    """A rich progress bar on long files; a no-op otherwise."""
    if enabled is False or (enabled is None and total_frames < PROGRESS_MIN_SECONDS * sample_rate):
        return _NoProgress()
    if enabled is None and not _shows_live_display():
        return _NoProgress()  # rich would draw nothing: skip importing it (40 ms)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
    )
    return _RichProgress(bar, label, total_frames)


def _shows_live_display() -> bool:
    """Whether rich's default console would draw a transient bar: stdout a terminal, or Jupyter.

    The same test as ``rich.console.Console.is_terminal`` (TTY_COMPATIBLE, FORCE_COLOR, isatty),
    without importing rich.
    """
    import sys

    if "ipykernel" in sys.modules:
        return True
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, frames: int) -> None:
        return None


class _RichProgress(_NoProgress):
    def __init__(self, bar: Any, label: str, total: int) -> None:
        self.bar, self.label, self.total = bar, label, total

    def __enter__(self) -> _RichProgress:
        self.bar.__enter__()
        self.task = self.bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def advance(self, frames: int) -> None:
        self.bar.advance(self.task, frames)


class _BackgroundWriter:
    """Write blocks to a pedalboard writer on a worker thread, so encoding overlaps the chain.

    pedalboard's writer releases the GIL, so the next block is read and processed while
    this one is converted and written: on two cores the write's time leaves the wall time.
    Blocks are copied first (a plugin may reuse its output buffer) and written in order;
    at most :data:`WRITE_QUEUE` wait. An error in the worker is raised by the next
    :meth:`write` or on leaving the ``with`` block, which waits for all writes.
    """

    def __init__(self, writer: Any, integer_pcm: bool = False) -> None:
        import queue
        import threading

        self._writer = writer
        self._integer_pcm = integer_pcm
        self._queue: Any = queue.Queue(maxsize=WRITE_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="clarity-render-writer", daemon=True)

    def _work(self) -> None:
        while True:
            block = self._queue.get()
            if block is None:
                return
            if self._error is None:
                try:
                    self._writer.write(_as_pcm32(block) if self._integer_pcm else block)
                except BaseException as err:  # noqa: BLE001 - handed to the main thread
                    self._error = err

    def __enter__(self) -> _BackgroundWriter:
        self._thread.start()
        return self

    def write(self, block: np.ndarray) -> None:
        """Queue a copy of ``block``; raise the worker's error, if it had one."""
        self._raise()
        self._queue.put(block.copy())

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __exit__(self, kind: object, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()


def _integer_pcm(suffix: str, options: dict[str, Any]) -> bool:
    """Whether the output is 16- or 24-bit integer PCM (wav, aiff, flac)."""
    return suffix in (".wav", ".aiff", ".aif", ".flac") and options.get("bit_depth") in (16, 24)


def _as_pcm32(block: np.ndarray) -> np.ndarray:
    """``block`` as int32 full-scale PCM, exactly as pedalboard's writer turns floats into ints.

    That writer (JUCE) clips to [-1, 1], scales by 2^31 - 1, rounds to nearest (ties to
    even) and keeps the top 16 or 24 bits; given int32 it keeps the same top bits, so the
    file is byte-for-byte the same, and it encodes int32 about twice as fast as float32.
    A block with NaN is left as it is (pedalboard's own conversion decides).
    """
    scaled = np.multiply(block, 2147483647.0, dtype=np.float64)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -2147483648.0, 2147483647.0, out=scaled)
    if np.isnan(scaled).any():
        return block
    return scaled.astype(np.int32)


def _as_chain(chain: Any) -> Any:
    from .chain import Chain

    if isinstance(chain, Chain):
        return chain
    if isinstance(chain, (list, tuple)):
        return Chain(chain)
    return Chain([chain])


def _keyed_stages(chain: Any) -> list[Any]:
    found = []
    for item in chain:
        inner = getattr(item, "plugin", None)  # Blend and Automate hold one plugin
        if getattr(item, "keyed", False):
            found.append(item)
        elif inner is not None and getattr(inner, "keyed", False):
            found.append(inner)
        elif hasattr(item, "_items"):  # nested Chain or Mix
            found.extend(_keyed_stages(item))
    return found


def _attach_key(chain: Any, key: str | os.PathLike[str]) -> None:
    from .sidechain import KeySource

    stages = _keyed_stages(chain)
    if not stages:
        raise AudioFileError(f"a key ({key}) was given but no stage is keyed; use a ducking preset")
    source = KeySource(key)
    for stage in stages:
        stage.external_key = source


def fit_stages(
    chain: Any, blocks: Callable[[], Iterator[np.ndarray]], sample_rate: float, buffer_size: int
) -> list[Any]:
    """Pre-pass: let each stage that ``needs_fit`` see the audio it will process.

    Stage ``i`` is fitted on the output of stages ``0..i-1`` streamed from a
    fresh read of the file, so the later streamed render equals a
    whole-buffer call. A noise-profile fit stops reading after its region: a
    short pre-pass. A ``fit`` that returns True is given another pass.

    Returns
    -------
    list
        The stages that were fitted (render un-fits them afterwards).
    """
    from .chain import Chain

    fitted = []
    items = list(chain)
    for i, stage in enumerate(items):
        if stage is None or not getattr(stage, "needs_fit", False):
            continue
        prefix = Chain(items[:i])
        # A stage may ask for more passes (loudness: measure, then check the limited result).
        for _ in range(MAX_FIT_PASSES):
            if not stage.fit(prefix.stream(blocks(), sample_rate, buffer_size), sample_rate):
                break
        fitted.append(stage)
    return fitted


def render(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    chain: Any,
    *,
    buffer_size: int = 8192,
    bit_depth: int | None = None,
    quality: Any = None,
    progress: bool | None = None,
    block_seconds: float = BLOCK_SECONDS,
    key: str | os.PathLike[str] | None = None,
) -> RenderResult:
    """Stream ``input_path`` through ``chain`` into ``output_path``.

    Parameters
    ----------
    input_path : str or os.PathLike
        Any file pedalboard reads (wav, flac, ogg, mp3, aiff, ...).
    output_path : str or os.PathLike
        Format from the extension: wav, flac, ogg, mp3, aiff.
    chain : Chain, Plugin, pedalboard plugin or list of them
        What to apply. Stages with ``needs_fit`` (a noise profile from the
        file's first second, a loudness target) are fitted in a pre-pass.
    buffer_size : int, optional
        Block size handed to plugins (constant for the whole stream).
    bit_depth : int, optional
        16, 24 or 32 for wav/aiff/flac; default keeps the source's.
    quality : optional
        mp3/ogg/flac quality as pedalboard takes it (e.g. ``"V2"``, ``"320k"``).
    progress : bool, optional
        Show a progress bar; by default on files longer than 20 s.
    block_seconds : float, optional
        Seconds read per block; memory is a few blocks.
    key : path, optional
        An external sidechain key (a voice to duck music under), handed to
        every stage with ``keyed=True``; read in step with the input.

    Returns
    -------
    RenderResult
        Paths, format and the time taken.

    Raises
    ------
    AudioFileError
        Bad input, output equal to input, or an output that cannot be written.
        Nothing is left under ``output_path`` on failure.

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> cfx.render("take.wav", "take-clean.flac", cfx.load_preset("vocal-clarity"))  # doctest: +SKIP
    """
    import time

    from pedalboard.io import AudioFile

    started = time.perf_counter()
    source = Path(input_path).expanduser()
    target = Path(output_path).expanduser()
    info = open_audio(source)
    if target.exists() and target.resolve() == source.resolve():
        raise AudioFileError(
            f"{target} is the input file; write to another path (the input is never modified)"
        )
    if target.is_dir():
        raise AudioFileError(f"{target} is a folder; give an output file name with an extension")
    options = _writer_options(target.suffix.lower(), info.file_dtype, bit_depth, quality)
    chain = _as_chain(chain)
    if key is not None:
        _attach_key(chain, key)
    elif any(stage.external_key is None for stage in _keyed_stages(chain)):
        raise AudioFileError("this chain ducks under a key but none was given; pass --key voice.wav")
    block_frames = max(1, int(math.ceil(block_seconds * info.sample_rate)))

    def blocks() -> Iterator[np.ndarray]:
        return read_blocks(info, block_frames)

    fitted = fit_stages(chain, blocks, info.sample_rate, buffer_size)
    try:
        with (
            atomic_output(target) as tmp,
            _progress(info.frames, info.sample_rate, progress, f"{source.name}") as bar,
        ):
            try:
                writer = AudioFile(str(tmp), "w", info.sample_rate, info.channels, **options)
            except (ValueError, RuntimeError) as err:
                raise AudioFileError(f"{target}: cannot write this format ({_first_line(err)})") from None
            with writer, _BackgroundWriter(writer, _integer_pcm(target.suffix.lower(), options)) as sink:
                for out in chain.stream(blocks(), info.sample_rate, buffer_size):
                    if out.shape[0] == out.shape[1] > 1:
                        # pedalboard's writer cannot tell the layout of a square block
                        sink.write(out[:, :-1])
                        out = out[:, -1:]
                    sink.write(out)
                    bar.advance(out.shape[1])
    finally:
        for stage in fitted:
            stage._unfit()
    return RenderResult(
        source, target, info.sample_rate, info.channels, info.frames, time.perf_counter() - started
    )
