"""File to file: stream audio through a chain with flat memory and an atomic write.

The data path reads straight down: file → blocks → :class:`~clarity_fx.Chain`
→ temporary file beside the target → rename. A render that fails or is
interrupted leaves no file under the final name, and never touches the input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio_io import _writer_options, open_audio, read_blocks, write_audio
from .errors import AudioFileError

__all__ = [
    "RenderResult",
    "fit_stages",
    "render",
]

#: Seconds of audio read per block. Memory is a few blocks, whatever the file length.
BLOCK_SECONDS = 2.0
#: Most pre-passes one stage may ask for.
MAX_FIT_PASSES = 6
#: Files longer than this get a progress bar.
PROGRESS_MIN_SECONDS = 20.0


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


def _progress(total_frames: int, sample_rate: float, enabled: bool | None, label: str):
    """A rich progress bar on long files; a no-op otherwise."""
    if enabled is False or (enabled is None and total_frames < PROGRESS_MIN_SECONDS * sample_rate):
        return _NoProgress()
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
    )
    return _RichProgress(bar, label, total_frames)


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
        A wav, flac, ogg, mp3 or aiff file (whatever its name), vetted by
        :func:`~clarity_fx.audio_io.open_audio`.
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
        Bad input, output equal to input, or an output that cannot be written
        (a full disk included: the written file is checked before the rename).
        Nothing is left under ``output_path`` on failure.

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> cfx.render("take.wav", "take-clean.flac", cfx.load_preset("vocal-clarity"))  # doctest: +SKIP
    """
    import time

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
            write_audio(target, info.sample_rate, info.channels, options=options) as writer,
            _progress(info.frames, info.sample_rate, progress, f"{source.name}") as bar,
        ):
            for out in chain.stream(blocks(), info.sample_rate, buffer_size):
                writer.write(out)
                bar.advance(out.shape[1])
    finally:
        for stage in fitted:
            stage._unfit()
    return RenderResult(
        source, target, info.sample_rate, info.channels, info.frames, time.perf_counter() - started
    )
