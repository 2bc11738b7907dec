"""File to file: stream audio through a chain with flat memory and an atomic write.

The data path reads straight down: file → blocks → :class:`~clarity_fx.Chain`
→ temporary file beside the target → rename. A render that fails or is
interrupted leaves no file under the final name, and never touches the input.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .audio_io import (
    BackgroundWriter,
    _writer_options,
    default_lossy_quality,
    expand_user,
    open_audio,
    read_blocks,
    write_audio,
)
from .errors import AudioFileError

__all__ = [
    "RenderResult",
    "StageReport",
    "fit_stages",
    "render",
]

#: Seconds of audio read per block. Memory is a few blocks, whatever the file length. Long
#: blocks keep the per-block Python work small and fill SpectralSubtraction's thread pipeline
#: (8 s: 6 chunks of STFT frames per block, against 2 at 2 s).
BLOCK_SECONDS = 8.0
#: Most pre-passes one stage may ask for.
MAX_FIT_PASSES = 6
#: Files longer than this get a progress bar.
PROGRESS_MIN_SECONDS = 20.0


@dataclass(frozen=True)
class StageReport:
    """What one stage measured during a render.

    Attributes
    ----------
    path : tuple of int
        Where the stage sits: its :attr:`~clarity_fx.chain.Node.path` in
        :func:`~clarity_fx.walk` of the chain given to ``render`` (``()``
        when a single plugin was given).
    type_name : str
        The stage's class name (``"LoudnessNormalize"``).
    input_lufs : float or None
        A loudness stage: the integrated loudness it measured on its input
        in the pre-pass, LUFS (None with a fixed gain, or on silence).
    gain_db : float or None
        A loudness stage: the gain it applied, dB.
    gain_reduction_db : numpy.ndarray or None
        A dynamics stage (compressor, limiter), with ``render(...,
        trace_gain=True)``: its gain reduction over the whole output, dB
        (≤ 0, without makeup), the deepest of each ``trace_step`` samples,
        aligned with the output.
    trace_step : int or None
        Samples per value of ``gain_reduction_db`` (1 ms).
    """

    path: tuple[int, ...]
    type_name: str
    input_lufs: float | None = None
    gain_db: float | None = None
    gain_reduction_db: np.ndarray | None = None
    trace_step: int | None = None


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` did, and what its stages measured."""

    input_path: Path
    output_path: Path
    sample_rate: float
    channels: int
    frames: int
    seconds: float
    #: One report per stage that measured something, in walk order.
    stages: tuple[StageReport, ...] = field(default=())

    @property
    def realtime_factor(self) -> float:
        """Audio seconds rendered per wall-clock second."""
        return (self.frames / self.sample_rate) / max(self.seconds, 1e-9)

    def stage(self, where: tuple[int, ...] | str) -> StageReport:
        """The report of the stage at a walk path, or of the first stage of a class name.

        Parameters
        ----------
        where : tuple of int or str
            A :attr:`~clarity_fx.chain.Node.path` (``(2,)``, ``(1, 0)``) or a
            class name (``"LoudnessNormalize"``).

        Returns
        -------
        StageReport

        Raises
        ------
        KeyError
            When no stage there, or of that name, reported anything.
        """
        for report in self.stages:
            if report.path == where or report.type_name == where:
                return report
        raise KeyError(f"no stage at {where!r} reported anything in this render")


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


def _as_chain(chain: Any) -> Any:
    from .chain import Chain

    if isinstance(chain, Chain):
        return chain
    if isinstance(chain, (list, tuple)):
        return Chain(chain)
    return Chain([chain])


def _keyed_stages(chain: Any) -> list[Any]:
    """Stages with ``keyed=True`` anywhere in ``chain``: they listen to the render's key."""
    from .chain import walk

    return [node.plugin for node in walk(chain) if getattr(node.plugin, "keyed", False) is True]


