"""De-clipper: clipped runs found where the amplitude piles up at its peak, restored consistently.

Constrained least-squares AR interpolation (Godsill & Rayner 1998, ch. 5,
with the clipping constraint of consistent declipping, Kitić, Bertin &
Gribonval 2015; Záviška et al. 2018): the clipped samples are missing, but
known to lie at or beyond the clip level with the clipped sign. Each hop's
AR model is chosen by cross-validation on the hop clipped again 3 dB lower.
"""

from __future__ import annotations

import numpy as np

from ..plugin import Param, StreamState
from ._ar_repair import HopRepair

__all__ = ["Declip"]

#: Model refits per hop: the first model is fitted on flattened peaks, each
#: refit on the previous restoration (Godsill & Rayner's iterated scheme).
PASSES = 3

#: Rounds of "solve, fix the samples that broke the constraint at the clip
#: level, solve the rest again" per cluster.
MAX_ROUNDS = 8

#: Samples at a plateau's level, in qualifying runs, that a window needs
#: before it counts as a clip level: one flat-topped crest of two equal
#: samples is not a pile-up.
MIN_EVIDENCE = 3

#: The candidate models of ``choose_order``: (order as a multiple of
#: ``ar_order``, fitted on the long window of twice ``window_ms``). The
#: first is the default the others must beat.
CANDIDATES = ((1.0, False), (0.5, False), (2.0, False), (3.0, False), (3.0, True))

#: The cross-validation clip level, relative to the detected one (−3 dB).
PROBE = 10.0 ** (-3.0 / 20.0)

#: A candidate other than the default wins only if its score is below this
#: share of the default's.
MARGIN = 0.85


