"""Measure a recording: loudness (ITU-R BS.1770-4, EBU R 128), true peak, and its health.

Loudness follows ITU-R BS.1770-4 and the EBU meter definitions built on it:

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

All meters stream: :meth:`add` takes ``(channels, n)`` float blocks one by one
and :meth:`result` reports; filter states carry across blocks, so results do
not depend on how the signal is cut. Memory is flat in file length except for
one float per 100 ms (the loudness sub-block energies: 290 kB per hour).

Report schema (``SCHEMA_VERSION = 1``)
--------------------------------------
:func:`analyze_array`, :func:`analyze_file` and :meth:`AudioAnalyzer.result`
return this dict. Every value is a plain ``int``, ``float``, ``bool``,
``list`` or ``None``, so ``json.dumps(report, allow_nan=False)`` always works.
``None`` (JSON ``null``) means *not measurable*: digital silence, nothing above
a gate, or a file too short for the window (400 ms momentary and integrated,
3 s short-term and LRA). No field is ever NaN or infinite. ::

    {
      "schema_version": 1,
      "sample_rate": 48000,                # Hz
      "channels": 2,
      "duration_s": 61.25,
      "loudness": {
        "integrated_lufs": -23.0,          # BS.1770-4 gated, LUFS
        "range_lu": 6.1,                   # EBU Tech 3342 LRA, LU
        "short_term_max_lufs": -18.2,      # max of 3 s loudness, 10 Hz update
        "momentary_max_lufs": -15.9        # max of 400 ms loudness, 10 Hz update
      },
      "peak": {
        "true_peak_dbtp": -1.2,            # BS.1770-4 Annex 2, dBTP
        "sample_peak_dbfs": -1.5,          # max |x|, dBFS
        "clipped_samples": 0,              # see CLIP_LEVEL, CLIP_MIN_RUN
        "clipped_runs": 0
      },
      "level": {
        "rms_dbfs": -20.4,                 # mean square of all samples, all channels
        "crest_factor_db": 18.9,           # sample_peak_dbfs - rms_dbfs
        "dc_offset": [0.0001, -0.0002],    # mean per channel, linear full scale
        "noise_floor_dbfs": -62.0,         # 10th percentile of 50 ms frame RMS
        "snr_db": 41.5                     # 95th minus 10th percentile of frame RMS
      },
      "hum": {
        "detected": false,
        "mains_hz": null,                  # 50, 60 or null
        "level_db": null                   # dB over the neighbourhood, if detected
      },
      "spectral_balance_db": {             # share of 20 Hz - 20 kHz energy, dB (<= 0)
        "low": -3.1,                       # 20-250 Hz
        "low_mid": -4.0,                   # 250-2000 Hz
        "presence": -9.8,                  # 2-6 kHz
        "air": -17.5                       # 6-20 kHz
      }
    }

Definitions of the estimates (not standardised measures):

- ``clipped_samples`` counts samples that lie in a run of at least
  ``CLIP_MIN_RUN`` (3) consecutive samples of one channel, all at or beyond
  ``+CLIP_LEVEL`` or all at or beyond ``-CLIP_LEVEL`` (0.999 full scale), i.e.
  flat tops; a lone full-scale sample is a peak, not a clip. ``clipped_runs``
  counts those runs. Legitimate audio that sits within 0.009 dB of full scale
  for three samples counts too.
- ``noise_floor_dbfs`` and ``snr_db`` use the RMS of consecutive 50 ms frames
  (all channels pooled), binned at 0.1 dB. Frames below -150 dBFS are digital
  silence (edits, padding), not a noise floor, and are left out. ``snr_db`` is
  the 95th minus the 10th percentile: for speech with pauses it approximates
  speech level over background noise; for a signal without pauses it is small
  and means little.
- ``hum``: in the averaged spectrum the power within ±3 Hz of each harmonic
  ``k * f0`` (k = 1..5, f0 = 50 and 60 Hz) is compared with the median power of
  the bins 8-25 Hz away on both sides. A family is detected when its
  fundamental, or at least two of its harmonics, stand ``HUM_DETECT_DB`` (6 dB)
  above their neighbourhood. ``level_db`` is the total power at the five
  harmonics over the neighbourhood level in the same bins, for the detected
  family (the stronger one if both are); ``None`` when no hum is detected.
- ``spectral_balance_db`` is each band's share of the energy between 20 Hz and
  20 kHz, in dB, from a Welch-averaged power spectrum (Hann, 50 % overlap,
  1-2 Hz bins). It is floored at ``-120.0``; a band wholly above Nyquist is
  ``None``.

:func:`compare` pairs two reports field by field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "SCHEMA_VERSION",
    "AudioAnalyzer",
    "LoudnessMeter",
    "LoudnessResult",
    "TruePeakMeter",
    "analyze_array",
    "analyze_file",
    "compare",
    "integrated_loudness",
    "k_weighting_sos",
    "true_peak_dbtp",
]

#: Version of the report dict; bumped whenever a field changes meaning or moves.
SCHEMA_VERSION = 1

# --- ITU-R BS.1770-4 ---------------------------------------------------------

#: Gating block duration T_g, seconds.
T_G = 0.400
#: Overlap of consecutive gating blocks.
OVERLAP = 0.75
#: Sub-block step: gating blocks start every T_g * (1 - overlap) = 100 ms, so
#: storing one energy per 100 ms is enough to rebuild every window.
T_STEP = T_G * (1.0 - OVERLAP)
#: The -0.691 dB in l_j = -0.691 + 10 log10(sum G_i z_i): cancels the K-filter's
#: gain near 1 kHz, so a 1 kHz tone reads its own level.
L_K_OFFSET = -0.691
#: Absolute gate Gamma_a, LKFS.
GAMMA_A = -70.0
#: Relative gate Gamma_r, LU relative to the absolute-gated loudness.
GAMMA_R = -10.0
#: Channel weights G_i (Table 3): front channels, and left/right surround.
G_FRONT = 1.0
G_SURROUND = 1.41

# K-weighting stage 1 (high shelf) and stage 2 (high-pass) analog prototypes.
# BS.1770-4 prints the coefficients only for 48 kHz. These prototype
# parameters (Brecht De Man's fit, also used by pyloudnorm's "DeMan" filters)
# reproduce that table to 1e-10 through the prewarped bilinear transform, and
# give the same curve at other rates (within 0.02 dB from 44.1 to 96 kHz).
SHELF_F0_HZ = 1681.9744509555319
SHELF_GAIN_DB = 3.99984385397
SHELF_Q = 0.7071752369554193
#: The shelf's mid-band gain is Vh ** SHELF_VB_EXPONENT (almost sqrt(Vh)).
SHELF_VB_EXPONENT = 0.499666774155
HIGHPASS_F0_HZ = 38.13547087613982
HIGHPASS_Q = 0.5003270373253953

# --- EBU Tech 3341 (meter windows) and Tech 3342 (loudness range) ------------

#: Momentary window T_M and short-term window T_S, seconds.
T_M = 0.4
T_S = 3.0
#: Tech 3342 constants, named as in its reference MATLAB code.
LRA_ABS_THRES = -70.0
LRA_REL_THRES = -20.0
LRA_PRC_LOW = 10.0
LRA_PRC_HIGH = 95.0

# --- ITU-R BS.1770-4 Annex 2 (true peak) -------------------------------------

#: The Annex's order-48 interpolating FIR, one row per phase of 12 taps
#: (printed as one column per phase). Phases 2 and 3 are phases 1 and 0 reversed.
TRUE_PEAK_PHASES = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
         -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
         0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
         -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
         0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
        [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000,
         -0.2003173828125, 0.7797851562500, 0.4650878906250, -0.1665039062500,
         0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
        [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750,
         -0.1022949218750, 0.9721679687500, 0.1373291015625, -0.0594482421875,
         0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
    ]
)  # fmt: skip
#: At and above this rate 2x oversampling reaches >= 352.8 kHz, which the Annex
#: accepts; below it 4x is used.
TRUE_PEAK_2X_RATE = 176_400.0

# --- Health report estimates (see the module docstring) ----------------------

CLIP_LEVEL = 0.999
CLIP_MIN_RUN = 3
FRAME_S = 0.050
NOISE_FLOOR_PERCENTILE = 10.0
SIGNAL_PERCENTILE = 95.0
#: Frame-level histogram: 0.1 dB bins from -150 dBFS (below: digital silence).
FRAME_HIST_LO_DB = -150.0
FRAME_HIST_HI_DB = 30.0
FRAME_HIST_STEP_DB = 0.1
#: Welch segment length is the power of two giving bins of 1-2 Hz: narrow
#: enough to see a mains harmonic apart from its neighbourhood.
WELCH_MAX_BIN_HZ = 2.0
MAINS_HZ = (50, 60)
HUM_HARMONICS = 5
HUM_PEAK_HALF_WIDTH_HZ = 3.0
HUM_NEIGHBOUR_HZ = (8.0, 25.0)
HUM_DETECT_DB = 6.0
BANDS_HZ = {
    "low": (20.0, 250.0),
    "low_mid": (250.0, 2000.0),
    "presence": (2000.0, 6000.0),
    "air": (6000.0, 20000.0),
}
BAND_FLOOR_DB = -120.0

MIN_SAMPLE_RATE = 8000.0
MAX_CHANNELS = 32
#: Blocks are processed in slices of this many samples, which bounds the
#: float64 temporaries however large a block the caller hands in.
_SLICE = 1 << 16
_TRUE_PEAK_SLICE = 1 << 14  # fits the (C, n, 12) window product in cache


# --- input checks --------------------------------------------------------------


def _check_rate(sample_rate: float) -> float:
    try:
        fs = float(sample_rate)
    except (TypeError, ValueError):
        fs = math.nan
    if not math.isfinite(fs) or fs < MIN_SAMPLE_RATE:
        raise ParameterError(
            f"sample_rate must be a number >= {MIN_SAMPLE_RATE:.0f} Hz, got {sample_rate!r}"
        )
    return fs


def _check_channels(channels: int) -> int:
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)):
        raise ParameterError(f"channels must be an int, got {channels!r}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ParameterError(f"channels must be 1..{MAX_CHANNELS}, got {channels}")
    return int(channels)


def _as_channels_first(audio: Any, channels: int | None = None) -> np.ndarray:
    """Validate ``audio`` as ``(channels, n)`` (or 1-D mono) finite floats, without copying."""
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[np.newaxis, :]
    if a.ndim != 2:
        raise ParameterError(f"audio must be 1-D or (channels, n), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ParameterError(
            f"audio must be floating point in [-1, 1], got dtype {a.dtype}; "
            "convert integer PCM with x / 2**(bits - 1)"
        )
    if channels is None:
        if a.shape[0] > MAX_CHANNELS:
            raise ParameterError(
                f"audio has {a.shape[0]} channels (shape {a.shape}); clarity-fx is "
                "channels-first, so pass audio.T if this is (n, channels)"
            )
    elif a.shape[0] != channels:
        raise ParameterError(
            f"block has {a.shape[0]} channels (shape {a.shape}) but the meter was made "
            f"for {channels}; pass (channels, n) blocks, e.g. audio.T"
        )
    if not np.isfinite(a).all():
        raise ParameterError("audio contains NaN or inf; fix the source before measuring")
    return a


def _slices(a: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, a.shape[1], size):
        yield a[:, start : start + size].astype(np.float64, copy=False)


def _db_power(p: float) -> float | None:
    return 10.0 * math.log10(p) if p > 0.0 else None


def _db_amplitude(a: float) -> float | None:
    return 20.0 * math.log10(a) if a > 0.0 else None


# --- K-weighting ---------------------------------------------------------------


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The BS.1770-4 K-weighting filter for ``sample_rate`` as second-order sections.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 8000).

    Returns
    -------
    numpy.ndarray
        Shape ``(2, 6)``: the high shelf, then the high-pass, in
        ``scipy.signal.sosfilt`` layout ``[b0, b1, b2, 1, a1, a2]``. At 48 kHz
        these are the coefficients printed in BS.1770-4, Tables 1 and 2.
    """
    fs = _check_rate(sample_rate)

    # Stage 1, high shelf: prewarped bilinear transform of the analog shelf.
    k = math.tan(math.pi * SHELF_F0_HZ / fs)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh**SHELF_VB_EXPONENT
    a0 = 1.0 + k / SHELF_Q + k * k
    shelf = [
        (vh + vb * k / SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / SHELF_Q + k * k) / a0,
    ]

    # Stage 2, high-pass: the standard keeps the numerator at [1, -2, 1]
    # (not normalised to unit passband gain), so do we.
    k = math.tan(math.pi * HIGHPASS_F0_HZ / fs)
    a0 = 1.0 + k / HIGHPASS_Q + k * k
    highpass = [
        1.0,
        -2.0,
        1.0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / HIGHPASS_Q + k * k) / a0,
    ]
    return np.array([shelf, highpass])