def _attach_key(chain: Any, key: str | os.PathLike[str] | None) -> Any:
    """Open the render's key for the keyed stages (nothing is set on them); None without one.

    The caller closes the returned :class:`~clarity_fx.KeySource`.
    """
    from .keys import KeySource

    stages = _keyed_stages(chain)
    if key is None:
        if any(stage.external_key is None for stage in stages):
            raise AudioFileError("this chain ducks under a key but none was given; pass --key voice.wav")
        return None
    if not stages:
        raise AudioFileError(f"a key ({key}) was given but no stage is keyed; use a ducking preset")
    return KeySource(key)


def fit_stages(
    chain: Any, blocks: Callable[[], Iterator[np.ndarray]], sample_rate: float, buffer_size: int
) -> list[Any]:
    """Pre-pass: let each stage that ``needs_fit``, at any depth, see the audio it will process.

    Each such stage (found by :func:`~clarity_fx.walk`) is fitted on a fresh
    read of the file streamed through everything upstream of it
    (:func:`~clarity_fx.chain.upstream_of`: for each series ancestor the
    items before it; a Mix branch, a Blend's or Automate's plugin and a
    compressor's key chain see their holder's input), so the later streamed
    render equals a whole-buffer call and memory stays flat. Stages are
    fitted in processing order, so a fitted stage upstream is applied as
    fitted. A noise-profile fit stops reading after its region: a short
    pre-pass. A ``fit`` that returns True is given another pass.

    Returns
    -------
    list
        The stages that were fitted (render un-fits them afterwards). If a fit
        fails, the stages fitted before it are un-fitted before the error goes on.
    """
    from .chain import upstream_of, walk

    fitted: list[Any] = []
    try:
        for node in walk(chain):
            stage = node.plugin
            if not getattr(stage, "needs_fit", False) or any(stage is done for done in fitted):
                continue  # one object used twice is fitted once, where it first comes
            prefix = upstream_of(chain, node.path)
            fitted.append(stage)
            # A stage may ask for more passes (loudness: measure, then check the limited result).
            for _ in range(MAX_FIT_PASSES):
                if not stage.fit(prefix.stream(blocks(), sample_rate, buffer_size), sample_rate):
                    break
    except BaseException:
        for stage in fitted:
            stage._unfit()
        raise
    return fitted


def _stage_reports(chain: Any, context: Any) -> tuple[StageReport, ...]:
    """What the stages of ``chain`` reported to ``context``, by walk path."""
    from .chain import walk

    reports, seen = [], set()
    for node in walk(chain):
        measured = context.measured.get(id(node.plugin))
        if not measured or id(node.plugin) in seen:
            continue
        seen.add(id(node.plugin))
        values = dict(measured)
        trace = values.get("gain_reduction_db")
        if trace is not None and not isinstance(trace, np.ndarray):
            values["gain_reduction_db"] = trace.values()  # a GainTrace, filled during the stream
        reports.append(StageReport(node.path, type(node.plugin).__name__, **values))
    return tuple(reports)


#: Lossy outputs: extensions whose decoded audio is measured against the loudness stage's promises.
LOSSY_SUFFIXES = (".mp3", ".ogg")
#: Encode-decode-measure rounds a lossy master may take before it warns.
LOSSY_ROUNDS = 3
#: A lossy master's decoded loudness must land this close to the target, LU.
LOSSY_TOLERANCE_LU = 0.1
#: Extra room taken under the ceiling per correcting round, dB (codec noise moves the peak a little).
LOSSY_PEAK_ROOM_DB = 0.05