class Declip(HopRepair):
    r"""Restore hard-clipped audio: auto-detected clip level, constrained AR interpolation.

    The restored peaks rise **above the old clip level** (that is the point),
    so the output can exceed 0 dBFS: put a :class:`~clarity_fx.TruePeakLimiter`
    (or a gain) after it before writing a fixed-point file.

    Parameters
    ----------
    tolerance_db : float, optional
        How close to the clip level, in dB, a sample must be to count as
        clipped (default 0.001 dB). Raise it for clipping that went through
        a lossy codec.
    min_run_samples : int, optional
        Shortest run at the clip level that counts as clipped (default 2).
    ar_order : int, optional
        Order ``P`` of the AR model (default 32).
    window_ms : float, optional
        Window for the model and the clip level (default 40 ms); hops are
        half a window.
    max_run_ms : float, optional
        Longest stretch restored in one piece (default 10 ms); it sets the
        look-ahead and so the latency.
    choose_order : bool, optional
        Pick each hop's model by cross-validation (default True, step 5);
        off, every hop uses order ``P`` (and the latency is shorter).

    Notes
    -----
    Per hop of ``N/2`` samples, on each channel:

    1. Clip level, per polarity, from the window's amplitude histogram: the
       highest plateau value ``ℓ`` (neighbours of one sign within the
       tolerance of each other) whose band ``[ℓ·10^{−tol/20}, ℓ]`` holds at
       least 3 samples in runs of at least ``min_run_samples`` (a pile-up; a
       lone smooth crest does not make one), with fewer samples above it than
       at it (so isolated clicks or spikes above the level, even at the very
       start, do not hide it), hardly any just above it (within 0.5 dB: an
       unclipped crest rising past a chance flat stretch), not below the
       highest level found so far, nor 6 dB under the stream's robust peak
       (a quiet passage's quantised crest is no clip level). Samples at or
       beyond the level in such runs are clipped; in a clipped window,
       shorter runs 0.5 dB or more beyond it are outliers (nothing genuine
       passes a clip level) and are re-estimated without the constraint.
       Nothing else is touched: unclipped audio passes bit-identical.
    2. Fit an order-``P`` AR model (prediction-error filter ``a``, ``c_k``
       the autocorrelation of ``a``) on the Hann-windowed window.
    3. Each cluster of clipped samples ``u`` (runs closer than ``P``
       samples) is re-estimated by least squares under the model, subject
       to the clipping constraint:

       .. math::

           \min_{x_u} \|A x\|^2 \quad \text{s.t.} \quad s_i\,x_i ≥ ℓ_i ,
           \qquad (AᵀA)_{ff}\,x_f = −(AᵀA)_{f\bar f}\,x_{\bar f} ,

       solved as LS AR interpolation (banded Cholesky on the Toeplitz normal
       equations) for the free samples ``f``; samples that come out inside
       the clip level are fixed at it and the rest solved again (projection
       onto the constraint, iterated, at most 8 rounds).
    4. Refit the model on the restoration and repeat 3 (3 passes).
    5. With ``choose_order``, steps 2–4 run for five candidate models, of
       orders ``P, P/2, 2P, 3P`` fitted on the window and ``3P`` on a
       window twice as long (a long clipped run of bass needs the
       resolution), on the hop **clipped again 3 dB lower** (``ℓ' =
       10^{−3/20}·ℓ``), where the newly clipped samples ``v`` are known.
       Each candidate ``m`` is scored by its squared error there plus its
       shortfall below the real level on the clipped samples ``u``,

       .. math::

           J_m = \sum_{v} (\hat x^{(m)}_v − x_v)^2
                 + \sum_{u} \max(0,\, ℓ_u − s_u \hat x^{(m)}_u)^2 ,

       and the hop is restored with the lowest (the default order ``P``
       wins unless another scores below 0.85 of it): order selection by
       cross-validation on the hop's own data (Stone 1974), here on a
       harder copy of the same clipping problem. A fixed order is either
       too low for long runs or, on line spectra, high enough to learn the
       clipping's own harmonics, which the first fit sees.

    Latency: ``N/2 + ⌈max_run⌉ + 2P_max`` samples, ``P_max`` the highest
    candidate order (``3P``; ``P`` without ``choose_order``). Channels are restored
    independently. After a stream, :attr:`repaired_samples` counts the
    samples re-estimated.

    References
    ----------
    .. [1] S. J. Godsill, P. J. W. Rayner, *Digital Audio Restoration*,
       Springer, 1998, ch. 5 (LS AR interpolation).
    .. [2] S. Kitić, N. Bertin, R. Gribonval, "Sparsity and cosparsity for
       audio declipping: a flexible non-convex approach", LVA/ICA 2015
       (consistent declipping, SPADE).
    .. [3] P. Záviška, P. Rajmic, O. Mokrý, Z. Průša, "A proper version of
       synthesis-based sparse audio declipper", ICASSP 2019; and "Audio
       declipping with (weighted) analysis social sparsity", 2018 (A-SPADE
       evaluation, ΔSDR).
    .. [4] M. Stone, "Cross-validatory choice and assessment of statistical
       predictions", J. R. Stat. Soc. B 36 (1974) (choosing the model by
       how it predicts held-out data).

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> t = np.arange(48000) / 48000
    >>> clean = (0.9 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    >>> clipped = np.clip(clean, -0.6, 0.6)
    >>> out = cfx.Declip()(clipped, 48000)
    >>> bool(np.abs(out - clean).max() < np.abs(clipped - clean).max() / 2)
    True
    """

    reach_param = "max_run_ms"

    tolerance_db = Param(
        0.001, unit="dB", minimum=0.0, maximum=3.0, help="How close to the peak a clipped sample must be."
    )
    min_run_samples = Param(
        2, kind=int, minimum=1, maximum=64, help="Shortest run at the peak that is clipping."
    )
    ar_order = Param(32, kind=int, minimum=4, maximum=128, help="Order P of the AR model.")
    window_ms = Param(
        40.0, unit="ms", minimum=5.0, maximum=500.0, help="Window of the model and clip level; hop = half."
    )
    max_run_ms = Param(
        10.0, unit="ms", minimum=0.1, maximum=50.0, help="Longest stretch restored in one piece."
    )

    choose_order = Param(
        True, kind=bool, help="Pick each hop's AR model by cross-validation (orders P/2 to 3P)."
    )

    @classmethod
    def conformance_example(cls) -> Declip:
        """An engaged example for the shared conformance tests (the noise is clipped)."""
        return _ClippingDeclip()

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Candidate orders and long-window flags; just ``ar_order`` without ``choose_order``."""
        p = self.ar_order
        if not self.choose_order:
            return np.array([p], np.int64), np.zeros(1, np.bool_)
        orders = np.array([max(round(k * p), 2) for k, _ in CANDIDATES], np.int64)
        return orders, np.array([long for _, long in CANDIDATES], np.bool_)

    def _geometry(self, sample_rate: float) -> tuple[int, int, int]:
        """``(window, hop, lookahead)`` as :meth:`HopRepair._geometry`, for the highest candidate order."""
        p = int(self._candidates()[0].max())
        reach = max(1, round(self.max_run_ms * 1e-3 * sample_rate))
        lookahead = reach + 2 * p
        window = max(round(self.window_ms * 1e-3 * sample_rate), 4 * p)
        hop = max(window // 2, 1)
        window = max(window, hop + lookahead + p)
        return window, hop, lookahead

    def _repair(
        self, work: np.ndarray, raw: np.ndarray, start: int, hops: int, sample_rate: float, memory: np.ndarray
    ) -> int:
        from . import _repair_kernels as k

        window, hop, lookahead = self._geometry(sample_rate)
        orders, long_fit = self._candidates()
        if window > 2 * hop + lookahead:
            long_fit[:] = False  # the work buffer holds no more than window + hop before a hop
        return int(
            k.declip_hops(
                work, raw, start, hops, hop, lookahead - 2 * int(orders.max()), np.hanning(window + 2)[1:-1],
                np.hanning(2 * window + 2)[1:-1], orders, long_fit, 10.0 ** (-self.tolerance_db / 20.0),
                self.min_run_samples, MIN_EVIDENCE, PASSES, MAX_ROUNDS, PROBE, MARGIN, memory,
            )
        )


class _ClippingDeclip(Declip):
    """Declip that hard-clips its input at ±0.25 first: the conformance suite's noise is not clipped."""

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        return super().process_block(np.clip(block, -0.25, 0.25), state)
