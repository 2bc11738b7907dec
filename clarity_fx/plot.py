"""Pictures: spectrograms before and after, waveforms, gain reduction, and a chain's frequency response.

matplotlib is imported inside the drawing functions only (Agg backend, no
``pyplot`` and so no global state), so ``import clarity_fx.plot`` stays cheap
and a headless machine never needs a display.

Spectrogram
-----------
:func:`spectrogram_db` is the short-time power spectrum of the mono mix
``x[n] = (1/C) Σ_c x_c[n]`` (or of one channel), in dB:

.. math::

    X[k, m] = \\sum_{n=0}^{N-1} w[n]\\, x[mH + n - N/2]\\, e^{-j 2\\pi k n / N}, \\qquad
    S_{dB}[k, m] = 10 \\log_{10} |X[k, m]|^2

with the periodic Hann window ``w[n] = 0.5 − 0.5 cos(2πn/N)``, ``N = n_fft``,
hop ``H`` and the signal zero-padded by ``N/2`` at both ends, so frame ``m`` is
centred on sample ``mH`` (time ``mH/fs``). Frames are strided views of the
signal (no copy) and go through ``scipy.fft.rfft`` 256 at a time, so memory
stays flat. A long signal has more frames than a picture has pixels: above
``max_frames`` frames, each column is the mean power of ``g`` consecutive
frames (``g`` the smallest integer that fits), which keeps every sample's
energy in the picture. A 10-minute 48 kHz file takes about a second.

Frequency response
------------------
:func:`plot_response` draws the numbers of :mod:`clarity_fx.response`
(:func:`~clarity_fx.response.chain_response` and
:func:`~clarity_fx.response.stage_responses`, re-exported here): each linear
stage faintly, their product boldly, the skipped stages named.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import expand_user
from .errors import ParameterError
from .response import (  # noqa: F401 - re-exported: the numbers that plot_response draws
    LINEAR_TYPES,
    NON_LINEAR_TYPES,
    StageResponse,
    _check_freqs,
    chain_response,
    describe_stage,
    stage_responses,
)
from .validate import as_channels_first, check_finite, check_sample_rate

__all__ = [
    "LINEAR_TYPES",
    "NON_LINEAR_TYPES",
    "SpectrogramPlot",
    "StageResponse",
    "chain_response",
    "describe_stage",
    "plot_compare",
    "plot_file",
    "plot_file_compare",
    "plot_response",
    "plot_single",
    "spectrogram_db",
    "stage_responses",
]

#: Frequency-axis ticks (Hz); only those below the top of the axis are drawn.
FREQUENCY_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
#: Lowest frequency drawn, Hz.
MIN_FREQUENCY_HZ = 20.0
#: Colour range of a spectrogram: the loudest cell of all panels down to this many dB below it.
DYNAMIC_RANGE_DB = 90.0
#: Lowest top of the colour scale, dBFS: digital silence is drawn dark, not as the loudest colour.
MIN_COLOUR_TOP_DB = -150.0
#: Narrower spectrogram panels (pixels) leave out the peak/RMS line beside the title.
_MIN_WIDTH_FOR_LEVELS_PX = 560
#: Floor of |X|² before the logarithm (−200 dB), so digital silence stays finite.
POWER_FLOOR = 1e-20
#: Samples read per block from a file.
READ_BLOCK_SECONDS = 2.0
#: Frames transformed per FFT call.
_FRAMES_PER_CALL = 256
#: Points of a waveform envelope (min/max pairs) drawn per panel.
_ENVELOPE_POINTS = 2000
#: Response-probe amplitudes (0 dB and −26 dB) and tolerance.
_DPI = 100

_COLORMAP = "magma"
_BEFORE_COLOR = "#4c72b0"
_AFTER_COLOR = "#55a868"
_GAIN_COLOR = "#c44e52"


# =========================================================================== spectrogram
def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(value)


def _channels_first(audio: Any) -> np.ndarray:
    """``(channels, n)`` view of audio by the one input rule (:mod:`clarity_fx.validate`), not empty."""
    a = as_channels_first(audio, dtype=None)[0]
    if a.size == 0:
        raise ParameterError(f"audio is empty (shape {np.shape(audio)}); give at least one sample")
    return a


def _blocks_of(audio: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, audio.shape[1], size):
        yield audio[:, start : start + size]


class _Spectrogram:
    """Streaming |STFT|² with centred Hann frames, columns pooled to at most ``max_frames``."""

    def __init__(
        self, sample_rate: float, n_fft: int, hop: int, total_samples: int, max_frames: int | None
    ) -> None:
        self.sample_rate, self.n_fft, self.hop = sample_rate, n_fft, hop
        self.pad = n_fft // 2
        expected = 1 + (total_samples + 2 * self.pad - n_fft) // hop
        self.group = 1 if max_frames is None else max(1, -(-expected // max_frames))
        n = np.arange(n_fft)
        self.window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)
        self.buffer = np.zeros(self.pad, dtype=np.float32)
        self.columns: list[np.ndarray] = []
        self.partial = np.zeros(n_fft // 2 + 1)
        self.partial_count = 0
        self.frames = 0

    def add(self, mono: np.ndarray) -> None:
        buffer = np.concatenate([self.buffer, np.asarray(mono, dtype=np.float32)])
        if buffer.size < self.n_fft:
            self.buffer = buffer
            return
        count = 1 + (buffer.size - self.n_fft) // self.hop
        frames = np.lib.stride_tricks.sliding_window_view(buffer, self.n_fft)[:: self.hop][:count]
        for start in range(0, count, _FRAMES_PER_CALL):
            self._pool(self._power(frames[start : start + _FRAMES_PER_CALL]))
        self.buffer = buffer[count * self.hop :].copy()

    def _power(self, frames: np.ndarray) -> np.ndarray:
        import scipy.fft

        spectrum = scipy.fft.rfft(frames * self.window, axis=1)
        return spectrum.real**2 + spectrum.imag**2

    def _pool(self, power: np.ndarray) -> None:
        self.frames += power.shape[0]
        if self.group == 1:
            self.columns.append(power)
            return
        i = 0
        while i < power.shape[0]:
            take = min(power.shape[0] - i, self.group - self.partial_count)
            self.partial += power[i : i + take].sum(axis=0)
            self.partial_count += take
            i += take
            if self.partial_count == self.group:
                self._close_column()

    def _close_column(self) -> None:
        self.columns.append((self.partial / self.partial_count)[None, :])
        self.partial = np.zeros_like(self.partial)
        self.partial_count = 0

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.add(np.zeros(self.pad, dtype=np.float32))
        if self.partial_count:
            self._close_column()
        power = np.concatenate(self.columns, axis=0).T
        s_db = (10.0 * np.log10(np.maximum(power, POWER_FLOOR))).astype(np.float32)
        first = np.arange(power.shape[1]) * self.group
        last = np.minimum(first + self.group, self.frames) - 1
        times = (first + last) / 2.0 * self.hop / self.sample_rate
        freqs = np.arange(self.n_fft // 2 + 1) * self.sample_rate / self.n_fft
        return times, freqs, s_db


def _mono(block: np.ndarray, channel: int | None) -> np.ndarray:
    if channel is not None:
        return block[channel]
    return block[0] if block.shape[0] == 1 else block.mean(axis=0, dtype=np.float32)


def spectrogram_db(
    audio: np.ndarray,
    sample_rate: float,
    n_fft: int = 2048,
    hop: int = 512,
    *,
    channel: int | None = None,
    max_frames: int | None = 2000,
    full_scale: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram in dB: ``10·log10 |STFT|²`` with a Hann window.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono, or 2-D with the smaller dimension as channels; floats in [-1, 1].
    sample_rate : float
        Sample rate in Hz.
    n_fft : int, optional
        Frame (and FFT) length in samples (default 2048).
    hop : int, optional
        Samples between frame starts (default 512), at most ``n_fft``.
    channel : int, optional
        Analyse this channel only. Default: the mono mix (mean of the channels).
    max_frames : int or None, optional
        Most columns returned (default 2000). When the signal has more frames,
        each column is the mean power of ``g`` consecutive frames. ``None``
        returns every frame.
    full_scale : bool, optional
        Divide ``|X|²`` by ``(Σw/2)²`` so that a full-scale sine centred on a
        bin reads 0 dB (dBFS). Default False: plain ``|X|²``.

    Returns
    -------
    times : numpy.ndarray
        ``(frames,)`` centre of each column in seconds (frame ``m`` is centred
        on sample ``m·hop``).
    freqs : numpy.ndarray
        ``(n_fft // 2 + 1,)`` bin frequencies in Hz, ``k·fs/n_fft``.
    S_db : numpy.ndarray
        ``(n_fft // 2 + 1, frames)`` float32, ``10·log10 max(|X[k, m]|², 1e-20)``.

    Raises
    ------
    ParameterError
        For empty, non-float or non-finite audio, or bad sizes.

    See Also
    --------
    plot_compare : draws two of these on one colour scale.

    Notes
    -----
    See the module docstring for the formula. Frames are centred: the signal
    is zero-padded by ``n_fft // 2`` samples at both ends.

    Examples
    --------
    >>> import numpy as np
    >>> from clarity_fx.plot import spectrogram_db
    >>> t = np.arange(48000) / 48000
    >>> times, freqs, S = spectrogram_db(0.5 * np.sin(2 * np.pi * 1500 * t), 48000, full_scale=True)
    >>> float(freqs[S[:, 40].argmax()]), round(float(S[:, 40].max()), 1)
    (1500.0, -6.0)
    """
    sample_rate = check_sample_rate(sample_rate)
    n_fft = _check_int("n_fft", n_fft, 16)
    hop = _check_int("hop", hop, 1)
    if hop > n_fft:
        raise ParameterError(f"hop={hop} is longer than n_fft={n_fft}; use hop <= n_fft (e.g. n_fft // 4)")
    if max_frames is not None:
        max_frames = _check_int("max_frames", max_frames, 1)
    a = _channels_first(audio)
    if channel is not None and not (isinstance(channel, (int, np.integer)) and 0 <= channel < a.shape[0]):
        raise ParameterError(
            f"channel={channel!r} does not exist; use 0 to {a.shape[0] - 1} or None (mono mix)"
        )
    spec = _Spectrogram(sample_rate, n_fft, hop, a.shape[1], max_frames)
    block = int(READ_BLOCK_SECONDS * sample_rate)
    for offset in range(0, a.shape[1], block):
        chunk = a[:, offset : offset + block]
        check_finite(chunk, sample_rate, offset)
        spec.add(_mono(chunk, channel))
    times, freqs, s_db = spec.finish()
    if full_scale:
        s_db -= np.float32(20.0 * math.log10(spec.window.sum() / 2.0))
    return times, freqs, s_db


