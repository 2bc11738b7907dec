"""Shared parts of clarity's self-contained web pages (``clarity report``, ``clarity listen``).

A page is one HTML file that opens from disk with no network: its audio,
pictures, style and script are all inside it, as ``data:`` URIs and inline
``<style>``/``<script>``. Nothing in it names an ``http`` address.

Audio
-----
Every version is encoded as **Ogg Vorbis** by ``pedalboard.io.AudioFile``
(no ffmpeg), at one constant nominal bitrate for the page (64 to 160 kbit/s),
and embedded base64 in a ``data:audio/ogg;base64,…`` URI. Vorbis plays in
Chromium and Firefox (Safari before 17 does not). :func:`load_tracks` picks
the highest bitrate whose estimate keeps the page under ``max_bytes``
(:data:`DEFAULT_MAX_BYTES`, 20 MB: a 10-minute report of two stereo versions
at 96 kbit/s is about 10 MB) and re-encodes one step lower if the encoder
overshoots. Rates above 48 kHz are resampled to 48 kHz for the page only.

Loudness matching
-----------------
Each :class:`Track` carries its integrated loudness ``L`` (BS.1770-4,
:class:`clarity_fx.meters.LoudnessMeter`, measured on the audio before
encoding) and ``offset_db = L_ref − L``, the gain that plays it at the
loudness of the reference track (BEFORE). The page applies the offsets while
"loudness-matched" is on (the default), shows them, and can turn them off.
A track with ``follows_match=False`` (what a stage removed) always plays at
its real level; a silent track (no loudness) gets 0 dB.

Player
------
:data:`PLAYER_JS` defines ``ClarityPlayer``, one transport for every
version. All versions are decoded into Web Audio ``AudioBuffer``\\ s and
started together, sample-aligned, each through its own gain; switching
version ramps the gains over 5 ms, so the switch has no gap, no restart and
no click, at exactly the same position. Memory: decoded float32 PCM, 23 MB
per stereo 48 kHz minute per version.

The page markup the player drives, written by :func:`player_html`::

    <section class="clarity-player" data-player="ID">
      <script type="application/json" class="clarity-config">{…}</script>
      … transport (play button, time, position slider), version buttons,
      loudness-match checkbox, per-track rows with the spectrogram
      <img>s and waveform <canvas>es, each a "timeline" …
    </section>

Config JSON (``player_config``): ``{"id", "matched", "duration_s",
"tracks": [{"id", "label", "key", "src", "offset_db", "loudness_lufs",
"follows_match", "envelope": [[lo…], [hi…]]}]}``.

Script API (``window.clarityPlayers[ID]`` once ``ready`` is true)::

    p.play(); p.pause(); p.toggle(); p.seek(seconds); p.select(index)
    p.setMatched(bool); p.setMuted(bool)
    p.currentTime        # seconds, from the audio clock
    p.duration; p.selected; p.playing; p.matched; p.ready
    p.appliedGainDb(i)   # the gain track i plays with now
    p.attachTimeline(el) # el: any element spanning 0..duration; gets a cursor
                         # that follows playback, and click/keys seek
    p.on("time"|"select"|"ready"|"state", fn)

Keyboard (anywhere on the page, unless typing in a form field): space plays
and pauses, a track's key (``A``, ``B``, ``1``…) selects it, ``←``/``→``
seek 5 s (with Shift 1 s), ``Home`` goes to the start, ``L`` toggles
loudness matching. Controls carry ``aria-label``\\ s, the version buttons
``aria-pressed``, the timelines ``role="slider"``.

Pictures
--------
:func:`load_tracks` draws each track's spectrogram as a bare PNG (matplotlib,
imported lazily; the mono mix in dBFS, log frequency from 20 Hz to Nyquist,
time linear over the full width so that x maps straight to seconds), all on
one colour scale: the loudest cell of all tracks down ``dynamic_range_db``
(90 dB), as :mod:`clarity_fx.plot` draws them. The frequency ticks and the
colour bar are HTML. Waveforms (min/max envelope) and gain-reduction traces
are drawn by the script on ``<canvas>``.

Building a page::

    tracks = load_tracks([TrackSource("take.wav", "before", "a"),
                          TrackSource("clean.flac", "after", "b")])
    body = player_html(tracks, "main")
    write_page("report.html", page("Report", body))
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import expand_user
from .errors import ParameterError

__all__ = [
    "BITRATES_KBPS",
    "DEFAULT_MAX_BYTES",
    "PAGE_CSS",
    "PLAYER_JS",
    "Track",
    "TrackSet",
    "TrackSource",
    "choose_bitrate_kbps",
    "data_uri",
    "encode_ogg",
    "escape",
    "load_tracks",
    "loudness_offset_db",
    "page",
    "player_config",
    "player_html",
    "write_page",
]

#: Nominal Vorbis bitrates (kbit/s) the page may use, lowest first (pedalboard's choices from 64 up).
BITRATES_KBPS = (64, 80, 96, 112, 128, 160)
#: Default ceiling of a page's size, bytes.
DEFAULT_MAX_BYTES = 20_000_000
#: Highest rate embedded; faster files are resampled for the page.
MAX_PAGE_RATE = 48000.0
#: Spectrogram picture size, pixels.
SPECTROGRAM_WIDTH_PX = 1200
SPECTROGRAM_HEIGHT_PX = 220
#: Waveform envelope points per track.
ENVELOPE_POINTS = 1200
#: Bytes kept aside per track for its picture and envelope when the bitrate is chosen.
_RESERVE_PER_TRACK = 450_000
_RESERVE_PAGE = 150_000
_BLOCK_SECONDS = 4.0


def escape(text: Any) -> str:
    """``text`` made safe for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    """``data:MIME;base64,…`` of ``data``: a URI the page embeds, no file or network needed."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def loudness_offset_db(loudness_lufs: float | None, reference_lufs: float | None) -> float:
    """Gain that plays a version at the reference loudness: ``L_ref − L`` dB (0 if either is silent).

    Examples
    --------
    >>> loudness_offset_db(-16.0, -23.0)
    -7.0
    >>> loudness_offset_db(None, -23.0)
    0.0
    """
    if loudness_lufs is None or reference_lufs is None:
        return 0.0
    return float(reference_lufs) - float(loudness_lufs)


def choose_bitrate_kbps(total_seconds: float, max_bytes: int, reserve_bytes: int = 0) -> int | None:
    """Highest of :data:`BITRATES_KBPS` whose base64 audio fits ``max_bytes − reserve_bytes``.

    Parameters
    ----------
    total_seconds : float
        Sum of the durations of every embedded track.
    max_bytes, reserve_bytes : int
        Page ceiling, and what the rest of the page needs.

    Returns
    -------
    int or None
        kbit/s, or None when even the lowest does not fit.

    Examples
    --------
    >>> choose_bitrate_kbps(2 * 600, 20_000_000, 1_000_000)
    96
    """
    room = max_bytes - reserve_bytes
    best = None
    for kbps in BITRATES_KBPS:
        # base64 is 4/3 of the bytes; Vorbis VBR lands within ~10 % of the nominal rate.
        if total_seconds * kbps * 1000 / 8 * 4 / 3 * 1.1 <= room:
            best = kbps
    return best


def encode_ogg(blocks: Iterable[np.ndarray], sample_rate: float, channels: int, kbps: int) -> bytes:
    """Ogg Vorbis bytes of ``(channels, n)`` float blocks at ``kbps`` nominal (resampled above 48 kHz).

    Parameters
    ----------
    blocks : iterable of numpy.ndarray
        ``(channels, n)`` float32 blocks.
    sample_rate : float
        Hz.
    channels : int
        Channel count of every block.
    kbps : int
        One of :data:`BITRATES_KBPS`.

    Returns
    -------
    bytes
    """
    from pedalboard.io import AudioFile, StreamResampler

    if kbps not in BITRATES_KBPS:
        raise ParameterError(f"kbps={kbps!r}: use one of {', '.join(map(str, BITRATES_KBPS))}")
    rate = min(float(sample_rate), MAX_PAGE_RATE)
    resampler = StreamResampler(sample_rate, rate, channels) if rate != sample_rate else None
    buffer = io.BytesIO()
    with AudioFile(buffer, "w", rate, channels, format="ogg", quality=f"{kbps}k") as out:
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=np.float32)
            out.write(resampler.process(block) if resampler is not None else block)
        if resampler is not None:
            out.write(resampler.process())
    return buffer.getvalue()


@dataclass(frozen=True)
class TrackSource:
    """One version to put on a page: a file and how the page names it.

    Attributes
    ----------
    path : str or os.PathLike
        Any audio file clarity reads.
    label : str
        Shown on its button and row (a blind test uses ``"A"``, ``"B"``).
    key : str
        Keyboard key that selects it (one character: ``"a"``, ``"1"``).
    follows_match : bool
        Played at the reference loudness while matching is on (False: always its real level).
    spectrogram : bool
        Draw its spectrogram (a blind test leaves them out).
    description : str
        A line under the label.
    """

    path: str | os.PathLike[str]
    label: str
    key: str
    follows_match: bool = True
    spectrogram: bool = True
    description: str = ""


@dataclass(frozen=True)
class Track:
    """A version ready for the page: its encoded audio and what was measured on it.

    Attributes
    ----------
    id : str
        DOM-safe name (``"t0"``, ``"t1"``…).
    label, key, description, follows_match
        From its :class:`TrackSource`.
    audio : bytes
        Ogg Vorbis.
    sample_rate : float
        Of the source file, Hz.
    channels : int
    duration_s : float
    loudness_lufs : float or None
        Integrated loudness of the source (before encoding); None if silent.
    offset_db : float
        Gain to the reference loudness (:func:`loudness_offset_db`); 0 if ``follows_match`` is False.
    envelope : numpy.ndarray
        ``(2, points)``: min and max over channels of each of ``points`` equal time bins.
    spectrogram_png : bytes or None
        The bare spectrogram picture (see the module docstring).
    """

    id: str
    label: str
    key: str
    audio: bytes
    sample_rate: float
    channels: int
    duration_s: float
    loudness_lufs: float | None
    offset_db: float = 0.0
    follows_match: bool = True
    description: str = ""
    envelope: np.ndarray = field(default_factory=lambda: np.zeros((2, 1)))
    spectrogram_png: bytes | None = None


@dataclass(frozen=True)
class TrackSet:
    """The tracks of one player, with what they share.

    Attributes
    ----------
    tracks : tuple of Track
    reference_lufs : float or None
        Loudness every matched track plays at (the first track's).
    kbps : int
        Vorbis bitrate of every track.
    vmin_db, vmax_db : float
        The spectrograms' shared colour scale, dBFS.
    max_frequency_hz : float
        Top of the spectrograms' frequency axis (the highest Nyquist).
    """

    tracks: tuple[Track, ...]
    reference_lufs: float | None
    kbps: int
    vmin_db: float
    vmax_db: float
    max_frequency_hz: float

    @property
    def duration_s(self) -> float:
        """Longest track, seconds: the transport's length."""
        return max(t.duration_s for t in self.tracks)

    @property
    def audio_bytes(self) -> int:
        """Encoded audio of every track, bytes (before base64)."""
        return sum(len(t.audio) for t in self.tracks)


@dataclass
class _Measured:
    source: TrackSource
    sample_rate: float
    channels: int
    frames: int
    loudness_lufs: float | None
    envelope: np.ndarray
    spectrogram: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    audio: bytes


def _measure(source: TrackSource, kbps: int, encode_only: bool = False,
             known: _Measured | None = None) -> _Measured:  # fmt: skip
    """One pass over the file: Vorbis, loudness, envelope and spectrogram together."""
    from .audio_io import open_audio, read_blocks
    from .meters import LoudnessMeter
    from .plot import _Envelope, _Spectrogram

    info = open_audio(source.path)
    block = max(1, int(_BLOCK_SECONDS * info.sample_rate))
    meter = None if encode_only else LoudnessMeter(info.sample_rate, info.channels)
    envelope = None if encode_only else _Envelope(info.frames, ENVELOPE_POINTS)
    spec = None
    if source.spectrogram and not encode_only:
        spec = _Spectrogram(info.sample_rate, 2048, 512, info.frames, SPECTROGRAM_WIDTH_PX)

    def blocks() -> Iterable[np.ndarray]:
        for data in read_blocks(info, block, ahead=True):
            if meter is not None:
                meter.add(data)
            if envelope is not None:
                envelope.add(data)
            if spec is not None:
                spec.add(data[0] if data.shape[0] == 1 else data.mean(axis=0, dtype=np.float32))
            yield data

    audio = encode_ogg(blocks(), info.sample_rate, info.channels, kbps)
    if known is not None:
        return replace(known, audio=audio)
    assert meter is not None and envelope is not None
    spectrogram = None
    if spec is not None:
        times, freqs, s_db = spec.finish()
        s_db -= np.float32(20.0 * math.log10(spec.window.sum() / 2.0))  # dBFS
        spectrogram = (times, freqs, s_db)
    lo, hi = envelope.filled()
    return _Measured(source, info.sample_rate, info.channels, info.frames,
                     meter.result().integrated_lufs, np.vstack([lo, hi]).astype(np.float32),
                     spectrogram, audio)  # fmt: skip


def _spectrogram_png(spectrogram: tuple[np.ndarray, np.ndarray, np.ndarray], sample_rate: float,
                     duration_s: float, top_hz: float, vmin: float, vmax: float) -> bytes:  # fmt: skip
    """A bare PNG: no axes or margins, x = 0..duration, y = log 20 Hz..top_hz (black above Nyquist)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plot import _COLORMAP, MIN_FREQUENCY_HZ, _edges, _log_bands

    times, freqs, s_db = spectrogram
    dpi = 100
    fig = Figure(figsize=((SPECTROGRAM_WIDTH_PX + 0.01) / dpi, (SPECTROGRAM_HEIGHT_PX + 0.01) / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    axis = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    nyquist = sample_rate / 2.0
    starts = _log_bands(freqs, nyquist, SPECTROGRAM_HEIGHT_PX)
    power = 10.0 ** (s_db.astype(np.float64) / 10.0)
    pooled = 10.0 * np.log10(np.add.reduceat(power, starts, axis=0)
                             / np.diff(np.r_[starts, freqs.size])[:, None])  # fmt: skip
    step = freqs[1]
    freq_edges = np.r_[freqs[starts], freqs[-1] + step / 2.0] - np.r_[np.full(starts.size, step / 2.0), 0.0]
    axis.pcolormesh(_edges(times, 0.0, duration_s), freq_edges, pooled, cmap=_COLORMAP,
                    vmin=vmin, vmax=vmax, shading="flat", rasterized=True)  # fmt: skip
    axis.set_facecolor("black")
    axis.set_yscale("log")
    axis.set_ylim(MIN_FREQUENCY_HZ, top_hz)
    axis.set_xlim(0.0, max(duration_s, 1e-6))
    axis.set_axis_off()
    out = io.BytesIO()
    fig.savefig(out, dpi=dpi, format="png", facecolor="black")
    return out.getvalue()


def load_tracks(
    sources: Sequence[TrackSource],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reserve_bytes: int = 0,
    kbps: int | None = None,
    dynamic_range_db: float = 90.0,
) -> TrackSet:
    """Read, measure and encode the versions of one player; the first is the loudness reference.

    Parameters
    ----------
    sources : sequence of TrackSource
        The versions, BEFORE first. Their keys must differ.
    max_bytes : int, optional
        Ceiling of the page (default 20 MB); the bitrate is chosen to fit it.
    reserve_bytes : int, optional
        What the rest of the page needs beyond these tracks.
    kbps : int, optional
        Force a bitrate (one of :data:`BITRATES_KBPS`) instead of choosing.
    dynamic_range_db : float, optional
        Colour range of the spectrograms below their shared loudest cell.

    Returns
    -------
    TrackSet

    Raises
    ------
    ParameterError
        When the tracks cannot fit ``max_bytes`` even at 64 kbit/s, or keys repeat.
    AudioFileError
        A file is missing or unreadable.
    """
    from .audio_io import open_audio
    from .plot import MIN_COLOUR_TOP_DB

    if not sources:
        raise ParameterError("a player needs at least one track")
    keys = [s.key.lower() for s in sources]
    if len(set(keys)) != len(keys) or any(len(k) != 1 for k in keys):
        raise ParameterError(f"track keys must be single, distinct characters, not {keys}")
    total = sum(open_audio(s.path).duration_s for s in sources)
    reserve = reserve_bytes + _RESERVE_PAGE + _RESERVE_PER_TRACK * len(sources)
    chosen = kbps if kbps is not None else choose_bitrate_kbps(total, max_bytes, reserve)
    if chosen is None:
        raise ParameterError(
            f"{total / 60:.1f} minutes of audio do not fit a {max_bytes / 1e6:g} MB page even at "
            f"{BITRATES_KBPS[0]} kbit/s; raise --max-mb or give fewer or shorter files"
        )
    measured = [_measure(s, chosen) for s in sources]
    room = max_bytes - reserve
    while kbps is None and sum(len(m.audio) for m in measured) * 4 / 3 > room and chosen > BITRATES_KBPS[0]:
        chosen = BITRATES_KBPS[BITRATES_KBPS.index(chosen) - 1]  # the encoder overshot: one step down
        measured = [_measure(m.source, chosen, encode_only=True, known=m) for m in measured]
    drawn = [m for m in measured if m.spectrogram is not None]
    vmax = max([float(m.spectrogram[2][1:].max()) for m in drawn] + [MIN_COLOUR_TOP_DB])  # type: ignore[index]
    vmin = vmax - float(dynamic_range_db)
    top = min(20000.0, max(m.sample_rate for m in measured) / 2.0)
    reference = measured[0].loudness_lufs
    tracks = []
    for i, m in enumerate(measured):
        png = None
        if m.spectrogram is not None:
            png = _spectrogram_png(m.spectrogram, m.sample_rate, m.frames / m.sample_rate,
                                   top, vmin, vmax)  # fmt: skip
        offset = loudness_offset_db(m.loudness_lufs, reference) if m.source.follows_match else 0.0
        tracks.append(Track(f"t{i}", m.source.label, m.source.key.lower(), m.audio, m.sample_rate,
                            m.channels, m.frames / m.sample_rate, m.loudness_lufs, offset,
                            m.source.follows_match, m.source.description, m.envelope, png))  # fmt: skip
    return TrackSet(tuple(tracks), reference, chosen, vmin, vmax, top)


def player_config(tracks: TrackSet, player_id: str, *, matched: bool = True) -> dict[str, Any]:
    """The JSON the script reads (see the module docstring)."""
    return {
        "id": player_id,
        "matched": bool(matched),
        "duration_s": tracks.duration_s,
        "tracks": [
            {
                "id": t.id,
                "label": t.label,
                "key": t.key,
                "src": data_uri(t.audio, "audio/ogg"),
                "offset_db": round(t.offset_db, 3),
                "loudness_lufs": None if t.loudness_lufs is None else round(t.loudness_lufs, 3),
                "follows_match": t.follows_match,
                "duration_s": t.duration_s,
                "envelope": [[round(float(v), 4) for v in row] for row in t.envelope],
            }
            for t in tracks.tracks
        ],
    }


def _json_for_script(value: Any) -> str:
    """JSON safe inside ``<script>``: no ``</`` can close the element early."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def _frequency_ticks(top_hz: float) -> str:
    from .plot import FREQUENCY_TICKS_HZ, MIN_FREQUENCY_HZ, _hz_label

    span = math.log(top_hz / MIN_FREQUENCY_HZ)
    labels = []
    for f in FREQUENCY_TICKS_HZ:
        if MIN_FREQUENCY_HZ < f <= top_hz * 0.8:  # none at the very top, where it would be cut
            bottom = 100.0 * math.log(f / MIN_FREQUENCY_HZ) / span
            labels.append(f'<span style="bottom:{bottom:.2f}%">{_hz_label(f)}</span>')
    return '<div class="freq-ticks" aria-hidden="true">' + "".join(labels) + "</div>"


def _colour_bar(vmin: float, vmax: float) -> str:
    import matplotlib

    from .plot import _COLORMAP

    cmap = matplotlib.colormaps[_COLORMAP]
    stops = ", ".join(
        "#{:02x}{:02x}{:02x}".format(*(int(255 * c) for c in cmap(i / 10)[:3])) for i in range(11)
    )
    return (
        f'<div class="colour-bar" role="img" aria-label="colour scale: {vmin:.0f} to {vmax:.0f} dBFS">'
        f'<span>{vmin:.0f} dB</span><i style="background:linear-gradient(to right, {stops})"></i>'
        f"<span>{vmax:.0f} dBFS</span></div>"
    )


def _time_text(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def player_html(
    tracks: TrackSet,
    player_id: str,
    *,
    matched: bool = True,
    title: str = "Listen",
    rows: bool = True,
) -> str:
    """The HTML of one player: transport, version buttons, match switch and per-track rows.

    Parameters
    ----------
    tracks : TrackSet
        From :func:`load_tracks`.
    player_id : str
        Unique on the page (letters, digits, ``-``); the script's ``clarityPlayers`` key.
    matched : bool, optional
        Start loudness-matched (default True).
    title : str, optional
        The section's heading.
    rows : bool, optional
        Draw a row per track (label, offset, spectrogram, waveform). A blind
        test may set False and draw its own buttons on the script API.

    Returns
    -------
    str
        A ``<section>``; put it in :func:`page`, which carries the script.
    """
    if not player_id.replace("-", "").isalnum():
        raise ParameterError(f"player_id {player_id!r}: use letters, digits and '-'")
    pid = escape(player_id)
    config = _json_for_script(player_config(tracks, player_id, matched=matched))
    buttons = []
    for i, t in enumerate(tracks.tracks):
        offset = f"{t.offset_db:+.1f} dB" if t.follows_match else "real level"
        buttons.append(
            f'<button type="button" class="version" data-index="{i}" '
            f'aria-pressed="{"true" if i == 0 else "false"}" '
            f'aria-keyshortcuts="{escape(t.key.upper())}" '
            f'aria-label="Listen to {escape(t.label)} (key {escape(t.key.upper())})">'
            f'<kbd>{escape(t.key.upper())}</kbd> {escape(t.label)} '
            f'<span class="offset" data-offset-for="{i}">{escape(offset)}</span></button>'
        )
    parts = [
        f'<section class="clarity-player" id="player-{pid}" data-player="{pid}" '
        f'aria-label="{escape(title)}">',
        f'<script type="application/json" class="clarity-config">{config}</script>',
        f"<h2>{escape(title)}</h2>",
        '<div class="transport">',
        '<button type="button" class="play" aria-label="Play (space)" disabled>&#9654; Play</button>',
        f'<span class="time" aria-live="off">0:00.0</span> / <span>{_time_text(tracks.duration_s)}</span>',
        f'<input type="range" class="position" min="0" max="{tracks.duration_s:.3f}" step="0.01" value="0" '
        'aria-label="Playback position, seconds">',
        f'<label><input type="checkbox" class="match"{" checked" if matched else ""}> '
        "Loudness-matched <kbd>L</kbd></label>",
        '<label><input type="checkbox" class="mute"> Mute</label>',
        '<span class="status" role="status" aria-live="polite">Decoding audio…</span>',
        "</div>",
        '<div class="versions" role="group" aria-label="Versions">' + "".join(buttons) + "</div>",
    ]
    if rows:
        parts.append('<div class="rows">')
        for i, t in enumerate(tracks.tracks):
            loud = "silent" if t.loudness_lufs is None else f"{t.loudness_lufs:.1f} LUFS"
            parts.append(f'<div class="track" data-index="{i}">')
            more = f" · {escape(t.description)}" if t.description else ""
            parts.append(f"<h3>{escape(t.label)} <small>{escape(loud)}{more}</small></h3>")
            if t.spectrogram_png is not None:
                parts.append(
                    '<div class="timeline spectrogram" role="slider" tabindex="0" '
                    f'aria-label="Spectrogram of {escape(t.label)}: click to seek">'
                    f'<img alt="Spectrogram of {escape(t.label)}, log frequency 20 Hz to '
                    f'{tracks.max_frequency_hz / 1000:g} kHz" '
                    f'src="{data_uri(t.spectrogram_png, "image/png")}">'
                    f"{_frequency_ticks(tracks.max_frequency_hz)}</div>"
                )
            parts.append(
                f'<div class="timeline waveform" role="slider" tabindex="0" '
                f'aria-label="Waveform of {escape(t.label)}: click to seek">'
                f'<canvas data-envelope-for="{i}" width="1200" height="70"></canvas></div>'
            )
            parts.append("</div>")
        if any(t.spectrogram_png is not None for t in tracks.tracks):
            parts.append(_colour_bar(tracks.vmin_db, tracks.vmax_db))
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def page(title: str, body: str, *, head: str = "") -> str:
    """A whole HTML document: ``body`` with :data:`PAGE_CSS` and :data:`PLAYER_JS` inline.

    Parameters
    ----------
    title : str
        The document title (escaped here).
    body : str
        HTML (trusted: built from :func:`player_html` and :func:`escape`\\ d text).
    head : str, optional
        More trusted markup for ``<head>`` (extra ``<style>``).
    """
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # No network at all: the page's own data: URIs and inline code only.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; media-src data:; connect-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">\n"
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n{head}</head>\n<body>\n{body}\n"
        f"<script>{PLAYER_JS}</script>\n</body>\n</html>\n"
    )


def write_page(path: str | os.PathLike[str], text: str) -> Path:
    """Write a page atomically (a temporary file beside it, then renamed): no half-written page is left.

    Returns
    -------
    pathlib.Path
        The page written.

    Raises
    ------
    ParameterError
        The name does not end in ``.html``/``.htm``.
    AudioFileError
        The folder is missing or cannot be written.
    """
    from .audio_io import atomic_output

    target = expand_user(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"{target}: a report is a web page; give a name ending in .html")
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


PAGE_CSS = """
:root { color-scheme: light; --fg:#1d1f23; --muted:#5b6070; --accent:#2a62c9; --line:#d9dce3; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 24px 0 8px; }
h3 { font-size: 14px; margin: 10px 0 4px; } h3 small { color: var(--muted); font-weight: normal; }
kbd { font: 12px ui-monospace, monospace; border: 1px solid #aab; border-radius: 3px; padding: 0 4px;
      background: #f4f5f8; color: var(--fg); }
button { font: inherit; cursor: pointer; border: 1px solid #b7bccb; border-radius: 6px; background: #f7f8fb;
         padding: 6px 12px; }
button:focus-visible, .timeline:focus-visible, input:focus-visible { outline: 3px solid #f0a500;
         outline-offset: 2px; }
.transport { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; position: sticky; top: 0;
             background: #fff; padding: 8px 0; z-index: 2; border-bottom: 1px solid var(--line); }
.transport .play { min-width: 96px; font-weight: 600; } .transport .position { flex: 1 1 240px; }
.transport .time { font-variant-numeric: tabular-nums; }
.status { color: var(--muted); font-size: 13px; }
.versions { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.version[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
.version .offset { font-size: 12px; opacity: .8; margin-left: 4px; }
.track { margin: 8px 0 14px; } .track.selected h3 { color: var(--accent); }
.timeline { position: relative; cursor: crosshair; user-select: none; }
.timeline img, .timeline canvas { display: block; width: 100%; }
.spectrogram img { height: 220px; image-rendering: auto; }
.waveform canvas { height: 70px; background: #f6f7fa; }
.timeline .cursor { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px;
                    background: #19e3ff; pointer-events: none; box-shadow: 0 0 2px #000; }
.freq-ticks { position: absolute; left: 0; top: 0; bottom: 0; pointer-events: none; }
.freq-ticks span { position: absolute; left: 3px; transform: translateY(50%); font-size: 10px; color: #fff;
                   text-shadow: 0 0 2px #000, 0 0 2px #000; }
.colour-bar { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--muted); }
.colour-bar i { display: block; height: 10px; width: 260px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 12px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.muted { color: var(--muted); }
"""

PLAYER_JS = r"""
(function () {
  "use strict";
  const players = window.clarityPlayers = window.clarityPlayers || {};
  const RAMP_S = 0.005;

  function dbToGain(db) { return Math.pow(10, db / 20); }
  function fmt(t) {
    const m = Math.floor(t / 60); const s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function decodeDataUri(uri) {
    const b64 = uri.slice(uri.indexOf(",") + 1);
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  class ClarityPlayer {
    constructor(root, config) {
      this.root = root; this.config = config; this.tracks = config.tracks;
      this.duration = config.duration_s; this.selected = 0; this.matched = !!config.matched;
      this.playing = false; this.ready = false; this.muted = false;
      this._offset = 0; this._startedAt = 0; this._sources = []; this._listeners = {}; this._timelines = [];
      this._raf = null;
    }
    on(name, fn) { (this._listeners[name] = this._listeners[name] || []).push(fn); return this; }
    _emit(name, value) { (this._listeners[name] || []).forEach(fn => fn(value, this)); }
    async load() {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.ctx = new Ctx();
      this.master = this.ctx.createGain();
      this.master.connect(this.ctx.destination);
      this.gains = this.tracks.map(() => {
        const g = this.ctx.createGain(); g.gain.value = 0; g.connect(this.master); return g;
      });
      this.buffers = await Promise.all(this.tracks.map(t => this.ctx.decodeAudioData(decodeDataUri(t.src))));
      this._applyGains(true);
      this.ready = true;
      this._emit("ready", true);
    }
    appliedGainDb(i) {
      const t = this.tracks[i];
      return (this.matched && t.follows_match) ? t.offset_db : 0;
    }
    _applyGains(now) {
      if (!this.gains) return;
      const at = this.ctx.currentTime;
      this.gains.forEach((g, i) => {
        const target = i === this.selected ? dbToGain(this.appliedGainDb(i)) : 0;
        g.gain.cancelScheduledValues(at);
        if (now) { g.gain.setValueAtTime(target, at); }
        else { g.gain.setValueAtTime(g.gain.value, at); g.gain.linearRampToValueAtTime(target, at + RAMP_S); }
      });
    }
    get currentTime() {
      if (!this.playing) return this._offset;
      return Math.min(this.duration, this._offset + (this.ctx.currentTime - this._startedAt));
    }
    play() {
      if (!this.ready || this.playing) return;
      if (this._offset >= this.duration - 0.01) this._offset = 0;
      if (this.ctx.state !== "running") this.ctx.resume();
      const when = this.ctx.currentTime + 0.02;
      this._sources = this.buffers.map((buffer, i) => {
        const s = this.ctx.createBufferSource();
        s.buffer = buffer; s.connect(this.gains[i]);
        if (this._offset < buffer.duration) s.start(when, this._offset);
        return s;
      });
      this._startedAt = when; this.playing = true;
      this._emit("state", "playing"); this._tick();
    }
    _stopSources() {
      this._sources.forEach(s => {
        try { s.stop(); } catch (e) { /* never started: shorter than the offset */ }
        s.disconnect();
      });
      this._sources = [];
    }
    pause() {
      if (!this.playing) return;
      this._offset = this.currentTime; this._stopSources(); this.playing = false;
      this._emit("state", "paused"); this._draw();
    }
    toggle() { if (this.playing) this.pause(); else this.play(); }
    seek(t) {
      t = Math.max(0, Math.min(this.duration, Number(t) || 0));
      const wasPlaying = this.playing;
      if (wasPlaying) { this._stopSources(); this.playing = false; }
      this._offset = t;
      if (wasPlaying) this.play(); else this._draw();
      this._emit("time", t);
    }
    select(i) {
      if (i < 0 || i >= this.tracks.length) return;
      this.selected = i; this._applyGains(false); this._emit("select", i);
    }
    setMatched(on) { this.matched = !!on; this._applyGains(false); this._emit("state", "matched"); }
    setMuted(on) { this.muted = !!on; if (this.master) this.master.gain.value = this.muted ? 0 : 1; }
    attachTimeline(el) {
      const cursor = document.createElement("div"); cursor.className = "cursor"; el.appendChild(cursor);
      el.setAttribute("aria-valuemin", "0"); el.setAttribute("aria-valuemax", this.duration.toFixed(2));
      el.addEventListener("click", ev => {
        const r = el.getBoundingClientRect();
        this.seek((ev.clientX - r.left) / r.width * this.duration);
      });
      this._timelines.push({ el, cursor }); this._draw();
    }
    _tick() {
      this._draw();
      if (this.playing && this.currentTime >= this.duration) {
        this.pause(); this._offset = this.duration; this._draw();
      }
      if (this.playing) this._raf = requestAnimationFrame(() => this._tick());
    }
    _draw() {
      const t = this.currentTime; const frac = this.duration > 0 ? t / this.duration : 0;
      this._timelines.forEach(({ el, cursor }) => {
        cursor.style.left = (100 * frac) + "%";
        el.setAttribute("aria-valuenow", t.toFixed(2)); el.setAttribute("aria-valuetext", fmt(t));
      });
      this._emit("time", t);
    }
  }

  function drawEnvelope(canvas, env, color) {
    const g = canvas.getContext("2d"); const w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h); g.fillStyle = color;
    const lo = env[0], hi = env[1], n = lo.length;
    let peak = 0; for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(lo[i]), Math.abs(hi[i]));
    const scale = (h / 2 - 1) / Math.max(peak, 1e-9);
    for (let i = 0; i < n; i++) {
      const x = Math.floor(i * w / n), x2 = Math.max(x + 1, Math.floor((i + 1) * w / n));
      const y1 = h / 2 - hi[i] * scale, y2 = h / 2 - lo[i] * scale;
      g.fillRect(x, y1, x2 - x, Math.max(1, y2 - y1));
    }
  }

  function wire(root) {
    const config = JSON.parse(root.querySelector("script.clarity-config").textContent);
    const p = new ClarityPlayer(root, config);
    players[config.id] = p;
    const play = root.querySelector(".play"), time = root.querySelector(".time");
    const position = root.querySelector(".position"), match = root.querySelector(".match");
    const mute = root.querySelector(".mute"), status = root.querySelector(".status");
    const buttons = Array.from(root.querySelectorAll(".version"));
    const rows = Array.from(root.querySelectorAll(".track"));
    const colours = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd"];
    root.querySelectorAll("canvas[data-envelope-for]").forEach(c => {
      const i = Number(c.dataset.envelopeFor);
      drawEnvelope(c, config.tracks[i].envelope, colours[i % colours.length]);
    });
    root.querySelectorAll(".timeline").forEach(el => p.attachTimeline(el));
    play.addEventListener("click", () => p.toggle());
    position.addEventListener("input", () => p.seek(position.value));
    match.addEventListener("change", () => p.setMatched(match.checked));
    mute.addEventListener("change", () => p.setMuted(mute.checked));
    buttons.forEach(b => b.addEventListener("click", () => p.select(Number(b.dataset.index))));
    p.on("time", t => {
      time.textContent = fmt(t);
      if (document.activeElement !== position) position.value = t;
    });
    p.on("state", s => {
      play.innerHTML = p.playing ? "&#10074;&#10074; Pause" : "&#9654; Play";
      play.setAttribute("aria-label", p.playing ? "Pause (space)" : "Play (space)");
      if (s === "matched") { match.checked = p.matched; root.dataset.matched = String(p.matched); }
    });
    p.on("select", i => {
      buttons.forEach((b, j) => b.setAttribute("aria-pressed", String(i === j)));
      rows.forEach((r, j) => r.classList.toggle("selected", i === j));
      status.textContent = "Playing " + config.tracks[i].label;
    });
    p.on("ready", () => {
      play.disabled = false; status.textContent = "Ready"; root.dataset.ready = "true";
    });
    rows.forEach((r, j) => r.classList.toggle("selected", j === 0));
    root.dataset.matched = String(p.matched);
    p.load().catch(err => {
      status.textContent = "This browser cannot decode the audio: " + err; root.dataset.error = String(err);
    });
    return p;
  }

  function active() {
    const ids = Object.keys(players);
    const el = document.activeElement;
    const focused = el && el.closest ? el.closest(".clarity-player") : null;
    if (focused && players[focused.dataset.player]) return players[focused.dataset.player];
    return ids.length ? players[ids[0]] : null;
  }

  document.addEventListener("keydown", ev => {
    const tag = (ev.target && ev.target.tagName) || "";
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const typing = tag === "INPUT" && ev.target.type !== "checkbox" && ev.target.type !== "range";
    if (typing || tag === "TEXTAREA" || tag === "SELECT") return;
    const p = active(); if (!p) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const step = ev.shiftKey ? 1 : 5;
    if (key === " ") { p.toggle(); }
    else if (key === "ArrowLeft") { p.seek(p.currentTime - step); }
    else if (key === "ArrowRight") { p.seek(p.currentTime + step); }
    else if (key === "Home") { p.seek(0); }
    else if (key === "l") { p.setMatched(!p.matched); }
    else {
      const i = p.tracks.findIndex(t => t.key === key);
      if (i < 0) return;
      p.select(i);
    }
    ev.preventDefault();
  });

  window.ClarityPlayer = ClarityPlayer;
  document.querySelectorAll("section.clarity-player").forEach(wire);
})();
"""
