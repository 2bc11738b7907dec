"""Mains-hum removal by tracking the hum's fundamental and subtracting a model of it.

A harmonic line canceller: it finds the mains frequency (50 or 60 Hz) itself,
follows its drift, fits the amplitude and phase of every harmonic by weighted
least squares (most weight where the programme near the harmonic is quiet) and
subtracts the synthesised hum, so the audio between the harmonics is left
exactly as it was (a notch filter bank cuts a band there).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from ..plugin import Param, Plugin, StreamState

__all__ = ["Dehum"]

#: Nominal mains frequencies searched when ``mains_hz`` is None, Hz.
MAINS_HZ = (50.0, 60.0)
#: Rate of the demodulated (baseband) harmonics, Hz: each harmonic sits within
#: ``±harmonics·drift_hz`` of 0 Hz there, far inside the ±500 Hz band.
BASEBAND_RATE_HZ = 1000.0
#: Hop between analysis frames (f0 estimate and harmonic fit), seconds.
HOP_S = 0.1
#: Step of the exhaustive f0 grid (first frame and re-acquisition), Hz.
GLOBAL_STEP_HZ = 0.04
#: Half-width and step of the local grid around the previous frame's f0, Hz.
LOCAL_SPAN_HZ = 0.1
LOCAL_STEP_HZ = 0.02
#: Steps of the successive parabolic refinements of the f0 peak, Hz.
REFINE_STEPS_HZ = (0.01, 0.0025, 0.0006)
#: Every this many frames the whole ``±drift_hz`` range is searched again, and
#: a peak farther than 2·LOCAL_SPAN_HZ that scores higher starts a second path, which
#: replaces the first if after CHALLENGE_FRAMES frames its coherence (:meth:`Dehum._coherence`)
#: is COHERENCE_MARGIN higher.
REACQUIRE_FRAMES = 20
CHALLENGE_FRAMES = 20
COHERENCE_MARGIN = 3.0
#: When the comb's best is the path followed, its NOMINEES next peaks are tested by coherence
#: at these drift rates (Hz/s) for a second path.
NOMINEES = 3
NOMINEE_RATES = (-0.06, -0.03, 0.0, 0.03, 0.06)
#: When a second path wins, the estimates before it started are its straight line, with a drift
#: rate of at most this, Hz/s (mains drifts far slower).
MAX_DRIFT_RATE = 0.1
#: The fewest estimates held for the frames at the stream's ends to be mended from.
EDGE_FRAMES = 5
#: The programme's level beside each harmonic (which whitens the comb) is measured every
#: BACKGROUND_FRAMES frames at BACKGROUND_OFFSETS offsets on each side, 2 Hz apart, starting
#: BACKGROUND_GAP_HZ beyond the drift range.
BACKGROUND_FRAMES = 5
BACKGROUND_OFFSETS = 8
BACKGROUND_GAP_HZ = 2.0
BACKGROUND_FLOOR = 1e-4
#: The amplitude fit is weighted least squares, re-weighted PASSES times: each sample's weight
#: is 1/(local + LOCAL_FLOOR·its mean over the window), ``local`` the programme's power at the
#: harmonic over LOCAL_S seconds (the residual of the previous pass). The f0 comb weights the
#: baseband the same way, ``local`` there being the baseband's own power.
PASSES = 3
#: A fitted harmonic under SHRINK_SNR times its variance from the programme is shrunk towards 0.
SHRINK_SNR = 10.0
LOCAL_S = 0.2
LOCAL_FLOOR = 0.03
#: The tracker's window, seconds (``window_s`` if shorter): its comb holds Δ constant over it.
TRACK_S = 6.0
#: A fit window longer than the tracker's follows the track's phase; its remaining error,
#: common to the harmonics, is measured per PHASE_BLOCK_S block and fitted by a polynomial of
#: PHASE_ORDER (no constant term), PHASE_PASSES times, before the last amplitude fit; a
#: correction beyond PHASE_LIMIT radians (of the fundamental) is dropped.
PHASE_BLOCK_S = 1.0
PHASE_ORDER = 3
PHASE_PASSES = 2
PHASE_LIMIT = 1.0
#: Highest harmonic frequency kept, as a fraction of the sample rate.
MAX_HARMONIC_FRACTION = 0.45


def _moving(a: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``width`` samples along the last axis, shortened at the ends."""
    length = a.shape[-1]
    before, after = width // 2, width - width // 2
    if length <= width:
        i = np.arange(length)
        sums = np.concatenate([np.zeros(a.shape[:-1] + (1,), a.dtype), np.cumsum(a, axis=-1)], axis=-1)
        lo, hi = np.maximum(i - before, 0), np.minimum(i + after, length)
        return (sums[..., hi] - sums[..., lo]) / (hi - lo)
    sums = np.empty(a.shape[:-1] + (length + 1,), a.dtype)
    sums[..., 0] = 0.0
    np.cumsum(a, axis=-1, out=sums[..., 1:])
    out = np.empty_like(sums[..., 1:])
    # sample i averages a[max(i − before, 0) : min(i + after, length)]
    out[..., :before] = sums[..., after : after + before] / np.arange(after, after + before)
    out[..., before : length - after + 1] = (sums[..., width:] - sums[..., : length + 1 - width]) / width
    tail = np.arange(length - after + 1, length)
    out[..., length - after + 1 :] = (sums[..., length : length + 1] - sums[..., tail - before]) / (
        length - tail + before
    )
    return out


def _local_line(values: np.ndarray, half: int, use: np.ndarray) -> np.ndarray:
    """Each value where ``use`` is true replaced by the Hann-weighted straight line through its
    neighbours within ``half`` that are used, at its own place; the others are kept."""
    used = np.flatnonzero(use)
    if used.size < 2:
        return values
    i = used
    d = i[None, :] - i[:, None]
    w = np.where(np.abs(d) <= half, 0.5 * (1 + np.cos(np.pi * d / (half + 1))), 0.0)
    s0, s1, s2 = w.sum(1), (w * d).sum(1), (w * d * d).sum(1)
    t0, t1 = w @ values[i], (w * d) @ values[i]
    det = s0 * s2 - s1 * s1
    ok = det > 1e-9 * s0 * s0
    level = np.where(ok, (s2 * t0 - s1 * t1) / np.where(ok, det, 1.0), t0 / s0)
    out = values.copy()
    out[used] = level
    return out


