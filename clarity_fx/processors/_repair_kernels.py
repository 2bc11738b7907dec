"""AR-model repair kernels for :mod:`~clarity_fx.processors.declick` and :mod:`~.declip` (numba).

Everything works in float64 on one channel's work buffer ``x``, in which the
restored samples are written in place. The symbols follow Godsill & Rayner,
*Digital Audio Restoration* (1998), ch. 5: ``a`` is the prediction-error
filter ``[1, −a_1, …, −a_P]`` (so ``e[t] = Σ_i a[i]·x[t − i]``) and ``c[k]``
its autocorrelation, the entries of the banded Toeplitz matrix ``AᵀA``.
Imported only when a repair processor first runs; compiled once per machine
and loaded from numba's disk cache afterwards.
"""

import numpy as np

from ._jit import njit

#: Relative white-noise floor added to the autocorrelation's lag 0 before
#: Levinson–Durbin (−70 dB): keeps the AR model and the interpolation
#: well-conditioned on pure tones and digital silence.
AR_FLOOR = 1e-7

#: Ridge on the diagonal of the interpolation matrix, relative to c[0].
SOLVE_RIDGE = 1e-9


@njit
def ar_fit(x, lo, window, order, a, c):
    """Fit an order-``order`` AR model to ``x[lo : lo + len(window)]`` (autocorrelation method).

    Writes the prediction-error filter into ``a`` (``a[0] = 1``) and its
    autocorrelation ``c[k] = Σ_i a[i]·a[i + k]`` into ``c``.
    """
    n = window.shape[0]
    seg = np.empty(n)
    for i in range(n):
        seg[i] = x[lo + i] * window[i]
    r = np.zeros(order + 1)
    for k in range(order + 1):
        s = 0.0
        for i in range(k, n):
            s += seg[i] * seg[i - k]
        r[k] = s
    r[0] = r[0] * (1.0 + AR_FLOOR) + 1e-30
    # Levinson–Durbin recursion on the normal equations R·a = [E, 0, …, 0].
    a[:] = 0.0
    a[0] = 1.0
    err = r[0]
    prev = np.empty(order + 1)
    for i in range(1, order + 1):
        acc = r[i]
        for j in range(1, i):
            acc += a[j] * r[i - j]
        k = -acc / err
        for j in range(i):
            prev[j] = a[j]
        for j in range(1, i):
            a[j] = prev[j] + k * prev[i - j]
        a[i] = k
        err *= 1.0 - k * k
        if err <= 0.0:
            break
    for k in range(order + 1):
        s = 0.0
        for i in range(order + 1 - k):
            s += a[i] * a[i + k]
        c[k] = s


@njit
def prediction_errors(x, lo, hi, a, ef, eb):
    """Forward and backward prediction errors of ``x[lo:hi]`` under the filter ``a``.

    ``ef[t − lo] = Σ_i a[i]·x[t − i]`` and ``eb[t − lo] = Σ_i a[i]·x[t + i]``:
    a click on ``[t₀, t₀ + w)`` raises ``ef`` on ``[t₀, t₀ + w + P)`` and
    ``eb`` on ``[t₀ − P, t₀ + w)``, so where both are raised is the click.
    """
    p = a.shape[0] - 1
    for t in range(lo, hi):
        f = 0.0
        b = 0.0
        for i in range(p + 1):
            f += a[i] * x[t - i]
            b += a[i] * x[t + i]
        ef[t - lo] = f
        eb[t - lo] = b


@njit
def _band_cholesky_solve(m, b, p):
    """Solve ``M·y = b`` for symmetric positive definite ``M`` of bandwidth ``p``.

    ``m[i, q]`` holds ``M[i, i − q]`` (``q = 0 … p``); overwritten by the factor.
    """
    n = b.shape[0]
    for i in range(n):
        for q in range(min(i, p), -1, -1):
            j = i - q
            s = m[i, q]
            # Σ_k L[i, k]·L[j, k] over k < j within both bands
            for k in range(max(i - p, 0), j):
                s -= m[i, i - k] * m[j, j - k]
            if q == 0:
                m[i, 0] = np.sqrt(s) if s > 0.0 else 1e-300
            else:
                m[i, q] = s / m[j, 0]
    y = b.copy()
    for i in range(n):
        s = y[i]
        for k in range(max(i - p, 0), i):
            s -= m[i, i - k] * y[k]
        y[i] = s / m[i, 0]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, min(i + p + 1, n)):
            s -= m[k, k - i] * y[k]
        y[i] = s / m[i, 0]
    return y


