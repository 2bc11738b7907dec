"""numba kernels of the dynamics processors: level detector, gain computer and smoothing, limiter block.

Compiled at import by the one scheme (:func:`._jit.njit`, cached on disk);
:func:`clarity_fx.processors.dynamics.kernels` imports this module on a
processor's first block, so ``import clarity_fx`` never loads numba. The
functions read like the papers; the comments give the equations.

``detector_level``
    The envelope follower of a compressor's level detector: ``|x|`` (peak) or
    a one-pole mean square (RMS), linked over channels by max or mean.
``compressor_gain``
    The static gain computer, then the smooth peak detector of Giannoulis,
    Massberg & Reiss (2012) — the decoupled release stage, then a branching
    attack stage — run on the gain reduction in dB (their recommended
    placement, after the gain computer).
``limiter_block``
    The true-peak limiter's whole block: 4× polyphase true-peak detection
    (ITU-R BS.1770-4 Annex 2), required gain, sliding minimum (hold),
    exponential release, moving-average attack, delayed output.

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

import numpy as np

from ..bs1770 import TRUE_PEAK_PHASES
from ._jit import njit

__all__ = ["compressor_gain", "detector_level", "limiter_block"]

# Fixed loop bounds let the compiler unroll the Annex 2 filter: its phases and taps.
_PHASES, _TAPS = TRUE_PEAK_PHASES.shape
_CHUNK = 128  # the limiter skips the interpolator on quiet stretches of this many samples
#: Samples of the limiter's high-band mean square (the 4th difference, ending at the newest sample).
HF_WINDOW = 16

#: Gain reductions below this many dB are set to exactly 0: far below float32
#: resolution (1e-9 dB is a factor of 1 − 1.2e-10), and it keeps the
#: recursions out of denormal numbers.
NEGLIGIBLE_DB = 1e-9


@njit
def detector_level(detector, link, is_rms, beta, mean_square, level):
    """Linear detector level per sample: ``|x|`` or the mean square, linked over channels.

    ``level`` is ``(1, n)`` when linked (``link`` 0: max over channels,
    1: mean) and ``(channels, n)`` with ``link`` 2 (independent). The mean
    square carries across blocks in ``mean_square``. (One loop per mode, so
    that each compiles to straight, vectorisable code.)
    """
    channels, n = detector.shape
    if is_rms:
        # Mean square by a one-pole: ms[n] = β·ms[n−1] + (1 − β)·x²[n].
        for c in range(channels):
            ms = mean_square[c]
            row = level[c] if link == 2 else level[0]
            for i in range(n):
                x = np.float64(detector[c, i])
                ms = beta * ms + (1.0 - beta) * x * x
                if link == 2 or c == 0:
                    row[i] = ms
                elif link == 0:
                    row[i] = max(row[i], ms)
                else:
                    row[i] += ms
            mean_square[c] = ms
    else:
        for c in range(channels):
            row = level[c] if link == 2 else level[0]
            for i in range(n):
                x = abs(detector[c, i])
                if link == 2 or c == 0:
                    row[i] = x
                elif link == 0:
                    row[i] = max(row[i], x)
                else:
                    row[i] += x
    if link == 1 and channels > 1:
        for i in range(n):
            level[0, i] /= channels


@njit
def gain_computer(over, slope, knee_db):
    """Reduction ``x_L = x_G − y_G ≥ 0`` for ``over = x_G − T`` ([1]_, eq. 4).

    ``slope = 1 − 1/R``. Hard knee: ``max(slope·over, 0)``; inside a soft
    knee (``2|x_G − T| ≤ W``): ``slope·(x_G − T + W/2)²/(2W)``. Silence
    (``over = −inf``) gives 0.
    """
    if knee_db > 0.0 and abs(over) <= 0.5 * knee_db:
        return slope * (over + 0.5 * knee_db) ** 2 / (2.0 * knee_db)
    return max(slope * over, 0.0)


@njit
def smoothing(x_l, y1, y_l, alpha_attack, alpha_release):
    """One step of the smooth peak detector on the gain reduction ``x_L`` ([1]_).

    The release stage of the paper's smooth decoupled peak detector,
    ``y1[n] = max(x_L[n], α_R·y1[n−1] + (1 − α_R)·x_L[n])``, then the attack
    stage of its smooth branching one: ``y_L[n] = α_A·y_L[n−1] + (1 − α_A)·y1[n]``
    while ``y1[n] > y_L[n−1]``, else ``y_L[n] = y1[n]``. Both time constants
    are then exact: the attack is the ``τ_A`` exponential towards a ``y1``
    that rose at once, the release is ``y1``'s own ``τ_R`` exponential.
    """
    y1 = max(x_l, alpha_release * y1 + (1.0 - alpha_release) * x_l)
    y1 = y1 if y1 >= NEGLIGIBLE_DB else 0.0
    attack = alpha_attack * y_l + (1.0 - alpha_attack) * y1
    return y1, (attack if y1 > y_l else y1)


@njit
def compressor_gain(
    log_level,
    db_per_decade,
    threshold_db,
    ratio,
    knee_db,
    alpha_attack,
    alpha_release,
    y1,
    y_l,
    makeup_db,
    gain_db,
    exponent,
):
    """Gain computer (eq. 4) and smooth peak detector of a compressor, per sample ([1]_).

    ``log_level`` is ``log10`` of the detector level (``(rows, n)``), so
    ``x_G = db_per_decade · log_level`` (20 for amplitude, 10 for power).
    Writes ``gain_db = −y_L`` and ``exponent = (makeup_db − y_L)·ln(10)/20``
    (``exp(exponent)`` is the linear gain: exactly 0 where nothing is
    reduced and there is no makeup). ``y1`` and ``y_l`` hold one state per
    row and carry across blocks.
    """
    rows, n = log_level.shape
    slope = 1.0 - 1.0 / ratio
    to_neper = math.log(10.0) / 20.0
    # Rows two at a time: two independent recursions overlap in the pipeline.
    for r in range(0, rows - 1, 2):
        a1, al, b1, bl = y1[r], y_l[r], y1[r + 1], y_l[r + 1]
        for i in range(n):
            xa = gain_computer(
                db_per_decade * np.float64(log_level[r, i]) - threshold_db, slope, knee_db
            )
            xb = gain_computer(
                db_per_decade * np.float64(log_level[r + 1, i]) - threshold_db, slope, knee_db
            )
            a1, al = smoothing(xa, a1, al, alpha_attack, alpha_release)
            b1, bl = smoothing(xb, b1, bl, alpha_attack, alpha_release)
            gain_db[r, i] = -al  # the control signal c[n] = −y_L[n]
            gain_db[r + 1, i] = -bl
            exponent[r, i] = (makeup_db - al) * to_neper
            exponent[r + 1, i] = (makeup_db - bl) * to_neper
        y1[r], y_l[r], y1[r + 1], y_l[r + 1] = a1, al, b1, bl
    if rows % 2:
        r = rows - 1
        a1, al = y1[r], y_l[r]
        for i in range(n):
            xa = gain_computer(
                db_per_decade * np.float64(log_level[r, i]) - threshold_db, slope, knee_db
            )
            a1, al = smoothing(xa, a1, al, alpha_attack, alpha_release)
            gain_db[r, i] = -al
            exponent[r, i] = (makeup_db - al) * to_neper
        y1[r], y_l[r] = a1, al


@njit
def limiter_block(
    block,
    history,
    q_history,
    e_history,
    state,
    phases_by_tap,
    ceiling,
    hf_weight,
    alpha_release,
    ramp,
    out,
    gain,
):
    """One block of the true-peak limiter; see ``TruePeakLimiter`` for the maths.

    ``history`` holds the last ``D = ramp + 10`` input samples, ``q_history``
    the last ``ramp + 10`` interval gains, ``e_history`` the last ``ramp − 1``
    released gains; ``state = [e, how many e < 1 in the ramp window, their
    Σ(1 − e), the e that leaves the window first]``; ``phases_by_tap`` is
    ``TRUE_PEAK_PHASES.T``. Writes ``out`` (the input delayed by ``D``, times
    the gain) and ``gain``.
    """
    channels, n = block.shape
    delay = history.shape[1]
    # Fixed loop bounds (module constants) let the compiler unroll the filter.
    n_phases, taps = _PHASES, _TAPS
    width = q_history.shape[0] + 1  # hold window W = ramp + 11
    # A = [history | block] in float64; sample a of A is time t0 − D + a.
    a = np.empty((channels, delay + n))
    a[:, :delay] = history
    a[:, delay:] = block

    # 1. True peak of each interval j (between samples j and j + 1, j = a − 6):
    #    P_j = max over channels of |x_j|, |x_j+1| and the four points
    #    Σ_k h_φ[k]·x[a − k]; the gain it needs is q_j = min(1, C/P_j).
    #    |Σ_k h_φ[k]·x[a − k]| ≤ max_φ Σ_k |h_φ[k]| · max_k |x[a − k]|, so an
    #    interval whose 12 samples are all below C / that bound needs no
    #    interpolation: its q is 1 whatever the points are.
    worst_gain = 0.0
    for p in range(n_phases):
        row = 0.0
        for k in range(taps):
            row += abs(phases_by_tap[k, p])
        worst_gain = max(worst_gain, row)
    # The high-band term κ·r_j (see TruePeakLimiter): r_j is the RMS of the 4th difference
    # d[m] = (x[m] − 4x[m−1] + 6x[m−2] − 4x[m−3] + x[m−4])/16 over the HF_WINDOW values ending
    # at the interval's newest sample; |d| ≤ max|x|, so the quiet bound grows by κ.
    quiet = ceiling / (worst_gain + hf_weight)
    reach = max(taps - 1, HF_WINDOW + 3)
    peak = np.zeros(n)
    for c in range(channels):
        ac = a[c]
        # In chunks: a chunk whose samples (and the 11 before) are all quiet
        # is skipped; any other runs the plain, unrolled filter loop.
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            loudest = 0.0
            for k in range(delay + start - reach, delay + stop):
                loudest = max(loudest, abs(ac[k]))
            if loudest <= quiet:
                continue
            square_sum = 0.0
            if hf_weight > 0.0:
                for m in range(delay + start - HF_WINDOW, delay + start):
                    d = (ac[m] - 4.0 * ac[m - 1] + 6.0 * ac[m - 2] - 4.0 * ac[m - 3] + ac[m - 4]) / 16.0
                    square_sum += d * d
            for t in range(start, stop):
                newest = delay + t
                # The four phases side by side: h[k, φ] = h_φ[k].
                s0 = 0.0
                s1 = 0.0
                s2 = 0.0
                s3 = 0.0
                for k in range(taps):
                    x = ac[newest - k]
                    s0 += phases_by_tap[k, 0] * x
                    s1 += phases_by_tap[k, 1] * x
                    s2 += phases_by_tap[k, 2] * x
                    s3 += phases_by_tap[k, 3] * x
                samples = max(abs(ac[newest - 6]), abs(ac[newest - 5]))
                v = max(samples, abs(s0), abs(s1), abs(s2), abs(s3))
                if hf_weight > 0.0:
                    # slide the window on by one: d[newest] in, d[newest − HF_WINDOW] out
                    m = newest
                    d = (ac[m] - 4.0 * ac[m - 1] + 6.0 * ac[m - 2] - 4.0 * ac[m - 3] + ac[m - 4]) / 16.0
                    m = newest - HF_WINDOW
                    e = (ac[m] - 4.0 * ac[m - 1] + 6.0 * ac[m - 2] - 4.0 * ac[m - 3] + ac[m - 4]) / 16.0
                    square_sum = max(0.0, square_sum + d * d - e * e)
                    v += hf_weight * math.sqrt(square_sum / HF_WINDOW)
                peak[t] = max(peak[t], v)
    q = np.empty(width - 1 + n)
    q[: width - 1] = q_history
    for t in range(n):
        q[width - 1 + t] = ceiling / peak[t] if peak[t] > ceiling else 1.0

    # 2. Hold: h[i] = min q over the W = ramp + 11 intervals whose 12-sample
    #    interpolation support meets the ramp that ends at sample i
    #    (a sliding minimum by monotone deque, O(n)).
    held = np.empty(n)
    order = np.empty(q.shape[0], dtype=np.int64)
    head = 0
    tail = 0
    for k in range(q.shape[0]):
        while tail > head and q[order[tail - 1]] >= q[k]:
            tail -= 1
        order[tail] = k
        tail += 1
        if order[head] <= k - width:
            head += 1
        if k >= width - 1:
            held[k - width + 1] = q[order[head]]

    # 3. Release: instant attack to the held gain, exponential release towards it,
    #    e[i] = h[i] if h[i] < e[i−1], else h[i] + α_R·(e[i−1] − h[i]).
    # 4. Attack ramp: g[i] = mean of e over [i, i + ramp − 1], a moving average,
    #    so g glides down to every h within the ramp and never exceeds it.
    #    The sum runs over the deficits 1 − e, and is reset to exactly 0 when
    #    the window holds only unity gains: no rounding residue below the ceiling.
    e = state[0]
    below = state[1]
    deficit = state[2]
    ev = np.empty(ramp - 1 + n)
    ev[: ramp - 1] = e_history
    for t in range(n):
        h = held[t]
        if h < e:
            e = h
        else:
            e = h + alpha_release * (e - h)
            if h - e < 1e-12:
                e = h
        ev[ramp - 1 + t] = e
        if e < 1.0:
            below += 1.0
            deficit += 1.0 - e
        # ev[t − 1] just left the window ev[t .. t + ramp − 1]; before this
        # block's first sample, that was the previous block's (state[3]).
        old = ev[t - 1] if t >= 1 else state[3]
        if old < 1.0:
            below -= 1.0
            deficit -= 1.0 - old
        if below <= 0.0:
            below = 0.0
            deficit = 0.0
            gain[t] = 1.0
        else:
            gain[t] = min(1.0, 1.0 - deficit / ramp)
    state[0] = e
    state[1] = below
    state[2] = deficit
    if n >= 1:
        state[3] = ev[n - 1]

    # 5. The output: the input D samples ago, times its gain.
    for c in range(channels):
        ac = a[c]
        oc = out[c]
        for t in range(n):
            oc[t] = ac[t] * gain[t]

    # Carry the tails into the next block.
    history[:, :] = a[:, n:]
    q_history[:] = q[n:]
    e_history[:] = ev[n:]
