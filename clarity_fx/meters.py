"""Meters: loudness (ITU-R BS.1770-4, EBU R 128), true peak, level statistics and an averaged spectrum.

Loudness follows ITU-R BS.1770-4 and the EBU meter definitions built on it
(the standard's tables are in :mod:`clarity_fx.bs1770`):

- K-weighting: a high shelf (head effect) then a high-pass (RLB curve), each a
  biquad re-derived for the sample rate from its analog prototype;
- per-channel mean square ``z_i`` over gating blocks of ``T_G`` = 400 ms that
  overlap by 75 %, weighted by ``G_i`` (1.0 for L, R, C; 1.41 for Ls, Rs);
- block loudness ``l_j = -0.691 + 10 log10(sum_i G_i z_ij)``;
- integrated loudness: blocks above the absolute gate ``GAMMA_A`` (-70 LKFS),
  then above the relative gate ``GAMMA_R`` (10 LU under the absolute-gated
  loudness);
- momentary (400 ms) and short-term (3 s) loudness per EBU Tech 3341, updated
  every 100 ms; their maxima are reported;
- loudness range (LRA) per EBU Tech 3342 from the short-term values.

True peak follows BS.1770-4 Annex 2: 4x oversampling with the Annex's 48-tap
polyphase interpolator (2x above 176.4 kHz, as the Annex allows).

All meters stream: :meth:`add` takes ``(channels, n)`` float blocks (or
``(n, channels)``, by the one input rule of :mod:`clarity_fx.validate`) one by
one and :meth:`result` reports; filter states carry across blocks, so results
do not depend on how the signal is cut. Memory is flat in file length except
for one float per 100 ms (the loudness sub-block energies: 290 kB per hour).

The level statistics and the averaged spectrum feed the health report of
:mod:`clarity_fx.analysis`, whose docstring defines the estimates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bs1770 import (
    GAMMA_A,
    GAMMA_R,
    L_K_OFFSET,
    MIN_SAMPLE_RATE,
    T_G,
    T_STEP,
    TRUE_PEAK_2X_RATE,
    TRUE_PEAK_PHASES,
    default_weights,
    k_weighting_sos,
)
from .errors import ParameterError
from .validate import as_channels_first, check_channels, check_finite, check_sample_rate

__all__ = [
    "AveragedSpectrum",
    "LevelStats",
    "LoudnessMeter",
    "LoudnessResult",
    "TruePeakMeter",
    "integrated_loudness",
    "k_weighting_sos",
    "pooled_loudness",
    "true_peak_dbtp",
]

# --- EBU Tech 3341 (meter windows) and Tech 3342 (loudness range) ------------

#: Momentary window T_M and short-term window T_S, seconds.
T_M = 0.4
T_S = 3.0
#: Tech 3342 constants, named as in its reference MATLAB code.
LRA_ABS_THRES = -70.0
LRA_REL_THRES = -20.0
LRA_PRC_LOW = 10.0
LRA_PRC_HIGH = 95.0

# --- health statistics (defined in clarity_fx.analysis's docstring) -------------

CLIP_LEVEL = 0.999
CLIP_MIN_RUN = 3
FRAME_S = 0.050
#: Frame-level histogram: 0.1 dB bins from -150 dBFS (below: digital silence).
FRAME_HIST_LO_DB = -150.0
FRAME_HIST_HI_DB = 30.0
FRAME_HIST_STEP_DB = 0.1
#: Welch segment length is the power of two giving bins of 1-2 Hz: narrow
#: enough to see a mains harmonic apart from its neighbourhood.
WELCH_MAX_BIN_HZ = 2.0

#: Blocks are processed in slices of this many samples, which bounds the
#: float64 temporaries however large a block the caller hands in.
_SLICE = 1 << 16
_TRUE_PEAK_SLICE = 1 << 14  # fits the (C, n, 12) window product in cache


# --- input ----------------------------------------------------------------------


def _block(audio: Any, channels: int | None, sample_rate: float, offset: int = 0) -> np.ndarray:
    """``audio`` by the one input rule, finite, as ``(channels, n)`` floats (copied only if transposed)."""
    a, is_last, _ = as_channels_first(audio, channels, dtype=None, exact_channels=channels is not None)
    if is_last:  # rows of their own in memory: sums then round as they do for (channels, n) input
        a = np.ascontiguousarray(a)
    check_finite(a, sample_rate, offset)
    return a


def _slices(a: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, a.shape[1], size):
        yield a[:, start : start + size].astype(np.float64, copy=False)


def _db_power(p: float) -> float | None:
    return 10.0 * math.log10(p) if p > 0.0 else None


def _db_amplitude(a: float) -> float | None:
    return 20.0 * math.log10(a) if a > 0.0 else None


# --- loudness ------------------------------------------------------------------


@dataclass(frozen=True)
class LoudnessResult:
    """What a :class:`LoudnessMeter` reports; ``None`` where not measurable.

    Attributes
    ----------
    integrated_lufs : float or None
        BS.1770-4 gated loudness. ``None`` if no 400 ms block passes the
        absolute gate (silence) or the signal is shorter than 400 ms.
    loudness_range_lu : float or None
        EBU Tech 3342 LRA. ``None`` if shorter than 3 s or below the gates.
    short_term_max_lufs : float or None
        Maximum 3 s loudness (10 Hz update). ``None`` if shorter than 3 s or silent.
    momentary_max_lufs : float or None
        Maximum 400 ms loudness (10 Hz update). ``None`` if shorter than 400 ms or silent.
    """

    integrated_lufs: float | None
    loudness_range_lu: float | None
    short_term_max_lufs: float | None
    momentary_max_lufs: float | None


def _window_loudness(energy: np.ndarray, counts: np.ndarray, width: int) -> np.ndarray:
    """Loudness of every window of ``width`` consecutive 100 ms sub-blocks (-inf if silent)."""
    if energy.size < width:
        return np.empty(0)
    view = np.lib.stride_tricks.sliding_window_view
    # Summing each window (not differencing a cumsum) keeps quiet windows next to
    # loud ones exact, and silent windows exactly zero.
    z = view(energy, width).sum(axis=1) / view(counts, width).sum(axis=1)
    with np.errstate(divide="ignore"):
        return L_K_OFFSET + 10.0 * np.log10(z)


def _gated_loudness(l_j: np.ndarray) -> float | None:
    """BS.1770-4 integrated loudness from the block loudnesses l_j."""
    z = 10.0 ** ((l_j - L_K_OFFSET) / 10.0)  # back to sum_i G_i z_ij
    above_abs = l_j > GAMMA_A
    if not above_abs.any():
        return None
    gamma_r = L_K_OFFSET + 10.0 * math.log10(z[above_abs].mean()) + GAMMA_R
    gated = above_abs & (l_j > gamma_r)
    return L_K_OFFSET + 10.0 * math.log10(z[gated].mean())


def _loudness_range(stl: np.ndarray) -> float | None:
    """EBU Tech 3342 LRA from short-term loudness values, following its MATLAB code."""
    abs_gated = stl[stl >= LRA_ABS_THRES]
    if abs_gated.size == 0:
        return None
    stl_integrated = 10.0 * math.log10(np.mean(10.0 ** (abs_gated / 10.0)))
    rel_gated = np.sort(abs_gated[abs_gated >= stl_integrated + LRA_REL_THRES])
    n = rel_gated.size

    def percentile(p: float) -> float:
        # MATLAB's round(): half away from zero; indices here are 0-based.
        return float(rel_gated[int(math.floor((n - 1) * p / 100.0 + 0.5))])

    return percentile(LRA_PRC_HIGH) - percentile(LRA_PRC_LOW)


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R 128 loudness meter.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 8000).
    channels : int
        Number of channels of every block.
    channel_weights : sequence of float, optional
        ``G_i`` per channel. Default: 1.0 each, except 5 channels
        (L, R, C, Ls, Rs: surrounds 1.41) and 6 channels (5.1 as L, R, C, LFE,
        Ls, Rs: LFE 0, surrounds 1.41).

    Examples
    --------
    >>> meter = LoudnessMeter(48000, 2)
    >>> for block in blocks:  # doctest: +SKIP
    ...     meter.add(block)
    >>> meter.result().integrated_lufs  # doctest: +SKIP
    """

    def __init__(
        self,
        sample_rate: float,
        channels: int,
        channel_weights: Sequence[float] | None = None,
    ) -> None:
        self.sample_rate = check_sample_rate(sample_rate, MIN_SAMPLE_RATE)
        self.channels = check_channels(channels)
        if channel_weights is None:
            self._g = default_weights(self.channels)
        else:
            self._g = np.asarray(channel_weights, dtype=np.float64)
            if self._g.shape != (self.channels,) or (self._g < 0).any():
                raise ParameterError(
                    f"channel_weights must be {self.channels} non-negative numbers, "
                    f"got {channel_weights!r}"
                )
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((self._sos.shape[0], self.channels, 2))
        self._n = 0  # samples seen
        self._k = 0  # completed 100 ms sub-blocks
        self._partial = 0.0  # weighted energy of the sub-block in progress
        self._energies: list[np.ndarray] = []

    def _edges(self, k: np.ndarray) -> np.ndarray:
        # Sub-block k ends at sample floor(k * fs / 10): exact for every integer
        # rate, and never drifts for odd ones (11025 Hz alternates 1102/1103).
        return np.floor(k * self.sample_rate / 10.0).astype(np.int64)

    def add(self, block: np.ndarray) -> None:
        """Feed the next block of audio.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` floats (1-D for mono); any ``n``, including 0.
        """
        for x in _slices(_block(block, self.channels, self.sample_rate, self._n), _SLICE):
            self._add(x)

    def _add(self, x: np.ndarray) -> None:
        import scipy.signal

        n = x.shape[1]
        if n == 0:
            return
        y, self._zi = scipy.signal.sosfilt(self._sos, x, axis=1, zi=self._zi)
        w = self._g @ (y * y)  # sum_i G_i y_i^2, per sample
        start, end = self._n, self._n + n
        ks = np.arange(self._k + 1, self._k + 3 + int(n * 10.0 / self.sample_rate))
        cuts = self._edges(ks)
        cuts = cuts[cuts <= end] - start  # ends of sub-blocks completed in this block
        if cuts.size == 0:
            self._partial += float(w.sum())
        else:
            sums = np.add.reduceat(w, np.concatenate(([0], cuts[cuts < n])))
            done = sums[: cuts.size].copy()
            done[0] += self._partial
            self._energies.append(done)
            self._partial = float(sums[cuts.size]) if cuts[-1] < n else 0.0
            self._k += cuts.size
        self._n = end

    def _sub_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        energy = np.concatenate(self._energies) if self._energies else np.empty(0)
        counts = np.diff(self._edges(np.arange(self._k + 1))).astype(np.float64)
        return energy, counts

    def momentary(self) -> np.ndarray:
        """Momentary loudness (LUFS, -inf when silent) every 100 ms so far."""
        return _window_loudness(*self._sub_blocks(), round(T_M / T_STEP))

    def short_term(self) -> np.ndarray:
        """Short-term loudness (LUFS, -inf when silent) every 100 ms so far."""
        return _window_loudness(*self._sub_blocks(), round(T_S / T_STEP))

    def result(self) -> LoudnessResult:
        """Measure everything fed so far; the meter can keep taking blocks.

        Returns
        -------
        LoudnessResult
            Integrated loudness, LRA, and the short-term and momentary maxima.
        """
        energy, counts = self._sub_blocks()
        # Gating blocks and momentary windows are the same 400 ms windows.
        l_j = _window_loudness(energy, counts, round(T_G / T_STEP))
        stl = _window_loudness(energy, counts, round(T_S / T_STEP))

        def finite_max(values: np.ndarray) -> float | None:
            finite = values[np.isfinite(values)]
            return float(finite.max()) if finite.size else None

        integrated = _gated_loudness(l_j) if l_j.size else None
        return LoudnessResult(
            integrated_lufs=integrated,
            loudness_range_lu=_loudness_range(stl) if stl.size else None,
            short_term_max_lufs=finite_max(stl),
            momentary_max_lufs=finite_max(l_j),
        )