@njit
def ls_interpolate(x, unknown, c, bound, sign, max_rounds):
    """Replace ``x[unknown]`` by the least-squares AR interpolant given every other sample.

    Minimises ``‖A·x‖² = xᵀ(AᵀA)x`` over the unknown samples: the normal
    equations ``(AᵀA)_uu · x_u = −(AᵀA)_uk · x_k``, a banded Toeplitz system
    (Vaseghi & Rayner 1990; Godsill & Rayner 1998, §5.2). ``unknown`` must be
    sorted and have ``P`` valid samples on either side.

    With ``bound > 0`` the solution is held to ``sign[i]·x ≥ bound[i]``
    (consistent declipping): samples that violate it are fixed at the bound and
    the rest solved again, up to ``max_rounds`` times.
    """
    p = c.shape[0] - 1
    n_all = unknown.shape[0]
    lo = unknown[0] - p
    hi = unknown[n_all - 1] + p + 1
    free = np.zeros(hi - lo, np.bool_)
    for i in range(n_all):
        free[unknown[i] - lo] = True
    is_free = np.ones(n_all, np.bool_)
    ridge = SOLVE_RIDGE * c[0]
    for _ in range(max_rounds):
        idx = np.empty(n_all, np.int64)
        n = 0
        for i in range(n_all):
            if is_free[i]:
                idx[n] = unknown[i]
                n += 1
        if n == 0:
            break
        m = np.zeros((n, p + 1))
        b = np.empty(n)
        for i in range(n):
            t = idx[i]
            m[i, 0] = c[0] + ridge
            for q in range(1, min(i, p) + 1):
                lag = t - idx[i - q]
                if lag <= p:
                    m[i, q] = c[lag]
            s = 0.0
            for k in range(-p, p + 1):
                if k != 0 and not free[t + k - lo]:
                    s += c[abs(k)] * x[t + k]
            b[i] = -s
        y = _band_cholesky_solve(m, b, p)
        for i in range(n):
            x[idx[i]] = y[i]
        if not bound.shape[0]:
            break
        violated = False
        for i in range(n_all):
            if is_free[i] and sign[i] * x[unknown[i]] < bound[i]:
                x[unknown[i]] = sign[i] * bound[i]
                is_free[i] = False
                free[unknown[i] - lo] = False
                violated = True
        if not violated:
            break


@njit
def _runs_to_clusters(flags, lo, hi, start_hi, gap):
    """Clusters of flagged samples in ``[lo, hi)`` that start before ``start_hi``.

    Runs closer than ``gap`` known samples share one cluster (their
    interpolations interact through the model). Returns ``(starts, ends)``.
    """
    starts = np.empty(hi - lo, np.int64)
    ends = np.empty(hi - lo, np.int64)
    count = 0
    t = lo
    while t < hi:
        if not flags[t - lo]:
            t += 1
            continue
        if t >= start_hi:
            break
        first = t
        last = t
        u = t + 1
        while u < hi and u - last <= gap:
            if flags[u - lo]:
                last = u
            u += 1
        starts[count] = first
        ends[count] = last + 1
        count += 1
        t = last + 1
    return starts[:count], ends[:count]


#: Most plateau values tried, per polarity and window, from the top down, in
#: search of the clip level (bounds the cost on quantised audio, whose quiet
#: passages are full of equal neighbours).
MAX_LEVEL_TRIES = 16

#: Samples of a window (clicks, spikes) that may lie above its clip level.
OUTLIERS = 8

#: An outlier lies at least this factor (0.5 dB) above the level: a sample
#: just above a flat stretch is the crest of an unclipped signal.
OUTLIER_GAP = 10.0 ** (0.5 / 20.0)

#: A clip level is at least this share (−6 dB) of the stream's robust peak.
QUIET_RATIO = 0.5


