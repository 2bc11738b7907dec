"""Reference matching: give a recording the long-term spectrum, loudness and width of another.

Ozone's Match EQ and matchering do this for mastering: analyse a finished
reference, analyse the mix, and apply the difference. Here the difference is
a linear-phase FIR (through :class:`~clarity_fx.FFTFilter`) designed from the
two :class:`~clarity_fx.processors.match_profile.MatchProfile` objects, then
a gain to the reference's BS.1770 loudness, and optionally a side gain that
gives the reference's mid/side balance.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..plugin import Param, Plugin, StreamState, current_render
from .match_profile import (
    MatchProfile,
    analyse_file,
    band_centres,
    band_edges,
    band_power,
    smooth_octaves,
    third_octave_centres,
)

__all__ = ["MatchEQ", "MatchProfile", "design_correction", "load_reference"]

#: Passes of the third-octave refinement (each corrects the bands' remaining error).
REFINEMENTS = 8
#: Passes through the ceiling limiter the fit may take (render allows 6 in all: 2 come first).
LIMITED_PASSES = 4
#: Through the limiter, stop once the loudness is this close to its target (LU) ...
LIMITED_TOLERANCE_LU = 0.02
#: ... and the third-octave errors this close to one another (dB, peak to peak).
LIMITED_TOLERANCE_DB = 0.3
#: Bound of the width match's side gain, ±dB (or max_gain_db when lower).
SIDE_GAIN_LIMIT_DB = 12.0
#: Smoothed densities are floored this far below their maximum before dB (silent bands).
DYNAMIC_RANGE_DB = 150.0
#: The correction stops this far below the lower Nyquist frequency (the anti-alias roll-off).
NYQUIST_MARGIN = 0.95
#: FIR length per second of sample rate when ``n_taps`` is not given: 32768 taps at 44.1 and 48 kHz.
TAPS_PER_HZ = 0.68


# --------------------------------------------------------------------------- the reference
_CACHE: dict[tuple[str, int, int], MatchProfile] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def _is_profile_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == ".json"


def load_reference(reference: str | os.PathLike[str] | MatchProfile) -> MatchProfile:
    """The :class:`MatchProfile` of a reference: a profile, a saved ``.json`` profile, or an audio file.

    An audio file is analysed once (in blocks) and its profile remembered
    while the file is unchanged, so a chain built for every track of an album
    analyses the reference once.

    Raises
    ------
    AudioFileError
        When the file is missing or is neither audio nor a match profile.
    """
    if isinstance(reference, MatchProfile):
        return reference
    from .._paths import expand_user

    path = expand_user(reference)
    if _is_profile_path(path):
        return MatchProfile.load(path)
    try:
        info = path.stat()
        key = (str(path.resolve()), info.st_mtime_ns, info.st_size)
    except OSError:
        return analyse_file(path, what="reference")  # says what is wrong with the path
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = analyse_file(path, what="reference")
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = cached
    return cached


def _check_reference(value: Any) -> Any:
    """A reference as the parameter keeps it: a MatchProfile, or a path (str), vetted now."""
    if isinstance(value, MatchProfile):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(
            "reference must be an audio file, a saved .json profile or a MatchProfile, "
            f"not {type(value).__name__}"
        )
    if _is_profile_path(value):
        MatchProfile.load(value)  # a bad profile fails when set, not at the first block
    else:
        from ..audio_io import open_audio

        open_audio(value, what="reference")
    return os.fspath(value)


def _check_profile(value: Any) -> Any:
    if isinstance(value, MatchProfile):
        return value
    if not isinstance(value, (str, os.PathLike)) or not _is_profile_path(value):
        raise ParameterError("profile must be a saved match profile (.json) or a MatchProfile; "
                             "give an audio file as reference= instead")
    MatchProfile.load(value)
    return os.fspath(value)


# --------------------------------------------------------------------------- the design
def _k_power(freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """``|K(f)|²`` of BS.1770's K-weighting at ``freqs_hz`` (0 at and above Nyquist)."""
    import scipy.signal

    from ..bs1770 import k_weighting_sos

    inside = freqs_hz < sample_rate / 2.0
    out = np.zeros_like(freqs_hz)
    _, h = scipy.signal.sosfreqz(k_weighting_sos(sample_rate), worN=freqs_hz[inside], fs=sample_rate)
    out[inside] = np.abs(h) ** 2
    return out