def _meet_lossy_promises(chain: Any, target: Path, run_once: Callable[[], None]) -> None:
    """Encode, decode, measure, adjust: a lossy master keeps its loudness stage's promises, or says so.

    A codec moves the loudness a little and the true peak more (its noise adds
    inter-sample peaks; measured: an OGG master at −0.93 dBTP and −14.24 LUFS
    for −1 dBTP and −14 LUFS). The decoded file is measured; while it misses
    the target by more than 0.1 LU, or the ceiling, the first loudness stage's
    target and ceiling are moved by what was missed and the file is rendered
    again, at most :data:`LOSSY_ROUNDS` times in all. If it still misses,
    one warning line gives the measured figures. The stage is restored after.
    """
    import warnings

    from .chain import walk
    from .processors.loudness import LoudnessNormalize

    stage = next((n.plugin for n in walk(chain) if isinstance(n.plugin, LoudnessNormalize)), None)
    if stage is None:
        return
    target_lufs, ceiling = stage.target_lufs, stage.true_peak_dbtp
    fixed_gain = stage.gain_db_fixed is not None  # album mode: the album's gain, only the ceiling here
    try:
        for round_ in range(1, LOSSY_ROUNDS + 1):
            lufs, peak = _decoded_measure(target)
            if lufs is None or peak is None:
                return  # silence: nothing promised
            loudness_ok = fixed_gain or abs(lufs - target_lufs) <= LOSSY_TOLERANCE_LU
            if loudness_ok and peak <= ceiling:
                return
            if round_ == LOSSY_ROUNDS:
                break
            if not fixed_gain:
                stage.target_lufs = min(0.0, max(-70.0, stage.target_lufs + (target_lufs - lufs)))
            if peak > ceiling - LOSSY_PEAK_ROOM_DB / 2:
                lowered = stage.true_peak_dbtp - (peak - ceiling) - LOSSY_PEAK_ROOM_DB
                stage.true_peak_dbtp = max(-20.0, lowered)
            run_once()
    finally:
        stage.target_lufs, stage.true_peak_dbtp = target_lufs, ceiling
    promise = f"{ceiling:+.1f} dBTP" if fixed_gain else f"{target_lufs:.1f} LUFS, {ceiling:+.1f} dBTP"
    warnings.warn(
        f"{target}: decoded, it measures {lufs:.2f} LUFS and {peak:+.2f} dBTP against {promise} after "
        f"{LOSSY_ROUNDS} encodes; write a lossless format or a higher --quality",
        stacklevel=3,
    )


#: The decoded-file peak meter: oversampling and zero crossings of its Kaiser-windowed sinc (β 10).
DECODED_OVERSAMPLE = 8
DECODED_HALF_LENGTH = 64