@njit
def _band_evidence(raw, lo, hi, polarity, low, high, min_run):
    """Samples of ``raw[lo:hi]`` with ``low ≤ polarity·x ≤ high``, counted in runs of at least ``min_run``."""
    evidence = 0
    run = 0
    for t in range(lo, hi + 1):
        if t < hi and low <= polarity * raw[t] <= high:
            run += 1
        else:
            if run >= min_run:
                evidence += run
            run = 0
    return evidence


@njit
def _clip_level(raw, lo, hi, polarity, ratio, min_run, min_evidence, floor):
    """The clip level of ``raw[lo:hi]`` for one polarity, or 0: the highest pile-up, outliers ignored.

    Candidates are the plateaus: neighbours of the same sign within ``ratio``
    of each other (a click or a smooth crest has none; clipping is made of
    them), at least ``floor``. From the highest down (at most
    :data:`MAX_LEVEL_TRIES` values), a candidate ``v`` is the level if the
    samples within ``[ratio·v, v]``, in runs of at least ``min_run``, number
    ``E ≥ min_evidence`` (a pile-up in the amplitude histogram), fewer than
    ``max(OUTLIERS, E)`` samples lie above it (it is the top of the window's
    bulk; a few clicks may pass it), and at most ``E/4`` lie just above it,
    within :data:`OUTLIER_GAP` (a crest rising past a chance flat stretch is
    an unclipped signal).
    """
    cand = np.empty(max(hi - lo - 1, 0))
    n = 0
    for t in range(lo, hi - 1):
        a = polarity * raw[t]
        b = polarity * raw[t + 1]
        if a > 0.0 and b > 0.0 and min(a, b) >= ratio * max(a, b) and max(a, b) >= floor:
            cand[n] = max(a, b)
            n += 1
    if n == 0:
        return 0.0
    cand = np.sort(cand[:n])
    tries = 0
    prev = np.inf
    for i in range(n - 1, -1, -1):
        v = cand[i]
        if v == prev:
            continue
        prev = v
        evidence = _band_evidence(raw, lo, hi, polarity, ratio * v, v, min_run)
        if evidence >= min_evidence:
            above = _band_evidence(raw, lo, hi, polarity, v / ratio, np.inf, 1)
            just_above = _band_evidence(raw, lo, hi, polarity, v / ratio, v * OUTLIER_GAP, 1)
            if above < max(OUTLIERS, evidence) and evidence >= 4 * just_above:
                return v
        tries += 1
        if tries >= MAX_LEVEL_TRIES:
            break
    return 0.0


@njit
def _kth_highest(raw, lo, hi, polarity, k):
    """The ``k``-th highest of ``polarity·raw[lo:hi]`` (0 if the window is shorter)."""
    if hi - lo < k:
        return 0.0
    vals = np.empty(hi - lo)
    for t in range(lo, hi):
        vals[t - lo] = polarity * raw[t]
    return np.partition(vals, hi - lo - k)[hi - lo - k]


@njit
def _run_start(raw, t, lo, polarity, near):
    """Start (at least ``lo``) of the run with ``polarity·raw ≥ near`` that ends at ``t``."""
    while t > lo and polarity * raw[t - 1] >= near:
        t -= 1
    return t


@njit
def _run_end(raw, t, hi, polarity, near):
    """End (exclusive, at most ``hi``) of the run with ``polarity·raw ≥ near`` starting at ``t``."""
    while t < hi and polarity * raw[t] >= near:
        t += 1
    return t


