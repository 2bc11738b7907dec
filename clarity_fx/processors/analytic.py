"""First-order analytic filters, H(f) = 1/(1 + j f/f_c) and relatives, exact or as a matched IIR.

The seed's formulas, written down once (:func:`analytic_response`) and
realised two ways: exactly, as an FFT filter (``mode="fft"``), or by a causal
zero-latency biquad whose magnitude is matched to ``|H(f)|`` up to 0.4·fs
(``mode="iir"``, :func:`matched_section`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import ParameterError
from ..plugin import Param, Plugin, StreamState, frequency_param
from .butterworth import check_frequencies, stream_sos
from .fft_filter import FFTFilter

__all__ = [
    "AnalyticFilter",
    "analytic_response",
    "highpass_response",
    "lowpass_response",
    "matched_section",
]

KINDS = ("lowpass", "highpass", "bandpass")
MODES = ("iir", "fft")

#: Where the matched IIR's magnitude equals |H| exactly, as fractions of fs
#: (besides DC). 0.4 is the top of the band we promise; fs/4 splits the rest.
#: Matching at Nyquist instead, as Vicanek does, spends the fit on 0.4–0.5 fs
#: and leaves 0.6 dB of error below 0.4 fs; these points leave 0.08 dB.
F_MATCH_MID = 0.25
F_MATCH_TOP = 0.4


# --------------------------------------------------------------------------- the formulas
def lowpass_response(freqs: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """``H(f) = 1 / (1 + j f/f_c)``, the first-order (RC) low-pass."""
    s = 1j * np.asarray(freqs, dtype=np.float64) / cutoff_hz
    return 1 / (1 + s)


def highpass_response(freqs: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """``H(f) = (j f/f_c) / (1 + j f/f_c)``, the first-order (CR) high-pass."""
    s = 1j * np.asarray(freqs, dtype=np.float64) / cutoff_hz
    return s / (1 + s)


def analytic_response(
    kind: str,
    cutoff_hz: float | None,
    low_hz: float | None,
    high_hz: float | None,
    order: int,
    freqs: np.ndarray,
) -> np.ndarray:
    """``H(f)^order`` for ``kind``; the band-pass is ``HP(low_hz) · LP(high_hz)``.

    The frequencies come last so that ``functools.partial`` of the other
    arguments is a transfer function for :class:`~.fft_filter.FFTFilter`.
    """
    if kind == "lowpass":
        stage = lowpass_response(freqs, cutoff_hz)
    elif kind == "highpass":
        stage = highpass_response(freqs, cutoff_hz)
    else:
        stage = highpass_response(freqs, low_hz) * lowpass_response(freqs, high_hz)
    return stage**order


# --------------------------------------------------------------------------- the IIR design
def matched_section(kind: str, cutoff_hz: float, sample_rate: float) -> np.ndarray:
    """One biquad ``[b0, b1, b2, 1, a1, 0]`` whose magnitude matches a first-order stage.

    Parameters
    ----------
    kind : {"lowpass", "highpass"}
        Which first-order stage.
    cutoff_hz : float
        Its −3 dB frequency ``f_c`` (any positive value).
    sample_rate : float
        ``fs`` in Hz.

    Returns
    -------
    numpy.ndarray
        A row of ``scipy.signal`` second-order sections, shape ``(6,)``.

    Notes
    -----
    Write ``ω = 2π f/fs`` and ``ω_c = 2π f_c/fs``.

    1. The pole is the analog one mapped by ``z = e^{sT}`` (matched-z,
       impulse invariance): ``p = e^{−ω_c}``, ``A(z) = 1 − p z⁻¹``.
    2. Squared magnitudes of biquad polynomials are linear in the basis
       ``φ0 = cos²(ω/2)``, ``φ1 = sin²(ω/2)``, ``φ2 = sin²ω`` (Vicanek):
       ``|b0 + b1 z⁻¹ + b2 z⁻²|² = B0 φ0 + B1 φ1 + B2 φ2`` with
       ``B0 = (b0+b1+b2)²``, ``B1 = (b0−b1+b2)²``, ``B2 = −4 b0 b2``. So
       ``|A|² = A0 φ0 + A1 φ1`` with ``A0 = (1−p)²``, ``A1 = (1+p)²``.
    3. Choose the numerator powers so that
       ``B0 φ0 + B1 φ1 + B2 φ2 = |H(ω)|² (A0 φ0 + A1 φ1)`` holds exactly at
       three places: the low-pass at DC (``B0 = A0``), ``fs/4`` and ``0.4 fs``;
       the high-pass has its zero at DC (``B0 = 0``) and matches the slope of
       ``|H|² ≈ ω²/ω_c²`` there, ``B1/4 + B2 = A0/ω_c²``, and ``0.4 fs``.
       Both leave a 2×2 linear system for ``B1, B2``.
    4. Take the minimum-phase numerator with those powers:
       ``b1 = (√B0 − √B1)/2``, ``W = (√B0 + √B1)/2 = b0 + b2``, and ``b0, b2``
       the roots of ``t² − W t − B2/4``, the larger one as ``b0``.

    The same pole with one zero, matched at DC and Nyquist (Vicanek's
    one-pole recipe), is 0.97 dB off below 0.4 fs. The bilinear transform
    (what pedalboard's LowpassFilter does) is 1.4 dB off at 10 kHz for
    ``f_c`` = 1 kHz at 48 kHz and 7.8 dB near 0.4 fs. This section is within
    0.076 dB (low-pass) and 0.064 dB (high-pass) of ``|H|`` from 20 Hz to
    0.4 fs for every ``f_c`` from 20 Hz to 10 kHz at 44.1 and 48 kHz (the
    low-pass keeps 0.076 dB up to ``f_c`` = 0.45 fs; the high-pass reaches
    0.2 dB there); ``benchmarks/bench_filters.py`` prints the tables.
    """
    omega_c = 2 * math.pi * cutoff_hz / sample_rate
    p = math.exp(-omega_c)
    A0, A1 = (1 - p) ** 2, (1 + p) ** 2

    def phi(f: float) -> tuple[float, float, float]:
        w = 2 * math.pi * f
        return math.cos(w / 2) ** 2, math.sin(w / 2) ** 2, math.sin(w) ** 2

    def target(f: float) -> float:
        """``|H|² |A|²`` at ``f`` (a fraction of fs): what the numerator must deliver."""
        phi0, phi1, _ = phi(f)
        x = (f / (cutoff_hz / sample_rate)) ** 2  # (f/f_c)²
        gain = 1 / (1 + x) if kind == "lowpass" else x / (1 + x)
        return gain * (A0 * phi0 + A1 * phi1)

    top0, top1, top2 = phi(F_MATCH_TOP)
    if kind == "lowpass":
        B0 = A0
        mid0, mid1, mid2 = phi(F_MATCH_MID)
        rows = [[mid1, mid2], [top1, top2]]
        rhs = [target(F_MATCH_MID) - B0 * mid0, target(F_MATCH_TOP) - B0 * top0]
    elif kind == "highpass":
        B0 = 0.0
        # near DC φ1 ≈ ω²/4 and φ2 ≈ ω², so |B|² ≈ (B1/4 + B2)·ω²
        rows = [[0.25, 1.0], [top1, top2]]
        rhs = [A0 / omega_c**2, target(F_MATCH_TOP)]
    else:
        raise ValueError(f"matched_section makes lowpass or highpass stages, not {kind!r}")
    B1, B2 = np.linalg.solve(rows, rhs)
    root_b0, root_b1 = math.sqrt(B0), math.sqrt(max(B1, 0.0))
    b1 = (root_b0 - root_b1) / 2
    W = (root_b0 + root_b1) / 2
    b0 = (W + math.sqrt(max(W * W + B2, 0.0))) / 2
    b2 = -B2 / (4 * b0)
    return np.array([b0, b1, b2, 1.0, -p, 0.0])


# --------------------------------------------------------------------------- the processor
class AnalyticFilter(Plugin):
    """First-order low-, high- or band-pass from its analytic formula, cascaded ``order`` times.

    Parameters
    ----------
    kind : {"lowpass", "highpass", "bandpass"}
        Which formula (see Notes).
    cutoff_hz : float, optional
        ``f_c`` of ``lowpass`` and ``highpass`` (−3 dB at ``order=1``).
    low_hz, high_hz : float, optional
        ``f_c`` of the high-pass and the low-pass making up ``bandpass``.
    order : int, optional
        Number of identical stages: the response is ``H(f)^order`` (default 1).
    mode : {"iir", "fft"}, optional
        ``"iir"`` (default): causal biquads, zero latency, magnitude within
        0.08 dB per stage of ``|H|`` up to 0.4 fs (cutoffs to 10 kHz).
        ``"fft"``: ``H(f)`` applied exactly, magnitude and phase, by an
        :class:`~.fft_filter.FFTFilter` with 8192 taps (latency 4096 samples,
        compensated by the host).

    Notes
    -----
    With ``s = j f/f_c``::

        lowpass   H(f) = 1 / (1 + s)
        highpass  H(f) = s / (1 + s)
        bandpass  H(f) = HP(f; low_hz) · LP(f; high_hz)
                       = (j f/f_l) / ((1 + j f/f_l)(1 + j f/f_h))

    all raised to the power ``order``. The band-pass printed in clarity-fx's original specification,
    ``(j f/f_c)/(1 + j f/f_c) · (1 + j f/f_b)``, has its low-pass factor upside
    down: it rises 6 dB/octave without bound above ``f_b``, +10.8 dB at
    10 kHz for ``f_c`` = 300 Hz and ``f_b`` = 3000 Hz, so it is not a band-pass.
    We use the product of the two stages instead.

    ``mode="iir"`` realises each first-order stage as one biquad from
    :func:`matched_section` (matched-z pole; minimum-phase numerator whose
    magnitude is exact at DC, fs/4 and 0.4 fs for the low-pass, in the DC
    slope and at 0.4 fs for the high-pass). Measured worst case from 20 Hz to 0.4 fs, cutoffs
    20 Hz–10 kHz, 44.1 and 48 kHz: 0.076 dB for the low-pass, 0.064 dB for
    the high-pass and 0.076 dB for the band-pass (its two stages err in
    different bands) at ``order=1``; errors add across stages, 0.15 dB at
    ``order=2``. A plain bilinear transform is 1.4 dB off at 10 kHz for
    ``f_c`` = 1 kHz at 48 kHz. The filter memory is carried across blocks and
    across parameter changes.

    ``mode="fft"`` applies ``H(f)`` itself (within 0.1 dB from 20 Hz to 20 kHz
    for cutoffs whose impulse response decays within 4096 samples, i.e.
    ``f_c`` above ~10 Hz at 48 kHz). ``mode`` cannot change during a stream.

    References
    ----------
    M. Vicanek, "Matched Second Order Digital Filters" (2016) and "Matched
    One-Pole Digital Shelving Filters" (2019), https://vicanek.de.

    Examples
    --------
    >>> import numpy as np
    >>> from clarity_fx.processors.analytic import AnalyticFilter
    >>> rumble = AnalyticFilter("highpass", cutoff_hz=80, order=2)
    >>> audio = np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32)
    >>> rumble(audio, 48000).shape
    (2, 48000)
    >>> f = np.array([80.0, 1000.0])
    >>> np.round(20 * np.log10(abs(rumble.transfer_function(f))), 2)
    array([-6.02, -0.06])
    """

    kind = Param("lowpass", kind=str, choices=KINDS, help="Response type.")
    cutoff_hz = frequency_param("Corner frequency f_c of a lowpass or highpass.")
    low_hz = frequency_param("Corner of the high-pass stage of a bandpass.")
    high_hz = frequency_param("Corner of the low-pass stage of a bandpass.")
    order = Param(1, kind=int, minimum=1, maximum=8, help="Number of cascaded identical stages.")
    mode = Param(
        "iir", kind=str, choices=MODES, help="iir: matched causal biquads; fft: exact H(f)."
    )

    def __init__(
        self,
        kind: str = "lowpass",
        cutoff_hz: float | None = None,
        low_hz: float | None = None,
        high_hz: float | None = None,
        order: int = 1,
        mode: str = "iir",
    ) -> None:
        super().__init__(
            kind=kind, cutoff_hz=cutoff_hz, low_hz=low_hz, high_hz=high_hz, order=order, mode=mode
        )
        self._check_frequencies(strict=True)
        self._fft_key = self._response_key()
        self._fft = FFTFilter(transfer_function=self._frozen_response())

    @classmethod
    def conformance_example(cls) -> AnalyticFilter:
        """An instance for the shared conformance tests (the kind needs a frequency)."""
        return cls("bandpass", low_hz=100, high_hz=8000, order=2)

    # ------------------------------------------------------------------ parameters
    def _response_key(self) -> tuple:
        return (self.kind, self.cutoff_hz, self.low_hz, self.high_hz, self.order)

    def _check_frequencies(self, strict: bool) -> None:
        check_frequencies(self, self.kind == "bandpass", strict)

    def _frozen_response(self) -> functools.partial:
        # A new object for every parameter set: FFTFilter keys its FIR on it.
        return functools.partial(analytic_response, *self._response_key())

    # ------------------------------------------------------------------ responses
    def transfer_function(self, freqs: np.ndarray) -> np.ndarray:
        """The analytic ``H(f)^order`` at ``freqs`` Hz (complex)."""
        self._check_frequencies(strict=False)
        return analytic_response(*self._response_key(), np.asarray(freqs, dtype=np.float64))

    def sos_for(self, sample_rate: float) -> np.ndarray:
        """The IIR mode's second-order sections at ``sample_rate``, ``(sections, 6)``."""
        self._check_frequencies(strict=False)
        if self.kind == "bandpass":
            stage = [
                matched_section("highpass", self.low_hz, sample_rate),
                matched_section("lowpass", self.high_hz, sample_rate),
            ]
        else:
            stage = [matched_section(self.kind, self.cutoff_hz, sample_rate)]
        return np.array(stage * self.order)

    def frequency_response(self, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
        """Complex response at ``freqs`` Hz of what ``process`` applies.

        ``mode="iir"``: the digital filter's own response (``sosfreqz``).
        ``mode="fft"``: ``H(f)`` itself.
        """
        freqs = np.asarray(freqs, dtype=np.float64)
        if self.mode == "fft":
            return self.transfer_function(freqs)
        from scipy.signal import sosfreqz

        _, response = sosfreqz(self.sos_for(sample_rate), worN=freqs.ravel(), fs=sample_rate)
        return response.reshape(freqs.shape)

    # ------------------------------------------------------------------ processing
    def latency_for(self, sample_rate: float) -> int:
        return self._fft.latency_for(sample_rate) if self.mode == "fft" else 0

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "mode" not in state:
            state.mode = self.mode
        elif state.mode != self.mode:
            raise ParameterError(
                f"mode changed from {state.mode!r} to {self.mode!r} during a stream; "
                "call reset() (or process with reset=True) after changing mode"
            )
        if self.mode == "fft":
            return self._process_fft(block, state)
        key = (*self._response_key(), state.sample_rate)
        if state.__dict__.get("key") != key:
            state.sos, state.key = self.sos_for(state.sample_rate), key
        return stream_sos(state.sos, block, state)

    def _process_fft(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        key = self._response_key()
        if key != self._fft_key:
            self._check_frequencies(strict=False)
            self._fft.transfer_function, self._fft_key = self._frozen_response(), key
        if "fft_state" not in state:
            state.fft_state = StreamState(state.sample_rate, state.channels, state.buffer_size)
        state.fft_state.position = state.position
        return self._fft.process_block(block, state.fft_state)