# =========================================================================== panels
class _Envelope:
    """Streaming min/max/mean-square of samples in ``points`` equal time bins."""

    def __init__(self, total_samples: int, points: int = _ENVELOPE_POINTS) -> None:
        self.total = max(int(total_samples), 1)
        self.points = min(points, self.total)
        self.lo = np.full(self.points, np.inf)
        self.hi = np.full(self.points, -np.inf)
        self.offset = 0
        self.peak = 0.0
        self.sum_squares = 0.0
        self.count = 0

    def add(self, block: np.ndarray) -> None:
        """Add ``(channels, n)`` samples: min and max over the channels."""
        n = block.shape[1]
        if n == 0:
            return
        lo, hi = block.min(axis=0), block.max(axis=0)
        # Bin j holds samples [ceil(j·total/points), ceil((j+1)·total/points)).
        first = (self.offset * self.points) // self.total
        last = min(((self.offset + n - 1) * self.points) // self.total, self.points - 1)
        bins = np.arange(first, last + 1)
        starts = np.maximum(-(-bins * self.total // self.points) - self.offset, 0)
        self.lo[bins] = np.minimum(self.lo[bins], np.minimum.reduceat(lo, starts))
        self.hi[bins] = np.maximum(self.hi[bins], np.maximum.reduceat(hi, starts))
        self.offset += n
        self.peak = max(self.peak, -float(lo.min()), float(hi.max()))
        flat = block.astype(np.float64).ravel()
        self.sum_squares += float(np.dot(flat, flat))
        self.count += block.size

    def times(self, sample_rate: float) -> np.ndarray:
        return (np.arange(self.points) + 0.5) * self.total / self.points / sample_rate

    def filled(self) -> tuple[np.ndarray, np.ndarray]:
        empty = ~np.isfinite(self.lo)
        return np.where(empty, 0.0, self.lo), np.where(empty, 0.0, self.hi)

    @property
    def rms_dbfs(self) -> float | None:
        mean_square = self.sum_squares / max(self.count, 1)
        return 10.0 * math.log10(mean_square) if mean_square > 0 else None


@dataclass
class _Panel:
    title: str
    sample_rate: float
    samples: int
    times: np.ndarray
    freqs: np.ndarray
    s_db: np.ndarray
    envelope: _Envelope

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate


def _panel_from_blocks(
    title: str, blocks: Iterable[np.ndarray], sample_rate: float, total: int, n_fft: int, hop: int,
    max_frames: int,
) -> _Panel:  # fmt: skip
    spec = _Spectrogram(sample_rate, n_fft, hop, total, max_frames)
    envelope = _Envelope(total)
    offset = 0
    for block in blocks:
        check_finite(block, sample_rate, offset)
        spec.add(_mono(block, None))
        envelope.add(block)
        offset += block.shape[1]
    times, freqs, s_db = spec.finish()
    s_db -= np.float32(20.0 * math.log10(spec.window.sum() / 2.0))  # dBFS: full-scale sine = 0 dB
    return _Panel(title, sample_rate, offset, times, freqs, s_db, envelope)


def _panel_from_array(
    title: str, audio: Any, sample_rate: float, n_fft: int, hop: int, max_frames: int
) -> _Panel:
    sample_rate = check_sample_rate(sample_rate)
    a = _channels_first(audio)
    block = int(READ_BLOCK_SECONDS * sample_rate)
    return _panel_from_blocks(title, _blocks_of(a, block), sample_rate, a.shape[1], n_fft, hop, max_frames)


def _panel_from_file(
    title: str | None, path: str | os.PathLike[str], n_fft: int, hop: int, max_frames: int
) -> _Panel:
    from .audio_io import open_audio, read_blocks

    info = open_audio(path)
    block = int(READ_BLOCK_SECONDS * info.sample_rate)
    blocks = read_blocks(info, block)
    name = title if title is not None else info.path.name
    return _panel_from_blocks(name, blocks, info.sample_rate, info.frames, n_fft, hop, max_frames)


# =========================================================================== figures
@dataclass(frozen=True)
class SpectrogramPlot:
    """What :func:`plot_compare` (and friends) drew; usable as a path (``os.fspath``).

    Attributes
    ----------
    path : pathlib.Path
        The PNG written.
    vmin_db, vmax_db : float
        The colour scale shared by every spectrogram panel, dB.
    panel_limits_db : tuple of (float, float)
        The colour limits each panel's image actually uses, read back from
        matplotlib, in panel order (before, after).
    width_px, height_px : int
        Size of the PNG.
    """

    path: Path
    vmin_db: float
    vmax_db: float
    panel_limits_db: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    width_px: int = 0
    height_px: int = 0

    def __fspath__(self) -> str:
        return str(self.path)


def _check_output(path: str | os.PathLike[str], width_px: Any, height_px: Any) -> tuple[Path, int, int]:
    out = expand_user(path)
    if out.suffix.lower() != ".png":
        raise ParameterError(f"{out}: plots are PNG images; give a path ending in .png")
    if not out.parent.is_dir():
        raise ParameterError(f"{out.parent} is not a folder; create it first or choose another path")
    check_picture_path(out)
    width_px = _check_int("width_px", width_px, 320)
    height_px = _check_int("height_px", height_px, 240)
    return out, width_px, height_px


def _new_figure(width_px: int, height_px: int) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Agg sizes its canvas as int(inches · dpi); a hair over keeps 1001 px from becoming 1000.
    fig = Figure(
        figsize=((width_px + 0.01) / _DPI, (height_px + 0.01) / _DPI), dpi=_DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.06, h_pad=0.06, hspace=0.04, wspace=0.04)
    return fig


def check_picture_path(path: str | os.PathLike[str]) -> Path:
    """Refuse, before any work, a picture path that cannot be written (``--plot``, ``response -o``).

    A temporary file is made in the picture's folder and removed: what the
    final write will need, tried for real (``/proc``, a read-only mount and a
    full disk all fail here, not after the render).

    Raises
    ------
    ParameterError
        Not a ``.png`` name, no such folder, or a folder that cannot be written.
    """
    import tempfile

    out = expand_user(path)
    if out.suffix.lower() != ".png":
        raise ParameterError(f"{out}: plots are PNG images; give a path ending in .png")
    if not out.parent.is_dir():
        raise ParameterError(f"{out.parent} is not a folder; create it first or choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".clarity-probe.", suffix=".png", dir=out.parent)
    except OSError as err:
        raise ParameterError(f"{out}: cannot write the picture there ({err.strerror}); "
                             "choose another path") from None
    os.close(fd)
    os.unlink(probe)
    return out


def _save(fig: Any, path: Path) -> None:
    """Write the PNG beside ``path`` and rename it into place: no half-written picture is left."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:80]}.", suffix=".part.png", dir=path.parent)
    except OSError as err:
        raise ParameterError(f"{path}: cannot write the picture ({err.strerror}); "
                             "choose another path") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, dpi=_DPI, format="png", facecolor="white")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        raise ParameterError(f"{path}: cannot write the picture ({err.strerror}); "
                             "choose another path") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _hz_label(freq: float, _pos: Any = None) -> str:
    """``20``, ``500``, ``1k``, ``2.5k``, ``20k``."""
    return f"{freq / 1000:g}k" if freq >= 1000 else f"{freq:g}"


def _log_frequency_axis(axis: Any, top_hz: float, which: str = "y") -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    target = axis.yaxis if which == "y" else axis.xaxis
    (axis.set_yscale if which == "y" else axis.set_xscale)("log")
    (axis.set_ylim if which == "y" else axis.set_xlim)(MIN_FREQUENCY_HZ, top_hz)
    target.set_major_locator(FixedLocator([f for f in FREQUENCY_TICKS_HZ if f <= top_hz * 1.001]))
    target.set_major_formatter(FuncFormatter(_hz_label))
    target.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10)))
    target.set_minor_formatter(NullFormatter())
    (axis.set_ylabel if which == "y" else axis.set_xlabel)("frequency (Hz)")


def _time_axis(axis: Any, duration_s: float, label: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_xlim(0.0, max(duration_s, 1e-6))
    if duration_s >= 120:
        axis.xaxis.set_major_formatter(FuncFormatter(lambda s, _p: f"{int(s // 60)}:{int(s % 60):02d}"))
        text = "time (min:s)"
    else:
        text = "time (s)"
    if label:
        axis.set_xlabel(text)


def _edges(centres: np.ndarray, lowest: float, highest: float) -> np.ndarray:
    if centres.size == 1:
        return np.array([lowest, highest])
    middle = (centres[1:] + centres[:-1]) / 2.0
    return np.concatenate([[lowest], middle, [highest]])


def _log_bands(freqs: np.ndarray, top_hz: float, rows: int) -> np.ndarray:
    """Start index of each group of bins (from bin 1) so a log axis gets about ``rows`` rows.

    A bin narrower than one row of the log axis (``f·(r − 1)`` Hz, ``r =
    (top/20)^(1/rows)``) is pooled with its neighbours; wider bins (the low
    frequencies) stay single. Drawing ~``rows`` rows instead of ``n_fft/2``
    keeps the picture the same and the drawing several times faster.
    """
    step = freqs[1] - freqs[0]
    ratio = (top_hz / MIN_FREQUENCY_HZ) ** (1.0 / rows)
    starts = [1]
    low_edge = freqs[1] - step / 2.0
    for k in range(2, freqs.size):
        edge = freqs[k] - step / 2.0
        if edge >= low_edge * ratio:
            starts.append(k)
            low_edge = edge
    return np.asarray(starts)


def _draw_spectrogram(axis: Any, panel: _Panel, vmin: float, vmax: float, rows: int) -> Any:
    nyquist = panel.sample_rate / 2.0
    step = panel.freqs[1]
    starts = _log_bands(panel.freqs, nyquist, rows)  # no DC row on a log axis
    power = 10.0 ** (panel.s_db.astype(np.float64) / 10.0)
    s_db = 10.0 * np.log10(
        np.add.reduceat(power, starts, axis=0) / np.diff(np.r_[starts, panel.freqs.size])[:, None]
    )
    freq_edges = (
        np.r_[panel.freqs[starts], panel.freqs[-1] + step / 2.0]
        - np.r_[np.full(starts.size, step / 2.0), 0.0]
    )
    time_edges = _edges(panel.times, 0.0, panel.duration_s)
    mesh = axis.pcolormesh(
        time_edges, freq_edges, s_db, cmap=_COLORMAP, vmin=vmin, vmax=vmax, shading="flat", rasterized=True
    )
    _log_frequency_axis(axis, nyquist)
    _time_axis(axis, panel.duration_s, label=False)
    axis.tick_params(labelbottom=False)
    return mesh


def _draw_waveform(axis: Any, panel: _Panel, limit: float, color: str) -> None:
    lo, hi = panel.envelope.filled()
    t = panel.envelope.times(panel.sample_rate)
    axis.set_axisbelow(True)  # grid lines behind the waveform
    axis.fill_between(t, lo, hi, color=color, linewidth=0.6, edgecolor=color, zorder=2)
    axis.axhline(0.0, color="0.6", linewidth=0.5, zorder=1)
    axis.set_ylim(-limit, limit)
    axis.set_ylabel("amplitude")
    axis.grid(True, axis="y", color="0.88", linewidth=0.6)
    _time_axis(axis, panel.duration_s)


def _draw_gain_reduction(axis: Any, gain_db: np.ndarray, sample_rate: float, duration_s: float) -> None:
    envelope = _Envelope(gain_db.shape[1])
    envelope.add(gain_db)
    lo, _ = envelope.filled()
    t = envelope.times(sample_rate)
    axis.set_axisbelow(True)
    axis.fill_between(t, lo, 0.0, color=_GAIN_COLOR, alpha=0.35, linewidth=0)
    axis.plot(t, lo, color=_GAIN_COLOR, linewidth=1.0)
    deepest = float(np.min(lo)) if lo.size else 0.0
    axis.set_ylim(min(deepest * 1.1, -1.0), 0.5)
    axis.set_ylabel("gain (dB)")
    axis.grid(True, color="0.88", linewidth=0.6)
    _time_axis(axis, duration_s)


def _level_text(panel: _Panel) -> str:
    peak = 20.0 * math.log10(panel.envelope.peak) if panel.envelope.peak > 0 else None
    rms = panel.envelope.rms_dbfs
    peak_text = f"{peak:.1f} dBFS" if peak is not None else "silent"
    rms_text = f"{rms:.1f} dBFS" if rms is not None else "silent"
    return f"peak {peak_text}, RMS {rms_text}"


def _shared_limits(panels: Sequence[_Panel], dynamic_range_db: float) -> tuple[float, float]:
    vmax = max(max(float(p.s_db[1:].max()) for p in panels), MIN_COLOUR_TOP_DB)
    return vmax - dynamic_range_db, vmax


def _as_gain_rows(gain_reduction_db: Any) -> np.ndarray:
    g = np.asarray(gain_reduction_db, dtype=np.float64)
    if g.ndim == 1:
        g = g[None, :]
    if g.ndim != 2 or g.size == 0:
        raise ParameterError(f"gain_reduction_db must be a 1-D or (1, n) array of dB, got shape {g.shape}")
    if g.shape[0] > g.shape[1]:
        g = g.T
    if not np.isfinite(g).all():
        g = np.where(np.isfinite(g), g, np.nan)
        g = np.nan_to_num(g, nan=float(np.nanmin(g)) if np.isfinite(np.nanmin(g)) else -120.0)
    return g.min(axis=0, keepdims=True)  # the deepest reduction over channels


def _draw_panels(
    panels: Sequence[_Panel],
    path: Path,
    width_px: int,
    height_px: int,
    gain_reduction_db: Any = None,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
    suptitle: str | None = None,
) -> SpectrogramPlot:
    import matplotlib

    if not (math.isfinite(dynamic_range_db) and dynamic_range_db > 0):
        raise ParameterError(
            f"dynamic_range_db must be a positive number of dB (e.g. 90), not {dynamic_range_db}"
        )
    gain = None if gain_reduction_db is None else _as_gain_rows(gain_reduction_db)
    if gain is not None and gain.shape[1] < 2:
        raise ParameterError("gain_reduction_db needs at least two values, spread over the processed audio")
    vmin, vmax = _shared_limits(panels, dynamic_range_db)
    peak = max(p.envelope.peak for p in panels)
    limit = peak * 1.08 if peak > 0 else 1.0
    colors = [_BEFORE_COLOR, _AFTER_COLOR] if len(panels) == 2 else [_BEFORE_COLOR]
    with matplotlib.rc_context({"font.size": 10, "axes.titlesize": 12, "axes.titleweight": "bold"}):
        fig = _new_figure(width_px, height_px)
        heights = [3.4, 1.0] + ([1.0] if gain is not None else [])
        grid = fig.add_gridspec(len(heights), len(panels) + 1, height_ratios=heights,
                                width_ratios=[1.0] * len(panels) + [0.025])  # fmt: skip
        meshes = []
        for i, (panel, color) in enumerate(zip(panels, colors, strict=True)):
            spec_axis = fig.add_subplot(grid[0, i])
            wave_axis = fig.add_subplot(grid[1, i], sharex=spec_axis)
            meshes.append(_draw_spectrogram(spec_axis, panel, vmin, vmax, rows=height_px))
            spec_axis.set_title(panel.title, loc="left")
            if width_px / len(panels) >= _MIN_WIDTH_FOR_LEVELS_PX:
                spec_axis.set_title(
                    _level_text(panel), loc="right", fontsize=9, fontweight="normal", color="0.3"
                )
            _draw_waveform(wave_axis, panel, limit, color)
            if i > 0:
                spec_axis.set_ylabel("")
                wave_axis.set_ylabel("")
            if gain is not None and i == len(panels) - 1:
                wave_axis.set_xlabel("")
                wave_axis.tick_params(labelbottom=False)
        if gain is not None:
            after = panels[-1]
            gain_axis = fig.add_subplot(grid[2, len(panels) - 1], sharex=fig.axes[-2])
            # The trace is spread evenly over the processed audio: one value per sample, or
            # a decimated trace (GainTrace keeps one value per millisecond).
            _draw_gain_reduction(gain_axis, gain, gain.shape[1] / after.duration_s, after.duration_s)
            gain_axis.set_title("gain reduction", fontsize=10, fontweight="normal", loc="left")
            if len(panels) > 1:
                _draw_gain_summary(fig.add_subplot(grid[2, 0]), gain)
        colorbar = fig.colorbar(meshes[0], cax=fig.add_subplot(grid[0, len(panels)]))
        colorbar.set_label("dB (0 dB = full-scale sine)")
        if suptitle:
            fig.suptitle(suptitle, fontsize=13)
        limits = tuple(tuple(float(v) for v in mesh.get_clim()) for mesh in meshes)
        _save(fig, path)
    return SpectrogramPlot(path, vmin, vmax, limits, width_px, height_px)  # type: ignore[arg-type]


def _draw_gain_summary(axis: Any, gain: np.ndarray) -> None:
    axis.axis("off")
    deepest = float(np.min(gain))
    reduced = gain[gain < -0.1]
    lines = [
        f"deepest: {deepest:.1f} dB",
        f"average while reducing: {float(np.mean(reduced)):.1f} dB" if reduced.size else "never reducing",
        f"time reducing (> 0.1 dB): {100.0 * reduced.size / gain.size:.0f} %",
    ]
    axis.text(0.02, 0.92, "gain reduction", transform=axis.transAxes, va="top", ha="left",
              fontsize=10, fontweight="bold", color="0.2")  # fmt: skip
    axis.text(0.02, 0.78, "\n".join(lines), transform=axis.transAxes, va="top", ha="left",
              fontsize=10, linespacing=1.6, color="0.2")  # fmt: skip


def plot_compare(
    before: np.ndarray,
    after: np.ndarray,
    sample_rate: float,
    path: str | os.PathLike[str],
    titles: tuple[str, str] = ("before", "after"),
    gain_reduction_db: np.ndarray | None = None,
    width_px: int = 1600,
    height_px: int = 1000,
    *,
    n_fft: int = 2048,
    hop: int = 512,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
) -> SpectrogramPlot:
    """Before and after side by side: spectrograms on one colour scale, waveforms under them.

    Parameters
    ----------
    before, after : numpy.ndarray
        Audio, 1-D or 2-D (the smaller dimension is channels), floats in [-1, 1].
    sample_rate : float
        Sample rate of both, Hz.
    path : str or os.PathLike
        Where to write the PNG (``.png``; the folder must exist).
    titles : (str, str), optional
        Titles of the two columns.
    gain_reduction_db : numpy.ndarray, optional
        Gain the processing applied, dB (≤ 0 where it reduced), 1-D or
        ``(channels, n)`` (the deepest channel is drawn), spread evenly over
        ``after``: one value per sample, or a decimated trace such as
        :class:`~clarity_fx.processors.compressor.GainTrace` keeps. Drawn in
        a panel under the ``after`` waveform.
    width_px, height_px : int, optional
        Exact size of the PNG in pixels (default 1600 × 1000).
    n_fft, hop : int, optional
        STFT frame and hop, samples.
    dynamic_range_db : float, optional
        Colour range: from the loudest cell of *both* spectrograms (at least
        −150 dBFS, so silence is dark) down this many dB (default 90).

    Returns
    -------
    SpectrogramPlot
        The path written, the shared colour limits ``vmin_db``/``vmax_db``
        and the limits each panel uses. ``os.fspath(result)`` is the path.

    Raises
    ------
    ParameterError
        For a path not ending in ``.png`` or in a missing folder, bad audio,
        or a ``gain_reduction_db`` with fewer than two values.

    See Also
    --------
    plot_file_compare : the same from two audio files, streamed.
    spectrogram_db : the spectrogram drawn (here in dBFS: ``full_scale=True``).

    Notes
    -----
    Frequency is on a log axis from 20 Hz to Nyquist; the spectrogram is the
    mono mix's, the waveform shows the min and max over all channels.

    Examples
    --------
    >>> import numpy as np
    >>> from clarity_fx.plot import plot_compare
    >>> noisy = np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32)
    >>> result = plot_compare(noisy, noisy * 0.5, 48000, "/tmp/compare.png")
    >>> result.panel_limits_db[0] == result.panel_limits_db[1]
    True
    """
    out, width_px, height_px = _check_output(path, width_px, height_px)
    n_fft, hop = _check_int("n_fft", n_fft, 16), _check_int("hop", hop, 1)
    max_frames = width_px // 2  # about one column per pixel of a panel
    panels = [
        _panel_from_array(titles[0], before, sample_rate, n_fft, hop, max_frames),
        _panel_from_array(titles[1], after, sample_rate, n_fft, hop, max_frames),
    ]
    return _draw_panels(panels, out, width_px, height_px, gain_reduction_db, float(dynamic_range_db))


def plot_file_compare(
    before_path: str | os.PathLike[str],
    after_path: str | os.PathLike[str],
    path: str | os.PathLike[str],
    titles: tuple[str, str] | None = None,
    gain_reduction_db: np.ndarray | None = None,
    width_px: int = 1600,
    height_px: int = 1000,
    *,
    n_fft: int = 2048,
    hop: int = 512,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
) -> SpectrogramPlot:
    """:func:`plot_compare` of two audio files, read in blocks so memory stays flat.

    Parameters
    ----------
    before_path, after_path : str or os.PathLike
        Any file ``pedalboard.io.AudioFile`` reads. Their sample rates and
        lengths may differ; each column has its own time axis.
    path : str or os.PathLike
        Where to write the PNG.
    titles : (str, str), optional
        Column titles; default the file names.
    gain_reduction_db, width_px, height_px, n_fft, hop, dynamic_range_db
        As in :func:`plot_compare`.

    Returns
    -------
    SpectrogramPlot

    Raises
    ------
    AudioFileError
        When a file is missing, unreadable or truncated.

    Notes
    -----
    Memory is a few 2-second blocks plus the picture's columns (at most
    ``width_px // 2`` per file: longer files average frames per column),
    whatever the files' length.
    """
    out, width_px, height_px = _check_output(path, width_px, height_px)
    n_fft, hop = _check_int("n_fft", n_fft, 16), _check_int("hop", hop, 1)
    names = titles if titles is not None else (None, None)
    panels = [
        _panel_from_file(names[0], before_path, n_fft, hop, width_px // 2),
        _panel_from_file(names[1], after_path, n_fft, hop, width_px // 2),
    ]
    if titles is None and panels[0].title == panels[1].title:
        panels[0].title, panels[1].title = f"before: {panels[0].title}", f"after: {panels[1].title}"
    return _draw_panels(panels, out, width_px, height_px, gain_reduction_db, float(dynamic_range_db))


def plot_single(
    audio: np.ndarray,
    sample_rate: float,
    path: str | os.PathLike[str],
    title: str = "",
    width_px: int = 1600,
    height_px: int = 900,
    *,
    n_fft: int = 2048,
    hop: int = 512,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
) -> SpectrogramPlot:
    """One recording: its spectrogram (log frequency, dB colour bar) over its waveform.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D or 2-D audio, floats in [-1, 1].
    sample_rate : float
        Hz.
    path : str or os.PathLike
        Where to write the PNG.
    title : str, optional
        Title above the spectrogram.
    width_px, height_px, n_fft, hop, dynamic_range_db
        As in :func:`plot_compare` (default size 1600 × 900).

    Returns
    -------
    SpectrogramPlot

    See Also
    --------
    plot_file : the same from an audio file, streamed.
    """
    out, width_px, height_px = _check_output(path, width_px, height_px)
    n_fft, hop = _check_int("n_fft", n_fft, 16), _check_int("hop", hop, 1)
    panel = _panel_from_array(title, audio, sample_rate, n_fft, hop, width_px)
    return _draw_panels([panel], out, width_px, height_px, None, float(dynamic_range_db))


def plot_file(
    audio_path: str | os.PathLike[str],
    path: str | os.PathLike[str],
    title: str | None = None,
    width_px: int = 1600,
    height_px: int = 900,
    *,
    n_fft: int = 2048,
    hop: int = 512,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
) -> SpectrogramPlot:
    """:func:`plot_single` of an audio file, read in blocks (``clarity analyze --plot``).

    Parameters
    ----------
    audio_path : str or os.PathLike
        Any file ``pedalboard.io.AudioFile`` reads.
    path : str or os.PathLike
        Where to write the PNG.
    title : str, optional
        Default: the file name.
    width_px, height_px, n_fft, hop, dynamic_range_db
        As in :func:`plot_single`.

    Returns
    -------
    SpectrogramPlot
    """
    out, width_px, height_px = _check_output(path, width_px, height_px)
    n_fft, hop = _check_int("n_fft", n_fft, 16), _check_int("hop", hop, 1)
    panel = _panel_from_file(title, audio_path, n_fft, hop, width_px)
    return _draw_panels([panel], out, width_px, height_px, None, float(dynamic_range_db))


# =========================================================================== frequency response
def _magnitude_db(response: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(np.abs(response), 1e-12))


def plot_response(
    stages_or_chain: Any,
    sample_rate: float,
    path: str | os.PathLike[str],
    freqs: np.ndarray | None = None,
    width_px: int = 1400,
    height_px: int = 800,
    title: str | None = None,
) -> Path:
    """Magnitude response of a chain's linear stages: each faintly, the combination boldly.

    Parameters
    ----------
    stages_or_chain : Chain, pedalboard.Pedalboard, list or plugin
        The stages, in series.
    sample_rate : float
        Hz.
    path : str or os.PathLike
        Where to write the PNG.
    freqs : numpy.ndarray, optional
        Frequencies to evaluate, Hz. Default: 1000 log-spaced points from
        20 Hz to 20 kHz (or to just below Nyquist).
    width_px, height_px : int, optional
        Exact size of the PNG (default 1400 × 800).
    title : str, optional
        Default: ``"Frequency response at <rate>"``.

    Returns
    -------
    pathlib.Path
        The PNG written.

    See Also
    --------
    chain_response : the combined response as numbers.

    Notes
    -----
    Skipped (non-linear) stages appear in the legend as "skipped: <stage> —
    <reason>" and in the subtitle.
    """
    out, width_px, height_px = _check_output(path, width_px, height_px)
    sample_rate = check_sample_rate(sample_rate)
    top = min(20000.0, sample_rate / 2.0 * 0.999)
    f = np.geomspace(MIN_FREQUENCY_HZ, top, 1000) if freqs is None else _check_freqs(freqs, sample_rate)
    stages = stage_responses(stages_or_chain, f, sample_rate)
    used = [s for s in stages if s.response is not None]
    skipped = [s for s in stages if s.response is None]
    total = np.ones(f.shape, dtype=np.complex128)
    for stage in used:
        total *= stage.response  # type: ignore[operator]

    import matplotlib

    with matplotlib.rc_context({"font.size": 11, "axes.titlesize": 13, "axes.titleweight": "bold"}):
        fig = _new_figure(width_px, height_px)
        axis = fig.add_subplot()
        curves = [_magnitude_db(total)]
        colors = matplotlib.colormaps["tab10"].colors
        for i, stage in enumerate(used):
            db = _magnitude_db(stage.response)  # type: ignore[arg-type]
            curves.append(db)
            how = "" if stage.method == "analytic" else " (measured)"
            axis.plot(f, db, color=colors[i % 10], linewidth=1.4, alpha=0.55, label=f"{stage.name}{how}")
        axis.plot(f, curves[0], color="black", linewidth=2.8, label="combined", zorder=5)
        for stage in skipped:
            axis.plot([], [], linestyle="none", marker="x", color="0.45",
                      label=f"skipped ({stage.reason}): {stage.name.split('(')[0]}")  # fmt: skip
        if not used:
            axis.plot([], [], linestyle="none", label="no linear stage: the response is flat")
        _log_frequency_axis(axis, float(f.max()) if freqs is not None else top, which="x")
        axis.set_xlim(max(float(f.min()), 1.0) if freqs is not None else MIN_FREQUENCY_HZ, float(f.max()))
        highest = max(float(np.max(c)) for c in curves)
        lowest = min(float(np.min(c)) for c in curves)
        upper = math.ceil((max(highest, 0.0) + 3.0) / 3.0) * 3.0
        lower = math.floor((max(min(lowest, -12.0), upper - 75.0) - 3.0) / 3.0) * 3.0
        axis.set_ylim(lower, upper)
        axis.set_ylabel("magnitude (dB)")
        axis.axhline(0.0, color="0.5", linewidth=0.8)
        axis.grid(True, which="major", color="0.85", linewidth=0.8)
        axis.grid(True, which="minor", color="0.93", linewidth=0.5)
        rate = f"{sample_rate / 1000:g} kHz"
        axis.set_title(title or f"Frequency response at {rate}", loc="left")
        if skipped:
            names = ", ".join(s.name.split("(")[0] for s in skipped)
            axis.set_title(f"left out (not linear): {names}", loc="right", fontsize=10, fontweight="normal",
                           color="0.35")  # fmt: skip
        fig.legend(loc="outside lower center", ncols=2, fontsize=10, frameon=False)
        _save(fig, out)
    return out