def _default_weights(channels: int) -> np.ndarray:
    if channels == 5:  # L, R, C, Ls, Rs
        return np.array([G_FRONT] * 3 + [G_SURROUND] * 2)
    if channels == 6:  # 5.1 in ITU/SMPTE order L, R, C, LFE, Ls, Rs; the LFE is not measured
        return np.array([G_FRONT] * 3 + [0.0] + [G_SURROUND] * 2)
    return np.full(channels, G_FRONT)


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
        self.sample_rate = _check_rate(sample_rate)
        self.channels = _check_channels(channels)
        if channel_weights is None:
            self._g = _default_weights(self.channels)
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
        for x in _slices(_as_channels_first(block, self.channels), _SLICE):
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
        self.sample_rate = _check_rate(sample_rate)
        self.channels = _check_channels(channels)
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

    def add(self, block: np.ndarray) -> None:
        """Feed the next block of audio.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` floats (1-D for mono); any ``n``, including 0.
        """
        for x in _slices(_as_channels_first(block, self.channels), _TRUE_PEAK_SLICE):
            self._add(x)

    def _interpolated_peak(self, ext: np.ndarray) -> float:
        windows = np.lib.stride_tricks.sliding_window_view(ext, self._taps, axis=1)
        y = windows @ self._kernel  # (channels, n, oversampling)
        return max(float(y.max()), -float(y.min()))

    def _add(self, x: np.ndarray) -> None:
        if x.shape[1] == 0:
            return
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
    a = _as_channels_first(audio)
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
    a = _as_channels_first(audio)
    meter = TruePeakMeter(sample_rate, a.shape[0])
    meter.add(a)
    value = meter.result()
    return -math.inf if value is None else value