@njit
def _clip_flags(raw, s, lo, hi, span, ratio, min_run, min_evidence, memory, flags, bound, sign):
    """Flag clipped samples of ``raw[s : s + span]``; the levels come from ``raw[lo:hi]``.

    Per polarity, the level ``ℓ`` is the window's highest pile-up
    (:func:`_clip_level`), provided it is within ``ratio`` of the highest
    level found so far in the stream and at least :data:`QUIET_RATIO` of the
    stream's robust peak (the running maximum of each window's
    :data:`OUTLIERS`-th highest sample): a quiet passage's quantised crest
    is no clip level, and a few clicks above the level do not move either.
    ``memory`` holds ``[level₊, level₋, peak₊, peak₋]``, updated. Samples at
    or beyond ``ratio·ℓ`` in runs of at least ``min_run`` are clipped (bound
    ``ℓ``); shorter runs at least :data:`OUTLIER_GAP` beyond ``ℓ`` are
    outliers (a click on clipped audio: nothing genuine passes the clip
    level), restored unconstrained (bound ``−∞``). In a window clipped in one
    polarity only, the other's outliers are judged by its level from earlier
    in the stream, else by the clipped one's. Returns the number flagged.
    """
    flags[:] = False
    levels = np.zeros(2)
    for slot in range(2):
        polarity = 1.0 - 2.0 * slot
        memory[2 + slot] = max(memory[2 + slot], _kth_highest(raw, lo, hi, polarity, OUTLIERS))
        floor = max(ratio * memory[slot], QUIET_RATIO * memory[2 + slot])
        levels[slot] = _clip_level(raw, lo, hi, polarity, ratio, min_run, min_evidence, floor)
        memory[slot] = max(memory[slot], levels[slot])
    if levels[0] <= 0.0 and levels[1] <= 0.0:
        return 0
    count = 0
    for slot in range(2):
        polarity = 1.0 - 2.0 * slot
        level = levels[slot]
        clipped = level > 0.0
        if not clipped:
            # the other polarity is clipped here: this one's outliers are judged by its own
            # level from earlier in the stream, else by the other's (clipping is mostly symmetric)
            level = memory[slot] if memory[slot] > 0.0 else levels[1 - slot]
        near = level * ratio if clipped else level * OUTLIER_GAP
        # flag the runs that touch [s, s + span); a run's extent is read from the whole window
        t = _run_start(raw, s, lo, polarity, near)
        while t < s + span:
            if polarity * raw[t] >= near:
                u = _run_end(raw, t, hi, polarity, near)
                for v in range(max(t, s), min(u, s + span)):
                    if clipped and u - t >= min_run:
                        flags[v - s] = True
                        bound[v - s] = level  # clipped: at or beyond the level
                        sign[v - s] = polarity
                        count += 1
                    elif u - t < min_run and polarity * raw[v] >= level * OUTLIER_GAP:
                        flags[v - s] = True
                        bound[v - s] = -np.inf  # an outlier above the level: missing, unconstrained
                        sign[v - s] = polarity
                        count += 1
                t = u
            else:
                t += 1
    return count


@njit
def _restore_clusters(x, raw, s, win_hi, window, p, flags, bound_all, sign_all, starts, ends, passes,
                      max_rounds):
    """Restore the flagged clusters ``[starts, ends)`` of ``x`` under an order-``p`` AR model.

    The model is fitted on ``x[win_hi − len(window) : win_hi]``, the clusters
    re-estimated from ``raw`` by :func:`ls_interpolate` held to ``sign·x ≥
    bound``, and the model refitted on the result, ``passes`` times in all.
    """
    a = np.empty(p + 1)
    c = np.empty(p + 1)
    win_lo = win_hi - window.shape[0]
    for _ in range(passes):
        ar_fit(x, win_lo, window, p, a, c)
        for q in range(starts.shape[0]):
            m = 0
            for t in range(starts[q], ends[q]):
                m += flags[t - s]
            unknown = np.empty(m, np.int64)
            bound = np.empty(m)
            sign = np.empty(m)
            m = 0
            for t in range(starts[q], ends[q]):
                if flags[t - s]:
                    unknown[m] = t
                    bound[m] = bound_all[t - s]
                    sign[m] = sign_all[t - s]
                    x[t] = raw[t]
                    m += 1
            ls_interpolate(x, unknown, c, bound, sign, max_rounds)


