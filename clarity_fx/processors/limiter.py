"""True-peak limiter: the output's true peak never exceeds the ceiling.

A lookahead brick-wall limiter whose detector is the ITU-R BS.1770-4 Annex 2
true-peak meter plus a high-band term: the Annex's 12-tap interpolator
under-reads content near Nyquist (by 1 to 3 dB on white noise, clipped
masters and tones above 0.45 fs, measured by a long windowed-sinc
reference), so the detector adds what it may have missed there. The output
then stays under the ceiling both by the Annex meter and by the reference.
"""

from __future__ import annotations

import numpy as np

from ..plugin import Param, Plugin, StreamState, current_render
from .dynamics import TRUE_PEAK_PHASES, TRUE_PEAK_TAPS, GainTrace, kernels, time_constant_coefficient

__all__ = ["TruePeakLimiter"]

_PHASES_BY_TAP = np.ascontiguousarray(TRUE_PEAK_PHASES.T)

#: Internal headroom below the ceiling, in dB. The gain is computed so that
#: g·x stays under the ceiling at every sample and at every 4× point, but
#: the interpolated points of the *product* g·x differ slightly from
#: g·(interpolated x) where g is still moving; this margin absorbs that
#: difference (the tests measure the worst case over many signals).
SAFETY_MARGIN_DB = 0.05

#: κ, the weight of the high-band term in the detector (see the class's Notes).
HF_WEIGHT = 1.5

#: Samples of the interpolator's support on each side of an interval, beyond
#: the attack ramp: the gain must already be down on all 12 input samples
#: that make up an inter-sample point (points between samples ``j`` and
#: ``j + 1`` use samples ``j − 5 … j + 6``).
INTERPOLATOR_SPAN = TRUE_PEAK_TAPS - 2

#: Shortest attack ramp, in samples. A shorter ramp moves the gain so fast
#: within one interpolator support that the margin would no longer cover the
#: product's inter-sample peaks (measured: +0.06 dB at 14 samples, +0.28 dB at
#: 4, with an instant release); at low sample rates the latency grows instead.
MIN_RAMP_SAMPLES = 32


