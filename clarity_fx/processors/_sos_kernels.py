"""Biquad cascade kernels for :func:`clarity_fx.processors.butterworth.sosfilt_stream` (numba).

Transposed direct form II in float64 arithmetic on float32 audio. Imported only
when a filter first runs; compiled once per machine (by :func:`._jit.njit`, the
one scheme) and loaded from numba's disk cache afterwards.
"""

import numpy as np

from ._jit import njit


@njit
def one_channel(b0, b1, b2, a1, a2, src, dst, zi, c):
    z0, z1 = zi[c, 0], zi[c, 1]
    for i in range(src.shape[1]):
        u = np.float64(src[c, i])
        y = b0 * u + z0
        z0 = b1 * u - a1 * y + z1
        z1 = b2 * u - a2 * y
        dst[c, i] = y
    zi[c, 0], zi[c, 1] = z0, z1


@njit
def two_channels(b0, b1, b2, a1, a2, src, dst, zi, c):
    # Two independent recursions in one loop: each waits on its own last
    # output, so interleaving them lets the CPU overlap the two chains.
    z0, z1 = zi[c, 0], zi[c, 1]
    w0, w1 = zi[c + 1, 0], zi[c + 1, 1]
    for i in range(src.shape[1]):
        u = np.float64(src[c, i])
        v = np.float64(src[c + 1, i])
        y = b0 * u + z0
        q = b0 * v + w0
        z0 = b1 * u - a1 * y + z1
        z1 = b2 * u - a2 * y
        w0 = b1 * v - a1 * q + w1
        w1 = b2 * v - a2 * q
        dst[c, i] = y
        dst[c + 1, i] = q
    zi[c, 0], zi[c, 1] = z0, z1
    zi[c + 1, 0], zi[c + 1, 1] = w0, w1


@njit
def section(sos, s, src, dst, zi):
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    channels = src.shape[0]
    for c in range(0, channels - 1, 2):
        two_channels(b0, b1, b2, a1, a2, src, dst, zi[s], c)
    if channels % 2:
        one_channel(b0, b1, b2, a1, a2, src, dst, zi[s], channels - 1)


@njit
def cascade(sos, x, zi):
    y = np.empty(x.shape, np.float32)
    section(sos, 0, x, y, zi)  # the input may be a read-only strided view
    for s in range(1, sos.shape[0]):
        section(sos, s, y, y, zi)  # later sections run in place
    return y