def design_correction(
    reference: MatchProfile,
    source: MatchProfile,
    sample_rate: float,
    *,
    smoothing_octaves: float = 1.0 / 6.0,
    max_gain_db: float = 30.0,
    refinements: int = REFINEMENTS,
    low_hz: float = 20.0,
    high_hz: float = 20000.0,
    side_gain: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The matching EQ curve ``C(f)`` in dB, loudness-neutral and bounded, on the profiles' band centres.

    Parameters
    ----------
    reference, source : MatchProfile
        What to match to, and the audio to be corrected.
    sample_rate : float
        Rate the correction will run at (for the K-weighting and Nyquist).
    smoothing_octaves : float, optional
        Width ``b`` of the fractional-octave smoothing of the first estimate:
        the curve's shape inside a third-octave band.
    max_gain_db : float, optional
        Safety bound ``B``: ``|C(f)| ≤ B``. Where the two spectra differ by
        more (after the loudness-neutral offset) the curve stops at ``±B``
        and those bands stay short of the reference by the rest.
    refinements : int, optional
        Passes of the third-octave refinement.
    low_hz, high_hz : float, optional
        The matched range. Below ``low_hz`` the curve fades to 0 dB over an
        octave; above ``high_hz`` (or 0.95 of the lower Nyquist) it holds its
        last value.
    side_gain : float, optional
        The side gain that will be applied before the EQ (width matching).

    Returns
    -------
    freqs_hz, correction_db : numpy.ndarray
        Band centres and ``C`` there.

    Notes
    -----
    With ``P_r`` the reference's mean channel power density, ``P_s = M_s +
    g²·S_s`` the source's after the side gain ``g``, ``S_b`` the ``b``-octave
    smoothing (:func:`~clarity_fx.processors.match_profile.smooth_octaves`),
    and ``W_n[P] = ∫_{f_n·10^{−0.05}}^{f_n·10^{0.05}} P(f) df`` the power in
    the base-10 third-octave band ``n`` (IEC 61260, centres ``f_n =
    1000·10^{n/10}`` Hz) inside the matched range, the first estimate is the
    classic ratio of smoothed spectra,

    .. math::

        C_0 = \\mathrm{clip}\\Big(10 \\log_{10} \\frac{S_b[P_r]}{S_b[P_s]} − O(P_s), −B, B\\Big),

    and each refinement measures the corrected input in the third-octave
    bands and corrects what remains:

    .. math::

        P_k = P_s · 10^{C_k/10}, \\qquad
        E_k(f_n) = 10 \\log_{10} \\frac{W_n[P_r]}{W_n[P_k]},

        C_{k+1} = \\mathrm{clip}\\big(C_k + \\mathcal{I}[E_k] − O(P_k), −B, B\\big),

    where ``𝓘`` interpolates the band errors linearly in log frequency
    between band centres (constant beyond the end ones), and
    ``O(P) = 10 log₁₀(Σ_f |K(f)|² P_r Δf / Σ_f |K(f)|² P Δf)`` is the
    K-weighted (BS.1770) offset, which keeps the curve loudness-neutral:
    a uniform shift that does not change the match between bands, so the
    bound ``B`` limits the EQ's shape, not the level difference (loudness is
    matched by a separate gain). A band's power depends mostly on its own
    error and a quarter on each neighbour's, so the errors shrink about
    threefold per pass; ``REFINEMENTS`` (8) passes leave well under 0.01 dB
    in the design wherever the bound is not reached. ``C₀`` keeps the 1/6-octave
    shape inside each band; the refinement sets each band's level.
    """
    model = _CurveModel(reference, source, sample_rate, max_gain_db, low_hz, high_hz, side_gain)
    if model.empty:
        return model.freqs, np.zeros(model.freqs.size)
    curve = model.initial(smoothing_octaves)
    for _ in range(refinements if model.centres.size else 0):
        curve = model.step(curve, model.src * 10.0 ** (curve / 10.0))
    return model.freqs, curve


class _CurveModel:
    """The two spectra on a common band grid, and the steps of :func:`design_correction`."""

    def __init__(self, reference: MatchProfile, source: MatchProfile, sample_rate: float, max_gain_db: float,
                 low_hz: float, high_hz: float, side_gain: float) -> None:
        first = max(reference.first_band, source.first_band)
        last = min(reference.first_band + reference.mid.size, source.first_band + source.mid.size) - 1
        count = last - first + 1
        if count < 2:
            raise ParameterError("the reference and the input share no frequency range; "
                                 "check their sample rates")
        r0, s0 = first - reference.first_band, first - source.first_band
        self.first, self.bound = first, float(max_gain_db)
        self.ref = reference.power[r0 : r0 + count]
        self.src = source.mid[s0 : s0 + count] + side_gain**2 * source.side[s0 : s0 + count]
        self.freqs = freqs = band_centres(first, count)
        top = min(high_hz, NYQUIST_MARGIN * min(reference.sample_rate, source.sample_rate, sample_rate) / 2.0)
        self.active = active = (freqs >= low_hz) & (freqs <= top)
        self.empty = not active.any()
        if self.empty:
            return
        self.weight = _k_power(freqs, sample_rate) * np.diff(band_edges(first, count)) * active
        self.fade = 0.5 * (1.0 + np.cos(np.pi * np.clip(np.log2(low_hz / freqs), 0.0, 1.0)))
        self.low_edge = int(np.argmax(active))
        self.high_edge = int(len(active) - 1 - np.argmax(active[::-1]))
        self.floor = float(np.max(self.ref, initial=0.0)) * 10.0 ** (-DYNAMIC_RANGE_DB / 10.0) + 1e-300
        self.centres = third_octave_centres(max(low_hz, float(freqs[0])), top)
        self.lows, self.highs = self.centres * 10.0**-0.05, self.centres * 10.0**0.05
        self.wanted = np.maximum(band_power(first, self.ref, self.lows, self.highs), self.floor)

    def floored(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, float(np.max(x, initial=0.0)) * 10.0 ** (-DYNAMIC_RANGE_DB / 10.0) + 1e-300)

    def offset(self, out: np.ndarray) -> float:
        """``O(P)``: the K-weighted level of the reference over ``out``, dB."""
        return 10.0 * math.log10(float(np.sum(self.weight * self.ref))
                                 / max(float(np.sum(self.weight * out)), 1e-300))

    def bounded(self, values: np.ndarray) -> np.ndarray:
        """Clip to ±B in the range; fade to 0 dB below it, hold the last value above it."""
        inner = np.where(self.active, np.clip(values, -self.bound, self.bound), 0.0)
        inner[: self.low_edge] = inner[self.low_edge] * self.fade[: self.low_edge]
        inner[self.high_edge + 1 :] = inner[self.high_edge]
        return inner

    def initial(self, smoothing_octaves: float) -> np.ndarray:
        """``C₀``: the ratio of the smoothed spectra, loudness-neutral and bounded."""
        target = self.floored(smooth_octaves(self.first, self.ref, smoothing_octaves))
        smoothed = self.floored(smooth_octaves(self.first, self.src, smoothing_octaves))
        return self.bounded(10.0 * np.log10(target / smoothed) - self.offset(self.src))

    def band_error(self, out: np.ndarray) -> np.ndarray:
        """``E(f_n)``: the reference's power over ``out``'s in each third-octave band, dB."""
        got = band_power(self.first, out, self.lows, self.highs)
        return 10.0 * np.log10(self.wanted / np.maximum(got, self.floor))

    def step(self, curve: np.ndarray, out: np.ndarray, error: np.ndarray | None = None) -> np.ndarray:
        """One refinement: ``C + 𝓘[E] − O``, with ``E`` measured on ``out`` unless given."""
        error = self.band_error(out) if error is None else error
        spread = np.interp(np.log2(self.freqs), np.log2(self.centres), error)
        return self.bounded(curve + spread - self.offset(out))


# --------------------------------------------------------------------------- the processing stage
class _Correction(Plugin):
    """What MatchEQ applies once designed: side gain ``g``, then the FIR ``H`` (or a plain delay)."""

    def __init__(self, side_gain: float, transfer_function: Any, n_taps: int) -> None:
        super().__init__()
        from .fft_filter import FFTFilter

        self.side_gain = float(side_gain)
        self.n_taps = int(n_taps)
        self.filter = None if transfer_function is None else FFTFilter(transfer_function, n_taps=self.n_taps)

    def latency_for(self, sample_rate: float) -> int:
        return self.n_taps // 2

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        # Overlap-save costs an FFT of (taps + block) per block: blocks of 4 taps keep 80 % of it
        # useful, against 20 % at 8192 with 32768 taps. The output does not depend on it.
        super()._start(sample_rate, channels, max(buffer_size, 4 * self.n_taps))

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        x = block
        if self.side_gain != 1.0 and state.channels == 2:
            # L' = M + gS, R' = M − gS with M = (L+R)/2, S = (L−R)/2.
            a, b = 0.5 * (1.0 + self.side_gain), 0.5 * (1.0 - self.side_gain)
            x = np.stack((a * block[0] + b * block[1], b * block[0] + a * block[1]))
        if self.filter is not None:
            if "inner" not in state:
                state.inner = StreamState(state.sample_rate, state.channels, state.buffer_size)
            return self.filter.process_block(x, state.inner)
        # A plain delay of the latency: the base class removes it, so the output is x exactly.
        if "line" not in state:
            state.line = np.zeros((state.channels, self.n_taps // 2), np.float32)
        joined = np.concatenate((state.line, x), axis=1)
        state.line = joined[:, x.shape[1] :]
        return joined[:, : x.shape[1]]


# --------------------------------------------------------------------------- the processor
class MatchEQ(Plugin):
    """Match a reference's long-term spectrum, loudness and (optionally) stereo width.

    Parameters
    ----------
    reference : str, os.PathLike or MatchProfile, optional
        The reference: an audio file (analysed once), a profile saved as
        ``.json`` (:meth:`MatchProfile.save`, ``clarity match
        --save-profile``) or a :class:`MatchProfile`.
    profile : str, os.PathLike or MatchProfile, optional
        The same as a saved profile only (presets: ``profile: album.json``).
        Give ``reference`` or ``profile``, not both.
    amount : float, optional
        0 (the input, exactly) to 1 (the full match): scales the EQ curve
        and the loudness gain in dB, and the side gain's exponent.
    smoothing_octaves : float, optional
        Fractional-octave smoothing of the first estimate (1/6 by default):
        the curve's shape inside each third-octave band, whose level the
        third-octave refinement then sets.
    max_gain_db : float, optional
        Safety bound of the EQ curve, ±dB (30 by default; the side gain stays
        within ±min(this, 12) dB). Where the two spectra differ by more, the
        curve stops at the bound and those bands stay short of the reference
        by the rest.
    match_loudness : bool, optional
        Add the gain that gives the reference's integrated loudness (BS.1770-4).
    match_width : bool, optional
        Stereo only: scale the side signal to the reference's side-to-mid ratio.
    low_hz, high_hz : float, optional
        Matched range; the curve fades to 0 dB over the octave below
        ``low_hz`` and holds above ``high_hz``.
    ceiling_dbtp : float, optional
        A true-peak ceiling, dBTP: the EQ and gain are followed by a
        :class:`~clarity_fx.TruePeakLimiter`, and the fit refines the gain
        and (at ``amount=1``) the curve through it, so the limited output
        keeps the reference's loudness and third-octave spectrum (``clarity
        match`` sets −1). None (the default): no limiter.
    n_taps : int, optional
        FIR length; by default ``2^⌈log₂(0.68·fs)⌉`` (32768 at 44.1 and 48 kHz:
        1.35 Hz resolution, so the 40 Hz third-octave band, 9 Hz wide, and a
        1/6-octave shape inside it are realised within 0.1 dB).

    Notes
    -----
    Analysis (:mod:`~clarity_fx.processors.match_profile`): the long-term
    power spectral densities of mid ``M = (L+R)/2`` and side ``S = (L−R)/2``
    (Welch, Hann, 0.67 Hz bins at 44.1 kHz) in 1/96-octave bands, and the
    integrated loudness ``L``, of the reference and of the input.

    Correction, with ``a = amount``:

    .. math::

        g = \\mathrm{clip}\\Big(\\sqrt{\\frac{(S/M)_{ref}}{(S/M)_{in}}}, 10^{±B_w/20}\\Big)^{a}
        \\quad (\\text{with } match\\_width; \\text{ else } g = 1),

        H(f) = 10^{(a·C(f) + G)/20}, \\qquad G = a · (L_{ref} − L_{C}),

        y = h * [M + g S, \\; M − g S],

    where ``B_w = min(max_gain_db, 12)``, ``C(f)`` is :func:`design_correction`'s
    curve (bounded to ±``B`` = ``max_gain_db``, loudness-neutral: a 1/6-octave
    smoothed ratio of the spectra, refined until the corrected input's power
    in every third-octave band of the matched range is the reference's, up
    to one common offset), ``h`` the zero-phase FIR
    of ``H`` made linear-phase by :class:`~clarity_fx.FFTFilter` (latency
    ``n_taps/2``), and ``L_C`` the loudness of the input after the curve and
    side gain, measured in a second pre-pass: so at ``amount=1`` the output's
    integrated loudness is the reference's (within 0.01 LU, whatever the
    gating). ``G`` is not bounded, and the output may exceed 0 dBFS: give
    ``ceiling_dbtp`` when the result must fit a fixed-point file, as
    ``clarity match`` does.

    With ``ceiling_dbtp = c`` the output is ``TPL_c(y)``
    (:class:`~clarity_fx.TruePeakLimiter`). A limiter lowers loudness and,
    since it ducks the whole spectrum when peaks pass (which come from some
    bands more than others), changes the long-term spectrum: on the bench's
    pairs a separate LoudnessNormalize after MatchEQ moved bands by up to
    3 dB. So the fit takes up to ``LIMITED_PASSES`` (4) more passes through
    the limiter; each measures the limited output's loudness ``L_k`` and
    profile and sets ``G_{k+1} = G_k + (L_t − L_k)/s_k`` (``L_t`` the
    unlimited output's loudness, ``s_k`` the secant slope of loudness over
    gain, in [0.1, 1]) and, at ``amount=1``, ``C_{k+1} = C_k + 𝓘[E_k] −
    O`` with ``E_k`` the limited output's third-octave error (the refinement
    step of :func:`design_correction`, measured instead of predicted). It
    stops when ``|L_t − L_k| ≤ 0.02`` LU and the band errors lie within
    0.3 dB of one another. A ceiling too low for the reference's loudness
    (the limiter cannot give it) leaves the loudness short.

    Like :class:`~clarity_fx.LoudnessNormalize` it needs its input ahead:
    ``render`` runs pre-passes (:meth:`fit`: analysis, loudness after the
    curve, and with a ceiling up to four through the limiter; six at most),
    so files stream with flat memory and the streamed render equals the
    whole-buffer call. Streamed without a fit it holds the
    stream until :meth:`flush`. A silent input is passed through with its
    loudness unchanged.

    Measured (``benchmarks/bench_match.py``: six pairs of different real
    songs, 45 s each, 44.1 kHz; scipy's 65536-point Welch summed per band, and
    pyloudnorm): all 162 third-octave bands from 40 Hz to 16 kHz are within
    ±1 dB of the reference's (worst 0.95 dB, on the pair with a 0.84 dB common
    offset; matchering 2.0.6: 41 of 162), and the loudness within 0.011 LU
    (matchering: 0.13 to 0.87 LU off). Through the −1 dBTP ceiling (``clarity
    match``): 162 of 162, within 0.023 LU. At 44.1 kHz this analysis and the
    bench's referee use the same 65536-point frames; a second referee (131072
    points, 75 % overlap, which weights the recording's start, end and
    time differently) finds 151 of 162: every miss is on that 0.84 dB pair,
    where the two estimates of the same band differ by up to 1.2 dB. The
    earlier design (1/6-octave ratio only, ±12 dB, 1.35 Hz bins, 1/48-octave
    bands) reached 126 of 162.

    The common offset is what loudness matching leaves: ``G`` sets the gated
    loudness, and where the two recordings' gated loudness and long-term
    power differ differently (one has quiet passages the gate drops), every
    band lands the same few tenths of a dB off the reference (0.8 dB on one
    bench pair). No static EQ and gain can remove it; in the design the
    third-octave match is exact up to it.

    Bounds: ``|C| ≤ max_gain_db`` (30 dB by default) wherever the two spectra
    differ more, e.g. where one of them has no content at all (an input
    low-passed at 16 kHz cannot be given a reference's air: its noise would
    be raised by the bound, no more), and ``g`` within ±``B_w``. Width is
    matched only when both are stereo.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> from clarity_fx.processors.match_profile import analyse_audio
    >>> rng = np.random.default_rng(0)
    >>> bright = rng.standard_normal((2, 48000)).astype(np.float32) * 0.1
    >>> dull = np.cumsum(bright, axis=1).astype(np.float32) * 0.01
    >>> match = cfx.MatchEQ(reference=analyse_audio(bright, 48000), n_taps=4096)
    >>> out = match(dull, 48000)
    >>> out.shape
    (2, 48000)
    """

    reference = Param(None, kind=object, nullable=True, check=_check_reference,
                      help="Reference: an audio file, a saved .json match profile, or a MatchProfile.")
    profile = Param(None, kind=object, nullable=True, check=_check_profile,
                    help="A saved .json match profile (instead of reference).")
    amount = Param(1.0, minimum=0.0, maximum=1.0, help="0 = the input exactly, 1 = the full match.")
    smoothing_octaves = Param(1.0 / 6.0, unit="octaves", minimum=1.0 / 48.0, maximum=1.0,
                              help="Smoothing of the curve's shape inside each third-octave band.")
    max_gain_db = Param(30.0, unit="dB", minimum=0.0, maximum=60.0,
                        help="Safety bound of the EQ curve, +-dB (side gain: +-min(this, 12)).")
    match_loudness = Param(True, kind=bool, help="Add the gain to the reference's integrated loudness.")
    match_width = Param(False, kind=bool,
                        help="Stereo: scale the side signal to the reference's side/mid ratio.")
    low_hz = Param(20.0, unit="Hz", minimum=20.0, maximum=2000.0,
                   help="Lowest matched frequency; the curve fades to 0 dB an octave below.")
    high_hz = Param(20000.0, unit="Hz", minimum=1000.0, maximum=100000.0,
                    help="Highest matched frequency; the curve holds above it.")
    ceiling_dbtp = Param(None, unit="dBTP", minimum=-20.0, maximum=0.0, nullable=True,
                         help="True-peak ceiling: a limiter after the EQ, which is refined through it.")
    n_taps = Param(None, kind=int, minimum=256, maximum=1 << 18, nullable=True,
                   help="FIR length (default 2^ceil(log2(0.68 fs)): 32768 at 44.1/48 kHz).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if (self.reference is None) == (self.profile is None):
            raise ParameterError("MatchEQ needs one reference: reference='ref.wav' (or a .json profile) "
                                 "or profile='ref.json'")
        self._fitted: dict[str, Any] | None = None  # what fit learned; None until fitted
        self._last: dict[str, Any] | None = None  # of the last whole-buffer call, never of a render

    @classmethod
    def conformance_example(cls) -> MatchEQ:
        """An engaged example for the shared conformance tests: a brighter, wider, louder reference."""
        from .match_profile import analyse_audio

        rng = np.random.default_rng(11)
        white = rng.standard_normal((2, 48000))
        reference = np.stack((white[0], 0.3 * white[0] + white[1])) * 0.3
        return cls(reference=analyse_audio(reference, 48000.0), n_taps=1024, match_width=True)

    # ------------------------------------------------------------------ introspection
    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        """The input must be analysed first, unless ``amount`` is 0."""
        return self.amount > 0.0

    def taps_for(self, sample_rate: float) -> int:
        """FIR length at ``sample_rate`` (even)."""
        if self.n_taps is not None:
            return self.n_taps + (self.n_taps % 2)
        return 1 << math.ceil(math.log2(TAPS_PER_HZ * sample_rate))

    def latency_for(self, sample_rate: float) -> int:
        latency = self.taps_for(sample_rate) // 2
        if self.ceiling_dbtp is not None and self.amount > 0.0:
            latency += self._limiter().latency_for(sample_rate)
        return latency

    def reference_profile(self) -> MatchProfile:
        """The reference's :class:`MatchProfile` (an audio reference is analysed on first use)."""
        return load_reference(self.reference if self.reference is not None else self.profile)

    @property
    def correction(self) -> dict[str, Any] | None:
        """What the fit under way, or the last whole-buffer call, designed.

        ``freqs_hz`` and ``curve_db`` (``a·C(f)``), ``side_gain`` (``g``),
        ``gain_db`` (``G``), ``input_lufs`` and ``reference_lufs``; None before
        any. A render leaves it as it was: read its gain from the render's
        report, ``render(...).stage("MatchEQ").gain_db``.
        """
        found = self._fitted if self._fitted is not None else self._last
        return None if found is None else dict(found)

    # ------------------------------------------------------------------ fitting
    def fit(self, blocks: Iterable[np.ndarray], sample_rate: float) -> bool:
        """Pre-pass: analyse the input, measure its loudness after the curve, then (with a ceiling) refine.

        The first pass analyses the input and designs the curve; the second
        measures the loudness after it (loudness matching). With
        ``ceiling_dbtp``, up to ``LIMITED_PASSES`` more passes measure the
        limited output's loudness and third-octave spectrum and correct the
        gain and (at ``amount=1``) the curve.

        Returns
        -------
        bool
            True when another pass is wanted.
        """
        fitted = self._fitted
        if fitted is None or fitted.get("done"):
            from .match_profile import LongTermAnalysis

            analysis = None
            for block in blocks:
                if analysis is None:
                    analysis = LongTermAnalysis(sample_rate, block.shape[0])
                analysis.add(block)
            if analysis is None:
                self._fitted = self._identity_design(None, sample_rate)
                return False
            self._fitted = self._design(analysis.profile(), sample_rate, analysis.channels)
            return not self._fitted["done"]
        if fitted["phase"] == "limited":
            return self._fit_limited(fitted, blocks, sample_rate)
        from ..meters import LoudnessMeter

        meter = None
        for block in self._stage(fitted, with_gain=False).stream(blocks, sample_rate):
            if meter is None:
                meter = LoudnessMeter(sample_rate, block.shape[0])
            meter.add(block)
        measured = None if meter is None else meter.result().integrated_lufs
        if measured is not None and fitted["reference_lufs"] is not None:
            fitted["gain_db"] = self.amount * (fitted["reference_lufs"] - measured)
            fitted["target_lufs"] = measured + fitted["gain_db"]
        if self.ceiling_dbtp is None:
            fitted["done"] = True
            return False
        fitted["phase"] = "limited"
        return True

    def _fit_limited(self, fitted: dict[str, Any], blocks: Iterable[np.ndarray], sample_rate: float) -> bool:
        """One pass through the limiter: correct the gain (secant) and the curve by what it changed."""
        from .match_profile import LongTermAnalysis

        analysis = None
        for block in self._stage(fitted).stream(blocks, sample_rate):
            if analysis is None:
                analysis = LongTermAnalysis(sample_rate, block.shape[0])
            analysis.add(block)
        if analysis is None:
            fitted["done"] = True
            return False
        out = analysis.profile()
        settled = True
        target, measured = fitted.get("target_lufs"), out.loudness_lufs
        history = fitted.setdefault("history", [])
        if target is not None and measured is not None:
            history.append((fitted["gain_db"], measured))
            miss = target - measured
            if abs(miss) > LIMITED_TOLERANCE_LU:
                settled = False
                slope = 1.0
                if len(history) >= 2 and history[-1][0] != history[-2][0]:
                    # The limiter can only flatten loudness against gain: 0 < slope <= 1.
                    slope = (history[-1][1] - history[-2][1]) / (history[-1][0] - history[-2][0])
                    slope = float(np.clip(slope, 0.1, 1.0))
                fitted["gain_db"] += miss / slope
        model = fitted.get("model")
        if model is not None:
            k0 = model.first - out.first_band
            power = out.power[k0 : k0 + model.freqs.size]
            if power.size == model.freqs.size:
                error = model.band_error(power)
                if np.ptp(error) > LIMITED_TOLERANCE_DB:
                    settled = False
                    fitted["curve_db"] = model.step(fitted["curve_db"], power, error)
        fitted["passes"] = fitted.get("passes", 0) + 1
        fitted["done"] = settled or fitted["passes"] >= LIMITED_PASSES
        return not fitted["done"]

    def _identity_design(self, source: MatchProfile | None, sample_rate: float) -> dict[str, Any]:
        return {"freqs_hz": np.zeros(0), "curve_db": np.zeros(0), "side_gain": 1.0, "gain_db": 0.0,
                "input_lufs": None if source is None else source.loudness_lufs, "reference_lufs": None,
                "taps": self.taps_for(sample_rate), "done": True}

    def _design(self, source: MatchProfile, sample_rate: float, channels: int) -> dict[str, Any]:
        """The curve and side gain for ``source``; ``done`` unless a loudness pass is still wanted."""
        reference = self.reference_profile()
        if source.is_silent or reference.is_silent:
            return self._identity_design(source, sample_rate)
        a, bound = self.amount, self.max_gain_db
        side_gain = 1.0
        if self.match_width and channels == 2 and reference.channels == 2:
            ref_ratio, in_ratio = reference.side_to_mid(), source.side_to_mid()
            if ref_ratio and in_ratio:
                limit = 10.0 ** (min(bound, SIDE_GAIN_LIMIT_DB) / 20.0)
                side_gain = float(np.clip(math.sqrt(ref_ratio / in_ratio), 1.0 / limit, limit)) ** a
        freqs, curve = design_correction(
            reference, source, sample_rate, smoothing_octaves=self.smoothing_octaves,
            max_gain_db=bound, low_hz=self.low_hz, high_hz=self.high_hz, side_gain=side_gain,
        )
        wants_loudness = (self.match_loudness and reference.loudness_lufs is not None
                          and source.loudness_lufs is not None)
        limited = self.ceiling_dbtp is not None
        model = None
        if limited and a == 1.0 and curve.size:
            # The limiter's own change to the spectrum is measured and corrected at the full match.
            model = _CurveModel(reference, source, sample_rate, bound, self.low_hz, self.high_hz, side_gain)
        return {"freqs_hz": freqs, "curve_db": a * curve, "side_gain": side_gain, "gain_db": 0.0,
                "input_lufs": source.loudness_lufs,
                "reference_lufs": reference.loudness_lufs if wants_loudness else None,
                "taps": self.taps_for(sample_rate), "model": None if model is None or model.empty else model,
                "phase": "loudness" if wants_loudness else "limited",
                "done": not wants_loudness and not limited}

    def _unfit(self) -> None:
        self._fitted = None

    # ------------------------------------------------------------------ processing
    def _stage(self, fitted: dict[str, Any] | None, with_gain: bool = True) -> Plugin:
        """The stage that applies ``fitted``: the correction, then the ceiling limiter if there is one."""
        stage = self._correction_stage(fitted, with_gain)
        if fitted is None or not with_gain or self.ceiling_dbtp is None or "phase" not in fitted:
            return stage
        from ..chain import Chain

        return Chain([stage, self._limiter()])

    def _limiter(self) -> Plugin:
        from .limiter import TruePeakLimiter

        return TruePeakLimiter(ceiling_dbtp=self.ceiling_dbtp)

    def _correction_stage(self, fitted: dict[str, Any] | None, with_gain: bool) -> _Correction:
        """Side gain and FIR for ``fitted`` (a plain delay when there is nothing to apply)."""
        if fitted is None:  # amount 0: the input, delayed by the latency the base class removes
            return _Correction(1.0, None, self.taps_for(self._stream["rate"]))
        taps = fitted["taps"]
        gain_db = fitted["gain_db"] if with_gain else 0.0
        freqs, curve = fitted["freqs_hz"], fitted["curve_db"]
        if not curve.size or (not np.any(curve) and gain_db == 0.0 and fitted["side_gain"] == 1.0):
            return _Correction(fitted["side_gain"], None, taps)
        log_freqs = np.log2(freqs)

        def transfer(f: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore"):
                at = np.interp(np.log2(np.maximum(f, 1e-12)), log_freqs, curve, left=0.0)
            return 10.0 ** ((at + gain_db) / 20.0) + 0j

        return _Correction(fitted["side_gain"], transfer, taps)

    def fit_blocks(self, blocks: Iterable[np.ndarray], sample_rate: float) -> None:
        """Fit on ``blocks`` (a list: it is read twice), as ``render``'s pre-passes do."""
        blocks = list(blocks)
        while self.fit(blocks, sample_rate):
            pass

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._held: list[np.ndarray] | None = None
        if self.amount == 0.0:
            self._run = self._stage(None)
        elif self._fitted is None:
            self._held = []  # not fitted: hold everything until flush
            self._run = None
            return
        else:
            self._report()
            self._run = self._stage(self._fitted)
        self._run._start_stream(sample_rate, channels, buffer_size)

    def _report(self) -> None:
        render = current_render()
        if render is not None and self._fitted is not None:
            render.report(self, input_lufs=self._fitted["input_lufs"], gain_db=self._fitted["gain_db"])

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        if self._held is not None:
            self._held.append(audio)
            return np.zeros((audio.shape[0], 0), np.float32)
        return self._run._push(audio)

    def _finish_aligned(self, owed: int) -> np.ndarray:
        if self._held is not None:
            channels = self._stream["channels"]
            audio = np.concatenate(self._held, axis=1) if self._held else np.zeros((channels, 0), np.float32)
            self._held = None
            return self._process_whole(audio, self._stream["rate"], self._stream["block"])
        return self._run._finish()

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        if self.amount == 0.0 or audio.shape[1] == 0:
            return audio.astype(np.float32, copy=True)
        fitted_here = self._fitted is None
        if fitted_here:
            self.fit_blocks([audio], sample_rate)
        try:
            assert self._fitted is not None
            self._report()
            return self._stage(self._fitted)._process_whole(audio, sample_rate, buffer_size)
        finally:
            if fitted_here:
                self._last = self._fitted
                self._unfit()