class TruePeakLimiter(Plugin):
    r"""Lookahead limiter that keeps the true peak (dBTP) at or below a ceiling.

    Parameters
    ----------
    ceiling_dbtp : float, optional
        Highest true peak allowed in the output, in dBTP (default −1.0).
    release_ms : float, optional
        Time constant of the gain's recovery after a peak (default 50 ms,
        at least 1 ms): the gain covers 1 − 1/e of the way back to unity in
        this time, once the peak has passed.
    lookahead_ms : float, optional
        How far ahead the gain sees (default 1.5 ms); reported as latency.
        The attack ramp is this long less the interpolator's 10 samples, and
        at least 32 samples, so the latency is at least 42 samples (0.875 ms
        at 48 kHz).

    Notes
    -----
    For every interval between samples ``j`` and ``j + 1`` the detector takes
    the true peak of the input as ITU-R BS.1770-4 Annex 2 defines it — the
    two samples and the four points of the 4× polyphase interpolator
    ``x̃_φ[m] = Σ_k h_φ[k]·x[m − k]`` — plus a high-band term, over all
    channels (linked), and the gain that interval needs,

    .. math::

        P_j = \max_{c}\left[\max(|x_c[j]|, |x_c[j+1]|, \max_φ |x̃_{c,φ}|) + κ·r_{c,j}\right],
        \qquad q_j = \min\left(1, \frac{C}{P_j}\right),

    with ``C`` the ceiling less a 0.05 dB safety margin, ``κ = 1.5`` and
    ``r`` the RMS, over the 16 samples ending at ``j + 6``, of the fourth
    difference ``d[m] = (x[m] − 4x[m−1] + 6x[m−2] − 4x[m−3] + x[m−4])/16``
    (gain ``sin⁴(πf/fs)``: 1 at Nyquist, 0.06 at fs/4, 0.01 at 10 kHz at
    48 kHz). Why: the Annex filter rolls off above 0.42 fs and sees 12
    samples, while the band-limited signal between two samples depends on
    samples far away; where a signal is rich near Nyquist (noise, clipping,
    tones above 20 kHz) the Annex reading falls short of the real peak by up
    to 1.1 dB on white noise, 2.7 dB on a clipped master and 3.3 dB on tones
    at 0.47 and 0.49 fs (measured on this limiter's output by a 16×
    Kaiser-windowed sinc of 128 zero crossings, confirmed by FFT
    interpolation). Longer interpolators do not close that gap at a price
    the limiter can pay: an 8× detector of 32 taps per phase still
    overshot by 0.85 dB on noise and 1.3 dB on clipping, at 3.5× the cost.
    The term makes up the shortfall in proportion to the high band that
    causes it; ``κ`` is the measured worst case with room (1.0 left a
    clipped band recording 0.01 dB over, 1.3 kept every class under).
    Music with little above 15 kHz is hardly touched (the term adds a few
    hundredths of a dB); white noise is held 0.6 to 1 dB under the
    ceiling, pure tones above 0.45 fs 2 to 4 dB under. Then, with ``L`` the
    attack ramp in samples:

    1. hold: ``h[i] = min q_j`` for ``j ∈ [i − L − 5, i + 5]``, every interval
       whose interpolation support (samples ``j − 5 … j + 6``) meets the ramp
       ending at ``i``;
    2. release: ``e[i] = h[i]`` when ``h[i] < e[i−1]`` (instant), otherwise
       ``e[i] = h[i] + α_R·(e[i−1] − h[i])``, ``α_R = exp(−1/(τ_R·fs))``;
    3. attack ramp: ``g[i] = (1/L)·Σ_{k=0}^{L−1} e[i + k]``, a moving average,
       so the gain glides down over ``L`` samples and is at or below every
       ``q_j`` over the whole support of interval ``j``;
    4. ``y[i] = g[i]·x[i]``, emitted ``L + 10`` samples late (the latency).

    So every output sample is at most ``C``, and every interpolated point is
    ``g·x̃ ≤ C`` where ``g`` is flat over the point's support (the
    reference's points too, as far as the high-band term covers them). Where the gain
    is still moving, the interpolated point of the product differs from
    ``g·x̃`` by a small fraction; the margin covers it. Measured worst case
    over random signals of noise, squares, near-Nyquist tones, clicks and
    clipping with ±20 dB level jumps, at random settings: 0.008 dB above
    ``C`` over the 100 of ``tests/test_limiter.py``, 0.015 dB over 900 more
    (with a 1 ms release and the shortest ramp), so at least 0.035 dB below
    the ceiling. The shortest ramp (32 samples) and release (1 ms) keep the
    gain slow enough for that; with no such floor a 4-sample ramp and an
    instant release overshot by 0.28 dB.

    Where every ``P_j`` is below ``C`` every ``q`` is 1, so the gain is
    exactly 1.0 and the output equals the input, delayed and realigned.
    (An abrupt end or onset has a large fourth difference: the detector
    treats it as the Gibbs overshoot it is.)

    No makeup gain. After the last block the running gain is available as
    ``gain_reduction_db`` (``(1, n)``, ≤ 0) for plotting.

    References
    ----------
    .. [1] ITU-R BS.1770-4, Annex 2: guidelines for accurate measurement of
       true-peak level, 2015. The measurements above: ``tests/reference_peak.py``
       and ``benchmarks/bench_dynamics.py``.
    .. [2] D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range
       Compressor Design — A Tutorial and Analysis", JAES 60(6), 2012
       (exponential release).

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> from clarity_fx.processors.dynamics import true_peak_dbtp
    >>> loud = np.sin(np.linspace(0, 2000, 48000)).astype(np.float32) * 2
    >>> out = cfx.TruePeakLimiter(ceiling_dbtp=-1.0)(loud, 48000)
    >>> bool(true_peak_dbtp(out) <= -1.0)
    True
    """

    ceiling_dbtp = Param(
        -1.0,
        unit="dBTP",
        minimum=-60.0,
        maximum=6.0,
        help="Highest true peak allowed in the output.",
    )
    release_ms = Param(
        50.0,
        unit="ms",
        minimum=1.0,
        maximum=5000.0,
        help="Time constant of the gain's recovery after a peak.",
    )
    lookahead_ms = Param(
        1.5,
        unit="ms",
        minimum=0.0,
        maximum=100.0,
        help="How far ahead the gain sees; reported as latency.",
    )

    @classmethod
    def conformance_example(cls) -> TruePeakLimiter:
        """An engaged example for the shared conformance tests."""
        return cls(ceiling_dbtp=-12.0)

    @staticmethod
    def _ramp_samples(lookahead_ms: float, sample_rate: float) -> int:
        """Attack ramp ``L``: the lookahead less the interpolator span, at least 32."""
        return max(MIN_RAMP_SAMPLES, round(lookahead_ms * 1e-3 * sample_rate) - INTERPOLATOR_SPAN)

    def latency_for(self, sample_rate: float) -> int:
        return self._ramp_samples(self.lookahead_ms, sample_rate) + INTERPOLATOR_SPAN

    @property
    def gain_reduction_db(self) -> np.ndarray:
        """Gain applied to the last processed block of the current or last stream, in dB (``(1, n)``, ≤ 0)."""
        state = self._state
        if state is None or "last_gain" not in state:
            return np.zeros((1, 0))
        with np.errstate(divide="ignore"):
            return 20.0 * np.log10(state.last_gain)

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "ramp" not in state:
            # The ramp fixes the latency, so it stays what it was when the stream began.
            state.ramp = self._ramp_samples(self.lookahead_ms, state.sample_rate)
            delay = state.ramp + INTERPOLATOR_SPAN
            state.history = np.zeros((state.channels, delay))
            state.q_history = np.ones(delay)
            state.e_history = np.ones(state.ramp - 1)
            # [e, how many e < 1 in the window, their Σ(1 − e), e leaving first]
            state.smoother = np.array([1.0, 0.0, 0.0, 1.0])
            render = current_render()
            if render is not None and render.trace_gain:
                state.trace = GainTrace(step=round(state.sample_rate / 1000), skip=delay)
                render.report(self, gain_reduction_db=state.trace, trace_step=state.trace.step)
        ceiling = 10.0 ** ((self.ceiling_dbtp - SAFETY_MARGIN_DB) / 20.0)
        alpha_release = time_constant_coefficient(self.release_ms, state.sample_rate)
        n = block.shape[1]
        out = np.empty((state.channels, n), dtype=np.float32)
        gain = np.empty(n)
        kernels().limiter_block(
            np.ascontiguousarray(block),
            state.history,
            state.q_history,
            state.e_history,
            state.smoother,
            _PHASES_BY_TAP,
            ceiling,
            HF_WEIGHT,
            alpha_release,
            state.ramp,
            out,
            gain,
        )
        state.last_gain = gain[None, :]
        if "trace" in state:
            with np.errstate(divide="ignore"):
                state.trace.add(20.0 * np.log10(state.last_gain))
        return out