# --- health statistics ---------------------------------------------------------


class _LevelStats:
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
        samples, runs = self.clipped_samples, self.clipped_runs
        for length in self.open_run.ravel():
            if length >= CLIP_MIN_RUN:  # runs still open at the end of the signal
                samples += int(length)
                runs += 1
        return samples, runs


class _AveragedSpectrum:
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


def _hum(freqs: np.ndarray, power: np.ndarray) -> dict[str, Any]:
    """Mains-hum detection on an averaged power spectrum (see the module docstring)."""
    nyquist = freqs[-1]
    # Ratios are floored at -120 dB of the total so a perfectly clean synthetic
    # neighbourhood gives a large finite number, not a division by zero.
    eps = 1e-12 * float(power.sum())
    if eps == 0.0:
        return {"detected": False, "mains_hz": None, "level_db": None}
    found = []  # (level_db, f0) of each detected family
    for f0 in MAINS_HZ:
        peaks, refs, ratios_db = 0.0, 0.0, []
        for k in range(1, HUM_HARMONICS + 1):
            fc = k * f0
            if fc + HUM_NEIGHBOUR_HZ[1] >= nyquist:
                break
            distance = np.abs(freqs - fc)
            peak_bins = distance <= HUM_PEAK_HALF_WIDTH_HZ
            neighbours = (distance >= HUM_NEIGHBOUR_HZ[0]) & (distance <= HUM_NEIGHBOUR_HZ[1])
            p = float(power[peak_bins].sum())
            # The median ignores a neighbouring harmonic of the other mains family.
            ref = float(np.median(power[neighbours])) * int(peak_bins.sum())
            peaks += p
            refs += ref
            ratios_db.append(10.0 * math.log10((p + eps) / (ref + eps)))
        if ratios_db:
            # A fundamental alone is hum; a lone harmonic is more likely a note.
            above = sum(r >= HUM_DETECT_DB for r in ratios_db)
            if ratios_db[0] >= HUM_DETECT_DB or above >= 2:
                found.append((10.0 * math.log10((peaks + eps) / (refs + eps)), f0))
    if not found:
        # No level then: the strongest single harmonic of an undetected family
        # is usually a note, and a large number there would read as hum.
        return {"detected": False, "mains_hz": None, "level_db": None}
    level, f0 = max(found)
    return {"detected": True, "mains_hz": f0, "level_db": level}


