"""Before/after listening reports: one self-contained HTML page per render (``clarity report``).

The page (built from :mod:`clarity_fx.webpage`) holds:

- one player for BEFORE and every AFTER (keys ``A``, ``B``, ``C``…), and for
  what the stages that change the sound most removed (keys ``1``, ``2``…,
  played at their real level), loudness-matched to BEFORE by default;
- their spectrograms on one dB scale and their waveforms, each with a cursor
  that follows playback and seeks where clicked;
- the gain reduction of the dynamics stages (from :func:`~clarity_fx.render`'s
  ``trace_gain``), on the same timeline;
- the ``clarity analyze --compare`` table (:func:`clarity_fx.analysis.compare`)
  and the preset with its parameters.

:func:`removed_signals` renders, for each stage of a preset, the preset up
to that stage with the stage's Blend set to ``listen="removed"``, and keeps
the loudest removals. :func:`write_report` writes the page atomically.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import expand_user
from .errors import ParameterError
from .webpage import _RESERVE_PAGE, _RESERVE_PER_TRACK, DEFAULT_MAX_BYTES, choose_bitrate_kbps

__all__ = [
    "COMPARE_ROWS",
    "GainReduction",
    "RemovedSignal",
    "ReportResult",
    "removed_signals",
    "removed_that_fit",
    "report_for_render",
    "write_report",
]

#: The compare table's rows: (report field path, what the row says).
COMPARE_ROWS = (
    ("loudness.integrated_lufs", "Integrated loudness (LUFS)"),
    ("loudness.range_lu", "Loudness range, LRA (LU)"),
    ("loudness.short_term_max_lufs", "Short-term max (LUFS)"),
    ("peak.true_peak_dbtp", "True peak (dBTP)"),
    ("peak.sample_peak_dbfs", "Sample peak (dBFS)"),
    ("peak.clipped_samples", "Clipped samples"),
    ("level.rms_dbfs", "RMS (dBFS)"),
    ("level.crest_factor_db", "Crest factor (dB)"),
    ("level.noise_floor_dbfs", "Noise floor (dBFS)"),
    ("level.snr_db", "SNR (dB)"),
    ("hum.detected", "Hum detected"),
    ("hum.mains_hz", "Hum mains (Hz)"),
    ("hum.level_db", "Hum level (dB)"),
    ("spectral_balance_db.low", "Balance: low 20-250 Hz (dB)"),
    ("spectral_balance_db.low_mid", "Balance: low-mid 250-2k (dB)"),
    ("spectral_balance_db.presence", "Balance: presence 2-6k (dB)"),
    ("spectral_balance_db.air", "Balance: air 6-20k (dB)"),
)
#: Stage types whose "removed" signal is only a scaled copy of the input: not worth a player.
_GAIN_ONLY = frozenset({"gain", "loudness_normalize"})
_AFTER_KEYS = "bcdefghijk"
#: Lowest page bitrate (kbit/s) at which removed-signal players are still added.
REMOVED_MIN_KBPS = 96


@dataclass(frozen=True)
class RemovedSignal:
    """What one stage removed, rendered to a file.

    Attributes
    ----------
    label : str
        ``"removed by spectral_subtraction (stage 0)"``.
    path : pathlib.Path
        The rendered removed signal.
    loudness_lufs : float or None
        Its integrated loudness (None: silent).
    """

    label: str
    path: Path
    loudness_lufs: float | None


@dataclass(frozen=True)
class GainReduction:
    """A dynamics stage's gain reduction over the output.

    Attributes
    ----------
    label : str
        The stage, as the page names it.
    gain_db : numpy.ndarray
        dB ≤ 0, spread evenly over the output (``StageReport.gain_reduction_db``).
    """

    label: str
    gain_db: np.ndarray


@dataclass(frozen=True)
class ReportResult:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    path : pathlib.Path
    size_bytes : int
    kbps : int
        Vorbis bitrate of the embedded audio.
    offsets_db : dict of str to float
        Loudness-matching offset of each track, by label (0 for removed signals).
    left_out : tuple of str
        Removed-signal players dropped to keep the page under its size.
    """

    path: Path
    size_bytes: int
    kbps: int
    offsets_db: dict[str, float]
    left_out: tuple[str, ...] = ()


