"""Per-sample kernels of :class:`~clarity_fx.Dehum` and :class:`~clarity_fx.Leveler` (numba).

Imported only when one of them first processes audio; compiled once per machine
and loaded from numba's disk cache afterwards.
"""

import math

import numpy as np

from ._jit import njit


@njit
def demodulate(x, position, ratios, harmonics, decimation, acc, out):
    """Integrate-and-dump demodulation of every harmonic of every nominal frequency.

    ``acc[f, c, k] += x[c, n] · exp(−j·(k+1)·2π·frac(ratios[f]·n))`` over the
    ``decimation`` samples of each sub-block; each completed sub-block is
    written to ``out[f, c, k, j]`` and the sum restarts. ``position`` is the
    stream index of ``x[:, 0]``; ``acc`` carries a partial sub-block across
    calls, so the result does not depend on how the stream is cut.
    """
    channels, n = x.shape
    families = ratios.shape[0]
    j = 0
    for i in range(n):
        absolute = position + i
        for f in range(families):
            turns = ratios[f] * absolute
            psi = 2.0 * math.pi * (turns - math.floor(turns))
            e1 = complex(math.cos(psi), -math.sin(psi))
            p = complex(1.0, 0.0)
            for k in range(harmonics):
                p = p * e1
                for c in range(channels):
                    acc[f, c, k] += x[c, i] * p
        if (absolute + 1) % decimation == 0:
            for f in range(families):
                for c in range(channels):
                    for k in range(harmonics):
                        out[f, c, k, j] = acc[f, c, k]
                        acc[f, c, k] = 0.0
            j += 1
    return j


@njit
def synthesize(first, count, ratio, centre0, hop, frame0, delta, beta, amps, hum):
    """The hum model at stream samples ``first … first + count − 1``.

    Frame ``m`` (stored at ``m − frame0``) is centred on sample
    ``centre0 + m·hop`` and models harmonic ``k`` as
    ``Re{amps[m, c, k] · exp(j·k·Φ_m(n))}``, with
    ``Φ_m(n) = 2π·frac(ratio·n) + 2π(Δ_m τ + β_m τ²/2)``, ``τ = (n − centre_m)/fs``
    already folded into ``delta``/``beta`` per sample (both in cycles per
    sample). Between two frame centres the two models are cross-faded
    linearly.
    """
    channels = amps.shape[1]
    harmonics = amps.shape[2]
    frames = amps.shape[0]
    for i in range(count):
        n = first + i
        position = (n - centre0) / hop
        m = int(math.floor(position))
        if m < frame0:
            m = frame0
        lam = position - m
        if lam < 0.0:
            lam = 0.0
        if lam > 1.0:
            lam = 1.0
        turns = ratio * n
        base = 2.0 * math.pi * (turns - math.floor(turns))
        for side in range(2):
            q = m - frame0 + side
            if q >= frames:
                q = frames - 1
            weight = (1.0 - lam) if side == 0 else lam
            if weight == 0.0:
                continue
            tau = n - (centre0 + (m + side) * hop)
            phi = base + 2.0 * math.pi * (delta[q] * tau + 0.5 * beta[q] * tau * tau)
            e1 = complex(math.cos(phi), math.sin(phi))
            p = complex(1.0, 0.0)
            for k in range(harmonics):
                p = p * e1
                for c in range(channels):
                    a = amps[q, c, k]
                    hum[c, i] += weight * (a.real * p.real - a.imag * p.imag)


@njit
def comb_lines(weighted, tau, deltas):
    """``P[k, g] = Σ_c |Σ_i weighted[c, k, i] · exp(−j2π(k+1)·deltas[g]·τ_i)|²``: each harmonic's power."""
    channels, harmonics, length = weighted.shape
    power = np.zeros((harmonics, deltas.shape[0]))
    acc = np.zeros((channels, harmonics), np.complex128)
    for g in range(deltas.shape[0]):
        acc[:, :] = 0.0
        for i in range(length):
            angle = -2.0 * math.pi * deltas[g] * tau[i]
            e1 = complex(math.cos(angle), math.sin(angle))
            p = complex(1.0, 0.0)
            for k in range(harmonics):
                p = p * e1
                for c in range(channels):
                    acc[c, k] += weighted[c, k, i] * p
        for c in range(channels):
            for k in range(harmonics):
                power[k, g] += acc[c, k].real ** 2 + acc[c, k].imag ** 2
    return power


@njit
def line_power(weighted, tau, offsets):
    """``P[k, g] = Σ_c |Σ_i weighted[c, k, i] · exp(−j2π·offsets[k, g]·τ_i)|²``."""
    channels, harmonics, length = weighted.shape
    power = np.zeros(offsets.shape)
    for k in range(harmonics):
        for g in range(offsets.shape[1]):
            total = 0.0
            for c in range(channels):
                acc = complex(0.0, 0.0)
                for i in range(length):
                    angle = -2.0 * math.pi * offsets[k, g] * tau[i]
                    acc += weighted[c, k, i] * complex(math.cos(angle), math.sin(angle))
                total += acc.real ** 2 + acc.imag ** 2
            power[k, g] = total
    return power