def _spectral_balance(freqs: np.ndarray, power: np.ndarray) -> dict[str, float | None]:
    energies = {}
    for name, (lo, hi) in BANDS_HZ.items():
        in_band = (freqs >= lo) & (freqs < hi)
        energies[name] = float(power[in_band].sum()) if in_band.any() else None
    total = sum(e for e in energies.values() if e is not None)
    out: dict[str, float | None] = {}
    for name, e in energies.items():
        if e is None or total <= 0.0:
            out[name] = None
        elif e > 0.0:
            out[name] = max(BAND_FLOOR_DB, 10.0 * math.log10(e / total))
        else:
            out[name] = BAND_FLOOR_DB
    return out


# --- the analyzer --------------------------------------------------------------


class AudioAnalyzer:
    """Streaming health report: feed blocks with :meth:`add`, read :meth:`result`.

    Runs a :class:`LoudnessMeter`, a :class:`TruePeakMeter`, level statistics
    and an averaged spectrum side by side; memory stays flat in file length.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 8000).
    channels : int
        Number of channels of every block.
    """

    def __init__(self, sample_rate: float, channels: int) -> None:
        self.sample_rate = _check_rate(sample_rate)
        self.channels = _check_channels(channels)
        self._loudness = LoudnessMeter(self.sample_rate, self.channels)
        self._true_peak = TruePeakMeter(self.sample_rate, self.channels)
        self._levels = _LevelStats(self.sample_rate, self.channels)
        self._spectrum = _AveragedSpectrum(self.sample_rate, self.channels)

    def add(self, block: np.ndarray) -> None:
        """Feed the next block of audio.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` floats (1-D for mono); any ``n``, including 0.
        """
        for x in _slices(_as_channels_first(block, self.channels), _SLICE):
            self._loudness._add(x)
            for start in range(0, x.shape[1], _TRUE_PEAK_SLICE):
                self._true_peak._add(x[:, start : start + _TRUE_PEAK_SLICE])
            self._levels.add(x)
            self._spectrum.add(x)

    def result(self) -> dict[str, Any]:
        """The report so far, in the schema of the module docstring.

        Returns
        -------
        dict
            JSON-ready; ``None`` where a value is not measurable.
        """
        lv = self._levels
        loud = self._loudness.result()
        sample_peak = _db_amplitude(lv.peak)
        rms = _db_power(lv.sum_sq / (lv.n * self.channels)) if lv.n else None
        noise_floor = lv.percentile_db(NOISE_FLOOR_PERCENTILE)
        signal = lv.percentile_db(SIGNAL_PERCENTILE)
        clipped_samples, clipped_runs = lv.clip_counts()
        spectrum = self._spectrum.spectrum()
        if spectrum is None:
            hum = {"detected": False, "mains_hz": None, "level_db": None}
            balance: dict[str, float | None] = dict.fromkeys(BANDS_HZ)
        else:
            hum = _hum(*spectrum)
            balance = _spectral_balance(*spectrum)
        rate = self.sample_rate
        return {
            "schema_version": SCHEMA_VERSION,
            "sample_rate": int(rate) if rate.is_integer() else rate,
            "channels": self.channels,
            "duration_s": lv.n / rate,
            "loudness": {
                "integrated_lufs": loud.integrated_lufs,
                "range_lu": loud.loudness_range_lu,
                "short_term_max_lufs": loud.short_term_max_lufs,
                "momentary_max_lufs": loud.momentary_max_lufs,
            },
            "peak": {
                "true_peak_dbtp": self._true_peak.result(),
                "sample_peak_dbfs": sample_peak,
                "clipped_samples": clipped_samples,
                "clipped_runs": clipped_runs,
            },
            "level": {
                "rms_dbfs": rms,
                "crest_factor_db": (
                    sample_peak - rms if sample_peak is not None and rms is not None else None
                ),
                "dc_offset": [float(s) / lv.n if lv.n else 0.0 for s in lv.sums],
                "noise_floor_dbfs": noise_floor,
                "snr_db": signal - noise_floor if noise_floor is not None else None,
            },
            "hum": hum,
            "spectral_balance_db": balance,
        }