def _field(report: dict[str, Any], dotted: str) -> Any:
    value: Any = report
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _compare_table(before: dict[str, Any], afters: Sequence[tuple[str, dict[str, Any]]]) -> str:
    from .analysis import compare
    from .webpage import escape

    compared = [(label, compare(before, after)) for label, after in afters]
    head = "<th>measure</th><th>before</th>" + "".join(
        f"<th>{escape(label)}</th><th>Δ</th>" for label, _ in compared
    )
    rows = []
    for dotted, text in COMPARE_ROWS:
        cells = [f"<td>{escape(_cell(_field(before, dotted)))}</td>"]
        for _, c in compared:
            pair = _field(c, dotted) or {}
            diff = pair.get("difference")
            cells.append(f"<td>{escape(_cell(pair.get('after')))}</td>")
            cells.append(f'<td class="muted">{escape(_cell(diff) if diff is None else f"{diff:+.2f}")}</td>')
        rows.append(f'<tr data-field="{escape(dotted)}"><th scope="row">{escape(text)}</th>'
                    + "".join(cells) + "</tr>")
    return (
        '<table id="compare" aria-label="Measurements before and after"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _offsets_table(tracks: Any) -> str:
    from .webpage import escape

    rows = []
    for t in tracks.tracks:
        loud = "silent" if t.loudness_lufs is None else f"{t.loudness_lufs:.2f}"
        offset = f"{t.offset_db:+.2f}" if t.follows_match else "0 (real level)"
        rows.append(f'<tr data-track="{escape(t.id)}"><th scope="row">{escape(t.label)}</th>'
                    f"<td>{loud}</td><td class=\"offset-db\">{offset}</td></tr>")  # fmt: skip
    return (
        '<table id="offsets" aria-label="Loudness-matching offsets"><thead><tr><th>track</th>'
        "<th>integrated loudness (LUFS)</th><th>offset while matched (dB)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def write_report(
    before: str | os.PathLike[str],
    afters: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    removed: Sequence[RemovedSignal] = (),
    gain_reductions: Sequence[GainReduction] = (),
    preset: tuple[str, str, str] | None = None,
    matched: bool = True,
    max_bytes: int | None = None,
    title: str | None = None,
) -> ReportResult:
    """Write a self-contained before/after listening page.

    Parameters
    ----------
    before : str or os.PathLike
        The original recording: the loudness reference.
    afters : sequence of str or os.PathLike
        One or more processed versions (at most 10).
    output : str or os.PathLike
        The ``.html`` page, written atomically.
    labels : sequence of str, optional
        Names of the afters (default ``"after"``, or the file names when there are several).
    removed : sequence of RemovedSignal, optional
        Extra players (keys ``1``…) for what stages removed; dropped, last first,
        when the page would not fit ``max_bytes``.
    gain_reductions : sequence of GainReduction, optional
        Traces drawn under the tracks on the same timeline.
    preset : (name, description, YAML) , optional
        The preset used, shown with its parameters.
    matched : bool, optional
        Start loudness-matched (default True; the page can switch it off).
    max_bytes : int, optional
        Size ceiling (default :data:`clarity_fx.webpage.DEFAULT_MAX_BYTES`, 20 MB).
    title : str, optional
        The page's title.

    Returns
    -------
    ReportResult

    Raises
    ------
    ParameterError
        Bad output name, too many afters, or audio too long for ``max_bytes``.
    AudioFileError
        An input is missing or unreadable, or the page cannot be written.
    """
    from . import __version__
    from .analysis import AudioAnalyzer
    from .audio_io import open_audio
    from .webpage import (
        TrackSource,
        escape,
        load_tracks,
        page,
        player_html,
        trace_row,
        write_page,
    )

    target = expand_user(output)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"{target}: a report is a web page; give a name ending in .html")
    if not target.parent.is_dir():
        raise ParameterError(f"{target.parent} is not a folder; create it first or choose another path")
    afters = list(afters)
    if not 1 <= len(afters) <= len(_AFTER_KEYS):
        raise ParameterError(f"give 1 to {len(_AFTER_KEYS)} processed files, not {len(afters)}")
    if labels is None:
        labels = ["after"] if len(afters) == 1 else [f"after: {Path(a).name}" for a in afters]
    if len(labels) != len(afters):
        raise ParameterError(f"{len(labels)} labels for {len(afters)} processed files; give one each")
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    sources = [TrackSource(before, "before", "a")]
    pairs = list(zip(afters, labels, strict=True))
    sources += [TrackSource(a, lab, _AFTER_KEYS[i]) for i, (a, lab) in enumerate(pairs)]
    # What stages removed: as many as fit the page at the lowest bitrate, loudest first (as given).
    durations = [open_audio(s.path).duration_s for s in sources]
    kept: list[RemovedSignal] = []
    left_out: list[Any] = []
    for signal in list(removed)[:9]:
        lengths = durations + [open_audio(r.path).duration_s for r in [*kept, signal]]
        (kept if _fits(lengths, max_bytes) else left_out).append(signal)
    left_out = [r.label for r in left_out]
    sources += [TrackSource(r.path, r.label, str(i + 1), follows_match=False)
                for i, r in enumerate(kept)]  # fmt: skip
    # The compare table's analysis rides on the page's one read pass of each file.
    analyzers = []
    for path in [before, *afters]:
        info = open_audio(path)
        analyzers.append(AudioAnalyzer(info.sample_rate, info.channels))
    taps = [a.add for a in analyzers] + [None] * len(kept)
    tracks = load_tracks(sources, max_bytes=max_bytes, taps=taps)
    span = durations[1] / tracks.duration_s if tracks.duration_s > 0 else 1.0
    traces = "".join(trace_row(g.label, g.gain_db, span) for g in gain_reductions if np.size(g.gain_db) > 1)
    player = player_html(tracks, "report", matched=matched, title="Listen: before and after",
                         extra_rows=traces)  # fmt: skip
    before_report = analyzers[0].result()
    after_reports = [(lab, analyzer.result()) for lab, analyzer in zip(labels, analyzers[1:], strict=True)]
    name = title or f"clarity report: {Path(before).name}"
    body = [
        f"<header><h1>{escape(name)}</h1>",
        f'<p class="muted">before: {escape(Path(before).name)} · '
        + " · ".join(f"{escape(lab)}: {escape(Path(a).name)}" for a, lab in zip(afters, labels, strict=True))
        + f" · {tracks.duration_s:.1f} s · audio embedded as Ogg Vorbis {tracks.kbps} kbit/s · "
        f"made by clarity-fx {escape(__version__)}</p>",
        '<p class="muted">Keys: <kbd>space</kbd> play/pause · '
        + " ".join(f"<kbd>{escape(t.key.upper())}</kbd> {escape(t.label)}" for t in tracks.tracks)
        + " · <kbd>←</kbd>/<kbd>→</kbd> seek 5 s (with Shift 1 s) · <kbd>L</kbd> loudness match on/off · "
        "click a picture to seek there.</p></header>",
        player,
    ]
    if kept:
        body.append('<p class="muted">What a stage removed is its input minus its output (a Blend with '
                    "listen: removed), played at its real level. A filter that shifts phase leaves more "
                    "in it than the band it cuts.</p>")  # fmt: skip
    if left_out:
        body.append(f'<p class="muted">Left out to keep the page under {max_bytes / 1e6:g} MB: '
                    f"{escape(', '.join(left_out))}.</p>")  # fmt: skip
    body += [
        "<h2>Loudness matching</h2>",
        '<p class="muted">While "Loudness-matched" is on, every version plays at the integrated loudness '
        "of before (BS.1770-4); what a stage removed plays at its real level.</p>",
        _offsets_table(tracks),
        "<h2>Measurements</h2>",
        _compare_table(before_report, after_reports),
    ]
    if preset is not None:
        preset_name, description, text = preset
        body += [
            f"<h2>Preset: {escape(preset_name)}</h2>",
            f"<p>{escape(description)}</p>" if description else "",
            f'<pre aria-label="Preset {escape(preset_name)} with its parameters">{escape(text)}</pre>',
        ]
    written = write_page(target, page(name, "\n".join(body)))
    return ReportResult(
        written,
        written.stat().st_size,
        tracks.kbps,
        {t.label: t.offset_db for t in tracks.tracks},
        tuple(left_out),
    )


