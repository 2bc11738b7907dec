"""Mastering passes over many files: per track, or one gain for a whole album.

A mastering preset ends with a ``loudness_normalize`` stage. Per track, each
file is brought to the target on its own (``render`` measures it first). In
album mode the loudness of the whole album is measured as one programme —
every track's 400 ms gating blocks pooled, as album ReplayGain pools them —
and one gain serves every track, so the loudness relationships between tracks
stay as they were. The true-peak ceiling still holds on every track.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._paths import expand_user
from .errors import ClarityError

__all__ = ["TrackReport", "master", "find_loudness_stage", "AUDIO_SUFFIXES"]

#: Files a folder contributes to an album, by extension.
AUDIO_SUFFIXES = (".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3")


@dataclass
class TrackReport:
    """One track of a mastering pass; loudness in LUFS, gain in dB."""

    input_path: Path
    output_path: Path
    loudness_before: float | None
    loudness_after: float | None
    gain_db: float
    true_peak_after_dbtp: float | None


def find_loudness_stage(chain: Any) -> tuple[tuple[int, ...], Any]:
    """Walk path and object of the chain's first ``LoudnessNormalize`` stage, at any depth.

    Returns
    -------
    path : tuple of int
        Its :attr:`~clarity_fx.chain.Node.path`; ``upstream_of(chain, path)``
        is what feeds it, and the render's report is ``result.stage(path)``.
    stage : LoudnessNormalize

    Raises
    ------
    ClarityError
        When the chain has none: a mastering preset must end with one.
    """
    from .chain import walk
    from .processors.loudness import LoudnessNormalize

    for node in walk(chain):
        if isinstance(node.plugin, LoudnessNormalize):
            return node.path, node.plugin
    raise ClarityError("the preset has no loudness_normalize stage; use a master-* preset or add one")


def _measure(path: Path, prefix: Any) -> tuple[Any, float]:
    """Stream ``path`` through ``prefix``; return its loudness meter and sample rate."""
    from .audio_io import open_audio, read_blocks
    from .meters import LoudnessMeter
    from .rendering import BLOCK_SECONDS

    info = open_audio(path)
    meter = LoudnessMeter(info.sample_rate, info.channels)
    blocks = read_blocks(info, int(BLOCK_SECONDS * info.sample_rate))
    for block in prefix.stream(blocks, info.sample_rate):
        meter.add(block)
    return meter, info.sample_rate


def _file_report(path: Path) -> tuple[float | None, float | None]:
    from .analysis import analyze_file

    report = analyze_file(path)
    return report["loudness"]["integrated_lufs"], report["peak"]["true_peak_dbtp"]


def master(
    inputs: list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    preset: str | os.PathLike[str] | Any = "master-streaming",
    *,
    album: bool = False,
    suffix: str = "",
    output_format: str | None = None,
    overrides: list[str] | None = None,
    progress: bool | None = None,
) -> list[TrackReport]:
    """Master files (or every audio file in folders) into ``out_dir``.

    Parameters
    ----------
    inputs : list of path
        Files, or folders whose audio files (sorted by name) form the album.
    out_dir : path
        Existing folder for the results (same names, plus ``suffix``).
    preset : str, path or Chain factory
        A preset name or file ending with ``loudness_normalize``.
    album : bool, optional
        One gain for all files, from their pooled loudness (album ReplayGain's
        rule); otherwise each file is normalised on its own.
    suffix : str, optional
        Added to each output's stem (``-master``).
    output_format : str, optional
        Output extension (``flac``); default keeps each input's.
    overrides : list of str, optional
        ``--set`` style overrides for the preset.
    progress : bool, optional
        Progress bars on long files.

    Returns
    -------
    list of TrackReport
        Per track: loudness before and after, the gain and the true peak.

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> reports = cfx.master(["album/"], "mastered/", "master-streaming", album=True)  # doctest: +SKIP
    """
    from .batching import _prepare_out_dir
    from .chain import upstream_of
    from .meters import pooled_loudness
    from .preset import load_preset_spec
    from .rendering import render

    files = _collect(inputs)
    target_dir = expand_user(out_dir)
    spec = load_preset_spec(preset, overrides or [])
    outputs = [_output_path(path, target_dir, suffix, output_format) for path in files]
    if len(set(outputs)) != len(outputs):
        raise ClarityError("two inputs have the same name; master them into different folders")
    sources = {path.resolve() for path in files}
    if any(out.resolve() in sources for out in outputs):
        raise ClarityError(f"an output in {target_dir} would overwrite an input; use --suffix or another -o")
    _prepare_out_dir(target_dir)  # created as batch creates its own, once nothing else can fail first

    album_gain: float | None = None
    if album:
        meters = []
        for path in files:  # each file's chain is resolved at its own rate
            chain = spec.build_for(path)
            where, stage = find_loudness_stage(chain)
            meters.append(_measure(path, upstream_of(chain, where))[0])
        loudness = pooled_loudness(meters)
        album_gain = 0.0 if loudness is None else stage.target_lufs - loudness

    reports = []
    for path, out in zip(files, outputs, strict=True):
        before, _ = _file_report(path)
        chain = spec.build_for(path)
        where, stage = find_loudness_stage(chain)
        if album_gain is not None:
            stage.gain_db_fixed = album_gain
        result = render(path, out, chain, progress=progress)
        after, peak = _file_report(out)
        gain = album_gain if album_gain is not None else _applied_gain(result, where)
        reports.append(TrackReport(path, out, before, after, gain, peak))
    return reports


def _applied_gain(result: Any, where: tuple[int, ...]) -> float:
    """The gain the loudness stage at ``where`` reported to the render (0 dB if it saw no audio)."""
    try:
        gain = result.stage(where).gain_db
    except KeyError:
        return 0.0
    return 0.0 if gain is None else gain


def _collect(inputs: list[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = expand_user(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not found:
                raise ClarityError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise ClarityError("no input files; give files or a folder")
    return files


def _output_path(path: Path, out_dir: Path, suffix: str, output_format: str | None) -> Path:
    extension = f".{output_format.lstrip('.')}" if output_format else path.suffix
    return out_dir / f"{path.stem}{suffix}{extension}"