def pooled_loudness(meters: Sequence[LoudnessMeter]) -> float | None:
    """Integrated loudness of several programmes measured as one (album loudness).

    The 400 ms gating blocks of every meter are pooled, then gated once, as
    album ReplayGain and EBU R 128's album measurement do; no block spans two
    programmes.

    Parameters
    ----------
    meters : sequence of LoudnessMeter
        One per track, fed with its whole track.

    Returns
    -------
    float or None
        LUFS; None when no block passes the absolute gate.
    """
    blocks = [_window_loudness(*m._sub_blocks(), round(T_G / T_STEP)) for m in meters]
    pooled = np.concatenate(blocks) if blocks else np.empty(0)
    return _gated_loudness(pooled) if pooled.size else None


# --- true peak -----------------------------------------------------------------


class TruePeakMeter:
    """Streaming true-peak meter, ITU-R BS.1770-4 Annex 2.

    The signal is oversampled 4x (2x at 176.4 kHz and above) with the Annex's
    polyphase FIR; the last 11 input samples carry over to the next block.
    The signal is taken to be preceded and followed by silence, so
    :meth:`result` also counts the filter's ring-out after the last sample.

    The Annex filter does not pass the original samples through unchanged
    (its phase-0 centre tap is 0.972), so the reported value is the larger of
    the interpolated peak and the sample peak: a peak that exists as a sample
    is never reported lower.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 8000).
    channels : int
        Number of channels of every block.
    """

    def __init__(self, sample_rate: float, channels: int) -> None:
        self.sample_rate = check_sample_rate(sample_rate, MIN_SAMPLE_RATE)
        self.channels = check_channels(channels)
        #: Oversampling factor actually used.
        self.oversampling = 4 if self.sample_rate < TRUE_PEAK_2X_RATE else 2
        # Every other phase of a 4x interpolator is a 2x interpolator.
        phases = TRUE_PEAK_PHASES[:: 4 // self.oversampling]
        self._taps = phases.shape[1]
        # y_p[i] = sum_j h_p[j] x[i - j] as one matrix product over sliding windows:
        # kernel[m, p] = h_p[taps - 1 - m].
        self._kernel = np.ascontiguousarray(phases[:, ::-1].T)
        self._history = np.zeros((self.channels, self._taps - 1))
        self._peak = 0.0
        self._n = 0  # samples seen

    def add(self, block: np.ndarray) -> None:
        """Feed the next block of audio.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` floats (1-D for mono); any ``n``, including 0.
        """
        for x in _slices(_block(block, self.channels, self.sample_rate, self._n), _TRUE_PEAK_SLICE):
            self._add(x)

    def _interpolated_peak(self, ext: np.ndarray) -> float:
        windows = np.lib.stride_tricks.sliding_window_view(ext, self._taps, axis=1)
        y = windows @ self._kernel  # (channels, n, oversampling)
        return max(float(y.max()), -float(y.min()))

    def _add(self, x: np.ndarray) -> None:
        if x.shape[1] == 0:
            return
        self._n += x.shape[1]
        ext = np.concatenate((self._history, x), axis=1)
        self._peak = max(
            self._peak, self._interpolated_peak(ext), float(x.max()), -float(x.min())
        )
        self._history = ext[:, -(self._taps - 1) :].copy()

    def peak(self) -> float:
        """True peak so far as a linear amplitude (0.0 for silence)."""
        tail = np.concatenate((self._history, np.zeros_like(self._history)), axis=1)
        return max(self._peak, self._interpolated_peak(tail))

    def result(self) -> float | None:
        """True peak so far in dBTP; ``None`` for digital silence or no input."""
        return _db_amplitude(self.peak())


# --- whole-array convenience functions ----------------------------------------


def integrated_loudness(audio: np.ndarray, sample_rate: float) -> float:
    """BS.1770-4 integrated loudness of a whole array.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)`` or 1-D mono, floats in full-scale units.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    float
        Loudness in LUFS; ``-inf`` for silence or audio shorter than 400 ms
        (as pyloudnorm returns for silence), so check ``math.isfinite`` before
        computing a gain from it.
    """
    a = _block(audio, None, check_sample_rate(sample_rate, MIN_SAMPLE_RATE))
    meter = LoudnessMeter(sample_rate, a.shape[0])
    meter.add(a)
    value = meter.result().integrated_lufs
    return -math.inf if value is None else value


def true_peak_dbtp(audio: np.ndarray, sample_rate: float) -> float:
    """BS.1770-4 Annex 2 true peak of a whole array.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)`` or 1-D mono, floats in full-scale units.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    float
        True peak in dBTP over all channels; ``-inf`` for digital silence.
    """
    a = _block(audio, None, check_sample_rate(sample_rate, MIN_SAMPLE_RATE))
    meter = TruePeakMeter(sample_rate, a.shape[0])
    meter.add(a)
    value = meter.result()
    return -math.inf if value is None else value


# --- health statistics ---------------------------------------------------------


class LevelStats:
    """Sample peak, clipping runs, RMS, DC and the 50 ms frame-level histogram."""

    def __init__(self, sample_rate: float, channels: int) -> None:
        self.channels = channels
        self.frame_len = max(1, round(FRAME_S * sample_rate))
        self.n = 0
        self.peak = 0.0
        self.sum_sq = 0.0
        self.sums = np.zeros(channels)
        # Open clip run per channel and polarity: [channel, 0 = positive / 1 = negative].
        self.open_run = np.zeros((channels, 2), dtype=np.int64)
        self.clipped_samples = 0
        self.clipped_runs = 0
        self.frame_sum = 0.0  # energy and length of the 50 ms frame in progress
        self.frame_fill = 0
        n_bins = round((FRAME_HIST_HI_DB - FRAME_HIST_LO_DB) / FRAME_HIST_STEP_DB)
        self.hist = np.zeros(n_bins, dtype=np.int64)

    def add(self, x: np.ndarray) -> None:
        """Count the next ``(channels, n)`` float64 block (already validated)."""
        n = x.shape[1]
        if n == 0:
            return
        self.n += n
        self.peak = max(self.peak, float(x.max()), -float(x.min()))
        self.sums += x.sum(axis=1)
        for c in range(self.channels):
            self._count_clips(c, 0, x[c] >= CLIP_LEVEL)
            self._count_clips(c, 1, x[c] <= -CLIP_LEVEL)
        w = (x * x).sum(axis=0)
        self.sum_sq += float(w.sum())
        self._add_frames(w)

    def _close_run(self, length: int) -> None:
        if length >= CLIP_MIN_RUN:
            self.clipped_samples += int(length)
            self.clipped_runs += 1

    def _count_clips(self, c: int, polarity: int, mask: np.ndarray) -> None:
        carried = int(self.open_run[c, polarity])
        if not mask.any():
            self._close_run(carried)
            self.open_run[c, polarity] = 0
            return
        edges = np.diff(mask.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        if mask[0]:
            lengths[0] += carried  # the run continues from the previous block
        else:
            self._close_run(carried)
        if mask[-1]:
            self.open_run[c, polarity] = lengths[-1]  # may continue in the next block
            lengths = lengths[:-1]
        else:
            self.open_run[c, polarity] = 0
        closed = lengths[lengths >= CLIP_MIN_RUN]
        self.clipped_samples += int(closed.sum())
        self.clipped_runs += int(closed.size)

    def _add_frames(self, w: np.ndarray) -> None:
        need = self.frame_len - self.frame_fill
        if w.size < need:
            self.frame_sum += float(w.sum())
            self.frame_fill += w.size
            return
        rest = w[need:]
        n_full = rest.size // self.frame_len
        frames = np.empty(n_full + 1)
        frames[0] = self.frame_sum + float(w[:need].sum())
        frames[1:] = rest[: n_full * self.frame_len].reshape(n_full, self.frame_len).sum(axis=1)
        tail = rest[n_full * self.frame_len :]
        self.frame_sum, self.frame_fill = float(tail.sum()), tail.size

        mean_sq = frames / (self.frame_len * self.channels)
        mean_sq = mean_sq[mean_sq >= 10.0 ** (FRAME_HIST_LO_DB / 10.0)]  # drop digital silence
        if mean_sq.size:
            bins = np.floor((10.0 * np.log10(mean_sq) - FRAME_HIST_LO_DB) / FRAME_HIST_STEP_DB)
            bins = np.clip(bins, 0, self.hist.size - 1).astype(np.int64)
            self.hist += np.bincount(bins, minlength=self.hist.size)

    def percentile_db(self, q: float) -> float | None:
        """Nearest-rank percentile of the frame levels, as the bin centre in dBFS."""
        total = int(self.hist.sum())
        if total == 0:
            return None
        rank = max(1, math.ceil(q / 100.0 * total))
        i = int(np.searchsorted(np.cumsum(self.hist), rank))
        return FRAME_HIST_LO_DB + (i + 0.5) * FRAME_HIST_STEP_DB

    def clip_counts(self) -> tuple[int, int]:
        """``(clipped samples, clipped runs)`` so far, counting runs still open at the end."""
        samples, runs = self.clipped_samples, self.clipped_runs
        for length in self.open_run.ravel():
            if length >= CLIP_MIN_RUN:  # runs still open at the end of the signal
                samples += int(length)
                runs += 1
        return samples, runs


class AveragedSpectrum:
    """Welch-averaged power spectrum (Hann, 50 % overlap), channels summed."""

    #: Segments transformed at once, to bound the FFT temporaries.
    BATCH = 16

    def __init__(self, sample_rate: float, channels: int) -> None:
        self.sample_rate = sample_rate
        self.nperseg = 1 << math.ceil(math.log2(sample_rate / WELCH_MAX_BIN_HZ))
        self.hop = self.nperseg // 2
        # Periodic Hann: with 50 % overlap its shifted copies sum to a constant.
        n = np.arange(self.nperseg)
        self.window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.nperseg)
        self.buffer = np.zeros((channels, 0))  # samples from the next segment start on
        self.power = np.zeros(self.nperseg // 2 + 1)
        self.segments = 0

    def _accumulate(self, segments: np.ndarray) -> None:
        spectra = np.fft.rfft(segments * self.window, axis=-1)
        self.power += (spectra.real**2 + spectra.imag**2).sum(axis=(0, 1))

    def add(self, x: np.ndarray) -> None:
        """Average in the next ``(channels, n)`` float64 block (already validated)."""
        data = np.concatenate((self.buffer, x), axis=1)
        if data.shape[1] < self.nperseg:
            self.buffer = data
            return
        n_seg = 1 + (data.shape[1] - self.nperseg) // self.hop
        windows = np.lib.stride_tricks.sliding_window_view(data, self.nperseg, axis=1)
        windows = windows[:, : n_seg * self.hop : self.hop]
        for s in range(0, n_seg, self.BATCH):
            self._accumulate(windows[:, s : s + self.BATCH])
        self.segments += n_seg
        self.buffer = data[:, n_seg * self.hop :].copy()

    def spectrum(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Frequencies and summed power, or ``None`` if nothing was fed."""
        power = self.power
        if self.segments == 0:
            if self.buffer.shape[1] == 0:
                return None
            # Shorter than one segment: zero-pad what there is into one.
            padded = np.zeros((self.buffer.shape[0], 1, self.nperseg))
            padded[:, 0, : self.buffer.shape[1]] = self.buffer
            spectra = np.fft.rfft(padded * self.window, axis=-1)
            power = (spectra.real**2 + spectra.imag**2).sum(axis=(0, 1))
        freqs = np.fft.rfftfreq(self.nperseg, 1.0 / self.sample_rate)
        return freqs, power
