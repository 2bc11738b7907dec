"""Shared machinery of the dynamics processors: envelope followers, gain smoothing, true peak.

The per-sample loops run in numba, in :mod:`._dynamics_kernels` (compiled at
its import by the one scheme, :func:`._jit.njit`). That module is imported only
by :func:`kernels`, on a processor's first block, so ``import clarity_fx``
stays fast; the compiled code is cached on disk (``cache=True``), so only the
very first call on a machine pays for compilation.

Kernels (in ``_dynamics_kernels``)
----------------------------------
``detector_level``
    The envelope follower of a compressor's level detector: ``|x|`` (peak) or
    a one-pole mean square (RMS), linked over channels by max or mean.
``compressor_gain``
    The static gain computer, then the smooth peak detector of Giannoulis,
    Massberg & Reiss (2012) — the decoupled release stage, then a branching
    attack stage — run on the gain reduction in dB (their recommended
    placement, after the gain computer).
``limiter_block``
    The true-peak limiter's whole block: 4× polyphase true-peak detection,
    required gain, sliding minimum (hold), exponential release, moving-average
    attack, delayed output.

References
----------
.. [1] D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range
   Compressor Design — A Tutorial and Analysis", J. Audio Eng. Soc. 60(6),
   399-408, 2012.
.. [2] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and
   true-peak audio level", Annex 2, 2015.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from ..bs1770 import TRUE_PEAK_PHASES

__all__ = [
    "GainTrace",
    "TRUE_PEAK_PHASES",
    "time_constant_coefficient",
    "true_peak",
    "true_peak_dbtp",
    "kernels",
]

# TRUE_PEAK_PHASES (from bs1770, one copy of the table): ITU-R BS.1770-4 Annex 2's 48-tap
# interpolation filter as four 12-tap polyphase branches. Upsampled point ``4m + φ`` is
# ``Σ_k TRUE_PEAK_PHASES[φ, k] · x[m − k]``; it lies between input samples ``m − 6`` and
# ``m − 5`` (the filter's group delay is 5.875 input samples).
#: Taps per polyphase branch.
TRUE_PEAK_TAPS = TRUE_PEAK_PHASES.shape[1]

class GainTrace:
    """The gain reduction of a whole stream, kept at ``step`` samples' resolution.

    Each step keeps its deepest reduction, so a plot of an hour costs 3.6 M
    floats at the default 1 ms, not the 170 M samples. The first
    ``skip`` values (the stage's latency) are dropped, so the trace lines up
    with the stage's aligned output.

    Parameters
    ----------
    step : int
        Samples per kept value.
    skip : int, optional
        Leading values to drop (latency).
    """

    def __init__(self, step: int, skip: int = 0) -> None:
        self.step, self._skip = max(1, int(step)), int(skip)
        self.restart()

    def restart(self) -> None:
        """Forget what was kept: a new stream begins (render's pre-passes run the stage too)."""
        self.skip = self._skip
        self._values: list[np.ndarray] = []
        self._carry = np.zeros(0)

    def add(self, gain_db: np.ndarray) -> None:
        """Append one block's gain reduction (``(rows, n)`` dB)."""
        g = np.asarray(gain_db, dtype=np.float64).min(axis=0)
        if self.skip:
            dropped = min(self.skip, g.size)
            g, self.skip = g[dropped:], self.skip - dropped
        g = np.concatenate([self._carry, g])
        whole = (g.size // self.step) * self.step
        if whole:
            self._values.append(g[:whole].reshape(-1, self.step).min(axis=1))
        self._carry = g[whole:]

    def values(self) -> np.ndarray:
        """The kept values, dB (≤ 0), one per ``step`` samples."""
        parts = [*self._values, self._carry.min(keepdims=True)] if self._carry.size else self._values
        return np.concatenate(parts) if parts else np.zeros(0)


#: Link modes understood by ``detector_level``.
LINK_MODES = {"max": 0, "mean": 1, "none": 2}


def time_constant_coefficient(time_ms: float, sample_rate: float) -> float:
    """One-pole coefficient ``α = exp(−1/(τ·fs))`` of a time constant ``τ``.

    A one-pole smoother ``y[n] = α·y[n−1] + (1 − α)·x[n]`` then covers
    ``1 − 1/e`` (63.2 %) of a step in ``τ`` seconds. ``τ = 0``
    gives ``α = 0``: no smoothing.
    """
    samples = time_ms * 1e-3 * sample_rate
    if not samples > 0.0:  # also a time so small (5e-324 ms) that the product underflows to 0
        return 0.0
    return math.exp(-1.0 / samples)


# --------------------------------------------------------------------------- true peak
def true_peak(audio: np.ndarray) -> float:
    """Linear true peak of ``audio`` (any layout), ITU-R BS.1770-4 Annex 2.

    The maximum of ``|x|`` over the samples and over the 4× oversampled
    signal (the Annex's 48-tap polyphase interpolator), with silence before
    and after, so every inter-sample point near the ends is included. No
    12 dB pre-attenuation is applied: the arithmetic is float64.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D, or 2-D with channels on either axis (the smaller one).

    Returns
    -------
    float
        The linear true peak (1.0 is 0 dBTP).
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    elif x.shape[0] > x.shape[1]:
        x = x.T
    if x.size == 0:
        return 0.0
    peak = float(np.max(np.abs(x)))
    for channel in x:
        for phase in TRUE_PEAK_PHASES:
            peak = max(peak, float(np.max(np.abs(np.convolve(channel, phase)))))
    return peak


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak of ``audio`` in dBTP (``20·log10`` of :func:`true_peak`)."""
    peak = true_peak(audio)
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


# --------------------------------------------------------------------------- kernels
def kernels() -> ModuleType:
    """The compiled kernels: the module :mod:`._dynamics_kernels`, imported on first use.

    Returns
    -------
    types.ModuleType
        With ``detector_level``, ``compressor_gain``, ``limiter_block``
        (compiled at import, or loaded from numba's disk cache).
    """
    from . import _dynamics_kernels

    return _dynamics_kernels


def __getattr__(name: str) -> Any:
    # NEGLIGIBLE_DB moved to the kernel module with the kernels; still readable here (loads numba).
    if name == "NEGLIGIBLE_DB":
        return kernels().NEGLIGIBLE_DB
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
