"""De-clicker: clicks found in an AR model's interpolation error, restored by LS AR interpolation.

The method of Vaseghi & Rayner (1990) as set out in Godsill & Rayner,
*Digital Audio Restoration* (1998), ch. 5, and the idea behind ffmpeg's
``adeclick``: a click is a short burst the signal's own autoregressive model
cannot predict; once found, the burst's samples are treated as missing and
re-estimated from their neighbours under the same model.
"""

from __future__ import annotations

import numpy as np

from ..plugin import Param
from ._ar_repair import HopRepair

__all__ = ["Declick"]

#: σ = MAD_SCALE · median|d| estimates a Gaussian's standard deviation from its
#: median absolute deviation (d has median ≈ 0).
MAD_SCALE = 1.4826

#: Robust-scale floor (−100 dBFS): below it the signal is treated as silence,
#: so the dither of a fade-in from digital zero is not taken for clicks.
SIGMA_FLOOR = 1e-5

#: Detection passes: the second refits the model on the first pass's
#: restoration, so a large click no longer whitens the model that must find it
#: (Godsill & Rayner 1998, §5.3: iterate detection and interpolation).
PASSES = 2


class Declick(HopRepair):
    r"""Remove clicks and crackle: AR-residual detection, least-squares AR interpolation.

    Parameters
    ----------
    threshold_db : float, optional
        How far above the robust level of the interpolation error a sample's
        error must be to count as a click, in dB (default 22 dB, i.e.
        ``K ≈ 12.6`` robust standard deviations). Lower finds fainter clicks
        and touches more clean audio.
    ar_order : int, optional
        Order ``P`` of the AR model (default 32).
    window_ms : float, optional
        Length of the window the model is fitted on (default 40 ms); hops are
        half a window.
    max_click_ms : float, optional
        Longest click restored in one piece (default 1.5 ms, 72 samples at
        48 kHz); longer bursts are restored in pieces, less well.
    widen_samples : int, optional
        Samples added to each side of every detected run (default 2): a
        click's edges hide under the signal.

    Notes
    -----
    Per hop of ``N/2`` samples (``N`` the window), on each channel:

    1. Fit an order-``P`` AR model on the Hann-windowed ``N`` samples ending
       ``L`` samples past the hop (autocorrelation method, Levinson–Durbin):
       the prediction-error filter ``a = [1, −a_1, …, −a_P]``, so that
       ``e[t] = Σ_i a_i·x[t − i]`` is white, and its autocorrelation
       ``c_k = Σ_i a_i a_{i+k}``, the band of the Toeplitz matrix ``AᵀA``.
    2. Two-sided interpolation error, the detector of Vaseghi & Rayner:

       .. math::

           d[t] = x[t] − \hat x[t] = \frac{1}{c_0}\sum_{k=−P}^{P} c_{|k|}\,x[t+k],

       i.e. ``x[t]`` less its LS AR interpolant from ``P`` neighbours each side.
    3. Flag ``|d[t]| > K·σ`` with ``σ = 1.4826·median|d|`` over the hop and
       look-ahead (a robust scale: clicks do not raise it) and
       ``K = 10^{threshold_db/20}``; widen each flag by ``widen_samples``.
    4. Flags closer than ``P`` samples form one cluster; every cluster that
       starts in the hop has its flagged samples ``u`` re-estimated as the
       least-squares AR interpolant given all the others ``k`` (Godsill &
       Rayner §5.2), the banded Toeplitz normal equations

       .. math::

           (AᵀA)_{uu}\,x_u = −(AᵀA)_{uk}\,x_k ,

       solved by banded Cholesky.
    5. Refit the model on the restored window and repeat 2–4 on the input
       (two passes), so that a loud click does not whiten its own model.

    Samples not flagged pass bit-identical. The output is ``N/2 + L`` samples
    late, ``L = ⌈max_click⌉ + 2P`` (the look-ahead a cluster needs).
    Channels are restored independently. After a stream,
    :attr:`repaired_samples` says how many samples were re-estimated.

    References
    ----------
    .. [1] S. V. Vaseghi, P. J. W. Rayner, "Detection and suppression of
       impulsive noise in speech communication systems", IEE Proceedings I,
       137(1), 1990.
    .. [2] S. J. Godsill, P. J. W. Rayner, *Digital Audio Restoration: A
       Statistical Model Based Approach*, Springer, 1998, ch. 5.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> t = np.arange(48000) / 48000
    >>> clean = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    >>> clicked = clean.copy(); clicked[10000:10004] += 0.8
    >>> out = cfx.Declick()(clicked, 48000)
    >>> bool(np.abs(out - clean).max() < 0.05)
    True
    """

    threshold_db = Param(
        22.0, unit="dB", minimum=6.0, maximum=60.0,
        help="How far above the robust interpolation-error level a click must be.",
    )
    ar_order = Param(32, kind=int, minimum=4, maximum=128, help="Order P of the AR model.")
    window_ms = Param(
        40.0, unit="ms", minimum=5.0, maximum=500.0, help="Window the AR model is fitted on; hop = half."
    )
    max_click_ms = Param(
        1.5, unit="ms", minimum=0.05, maximum=20.0, help="Longest click restored in one piece."
    )
    widen_samples = Param(2, kind=int, minimum=0, maximum=64, help="Samples added to each side of a click.")

    @classmethod
    def conformance_example(cls) -> Declick:
        """An engaged example for the shared conformance tests (the noise has outliers)."""
        return cls(threshold_db=12.0)

    def _geometry(self, sample_rate: float) -> tuple[int, int, int]:
        p = self.ar_order
        reach = max(1, round(self.max_click_ms * 1e-3 * sample_rate))
        lookahead = reach + 2 * p
        window = max(round(self.window_ms * 1e-3 * sample_rate), 4 * p)
        hop = max(window // 2, 1)
        window = max(window, hop + lookahead + p)
        return window, hop, lookahead

    def _repair(self, work: np.ndarray, raw: np.ndarray, start: int, hops: int, sample_rate: float) -> int:
        from . import _repair_kernels as k

        window, hop, lookahead = self._geometry(sample_rate)
        p = self.ar_order
        return int(
            k.declick_hops(
                work, start, hops, hop, lookahead - 2 * p, np.hanning(window + 2)[1:-1], p,
                10.0 ** (self.threshold_db / 20.0), self.widen_samples, p // 2, PASSES, SIGMA_FLOOR,
            )
        )