def analyze_array(audio: np.ndarray, sample_rate: float) -> dict[str, Any]:
    """Health report of a whole array.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)`` or 1-D mono, floats in full-scale units.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    dict
        The report described in the module docstring.
    """
    a = _as_channels_first(audio)
    analyzer = AudioAnalyzer(sample_rate, a.shape[0])
    analyzer.add(a)
    return analyzer.result()


def analyze_file(path: str | PathLike[str], block_seconds: float = 5.0) -> dict[str, Any]:
    """Health report of an audio file, read in blocks so memory stays flat.

    Parameters
    ----------
    path : str or os.PathLike
        Any audio file clarity reads (WAV, FLAC, MP3, OGG, AIFF, ...), vetted
        by :func:`clarity_fx.audio_io.open_audio` as ``render`` vets it.
    block_seconds : float, default 5.0
        Length of each block read; results do not depend on it.

    Returns
    -------
    dict
        The report described in the module docstring.

    Raises
    ------
    AudioFileError
        If the file is missing, not audio, truncated or damaged, or holds
        NaN or infinite samples.
    """
    from .audio_io import open_audio, read_blocks

    if not (isinstance(block_seconds, (int, float)) and block_seconds > 0):
        raise ParameterError(f"block_seconds must be a positive number, got {block_seconds!r}")
    info = open_audio(path)
    analyzer = AudioAnalyzer(info.sample_rate, info.channels)
    for data in read_blocks(info, max(1, round(block_seconds * info.sample_rate))):
        analyzer.add(data)
    return analyzer.result()


