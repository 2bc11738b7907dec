"""De-clicker: clicks found in an AR model's two-sided prediction errors, restored by MAP AR interpolation.

The method of Vaseghi & Rayner (1990) as set out in Godsill & Rayner,
*Digital Audio Restoration* (1998), ch. 5, and the idea behind ffmpeg's
``adeclick``: a click is a short burst the signal's own autoregressive model
cannot predict; once found, the burst's samples are re-estimated from their
neighbours under the same model, and from their own noisy values (§5.2–5.3).
"""

from __future__ import annotations

import numpy as np

from ..plugin import Param, StreamState
from ._ar_repair import HopRepair

__all__ = ["Declick"]

#: Robust-scale floor (−100 dBFS): below it the signal is treated as silence,
#: so the dither of a fade-in from digital zero is not taken for clicks.
SIGMA_FLOOR = 1e-5

#: Detection passes per hop: a hop with clicks is searched again with the model refitted on its
#: restoration (Godsill & Rayner 1998, §5.3); a hop without costs one pass.
PASSES = 2

#: Largest gap, in samples, between two exceedances (either error) of one event.
GAP = 8

#: An event longer than any click is searched again at thresholds 2, 4, … up to this many times higher.
MAX_LEVEL = 8.0


class Declick(HopRepair):
    r"""Remove clicks and crackle: two-sided AR prediction-error detection, MAP AR interpolation.

    Parameters
    ----------
    threshold_db : float, optional
        How far above the robust level of the prediction error a click's
        error must be, in dB (default 21 dB, i.e. ``K ≈ 11.2`` robust
        standard deviations). Lower finds fainter clicks and touches more
        clean audio.
    ar_order : int, optional
        Order ``P`` of the AR model (default 32).
    window_ms : float, optional
        Length ``N`` of the window the model is fitted on (default 40 ms);
        hops are half a window.
    max_click_ms : float, optional
        Longest click restored (default 2 ms, 96 samples at 48 kHz: two
        50-sample clicks too close to tell apart are one); a longer event is
        taken for the signal's own transient and left alone, unless a click
        stands out of it at a higher threshold.
    widen_samples : int, optional
        Samples added to each side of every click (default 2): a click's
        edges hide under the signal.

    Notes
    -----
    Per hop of ``N/2`` samples, on each channel:

    1. Fit an order-``P`` AR model on the Hann-windowed ``N`` samples
       centred on the hop (autocorrelation method, Levinson–Durbin), leaving
       out the samples where the last hop's model already sees a click, or,
       if it leaves a smaller robust error ``σ`` (step 2) on the hop, the model
       of all of them (what was left out was the signal's own pulses): the
       prediction-error filter ``a = [1, −a_1, …, −a_P]``, so that
       ``e[t] = Σ_i a_i·x[t − i]`` is white, and its autocorrelation
       ``c_k = Σ_i a_i a_{i+k}``, the band of the Toeplitz matrix ``AᵀA``.
    2. Forward and backward prediction errors (Vaseghi & Rayner's detector,
       run both ways as ffmpeg's ``adeclick`` does):

       .. math::

           e_f[t] = \sum_{i=0}^{P} a_i\,x[t−i], \qquad e_b[t] = \sum_{i=0}^{P} a_i\,x[t+i],

       with the threshold ``λ = K·σ``, ``σ = 1.4826·median|e_f|`` over the
       hop (a robust scale: clicks do not raise it; digital silence is left
       out of it when the hop has signal), ``K = 10^{threshold_db/20}``.
    3. A click on ``[t₀, t₁)`` raises ``e_f`` on ``[t₀, t₁ + P)`` and
       ``e_b`` on ``[t₀ − P, t₁)``. So a click starts where ``|e_f|`` first
       exceeds ``λ`` and ends after the last ``|e_b| > λ`` chained to it
       (gaps under 8 samples); it needs a sample where both exceed, at most
       ``max_click_ms`` of length, and, where the model has memory, ``e_b``
       raised in the ``P`` samples before it or ``e_f`` in the ``P`` after
       (the two-sided signature that an excitation pulse of speech or music
       lacks). Widened by ``widen_samples``.
    4. The click's samples ``u`` are re-estimated given all the others ``k``
       and their own values ``y_u`` as the MAP estimate under the AR model
       with the click as white noise of variance ``σ_n²`` (Godsill & Rayner
       §5.2–5.3), the banded Toeplitz normal equations

       .. math::

           \big((AᵀA)_{uu} + λ_n I\big)\,x_u = −(AᵀA)_{uk}\,x_k + λ_n\,y_u ,
           \qquad λ_n = σ^2/σ_n^2 ,

       solved by banded Cholesky; ``σ_n²`` is the energy the click adds to
       ``e_f`` over it, ``(Σ e_f² − (n + P)σ²)/(c_0 n)``. A loud click
       (``λ_n → 0``) is the least-squares interpolant; a faint one keeps
       part of what lies under it.
    5. A hop with clicks is searched once more with the model refitted on
       its restoration.

    Samples not flagged pass bit-identical. The output is
    ``N/2 + max(⌈max_click⌉ + 2P, N/4 + P)`` samples late (the hop, then
    the look-ahead the centred window and a click at the hop's end need:
    30.7 ms at the defaults). Channels are restored independently. After a
    stream, :attr:`repaired_samples` says how many samples were re-estimated.

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

    reach_param = "max_click_ms"
    _taper: np.ndarray | None = None

    threshold_db = Param(
        21.0, unit="dB", minimum=6.0, maximum=60.0,
        help="How far above the robust prediction-error level a click must be.",
    )
    ar_order = Param(32, kind=int, minimum=4, maximum=128, help="Order P of the AR model.")
    window_ms = Param(
        40.0, unit="ms", minimum=5.0, maximum=500.0, help="Window the AR model is fitted on; hop = half."
    )
    max_click_ms = Param(
        2.0, unit="ms", minimum=0.05, maximum=20.0, help="Longest click restored; longer are left alone."
    )
    widen_samples = Param(2, kind=int, minimum=0, maximum=64, help="Samples added to each side of a click.")

    @classmethod
    def conformance_example(cls) -> Declick:
        """An engaged example for the shared conformance tests (the noise has outliers)."""
        return cls(threshold_db=12.0)

    def _geometry(self, sample_rate: float) -> tuple[int, int, int]:
        """``(window, hop, lookahead)``: the look-ahead also covers the hop-centred fit window."""
        window, hop, lookahead = super()._geometry(sample_rate)
        return window, hop, max(lookahead, (window - hop) // 2 + self.ar_order)

    def _init_state(self, state: StreamState) -> None:
        super()._init_state(state)
        # per channel: [model set?, the last hop's prediction-error filter a_0 … a_P]
        state.memory = np.zeros((state.channels, self.ar_order + 2))

    def _reach(self, sample_rate: float) -> int:
        return max(1, round(self.max_click_ms * 1e-3 * sample_rate))

    def _repair(
        self, work: np.ndarray, raw: np.ndarray, start: int, hops: int, sample_rate: float, memory: np.ndarray
    ) -> int:
        from . import _declick_kernels as k

        window, hop, lookahead = self._geometry(sample_rate)
        p = self.ar_order
        taper = self._taper
        if taper is None or taper.shape[0] != window:
            taper = self._taper = np.hanning(window + 2)[1:-1]
        return int(
            k.declick_hops(
                work, start, hops, hop, self._reach(sample_rate), taper, p,
                10.0 ** (self.threshold_db / 20.0), self.widen_samples, min(GAP, p - 1), SIGMA_FLOOR,
                MAX_LEVEL, PASSES, memory,
            )
        )