def _decoded_measure(path: Path) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a written file, as a player decodes it.

    The peak is read by 8× oversampling with a long windowed sinc (64 zero
    crossings a side, by FFT convolution), not the BS.1770 Annex 2 meter: a
    codec keeps content up to 16–20 kHz, where the Annex's 12 taps under-read
    (by 0.5 dB on a 44.1 kHz OGG, measured).
    """
    from scipy.signal import firwin, oaconvolve

    from .meters import LoudnessMeter

    info = open_audio(path)
    loudness = LoudnessMeter(info.sample_rate, info.channels)
    up, half = DECODED_OVERSAMPLE, DECODED_HALF_LENGTH
    kernel = firwin(2 * half * up + 1, 1.0 / up, window=("kaiser", 10.0)) * up
    context = np.zeros((info.channels, 2 * half))
    peak = 0.0
    for block in read_blocks(info, int(BLOCK_SECONDS * info.sample_rate)):
        loudness.add(block)
        x = np.concatenate([context, block], axis=1)  # the previous block's end: no seam
        stuffed = np.zeros((x.shape[0], x.shape[1] * up))
        stuffed[:, ::up] = x
        peak = max(peak, float(np.abs(oaconvolve(stuffed, kernel[None, :], axes=1)).max()))
        context = x[:, -2 * half :]
    stuffed = np.zeros((info.channels, context.shape[1] * up))  # the tail rings into the silence after
    stuffed[:, ::up] = context
    peak = max(peak, float(np.abs(oaconvolve(stuffed, kernel[None, :], axes=1)).max()))
    peak_dbtp = 20.0 * math.log10(peak) if peak > 0 else None
    return loudness.result().integrated_lufs, peak_dbtp


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
    trace_gain: bool = False,
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
        mp3/ogg/flac quality as pedalboard takes it (e.g. ``"V2"``, ``"320k"``). By default
        an MP3/OGG of a lossy source gets one bitrate step above the source's
        (:func:`~clarity_fx.audio_io.default_lossy_quality`), of a lossless one
        pedalboard's highest (MP3 320 kbps, Vorbis "best").
    progress : bool, optional
        Show a progress bar; by default on files longer than 20 s.
    block_seconds : float, optional
        Seconds read per block; memory is a few blocks.
    key : path, optional
        An external sidechain key (a voice to duck music under), heard by
        every stage with ``keyed=True``, at any depth; read in step with the
        input and closed when the render ends.
    trace_gain : bool, optional
        Keep each dynamics stage's gain reduction over the whole file, at
        1 ms resolution (8 bytes per ms per stage: 29 MB an hour), in the
        report (:attr:`StageReport.gain_reduction_db`).

    Returns
    -------
    RenderResult
        Paths, format, the time taken, and per stage what it measured
        (:attr:`RenderResult.stages`, :meth:`RenderResult.stage`): the
        loudness a loudness stage measured and the gain it applied, and with
        ``trace_gain`` the gain-reduction traces.

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

    Notes
    -----
    The chain is left as it was given: fits are undone, the key is handed
    to the keyed stages for this render only (nothing is set on them), and
    what stages measure comes back in the result, not on the stages.
    """
    import time

    from .plugin import RenderContext, rendering_with

    started = time.perf_counter()
    source = expand_user(input_path)
    target = expand_user(output_path)
    info = open_audio(source)
    try:
        target.lstat()
    except FileNotFoundError:
        pass
    except OSError as err:  # a name past 255 bytes, a file used as a folder: say it before any work
        if err.errno == errno.ENAMETOOLONG:
            raise AudioFileError(f"{target}: the path is too long; use a shorter one") from None
        raise AudioFileError(
            f"{target}: cannot write there ({err.strerror}); choose another output path"
        ) from None
    if target.exists() and target.resolve() == source.resolve():
        raise AudioFileError(
            f"{target} is the input file; write to another path (the input is never modified)"
        )
    if target.is_dir():
        raise AudioFileError(f"{target} is a folder; give an output file name with an extension")
    if quality is None:
        quality = default_lossy_quality(info, target.suffix.lower())
    options = _writer_options(target.suffix.lower(), info.file_dtype, bit_depth, quality)
    given, chain = chain, _as_chain(chain)  # report paths are in what the caller gave
    key_source = _attach_key(chain, key)
    context = RenderContext(key=key_source, trace_gain=trace_gain)
    block_frames = max(1, int(math.ceil(block_seconds * info.sample_rate)))

    def blocks() -> Iterator[np.ndarray]:
        return read_blocks(info, block_frames)

    def run_once() -> None:
        fitted: list[Any] = []
        try:
            with rendering_with(context):  # the key and the trace wish reach the stages through it
                fitted = fit_stages(chain, blocks, info.sample_rate, buffer_size)
                with (
                    write_audio(target, info.sample_rate, info.channels, options=options) as file,
                    BackgroundWriter(file) as writer,
                    _progress(info.frames, info.sample_rate, progress, f"{source.name}") as bar,
                ):
                    # The file is read a block or two ahead, on a thread, while the chain works.
                    ahead = read_blocks(info, block_frames, ahead=True)
                    for out in chain.stream(ahead, info.sample_rate, buffer_size):
                        writer.write(out)
                        bar.advance(out.shape[1])
        finally:
            for stage in fitted:
                stage._unfit()

    try:
        run_once()
        if target.suffix.lower() in LOSSY_SUFFIXES:
            _meet_lossy_promises(chain, target, run_once)
    finally:
        if key_source is not None:
            key_source.close()
    return RenderResult(
        source,
        target,
        info.sample_rate,
        info.channels,
        info.frames,
        time.perf_counter() - started,
        _stage_reports(given, context),
    )
