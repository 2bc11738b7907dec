"""The tables and filters of ITU-R BS.1770-4, at the bottom of the stack.

Everything here is a constant of the standard or a formula printed in it, so
that the meters (:mod:`clarity_fx.meters`) and the processors (the limiter's
true-peak detector, :mod:`clarity_fx.processors.dynamics`) share one copy. A
leaf module: it imports numpy, :mod:`clarity_fx.validate` and nothing heavier.

- Loudness (section 2): gating blocks of ``T_G`` = 400 ms overlapping by 75 %,
  block loudness ``l_j = -0.691 + 10 log10(sum_i G_i z_ij)`` with the channel
  weights ``G_i`` of Table 3, the absolute gate ``GAMMA_A`` (-70 LKFS) and the
  relative gate ``GAMMA_R`` (-10 LU).
- K-weighting (Tables 1 and 2): a high shelf (head effect) then a high-pass
  (RLB curve), :func:`k_weighting_sos` re-deriving both biquads for any rate.
- True peak (Annex 2): the 48-tap interpolating FIR as four 12-tap phases,
  :data:`TRUE_PEAK_PHASES`.

References
----------
.. [1] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and
   true-peak audio level", 2015.
"""

from __future__ import annotations

import math

import numpy as np

from .validate import check_sample_rate

__all__ = [
    "GAMMA_A",
    "GAMMA_R",
    "G_FRONT",
    "G_SURROUND",
    "L_K_OFFSET",
    "MIN_SAMPLE_RATE",
    "OVERLAP",
    "TRUE_PEAK_2X_RATE",
    "TRUE_PEAK_PHASES",
    "T_G",
    "T_STEP",
    "default_weights",
    "k_weighting_sos",
]

#: Lowest rate the meters take (the K-weighting shelf at 1.68 kHz needs room below Nyquist).
MIN_SAMPLE_RATE = 8000.0

# --- loudness ------------------------------------------------------------------

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

# --- Annex 2 (true peak) -------------------------------------------------------

#: The Annex's order-48 interpolating FIR, one row per phase of 12 taps
#: (printed as one column per phase). Phases 2 and 3 are phases 1 and 0 reversed.
#: Upsampled point ``4m + φ`` is ``Σ_k TRUE_PEAK_PHASES[φ, k] · x[m − k]``; it lies
#: between input samples ``m − 6`` and ``m − 5`` (the filter's group delay is
#: 5.875 input samples).
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
    fs = check_sample_rate(sample_rate, MIN_SAMPLE_RATE)

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


def default_weights(channels: int) -> np.ndarray:
    """Channel weights ``G_i`` (Table 3) for a channel count, in ITU/SMPTE order.

    1.0 each, except 5 channels (L, R, C, Ls, Rs: surrounds 1.41) and 6 channels
    (5.1 as L, R, C, LFE, Ls, Rs: the LFE is not measured, surrounds 1.41).
    """
    if channels == 5:  # L, R, C, Ls, Rs
        return np.array([G_FRONT] * 3 + [G_SURROUND] * 2)
    if channels == 6:  # 5.1 in ITU/SMPTE order L, R, C, LFE, Ls, Rs; the LFE is not measured
        return np.array([G_FRONT] * 3 + [0.0] + [G_SURROUND] * 2)
    return np.full(channels, G_FRONT)