@njit
def _probe_flags(raw, s, lo, hi, span, flags, bound_all, sign_all, levels, ratio, probe, min_run,
                 pflags, pbound, psign):
    """The hop clipped again ``probe`` lower: flags, bounds and signs into ``pflags, pbound, psign``.

    Every clipped sample stays flagged, its bound scaled by ``probe``; the
    unclipped samples at or beyond ``probe·ratio·ℓ``, in runs of at least
    ``min_run``, join them (their true values are known). Returns how many joined.
    """
    for i in range(span):
        pflags[i] = flags[i]
        pbound[i] = bound_all[i] * probe if bound_all[i] > 0.0 else bound_all[i]
        psign[i] = sign_all[i]
    joined = 0
    for slot in range(2):
        polarity = 1.0 - 2.0 * slot
        if levels[slot] <= 0.0:
            continue
        near = levels[slot] * ratio * probe
        t = _run_start(raw, s, lo, polarity, near)
        while t < s + span:
            if polarity * raw[t] >= near:
                u = _run_end(raw, t, hi, polarity, near)
                if u - t >= min_run:
                    for v in range(max(t, s), min(u, s + span)):
                        if not flags[v - s]:
                            pflags[v - s] = True
                            pbound[v - s] = levels[slot] * probe
                            psign[v - s] = polarity
                            joined += 1
                t = u
            else:
                t += 1
    return joined


@njit
def declip_hops(x, raw, s0, hops, hop, reach, window, long_window, orders, long_fit, ratio, min_run,
                min_evidence, passes, max_rounds, probe, margin, peaks):
    """Detect and consistently restore clipped runs in ``hops`` hops of ``x``; returns flag count.

    ``raw`` is the untouched input (same indexing as ``x``); ``peaks`` the
    stream's memory of :func:`_clip_flags` (levels and robust peaks so far),
    updated. For each hop the clipped samples in ``[s, s + hop + reach)`` are
    flagged from ``raw``; each cluster starting inside the hop is re-estimated
    by LS AR interpolation held to ``sign·x ≥ ℓ`` (:func:`_restore_clusters`).

    The model is candidate ``j``: order ``orders[j]``, fitted on ``window``
    or, where ``long_fit[j]``, on ``long_window`` (both ending ``2·max(orders)``
    past the span). With more than one candidate each is scored by
    cross-validation: the hop is clipped again ``probe`` lower
    (:func:`_probe_flags`) and restored; the score is the squared error on the
    newly clipped samples (known) plus the squared shortfall below ``ℓ`` on
    the clipped ones. The lowest score wins; candidate 0's is first
    multiplied by ``margin`` (another must beat the default clearly).
    """
    p = orders.max()
    w = window.shape[0]
    span = hop + reach
    flags = np.zeros(span, np.bool_)
    bound_all = np.zeros(span)
    sign_all = np.zeros(span)
    pflags = np.zeros(span, np.bool_)
    pbound = np.zeros(span)
    psign = np.zeros(span)
    saved = np.empty(span)
    total = 0
    for h in range(hops):
        s = s0 + h * hop
        end = s + span
        win_hi = end + 2 * p
        win_lo = win_hi - w
        n = _clip_flags(raw, s, win_lo, win_hi, span, ratio, min_run, min_evidence, peaks,
                        flags, bound_all, sign_all)
        if n == 0:
            continue
        for i in range(hop):
            total += flags[i]
        starts, ends = _runs_to_clusters(flags, s, end, s + hop, p)
        best = 0
        if orders.shape[0] > 1 and _probe_flags(raw, s, win_lo, win_hi, span, flags, bound_all,
                                                sign_all, peaks, ratio, probe, min_run, pflags, pbound,
                                                psign) > 0:
            pstarts, pends = _runs_to_clusters(pflags, s, end, s + hop, p)
            for i in range(span):
                saved[i] = x[s + i]
            best_err = np.inf
            for j in range(orders.shape[0]):
                _restore_clusters(x, raw, s, win_hi, long_window if long_fit[j] else window, orders[j],
                                  pflags, pbound, psign, pstarts, pends, passes, max_rounds)
                err = 0.0
                for i in range(span):
                    if pflags[i] and not flags[i]:
                        err += (x[s + i] - raw[s + i]) ** 2
                    elif flags[i] and bound_all[i] > 0.0 and sign_all[i] * x[s + i] < bound_all[i]:
                        err += (bound_all[i] - sign_all[i] * x[s + i]) ** 2
                if j == 0:
                    err *= margin
                if err < best_err:
                    best_err = err
                    best = j
                for i in range(span):
                    x[s + i] = saved[i]
        _restore_clusters(x, raw, s, win_hi, long_window if long_fit[best] else window, orders[best],
                          flags, bound_all, sign_all, starts, ends, passes, max_rounds)
    return total