def _end(state: StreamState) -> int | None:
    """The stream's end in baseband samples, once the flush has begun (None before)."""
    return state.input_end // state.decimation if "input_end" in state else None


def _kernels() -> ModuleType:
    # numba costs ~0.5 s to import: only when a Dehum first runs.
    from . import _level_kernels

    return _level_kernels


class Dehum(Plugin):
    r"""Remove mains hum (50/60 Hz and harmonics) that drifts, leaving the rest untouched.

    Parameters
    ----------
    mains_hz : float or None, optional
        Nominal mains frequency. ``None`` (default) decides between 50 and
        60 Hz from the first ``window_s`` of audio.
    harmonics : int, optional
        Number of harmonics removed, the fundamental included (default 8:
        50–400 Hz on 50 Hz mains). Harmonics above 0.45·fs are dropped.
    drift_hz : float, optional
        How far the fundamental may be from ``mains_hz``, Hz (default 1.5).
    window_s : float, optional
        Length of the amplitude fit's window, seconds (default 12, at most
        30). Longer windows take less of the programme near each harmonic
        (an unweighted fit's bandwidth is about ``1.5 / window_s`` Hz) but
        follow a hum whose level changes more slowly, cost more and add
        latency (about ``window_s/2 + 3.1`` s beyond 6 s). The f0 tracker's
        own window is ``min(window_s, 6)`` s.

    Notes
    -----
    The hum is modelled as a sum of harmonics of one slowly drifting
    fundamental ``f0(t)`` (a harmonic line canceller, [1]_ §13, with the
    harmonic model of [2]_):

    .. math::

        h(t) = \sum_{k=1}^{K} \mathrm{Re}\{c_k\,e^{jk\Phi(t)}\}, \qquad
        \Phi(t) = 2\pi \int_0^t f_0(s)\,ds, \qquad y = x - \hat h.

    1. **Demodulation.** Each harmonic is shifted to 0 Hz and integrated
       over ``D = round(fs/1000)`` samples:
       ``z_k[j] = Σ_{n∈block j} x[n] e^{-jk 2π f_c n/fs}`` (``f_c`` the nominal
       frequency), so harmonic ``k`` of ``f_0 = f_c + Δ`` appears at ``kΔ`` Hz.
    2. **f0 per frame** (every 0.1 s, Hann window ``v`` of ``window_s``): the
       harmonic-comb (approximate non-linear least-squares) estimator of [2]_,
       pre-whitened by the programme's power ``N_k`` beside each harmonic (the
       median of the same sum at offsets ``±(k·drift + 2 … k·drift + 16)`` Hz,
       re-measured every 0.5 s), so that loud programme near one harmonic
       does not pull the estimate, and each baseband sample weighted by
       ``w_{c,k}[i] = 1/(P_{c,k}[i] + 0.03·mean(P_{c,k}))``, ``P`` the
       baseband's own power over 0.2 s (a 0.2 s moving average of
       ``|z|²``'s 0.2 s moving average), so that the stretches where the
       programme is loud, which hide the hum, count less than the pauses:

       .. math:: P_k(\Delta) = \sum_c \Big|\sum_i v_i\, w_{c,k}[i]\, z_{c,k}[i]\,
                 e^{-j2\pi k\Delta\tau_i}\Big|^2, \qquad
                 \hat\Delta_m = \arg\max_{|\Delta| \le \text{drift}}
                 \sum_k \log\Big(1 + \frac{P_k(\Delta)}{N_k}\Big):

       the peak is chosen by how many harmonics stand out of the programme
       beside them, so that a loud note on one or two harmonics (a bass note
       next to the fundamental) does not outweigh a hum present on all of
       them, and is then refined on the whitened power ``Σ_k P_k/N_k`` (the
       least-squares criterion) by three parabolic steps to ~0.001 Hz. The
       grid is 0.02 Hz steps ±0.1 Hz around the last estimate (mains drifts
       slowly); the first frame searches the whole range in 0.04 Hz steps.
       Every 2 s the whole range is searched again, and a peak more than
       0.2 Hz away that scores higher starts a second path, followed like the
       first. After 2 s, unless the two have met, it replaces the first only
       if it explains the tracker's window better as steady harmonics: along
       each path's straight line over those 2 s (at the best of its drift
       rate and the five below, as 2 s of estimates give a poor slope), the
       weighted fit of step 4
       gives every ``c_k`` and its variance from the programme ``σ_k²``, and
       the score is ``Σ_k log(1 + |c_k|²/σ_k²)`` (by 3 more). A note, however
       loud, starts, stops and restarts, and the fit weights its loud
       stretches least, so it scores low; the mains, steady all through,
       high (pingus-1.it with a hum 20 dB under it: 17–21 against 6–13 over
       6 s windows, where the comb had the note ahead for seconds at a time).
       When the comb's best is the path followed (a bass note on G, 49.0 Hz,
       can hold it from the first frame on), its three next peaks are
       tested the same way, each at the best of five drift rates
       (−0.06 … 0.06 Hz/s), against the path's own last 2 s; one that
       scores more by 3 starts the second path. A hum that lost the first
       frame to a note can take it back.
       The first frame's second-best peak starts such a second path at
       once. When a second path wins, or the first has moved over to it
       (it left a note that ended), the estimates still held, those the
       fits still to come will use, are replaced by the second path's
       (refined like the first's), and before it started by its straight
       line (drift rate at most 0.1 Hz/s): with the fits lagging by
       ``J`` hops (below), a switch within that lag leaves no fit on the
       wrong path. In the flush's silence after the stream's end no path
       is started or switched.
       With ``mains_hz=None`` the stream's first
       ``window_s/2`` decides 50 or 60 Hz: the one with the larger
       ``Σ_k log(1 + P_k/N_k)`` at its comb peak, i.e. more harmonics that
       stand out of the programme, not one loud line.
    2b. The tracker's window is ``T = min(window_s, 6 s)``: its comb holds
       Δ constant over it, so it is not made longer with the fit's.
    3. **Smoothing.** Each estimate is replaced by the Hann-weighted
       straight line through the estimates within ``±T/2`` (its neighbours'
       windows overlap its own, so their errors are alike; with a hum 20 dB
       under music this took its reduction from 26–28 to 33–37 dB, amplitudes
       unshrunk). Then a
       straight line through those within ``±T/4`` of frame ``m`` gives its
       offset ``Δ_m`` and drift rate ``β_m`` (Hz/s), so within the frame
       ``f_0(τ) = f_c + Δ_m + β_m τ``.
    4. **Weighted least-squares fit** (iteratively re-weighted, [4]_). With
       ``θ_k(τ) = 2πk(Δ_m τ + β_m τ²/2)``, the window demodulated along the
       model, ``y_k[i] = 2 z_k[i] e^{-jθ_k(τ_i)} / (D g_k)`` (``g_k`` the
       integrate-and-dump gain at ``kΔ``), holds the hum as the constant
       ``c_k`` and the programme as what moves. Where the fit's window is
       longer than ``T``, beyond ``±T/2`` the model's phase follows the
       tracked Δ of the frames there (linear between frame centres),
       integrated on from the chirp's ends. Samples outside the stream
       (before its start, or the flush's silence after its end) get no
       weight: they hold no hum. Starting from the Hann-weighted
       mean ``c_k^{(0)} = Σ v y_k / Σ v``, three times:

       .. math:: S_k[i] = \overline{\big|\overline{y_k - c_k^{(p)}}\big|^2}[i], \quad
                 u_k[i] = \frac{v_i}{S_k[i] + 0.03\,\bar S_k}, \quad
                 c_k^{(p+1)} = \frac{\sum_i u_k[i]\, y_k[i]}{\sum_i u_k[i]},

       the bars being 0.2 s moving averages: ``S_k`` is the programme's power
       within about ±2.5 Hz of the harmonic, sample by sample, and the fit is
       generalised least squares for programme whose power varies in time
       (speech stops between words, notes end), so the hum is measured
       mostly where the programme near it is quiet. The normal equations stay
       diagonal (the harmonics are 50 Hz apart and the weights vary on the
       0.2 s scale, so their spectrum lies within a few Hz; the tests measure
       tones halfway between harmonics changed by < 0.01 dB). The fit's
       variance from the programme is
       ``σ_k² = W Σ_i u_k[i]² S_k[i] / (Σ_i u_k[i])²`` (``W`` the 0.2 s
       average's length in baseband samples, so ``W·S_k`` is the programme's
       density); the tracker's test of step 2 uses it. A harmonic that
       stands less than 10 times above it (``ρ = |c_k|²/σ_k² < 10``) is
       shrunk by ``max(0, 1 − (1 − ρ/10)/ρ)``, the Wiener factor
       ``1 − 1/ρ`` eased to 1 at ρ = 10, so that a harmonic with no hum
       is left alone rather than replaced by programme. (The full Wiener
       factor, as before, left 5–7 dB more of a hum 20 dB under music and
       took no less of that music.)
    4b. **Phase refinement** (a fit window longer than ``T`` only). The track
       integrated over many seconds drifts from the hum's phase by a common
       error ``ε(τ)`` (``kε`` at harmonic ``k``). Per 1 s block ``b`` the
       weighted means ``ȳ_{k,b}`` should be ``c_k e^{jkε_b}``; to first order
       ``ε_b = Σ_k k\,Im(ȳ_{k,b} c_k^*) U_{k,b} / Σ_k k²|c_k|² U_{k,b}``
       (``U`` the block's summed weight), and ``ε(τ) = a_1τ + a_2τ² + a_3τ³``
       is fitted to the blocks by weighted least squares, removed from
       ``y``, and the fit above repeated; twice per frame, starting from
       the last frame's correction moved to this frame's centre (so the
       passes go on refining it from frame to frame, a phase-locked loop in
       effect). ``a_1/2π`` and ``a_2/π`` correct the frame's ``Δ_m`` and
       ``β_m``. A correction that moves the fundamental's phase by more
       than 1 rad somewhere in the window is following the programme (a note
       the tracker has taken), not the hum: that frame keeps its plain fit
       and the next starts afresh.
    5. **Synthesis.** Each frame's chirp model is evaluated per sample and
       adjacent frames are cross-faded linearly; ``ĥ`` is subtracted from the
       input, delayed by the latency ``(1 + J)·0.1 s + T/2``, J the hops in
       ``T/4``, or in ``window_s/2`` when the fit's window is longer than
       ``T``: 9.1 s by default (12 s), 4.6 s at 6 s.

    What is removed is only what correlates with the harmonics over a
    window, a few tenths of a Hz around each; a tone halfway between
    harmonics passes unchanged (the tests measure < 0.01 dB). Programme
    content right at a harmonic, where it sounds all through the window, is
    taken with the hum. In ``benchmarks/bench_dehum_leveler.py`` (speech and
    two pieces of music, hum drifting 49.5 → 50.5 Hz, each run on
    programme + hum and programme − hum so that hum and programme are measured
    apart, by Hagerman and Olofsson's phase inversion) the hum comes out
    50–54 dB down when as loud as the programme, 41–51 dB at 10 dB below it
    and 32–42 dB at 20 dB below it, while the programme changes by 34–45 dB
    less than itself (fixed notches: 9–11 dB of hum reduction, the programme
    changed by 8.5–12 dB less than itself). With ``window_s=6``, at less than half the
    CPU time and 4.5 s less latency: 37–50, 33–47 and 14–31 dB. On nine
    pieces that played no part in the design (pingus-data, neverball-data)
    it was 43–53, 35–45 and 22–37 dB; under dense music a hum 20 dB down
    came out 22–28 dB down on five of them: how precisely the hum's phase
    can be followed under such music is the limit there.

    The fundamental is tracked on all channels together; amplitudes and
    phases are fitted per channel.

    References
    ----------
    .. [1] B. Widrow, S. D. Stearns, *Adaptive Signal Processing*,
       Prentice-Hall, 1985, ch. 12 ("adaptive interference cancelling",
       cancelling 60 Hz interference and its harmonics).
    .. [2] M. G. Christensen, A. Jakobsson, *Multi-Pitch Estimation*,
       Morgan & Claypool, 2009, ch. 2: the harmonic model, the approximate
       non-linear least-squares pitch estimator and the amplitude fit.
    .. [3] S. Godsill, P. Rayner, *Digital Audio Restoration*, Springer,
       1998, §5 (removal of periodic hum by subtracting a fitted model).
    .. [4] P. W. Holland, R. E. Welsch, "Robust regression using iteratively
       reweighted least-squares", *Communications in Statistics – Theory and
       Methods* 6(9), 1977, pp. 813–827.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> sr = 48000
    >>> t = np.arange(8 * sr) / sr
    >>> music = 0.3 * np.sin(2 * np.pi * 440 * t)
    >>> hum = 0.05 * np.sin(2 * np.pi * 50.3 * t)
    >>> out = cfx.Dehum()((music + hum).astype(np.float32), sr)
    >>> residual = out[2 * sr : -2 * sr] - music[2 * sr : -2 * sr]
    >>> bool(20 * np.log10(np.std(hum) / np.std(residual)) > 30)  # dB of hum reduction
    True
    """

    mains_hz = Param(None, unit="Hz", minimum=10.0, maximum=1000.0, nullable=True,
                     help="Nominal mains frequency; empty (None) chooses 50 or 60 Hz from the audio.")
    harmonics = Param(8, kind=int, minimum=1, maximum=64,
                      help="Harmonics removed, the fundamental included.")
    drift_hz = Param(1.5, unit="Hz", minimum=0.05, maximum=5.0,
                     help="How far the fundamental may drift from the nominal frequency.")
    window_s = Param(12.0, unit="s", minimum=0.5, maximum=30.0,
                     help="Analysis window: longer takes less programme, shorter follows level changes.")

    @classmethod
    def conformance_example(cls) -> Dehum:
        """A short-window example for the shared conformance tests (less latency to stream)."""
        return cls(window_s=0.5, harmonics=4)

    # ------------------------------------------------------------------ geometry
    def _geometry(self, sample_rate: float) -> dict[str, int]:
        decimation = max(1, round(sample_rate / BASEBAND_RATE_HZ))
        rate = sample_rate / decimation
        hop = max(1, round(HOP_S * rate))
        track = min(float(self.window_s), TRACK_S)
        half = max(2, round(track * rate / 2))  # the tracker's window
        fit_half = max(half, round(self.window_s * rate / 2))  # the amplitude fit's window
        span = max(1, round(track / 4 / HOP_S))
        smooth = max(1, round(track / 2 / HOP_S))
        # the fit of frame m follows the track over its whole window: frames m ± reach
        reach = max(span, math.ceil(fit_half / hop)) if fit_half > half else span
        latency = (1 + reach) * hop * decimation + (half + 2) * decimation
        return {"decimation": decimation, "hop": hop, "half": half, "fit_half": fit_half, "span": span,
                "smooth": smooth, "reach": reach, "latency": latency}

    def latency_for(self, sample_rate: float) -> int:
        return self._geometry(sample_rate)["latency"]

    # ------------------------------------------------------------------ stream set-up
    def _setup(self, state: StreamState) -> None:
        g = self._geometry(state.sample_rate)
        state.__dict__.update(g)
        fs = state.sample_rate
        nominal = MAINS_HZ if self.mains_hz is None else (float(self.mains_hz),)
        top = max(nominal) + self.drift_hz
        state.n_harm = max(1, min(int(self.harmonics), int(MAX_HARMONIC_FRACTION * fs / top)))
        state.nominal = nominal
        state.ratios = np.array([f / fs for f in nominal])
        state.acc = np.zeros((len(nominal), state.channels, state.n_harm), np.complex128)
        state.z = np.zeros((len(nominal), state.channels, state.n_harm, 0), np.complex128)
        state.z_start = 0  # baseband index of z[..., 0]
        state.nb = 0  # baseband samples made so far
        state.raw = np.zeros((state.channels, 0))
        state.raw_start = 0
        state.estimates: list[float] = []  # raw Δ per frame, from frame est_start on
        state.est_start = 0
        state.n_est = 0  # frames estimated so far
        state.comb_peak = 0.0
        state.challenger: float | None = None  # Δ of the second path, if one is followed
        state.path: list[float] = []  # its refined Δ, frame by frame
        state.frames: dict[int, tuple[float, float, np.ndarray]] = {}  # m -> (Δ, β, c[C, K])
        state.next_fit = 0
        half, dec = state.half, state.decimation
        i = np.arange(-half, half + 1)
        state.weights = 0.5 * (1.0 + np.cos(np.pi * i / (half + 1)))  # Hann, never zero
        state.tau = i * dec / fs  # seconds from the frame centre
        fit_half = state.fit_half
        i = np.arange(-fit_half, fit_half + 1)
        state.fit_weights = 0.5 * (1.0 + np.cos(np.pi * i / (fit_half + 1)))
        state.fit_tau = i * dec / fs
        state.k = np.arange(1, state.n_harm + 1)
        state.local_width = max(1, round(LOCAL_S * fs / dec))

    # ------------------------------------------------------------------ analysis
    def _window(self, state: StreamState, m: int, half: int | None = None) -> np.ndarray:
        """Baseband ``(F, C, K, 2·half+1)`` around frame ``m``'s centre; zeros before the stream."""
        half = state.half if half is None else half
        lo = m * state.hop - half
        hi = m * state.hop + half + 1
        start = lo - state.z_start
        if start >= 0:
            return state.z[..., start : hi - state.z_start]
        pad = np.zeros(state.z.shape[:3] + (-start,), np.complex128)
        return np.concatenate([pad, state.z[..., : hi - state.z_start]], axis=-1)

    def _comb(
        self, state: StreamState, weighted: np.ndarray, deltas: np.ndarray, tau: np.ndarray | None = None,
        count: bool = True,
    ) -> np.ndarray:
        """The comb for each Δ in ``deltas``, with ``P_k(Δ) = Σ_c |Σ_i v_i w z e^{-j2πkΔτ}|²``.

        ``count``: the score ``Σ_k log(1 + P_k/N_k)``, how many harmonics stand out of the
        programme beside them, so that a loud note on one or two harmonics does not outweigh
        them all (used to choose the peak); otherwise the whitened power ``Σ_k P_k/N_k``, the
        least-squares criterion (used to refine it).
        """
        tau = state.tau if tau is None else tau
        deltas = np.asarray(deltas, float)
        ratio = _kernels().comb_lines(np.ascontiguousarray(weighted), tau, deltas) * state.scale[:, None]
        return np.log1p(ratio).sum(axis=0) if count else ratio.sum(axis=0)

    def _background(
        self, state: StreamState, weighted: np.ndarray, nominal: float, tau: np.ndarray | None = None
    ) -> np.ndarray:
        """Power of the programme beside each harmonic ``N_k``: the median over offsets just
        outside the drift range, ``±(k·drift + 2 … k·drift + 16)`` Hz."""
        k = state.k[:, None]
        steps = np.arange(BACKGROUND_OFFSETS)[None, :]
        side = np.minimum(k * self.drift_hz + BACKGROUND_GAP_HZ + 2.0 * steps, 0.8 * nominal)
        offsets = np.ascontiguousarray(np.concatenate([side, -side], axis=1))
        tau = state.tau if tau is None else tau
        power = _kernels().line_power(np.ascontiguousarray(weighted), tau, offsets)
        # Floor: what the band's whole power would give spread as white noise, less 40 dB, so
        # that in near-silence a window's own sidelobes do not count as lines.
        energy = (np.abs(weighted) ** 2).sum(axis=(0, 2))
        return np.maximum(np.median(power, axis=1), BACKGROUND_FLOOR * energy) + 1e-30

    def _refine(self, state: StreamState, weighted: np.ndarray, delta: float) -> tuple[float, float]:
        """Parabolic steps towards the comb's peak near ``delta``; returns (Δ, power)."""
        drift = self.drift_hz
        peak = float(self._comb(state, weighted, np.array([delta]), count=False)[0])
        for step in REFINE_STEPS_HZ:
            left, right = self._comb(state, weighted, np.array([delta - step, delta + step]), count=False)
            curvature = left - 2.0 * peak + right
            shift = 0.5 * step * (left - right) / curvature if curvature < 0 else 0.0
            candidate = float(np.clip(delta + np.clip(shift, -step, step), -drift, drift))
            power = float(self._comb(state, weighted, np.array([candidate]), count=False)[0])
            if power >= peak:
                delta, peak = candidate, power
        return delta, peak

    def _grid(self) -> np.ndarray:
        """The exhaustive Δ grid over ±drift_hz in GLOBAL_STEP_HZ steps."""
        return np.arange(-self.drift_hz, self.drift_hz + 1e-9, GLOBAL_STEP_HZ)

    def _global(
        self, state: StreamState, weighted: np.ndarray, tau: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        grid = self._grid()
        power = self._comb(state, weighted, grid, tau)
        return float(grid[int(np.argmax(power))]), power

    def _choose_mains(self, state: StreamState) -> int:
        """Which nominal frequency has the clearest harmonic lines in the first half window.

        The stream's first ``window_s/2`` gets a Hann window of its own (a window centred
        on the first sample would see the start of the audio as a step). The score is
        ``Σ_k log(1 + P_k/N_k)`` at the comb's peak: how many harmonics stand out of the
        programme beside them, not how loud one of them is.
        """
        if len(state.nominal) == 1:
            return 0
        length = state.half + 1
        i = np.arange(length)
        weights = 0.5 * (1.0 - np.cos(2.0 * np.pi * (i + 1) / (length + 1)))
        tau = (i - state.half / 2.0) * state.decimation / state.sample_rate
        head = state.z[..., :length] if state.z_start == 0 else state.z[..., :0]
        if head.shape[-1] < length:
            head = np.concatenate(
                [head, np.zeros(head.shape[:3] + (length - head.shape[-1],), np.complex128)], axis=-1
            )
        scores = []
        for f in range(head.shape[0]):
            weighted = weights * head[f]
            state.scale = 1.0 / self._background(state, weighted, state.nominal[f], tau)
            delta, _ = self._global(state, weighted, tau)
            lines = _kernels().line_power(
                np.ascontiguousarray(weighted), tau, np.ascontiguousarray(state.k[:, None] * delta)
            )[:, 0]
            scores.append(float(np.log1p(lines * state.scale).sum()))
        return int(np.argmax(scores))

    def _estimate(self, state: StreamState, m: int) -> None:
        window = self._window(state, m)
        if m == 0:
            best = self._choose_mains(state)
            state.nominal = (state.nominal[best],)
            state.ratios = state.ratios[best : best + 1]
            state.acc = state.acc[best : best + 1].copy()
            state.z = state.z[best : best + 1].copy()
            window = window[best : best + 1]
            weighted = self._whiten(state, window[0])
            state.scale = 1.0 / self._background(state, weighted, state.nominal[0])
            delta, power = self._global(state, weighted)
            # the best peak away from the first starts a second path at once: the first
            # window holds only half a window of audio, and a note there may win it
            grid = self._grid()
            away = np.abs(grid - delta) > 2 * LOCAL_SPAN_HZ
            if away.any():
                state.challenger = float(grid[away][int(np.argmax(power[away]))])
                state.path, state.first_start = [], delta
            delta, peak = self._refine(state, weighted, delta)
        else:
            weighted = self._whiten(state, window[0])
            if m % BACKGROUND_FRAMES == 0:
                state.scale = 1.0 / self._background(state, weighted, state.nominal[0])
            delta, score = self._local(state, weighted, state.estimates[-1])
            ended = "input_end" in state  # in the flush's silence the path is kept
            if state.challenger is not None and ended:
                state.challenger = None
            if state.challenger is not None:
                # a second path, followed like the first; after CHALLENGE_FRAMES frames it
                # replaces the first only if it explains the window better as steady harmonics
                # (a note starts, stops and restarts; the mains does not)
                state.challenger, _ = self._local(state, weighted, state.challenger)
                state.path.append(self._refine(state, weighted, state.challenger)[0])
                if len(state.path) >= CHALLENGE_FRAMES:
                    # the second path wins, or the first has moved over to it (it left a
                    # note that ended): either way the estimates held are the second's
                    met = abs(delta - state.challenger) <= 2 * LOCAL_SPAN_HZ
                    joined = met and abs(delta - state.first_start) > 2 * LOCAL_SPAN_HZ
                    wins = not met and (self._coherence(state, m, np.asarray(state.path))
                                        > self._coherence(state, m, self._own(state, delta))
                                        + COHERENCE_MARGIN)
                    if wins or joined:
                        delta = state.challenger
                        self._rewrite(state, m)
                    state.challenger = None
            if m % REACQUIRE_FRAMES == 0 and state.challenger is None and not ended:
                far, far_score = self._global(state, weighted)
                if not (abs(far - delta) > 2 * LOCAL_SPAN_HZ and far_score.max() > score):
                    far = self._nominate(state, m, far_score, delta)
                if far is not None:
                    state.challenger, state.path, state.first_start = far, [], delta
            delta, peak = self._refine(state, weighted, delta)
        state.estimates.append(delta)
        state.n_est += 1
        state.comb_peak = peak

    def _rewrite(self, state: StreamState, m: int) -> None:
        """A second path has won at frame ``m`` (or the first has moved over to it): the first was
        following the programme (a note), so the estimates still kept (those the fits to come
        will use) are replaced by the second path's, and before it started by its straight line."""
        state.phase_correction = None  # refined along the old path: start afresh
        path = np.asarray(state.path)
        start = m - path.size + 1  # the frame of the path's first value
        # before it, the straight line through it (its drift rate at most MAX_DRIFT_RATE)
        if path.size > 1:
            slope, offset = np.polyfit(np.arange(path.size), path, 1)
        else:
            slope, offset = 0.0, float(path[0])
        most = MAX_DRIFT_RATE * state.hop * state.decimation / state.sample_rate
        slope = float(np.clip(slope, -most, most))
        for q in range(state.est_start, m):
            i = q - start
            value = path[i] if i >= 0 else offset + slope * i
            state.estimates[q - state.est_start] = float(np.clip(value, -self.drift_hz, self.drift_hz))

    def _local(self, state: StreamState, weighted: np.ndarray, previous: float) -> tuple[float, float]:
        """The comb's best Δ within ±LOCAL_SPAN_HZ of ``previous``, and its score."""
        grid = previous + np.arange(-LOCAL_SPAN_HZ, LOCAL_SPAN_HZ + 1e-9, LOCAL_STEP_HZ)
        grid = grid[np.abs(grid) <= self.drift_hz + 1e-9]
        power = self._comb(state, weighted, grid)
        best = int(np.argmax(power))
        return float(grid[best]), float(power[best])

    def _whiten(self, state: StreamState, window: np.ndarray) -> np.ndarray:
        """The analysis window times 1/(the baseband's local power + a floor), per sample."""
        width = state.local_width
        local = _moving(np.abs(_moving(window, width)) ** 2, width)
        return state.weights * window / (local + LOCAL_FLOOR * local.mean(axis=-1, keepdims=True) + 1e-300)

    def _centre(self, state: StreamState, q: int) -> float:
        """Where (in frames) the audio of frame ``q``'s tracker window is centred (Hann weighted)."""
        end = _end(state)
        cache = state.__dict__.setdefault("centres", {})
        if (q, end) not in cache:
            hop, half = state.hop, state.half
            stop = q * hop + half + 1 if end is None else min(q * hop + half + 1, end)
            i = np.arange(max(q * hop - half, 0), stop)
            v = 0.5 * (1.0 + np.cos(np.pi * (i - q * hop) / (half + 1)))
            cache[q, end] = float((v * i).sum() / v.sum() / hop)
        return cache[q, end]

    def _held(self, state: StreamState, frames: np.ndarray) -> np.ndarray:
        """The track at ``frames`` for the fits: the estimates, mended at the stream's ends.

        A frame whose tracker window reaches past the stream's start or end holds audio on one
        side only, so its estimate is the f0 there, not at the frame's centre (a drift of
        0.033 Hz/s puts it up to 0.05 Hz off). Each such estimate is placed at the centre of the
        audio its window held (frames whose own centre lies past the end are not used), and the
        frames there take the track interpolated at their centres, or before the first or after
        the last placed estimate the straight line through the 2·J + 1 nearest (at least
        EDGE_FRAMES held, or the estimates are kept).
        """
        est = np.asarray(state.estimates)
        first, hop, half = state.est_start, state.hop, state.half
        q = np.clip(frames, 0, None)
        out = est[q - first].copy()
        lead = math.ceil(half / hop)  # the first frame whose window is wholly inside the stream
        end = _end(state)
        last = (end - half - 1) // hop if end is not None else None  # and the last
        edge = (q < lead) | ((q > last) if last is not None else False)
        if not edge.any():
            return out
        held = np.arange(first, first + est.size)
        if end is not None:
            held = held[held * hop < end]  # a frame centred past the end holds little audio
        if held.size < EDGE_FRAMES:
            return out
        inside = (held >= lead) & ((held <= last) if last is not None else True)
        times = np.array(
            [h if ok else self._centre(state, int(h)) for h, ok in zip(held, inside, strict=True)]
        )
        values = est[held - first]
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        mended = np.interp(q.astype(float), times, values)
        count = 2 * state.span + 1  # as many as the chirp's straight line takes
        for side, near in ((q < times[0], slice(0, count)), (q > times[-1], slice(-count, None))):
            if side.any():
                slope, offset = np.polyfit(times[near], values[near], 1)
                mended[side] = offset + slope * q[side]
        out[edge] = mended[edge]
        return np.clip(out, -self.drift_hz, self.drift_hz)

    def _fit(self, state: StreamState, m: int) -> None:
        """Frame ``m``'s smoothed Δ, drift rate β and harmonic amplitudes ``c``."""
        reach = state.reach
        frames = np.arange(m - reach, m + reach + 1)
        known = self._held(state, frames)  # the track over the fit's window (reach ≥ span)
        # each frame's estimate from a window of T around it is noisy where the programme is
        # loud, and its neighbours' errors are alike: the track is smoothed over ±T/2 (the frames
        # of the stream; those past its ends keep their mended values)
        end = _end(state)
        use = (frames >= 0) & ((frames * state.hop < end) if end is not None else True)
        known = _local_line(known, state.smooth, use)
        q = np.arange(max(0, m - state.span), m + state.span + 1)
        t = (q - m) * state.hop * state.decimation / state.sample_rate
        d = known[q - (m - reach)]
        if q.size > 1:
            beta, delta = np.polyfit(t, d, 1)
        else:
            beta, delta = 0.0, float(d[0])
        k = state.k
        dec, fs = state.decimation, state.sample_rate
        # The model's phase: within the tracker's half window of the centre the straight line
        # (Δ + βτ, the chirp); beyond it, over a longer fit window, the tracked Δ of the frames
        # there (linear between frame centres), integrated on from the chirp's ends.
        tau = state.fit_tau
        phase = delta * tau + 0.5 * beta * tau**2
        hop, fit_half, near = state.hop, state.fit_half, state.half
        if fit_half > near:
            track = np.interp(np.arange(-fit_half, fit_half + 1), (frames - m) * hop, known) * (dec / fs)
            right = fit_half + near
            phase[right + 1 :] = phase[right] + np.cumsum(track[right + 1 :])
            left = fit_half - near
            phase[:left] = phase[left] - np.cumsum(track[1 : left + 1][::-1])[::-1]
        theta = 2.0 * np.pi * np.outer(k, phase)  # (K, L)
        gain = np.sinc(k * delta * dec / fs) / np.sinc(k * delta / fs)  # integrate-and-dump gain at kΔ
        # y: the window demodulated along the model's phase and scaled so that the hum is the
        # constant c_k in it; the programme is what moves.
        y = self._window(state, m, fit_half)[0] * np.exp(-1j * theta)
        y *= (2.0 / (dec * gain))[:, None]  # (C, K, L)
        v = state.fit_weights * self._inside(state, m, fit_half)
        fit = (y * v).sum(axis=-1) / v.sum()
        # start from the last frame's phase correction, moved to this frame's centre (the
        # windows overlap but for one hop), so that the passes go on refining it frame by frame
        correction = np.zeros(PHASE_ORDER)
        last = state.__dict__.get("phase_correction")
        if last is not None and fit_half > near:
            shift = hop * dec / fs
            moved = np.polynomial.polynomial.Polynomial(np.concatenate([[0.0], last]))(
                np.polynomial.polynomial.Polynomial([shift, 1.0]))
            correction = np.pad(moved.coef, (0, PHASE_ORDER + 1))[1 : PHASE_ORDER + 1]
            error = np.polynomial.polynomial.polyval(state.fit_tau, np.concatenate([[0.0], correction]))
            y = y * np.exp(-1j * np.outer(k, error))
        plain = None  # the fit along the track alone, kept in case the correction runs away
        for phase_pass in range(PHASE_PASSES + 1):
            fit, weights, snr = self._irls(state, y, v, fit)
            if phase_pass == PHASE_PASSES or fit_half <= near:
                break
            if plain is None:
                plain = (fit, snr)
            coef = self._phase_error(state, y, weights, fit)
            correction += coef
            error = np.polynomial.polynomial.polyval(state.fit_tau, np.concatenate([[0.0], coef]))
            y = y * np.exp(-1j * np.outer(k, error))
        if fit_half > near:
            # A correction that moves the fundamental by more than PHASE_LIMIT rad somewhere in the
            # window follows the programme (a note the tracker has taken), not the hum: this
            # frame keeps the plain fit, and the next starts afresh.
            error = np.polynomial.polynomial.polyval(state.fit_tau, np.concatenate([[0.0], correction]))
            if plain is not None and np.abs(error).max() > PHASE_LIMIT:
                fit, snr = plain
                correction = np.zeros(PHASE_ORDER)
        state.phase_correction = correction
        # the phase correction's slope and curvature at the centre move the synthesised chirp too
        delta += correction[0] / (2.0 * np.pi)
        beta += 2.0 * correction[1] / (2.0 * np.pi) if PHASE_ORDER > 1 else 0.0
        # A harmonic that stands less than SHRINK_SNR above the fit's variance from the programme
        # is shrunk towards zero (the Wiener factor 1 − σ²/|c|², eased to 1 at SHRINK_SNR).
        shrink = np.maximum(0.0, 1.0 - np.maximum(0.0, 1.0 - snr / SHRINK_SNR) / np.maximum(snr, 1e-300))
        state.frames[m] = (float(delta), float(beta), shrink * fit)

    @staticmethod
    def _inside(state: StreamState, m: int, half: int) -> np.ndarray:
        """Which baseband samples of frame ``m``'s window of ``±half`` lie inside the stream:
        those before its start, or in the flush's silence after its end, hold no hum and get no
        weight (they would pull a fit towards zero)."""
        index = m * state.hop + np.arange(-half, half + 1)
        end = _end(state)
        return (index >= 0) & (index < (end if end is not None else index[-1] + 1))

    def _irls(
        self, state: StreamState, y: np.ndarray, v: np.ndarray, fit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PASSES re-weightings of the amplitude fit from ``fit``: (fit, weights, |c|²/σ²).

        The programme's local power at each harmonic is the residual of the last fit, smoothed
        over LOCAL_S (a band of 1/LOCAL_S Hz), its power smoothed over LOCAL_S again; the fit's
        variance from the programme is ``σ² = W Σ u² S / (Σ u)²``.
        """
        width = state.local_width
        for _ in range(PASSES):
            local = _moving(np.abs(_moving(y - fit[..., None], width)) ** 2, width)
            weights = v / (local + LOCAL_FLOOR * local.mean(axis=-1, keepdims=True) + 1e-300)
            total = weights.sum(axis=-1)
            fit = (weights * y).sum(axis=-1) / total
        variance = (weights**2 * local).sum(axis=-1) * width / total**2
        return fit, weights, (fit.real**2 + fit.imag**2) / np.maximum(variance, 1e-300)

    def _nominate(self, state: StreamState, m: int, score: np.ndarray, delta: float) -> float | None:
        """A second path's start when the comb prefers the first: of the comb's NOMINEES highest
        peaks away from it, the one whose steady harmonics (:meth:`_coherence`, at the best of
        NOMINEE_RATES drift rates) explain frame ``m``'s window better than the first path's own
        last CHALLENGE_FRAMES estimates do, if any. A bass note on G (49.0 Hz) can hold the comb
        from the first frame on, with the mains never the comb's best."""
        grid = self._grid()
        peak = np.ones(grid.size, bool)
        peak[1:] &= score[1:] >= score[:-1]
        peak[:-1] &= score[:-1] >= score[1:]
        candidates = np.flatnonzero(peak & (np.abs(grid - delta) > 2 * LOCAL_SPAN_HZ))
        if candidates.size == 0:
            return None
        candidates = candidates[np.argsort(score[candidates])[::-1][:NOMINEES]]
        best, best_value = None, self._coherence(state, m, self._own(state, delta)) + COHERENCE_MARGIN
        for i in candidates:
            value = max(self._coherence_line(state, m, float(grid[i]), rate) for rate in NOMINEE_RATES)
            if value > best_value:
                best, best_value = float(grid[i]), value
        return best

    @staticmethod
    def _own(state: StreamState, delta: float) -> np.ndarray:
        """The first path's last CHALLENGE_FRAMES estimates, ``delta`` (this frame's) the last."""
        return np.append(state.estimates[-(CHALLENGE_FRAMES - 1) :], delta)

    def _coherence(self, state: StreamState, m: int, path: np.ndarray) -> float:
        """How well a path explains the tracker window of frame ``m`` as steady harmonics.

        ``path``: its Δ at frames m − len + 1 … m; their straight line is the chirp along which
        the window is demodulated, and the weighted fit of :meth:`_fit` gives each harmonic's
        ``c_k`` and its variance ``σ_k²`` from the programme. Returns ``Σ log(1 + |c_k|²/σ_k²)``:
        a note, loud but not steady (it starts, stops, restarts), explains little of it; the
        mains, steady all through, much.
        """
        t = (np.arange(path.size) - (path.size - 1)) * state.hop * state.decimation / state.sample_rate
        beta, delta = np.polyfit(t, path, 1) if path.size > 1 else (0.0, float(path[-1]))
        # the line's slope from 2 s of noisy estimates can be far off: the best of it and the
        # nominees' rates, as a nominee is tested
        rates = (float(beta), *NOMINEE_RATES)
        return max(self._coherence_line(state, m, float(delta), rate) for rate in rates)

    def _coherence_line(self, state: StreamState, m: int, delta: float, beta: float) -> float:
        """:meth:`_coherence` of the chirp ``Δ + βτ`` (Hz, Hz/s; τ from frame ``m``'s centre)."""
        tau = state.tau
        theta = 2.0 * np.pi * np.outer(state.k, delta * tau + 0.5 * beta * tau**2)
        y = self._window(state, m)[0] * np.exp(-1j * theta)
        v = state.weights * self._inside(state, m, state.half)
        snr = self._irls(state, y, v, (y * v).sum(axis=-1) / v.sum())[2]
        return float(np.log1p(snr).sum())

    def _phase_error(
        self, state: StreamState, y: np.ndarray, weights: np.ndarray, fit: np.ndarray
    ) -> np.ndarray:
        """The track's remaining phase error over the fit's window, common to all harmonics.

        Per block of PHASE_BLOCK_S the weighted means ``ȳ_k`` of the demodulated harmonics
        should be ``c_k e^{jkε}``; to first order ``Im(ȳ_k c_k^*) = k ε |c_k|²``, so each
        block's ``ε_b = Σ k Im(ȳ_k c_k^*) U_k / Σ k² |c_k|² U_k`` (``U_k`` the block's summed
        weight, its precision). A polynomial ``ε(τ) = a_1 τ + … + a_P τ^P`` (no constant: that is
        the amplitudes' phase) is fitted to the blocks by weighted least squares; returns
        ``a_1 … a_P`` (radians, τ in seconds).
        """
        block = max(1, round(PHASE_BLOCK_S * state.sample_rate / state.decimation))
        length = y.shape[-1]
        n_blocks = length // block
        if n_blocks < PHASE_ORDER + 2:
            return np.zeros(PHASE_ORDER)
        start = (length - n_blocks * block) // 2
        cut = slice(start, start + n_blocks * block)
        shape = y.shape[:-1] + (n_blocks, block)
        u = weights[..., cut].reshape(shape)
        sums = u.sum(axis=-1)  # (C, K, B)
        means = (u * y[..., cut].reshape(shape)).sum(axis=-1) / np.maximum(sums, 1e-300)
        k = state.k[:, None]
        lever = (k * np.abs(fit[..., None]) ** 2) * sums  # k |c|² U
        num = (k * np.imag(means * np.conj(fit[..., None])) * sums).sum(axis=(0, 1))
        den = (k * lever).sum(axis=(0, 1))
        eps = num / np.maximum(den, 1e-300)
        centres = state.fit_tau[cut].reshape(n_blocks, block).mean(axis=-1)
        basis = centres[:, None] ** np.arange(1, PHASE_ORDER + 1)[None, :]
        root = np.sqrt(den / max(den.max(), 1e-300))
        coef, *_ = np.linalg.lstsq(basis * root[:, None], eps * root, rcond=None)
        return coef

    # ------------------------------------------------------------------ processing
    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "z" not in state:
            self._setup(state)
        kernels = _kernels()
        n = block.shape[1]
        position = state.position
        # 1. demodulate the new input into baseband samples
        made = (position + n) // state.decimation - position // state.decimation
        fresh = np.zeros(state.z.shape[:3] + (made,), np.complex128)
        kernels.demodulate(
            np.ascontiguousarray(block, np.float64), position, state.ratios, state.n_harm,
            state.decimation, state.acc, fresh,
        )
        state.z = np.concatenate([state.z, fresh], axis=-1) if made else state.z
        state.nb += made
        state.raw = np.concatenate([state.raw, block.astype(np.float64)], axis=1)
        # 2. f0 of every frame whose window is complete; 3. fits once their neighbours are known
        while state.nb > state.n_est * state.hop + state.half:
            self._estimate(state, state.n_est)
        while state.n_est > state.next_fit + state.reach:
            self._fit(state, state.next_fit)
            state.next_fit += 1
        # later fits need the estimates from frame next_fit − span on
        drop = state.next_fit - state.reach - state.est_start
        if drop > 0:
            del state.estimates[:drop]
            state.est_start += drop
        # 4. output: input delayed by the latency, less the synthesised hum
        first = position - state.latency
        out = np.zeros((state.channels, n))
        begin = max(0, -first)
        if begin < n:
            start = first + begin
            count = n - begin
            centre0 = (state.decimation - 1) / 2.0
            step = state.hop * state.decimation
            m_lo = max(0, math.floor((start - centre0) / step))
            m_hi = max(0, math.floor((start + count - 1 - centre0) / step)) + 1
            assert m_hi < state.next_fit, "Dehum latency too short for its analysis"
            frames = [state.frames[m] for m in range(m_lo, m_hi + 1)]
            fs = state.sample_rate
            delta = np.array([f[0] for f in frames]) / fs  # cycles per sample
            beta = np.array([f[1] for f in frames]) / fs**2
            amps = np.ascontiguousarray(np.stack([f[2] for f in frames]))
            hum = np.zeros((state.channels, count))
            kernels.synthesize(
                start, count, float(state.ratios[0]), centre0, float(step), m_lo, delta, beta, amps, hum
            )
            dry = state.raw[:, start - state.raw_start : start - state.raw_start + count]
            out[:, begin:] = dry - hum
            # forget what no later output needs
            keep = start + count
            state.raw = state.raw[:, keep - state.raw_start :]
            state.raw_start = keep
            for m in [m for m in state.frames if m < m_hi - 1]:
                del state.frames[m]
        oldest = state.next_fit * state.hop - state.fit_half - state.z_start
        if oldest > 0:
            state.z = state.z[..., oldest:]
            state.z_start += oldest
        return out.astype(np.float32)