def removed_that_fit(duration_s: float, tracks: int, max_bytes: int | None = None) -> int:
    """How many removed-signal players of ``duration_s`` fit a page beside ``tracks`` others (at most 9).

    A removed signal fits while every track can still have :data:`REMOVED_MIN_KBPS`: before and
    after keep a good bitrate, and what was removed is the first to go. A 10-minute report has
    room for none beside before and after in 20 MB, so ``apply --report`` spends no render on them.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    fits = 0
    while fits < 9 and _fits([duration_s] * (tracks + fits + 1), limit):
        fits += 1
    return fits


def _fits(durations: Sequence[float], max_bytes: int) -> bool:
    """Whether tracks of these durations fit ``max_bytes`` at :data:`REMOVED_MIN_KBPS` or more."""
    reserve = _RESERVE_PAGE + _RESERVE_PER_TRACK * len(durations)
    kbps = choose_bitrate_kbps(sum(durations), max_bytes, reserve)
    return kbps is not None and kbps >= REMOVED_MIN_KBPS


def removed_signals(
    preset: Any,
    source: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    count: int = 2,
    key: str | os.PathLike[str] | None = None,
    buffer_size: int = 8192,
) -> list[RemovedSignal]:
    """Render what each stage of ``preset`` removes from ``source``; the ``count`` loudest, loudest first.

    Each top-level stage that is not bypassed and not a pure gain
    (``gain``, ``loudness_normalize``) gets one render of the preset up to it,
    with that stage's output replaced by ``input − output`` (its Blend's
    ``listen="removed"``, :func:`clarity_fx.preset.listen_removed`). The
    stages are ranked by the integrated loudness of what they removed.

    Parameters
    ----------
    preset : clarity_fx.preset.Preset
        The parsed preset (not changed).
    source : str or os.PathLike
        The input the render used.
    folder : str or os.PathLike
        Where the removed signals are written (24-bit FLAC).
    count : int, optional
        How many to keep (default 2).
    key : path, optional
        The render's sidechain key.
    buffer_size : int, optional
        As in :func:`~clarity_fx.render`.

    Returns
    -------
    list of RemovedSignal
    """
    from .analysis import analyze_file
    from .preset import _split_item, listen_removed
    from .rendering import render

    candidates = []
    for index, item in enumerate(preset.chain_spec):
        kind = _split_item(item, preset.source)[0]
        if item.get("bypass") or kind in _GAIN_ONLY:
            continue
        candidates.append((index, kind))
    signals = []
    for index, kind in candidates:
        spec = copy.deepcopy(preset)
        listen_removed(spec, str(index))
        chain = spec.build()
        keyed = key if _uses_key(chain) else None
        path = Path(folder) / f"removed-{index}-{kind}.flac"
        render(source, path, chain, key=keyed, bit_depth=24, buffer_size=buffer_size, progress=False)
        loudness = analyze_file(path)["loudness"]["integrated_lufs"]
        signals.append(RemovedSignal(f"removed by {kind} (stage {index})", path, loudness))
    signals.sort(key=lambda s: -np.inf if s.loudness_lufs is None else s.loudness_lufs, reverse=True)
    return [s for s in signals[: max(0, int(count))] if s.loudness_lufs is not None]


def _uses_key(chain: Any) -> bool:
    from .chain import walk

    return any(getattr(node.plugin, "keyed", False) is True for node in walk(chain))


def report_for_render(
    preset: Any,
    result: Any,
    output: str | os.PathLike[str],
    *,
    key: str | os.PathLike[str] | None = None,
    removed_count: int = 2,
    buffer_size: int = 8192,
    matched: bool = True,
    max_bytes: int | None = None,
) -> ReportResult:
    """The report of a render ``clarity apply`` just made (``apply --report``).

    Parameters
    ----------
    preset : clarity_fx.preset.Preset
        The preset rendered (with its overrides applied).
    result : clarity_fx.RenderResult
        What :func:`~clarity_fx.render` returned (with ``trace_gain=True`` for the gain traces).
    output : str or os.PathLike
        The ``.html`` page.
    key, buffer_size
        As the render had them.
    removed_count : int, optional
        Players for what the stages that change the sound most removed (default 2; 0 for none).
    matched, max_bytes
        As in :func:`write_report`.

    Returns
    -------
    ReportResult
    """
    from .batching import preset_text

    gains = [
        GainReduction(f"gain reduction: {r.type_name} (stage {'.'.join(map(str, r.path))})",
                      r.gain_reduction_db)
        for r in result.stages
        if r.gain_reduction_db is not None and np.size(r.gain_reduction_db) > 1
    ]
    _, text, _ = preset_text(copy.deepcopy(preset))
    count = min(removed_count, removed_that_fit(result.frames / result.sample_rate, 2, max_bytes))
    with tempfile.TemporaryDirectory(prefix=".clarity-report-", dir=expand_user(output).parent) as folder:
        removed = (
            removed_signals(preset, result.input_path, folder, count=count, key=key,
                            buffer_size=buffer_size)  # fmt: skip
            if count > 0 else []
        )
        return write_report(
            result.input_path,
            [result.output_path],
            output,
            labels=[f"after: {preset.name}"],
            removed=removed,
            gain_reductions=gains,
            preset=(preset.name, preset.description, text),
            matched=matched,
            max_bytes=max_bytes,
        )