# --- before/after ----------------------------------------------------------------

#: Numeric fields that are labels: their difference means nothing.
_CATEGORICAL = frozenset({"mains_hz"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _leaf(key: str, before: Any, after: Any) -> dict[str, Any]:
    numeric = _is_number(before) and _is_number(after) and key not in _CATEGORICAL
    return {"before": before, "after": after, "difference": after - before if numeric else None}


def _compare_tree(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        b, a = before.get(key), after.get(key)
        if isinstance(b, dict) and isinstance(a, dict):
            out[key] = _compare_tree(b, a)
        elif isinstance(b, list) and isinstance(a, list) and len(b) == len(a):
            out[key] = [_leaf(key, x, y) for x, y in zip(b, a, strict=True)]
        else:
            out[key] = _leaf(key, b, a)
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Pair two reports field by field, e.g. before and after processing.

    Parameters
    ----------
    before, after : dict
        Reports from :func:`analyze_file` or :func:`analyze_array`, same schema version.

    Returns
    -------
    dict
        The reports' nesting, with every field (and every ``dc_offset``
        channel) replaced by ``{"before": b, "after": a, "difference": a - b}``.
        ``difference`` is ``None`` unless both sides are numbers and the field
        is a quantity (not for ``hum.detected`` or ``hum.mains_hz``).
        ``schema_version`` stays a plain int.

    Raises
    ------
    ParameterError
        If either report is not a dict of this module's schema version.
    """
    for name, report in (("before", before), ("after", after)):
        version = report.get("schema_version") if isinstance(report, dict) else None
        if version != SCHEMA_VERSION:
            raise ParameterError(
                f"{name} has schema_version {version!r}, expected {SCHEMA_VERSION}; "
                "re-run the analysis with this clarity-fx version"
            )
    fields = {k: v for k, v in before.items() if k != "schema_version"}
    others = {k: v for k, v in after.items() if k != "schema_version"}
    return {"schema_version": SCHEMA_VERSION, **_compare_tree(fields, others)}
