"""De-click kernels for :mod:`~clarity_fx.processors.declick` (numba).

One call, :func:`declick_hops`, restores any number of hops of one channel's
float64 work buffer ``x`` in place: the whole per-hop loop (AR fit, prediction
errors, robust scale, detection, interpolation) runs inside it, with every
scratch array allocated once per call. The symbols follow Godsill & Rayner,
*Digital Audio Restoration* (1998), ch. 5, as in :mod:`._repair_kernels`:
``a = [1, −a_1, …, −a_P]`` is the prediction-error filter and ``c[k]`` its
autocorrelation, the band of ``AᵀA``. The least-squares interpolation is the
shared :func:`._repair_kernels.ls_interpolate`.
"""

import numpy as np

from ._jit import njit
from ._repair_kernels import AR_FLOOR, SOLVE_RIDGE


@njit(fastmath=True)
def fit(x, lo, window, a, c, seg, r, prev, mask, mask_lo):
    """Order-``P`` AR model of ``x[lo : lo + len(window)]`` (``P = len(a) − 1``), autocorrelation method.

    Samples ``t`` with ``mask[t − mask_lo]`` set are left out (zeroed).
    Returns the normalised prediction error ``E_P / r_0`` (the inverse of the
    prediction gain).

    The same model as :func:`._repair_kernels.ar_fit` (Hann-windowed
    autocorrelation with the :data:`AR_FLOOR` white floor, Levinson–Durbin),
    with the scratch arrays ``seg``, ``r``, ``prev`` passed in and the sums
    written so that they vectorise. Writes ``a`` and ``c``.
    """
    order = a.shape[0] - 1
    n = window.shape[0]
    for i in range(n):
        seg[i] = x[lo + i] * window[i]
    for t in range(max(mask_lo, lo), min(mask_lo + mask.shape[0], lo + n)):
        if mask[t - mask_lo]:
            seg[t - lo] = 0.0
    for k in range(order + 1):
        s = 0.0
        for i in range(n - k):
            s += seg[i + k] * seg[i]
        r[k] = s
    r[0] = r[0] * (1.0 + AR_FLOOR) + 1e-30
    a[:] = 0.0
    a[0] = 1.0
    err = r[0]
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
    return max(err, 0.0) / r[0]


@njit(fastmath=True)
def errors(x, lo, hi, a, ef, eb, off):
    """``ef[t − off] = Σ_i a[i]·x[t − i]`` and ``eb[t − off] = Σ_i a[i]·x[t + i]`` for ``t`` in ``[lo, hi)``.

    ``a[0] = 1``. Summed one lag at a time over contiguous slices, so it vectorises.
    """
    p = a.shape[0] - 1
    f = ef[lo - off : hi - off]
    b = eb[lo - off : hi - off]
    n = hi - lo
    xs = x[lo:hi]
    for j in range(n):
        f[j] = xs[j]
        b[j] = xs[j]
    for i in range(1, p + 1):
        ai = a[i]
        xs = x[lo - i : hi - i]
        for j in range(n):
            f[j] += ai * xs[j]
        xs = x[lo + i : hi + i]
        for j in range(n):
            b[j] += ai * xs[j]


@njit
def _select(v, n, k):
    """The ``k``-th smallest of ``v[:n]`` (``v`` reordered in place; Hoare's selection)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                v[i], v[j] = v[j], v[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return v[k]
    return v[k]


#: The robust scale is the median of every ``STRIDE``-th error: the median of a few hundred is as good
#: a scale, at a third of the cost.
STRIDE = 3


@njit
def robust_scale(e, n, scratch, xs):
    """``1.4826·median|e|``, the standard deviation of white noise that outliers (clicks) do not raise.

    Over every :data:`STRIDE`-th of ``e[:n]``, and, when at least a quarter of
    them have a non-zero sample ``xs`` (aligned with ``e``), over those only:
    the errors of digital silence are exact zeros that would put the scale
    of a word that follows silence at nothing.
    """
    m = 0
    for i in range(0, n, STRIDE):
        if xs[i] != 0.0:
            scratch[m] = abs(e[i])
            m += 1
    if 4 * m < (n + STRIDE - 1) // STRIDE:
        m = 0
        for i in range(0, n, STRIDE):
            scratch[m] = abs(e[i])
            m += 1
    return 1.4826 * _select(scratch, m, m // 2)


@njit
def _chain(ef, eb, o, t, first_hi, limit_f, limit_b, gap, reach, p, hi, memory_gain):
    """The click whose forward error first exceeds ``limit_f`` at or after ``t``: ``(start, tail, last)``.

    ``ef[u − o]``, ``eb[u − o]`` are the errors at ``u`` in ``[o, hi)``. The
    exceedances of either error, chained from ``start`` by gaps of at most
    ``gap`` samples, are one event ending at ``last``; the click is
    ``[start, tail]``, ``tail`` its last backward exceedance (a click raises
    ``e_b`` up to its own end only). ``tail = −1`` unless the event has the
    two-sided signature of a click on ``[t₀, t₁)``, which raises ``e_b`` on
    ``[t₀ − P, t₁)`` and ``e_f`` on ``[t₀, t₁ + P)``: the start is at or after
    ``t``, before ``first_hi`` and within ``reach`` of ``t``; some sample
    exceeds both thresholds; ``e_b`` exceeds its threshold in the ``P``
    samples before the start or ``e_f`` in the ``P`` after the tail (an
    excitation pulse of the signal, a glottal pulse or a pluck, raises
    neither there, measured: 0–24 % of them against 99 % of clicks) — asked only where
    the model spreads a click that far, ``memory_gain·max|e_f| > 2·limit_b``
    over the click, ``memory_gain = (Σ_{i≥1} a_i²)^{1/2}`` (the filter's
    memory; 0 in digital silence); and ``tail + 1 − start ≤ reach``.
    """
    start = t
    cap = min(t + reach + 1, first_hi)
    while start < cap and abs(ef[start - o]) <= limit_f:
        start += 1
    if start >= cap:
        return t, -1, t
    last = start
    tail = -1
    core = False
    u = start
    cap = start + reach + gap + 1  # within the errors computed
    while u < cap and u - last <= gap:
        fu = abs(ef[u - o]) > limit_f
        bu = abs(eb[u - o]) > limit_b
        if fu or bu:
            last = u
        if bu:
            tail = u
            core |= fu
        u += 1
    if not core or tail + 1 - start > reach:
        return start, -1, last
    peak = 0.0
    for u in range(start, tail + 1):
        peak = max(peak, abs(ef[u - o]))
    if memory_gain * peak <= 2.0 * limit_b:
        return start, tail, last  # a model with little memory (silence, noise) spreads no click
    lead = False
    for u in range(max(start - p, o), start):
        lead |= abs(eb[u - o]) > limit_b
    trail = False
    for u in range(tail + 1, min(tail + 1 + p, hi)):
        trail |= abs(ef[u - o]) > limit_f
    if not (lead or trail):
        return start, -1, last
    return start, tail, last


@njit
def declick_hops(x, s0, hops, hop, reach, window, order, k_sigma, widen, gap, floor, max_level, passes,
                 memory):
    """Detect and restore clicks in ``hops`` hops of ``x`` from ``s0``; returns the count of restored samples.

    Hop ``[s, s + hop)``, the fit window ``N`` long and centred on the hop,
    ``[c, c + N)`` with ``c = s + hop/2 − N/2``; ``x`` is restored before
    ``s`` and valid to ``max(c + N + P, s + hop + reach + 2P)``:

    1. mask: with the last hop's model (``memory``: ``[set?, a_0 … a_P]``,
       updated; at the stream's start the model of the restored ``N``
       samples before ``s``), mark the samples of ``[s, c + N)`` where either
       prediction error exceeds ``k_sigma·σ``, ``widen`` samples more a side:
       they may hold clicks (``σ`` from :func:`robust_scale`, at least ``floor``);
    2. fit the model on the centred window, the masked samples left out,
       unless the fit with them whitens the hop better (a smaller robust
       error σ, step 3: the mask took out signal, such as a pulse train's
       pulses, rather than clicks);
    3. prediction errors ``e_f``, ``e_b`` on ``[s − P, s + hop + reach)`` and
       their threshold ``λ = k_sigma·σ`` (σ over the hop and reach; the two
       errors have one variance);
    4. scan the hop for clicks (:func:`_chain`); an event longer than
       ``reach`` is searched again at thresholds ``2λ, 4λ, …`` up to
       ``max_level·λ`` (a click standing out of a transient, or two clicks
       too close to tell apart), else left alone as a transient of the signal;
    5. widen each click by ``widen`` samples a side (never before ``s``),
       re-estimate it by :func:`map_interpolate` with ``λ = σ²/σ_n²``,
       ``σ_n² = (Σ e_f² − (n + P)·σ²) / (c_0·n)`` over ``[lo, hi + P)`` (the
       click's variance: the energy it adds to the forward errors), recompute
       the errors on the result, and scan on from its end;
    6. with ``passes = 2``, if the hop had clicks: fit the centred model again
       on the restored hop and repeat 3–5 (a click the first model hid).
    """
    p = order
    w = window.shape[0]
    a = np.empty(p + 1)
    c = np.empty(p + 1)
    a2 = np.empty(p + 1)
    c2 = np.empty(p + 1)
    seg = np.empty(w)
    r = np.empty(p + 1)
    prev = np.empty(p + 1)
    span = hop + reach
    ahead = (w - hop) // 2  # the centred window's reach past the hop
    m_len = hop + ahead
    n_err = max(p + span + gap + 1, m_len)
    ef = np.empty(n_err)
    eb = np.empty(n_err)
    ef2 = np.empty(n_err)
    eb2 = np.empty(n_err)
    scratch = np.empty(n_err)
    mask = np.zeros(m_len, np.bool_)
    no_mask = np.zeros(0, np.bool_)
    total = 0
    for h in range(hops):
        s = s0 + h * hop
        end = s + span
        # 1. the samples ahead that may hold clicks, by the last hop's model (at the stream's start,
        # the restored past's)
        if memory[0] == 0.0:
            fit(x, s - w, window, a, c, seg, r, prev, no_mask, 0)
        else:
            a[:] = memory[1 : p + 2]
        errors(x, s, s + m_len, a, ef, eb, s)
        limit = k_sigma * max(robust_scale(ef, m_len, scratch, x[s:]), floor)
        mask[:] = False
        for i in range(m_len):
            if abs(ef[i]) > limit or abs(eb[i]) > limit:
                for j in range(max(i - widen, 0), min(i + widen + 1, m_len)):
                    mask[j] = True
        found = 0
        use_mask = True
        for it in range(passes):
            # 2. the model of the hop itself, centred on it, clicks left out (the next pass: on the
            # restored hop)
            if it > 0:
                if found == 0:
                    break
                mask[:hop] = False
            found = 0
            c_lo = s + hop // 2 - w // 2
            if use_mask:
                fit(x, c_lo, window, a, c, seg, r, prev, mask, s)
            else:
                fit(x, c_lo, window, a, c, seg, r, prev, no_mask, 0)  # the first pass's choice
            # 3. its prediction errors and threshold
            o = s - p  # the errors are held from P samples before the hop, for the backward lead-in
            e_hi = end + gap + 1
            errors(x, o, e_hi, a, ef, eb, o)
            sigma = max(robust_scale(ef[p:], span, scratch, x[s:]), floor)
            masked = False
            if it == 0:
                for i in range(m_len):
                    masked |= mask[i]
            if masked:
                # the model with nothing masked, if it whitens the hop better (a smaller robust
                # error): the mask took out signal (a pulse train's pulses), not clicks
                fit(x, c_lo, window, a2, c2, seg, r, prev, no_mask, 0)
                errors(x, o, e_hi, a2, ef2, eb2, o)
                sigma2 = max(robust_scale(ef2[p:], span, scratch, x[s:]), floor)
                if sigma2 < sigma:
                    use_mask = False
                    a[:] = a2
                    c[:] = c2
                    ef[:] = ef2
                    eb[:] = eb2
                    sigma = sigma2
            memory[0] = 1.0
            memory[1 : p + 2] = a
            gain = np.sqrt(max(c[0] - 1.0, 0.0))
            var_e = sigma * sigma
            limit = k_sigma * sigma
            # 4. the clicks
            t = s
            while t < s + hop:
                if abs(ef[t - o]) <= limit:
                    t += 1
                    continue
                start, tail, last = _chain(ef, eb, o, t, s + hop, limit, limit, gap, reach, p, e_hi, gain)
                level = 1.0
                while tail < 0 and level < max_level:
                    # longer than any click: a transient of the signal, unless a click stands out of it
                    level *= 2.0
                    high = level * limit
                    start, tail, _ = _chain(ef, eb, o, t, s + hop, high, high, gap, reach, p, e_hi, gain)
                if tail < 0:
                    t = last + 1
                    continue
                # 5. restore it
                lo = max(start - widen, s)
                hi = min(tail + 1 + widen, end)
                energy = 0.0
                for u in range(lo, hi + p):
                    if u < e_hi:
                        f = ef[u - o]
                    else:
                        f = 0.0
                        for i in range(p + 1):
                            f += a[i] * x[u - i]
                    energy += f * f
                n = hi - lo
                var_n = max(energy - (n + p) * var_e, 0.0) / (c[0] * n)
                map_interpolate(x, lo, hi, c, var_e / var_n if var_n > 0.0 else 1e30)
                total += n
                found += 1
                # the errors the click raised are recomputed on the restoration
                errors(x, max(lo - p, o), min(hi + p, e_hi), a, ef, eb, o)
                t = hi
    return total


@njit
def map_interpolate(x, lo, hi, c, lam):
    """Re-estimate ``x[lo:hi]`` given the samples around it and its own noisy values (MAP, AR prior).

    Minimises ``‖A·x‖² + λ·‖x_u − y_u‖²`` over ``x_u = x[lo:hi]``, ``y_u`` the
    samples as they were: the banded normal equations
    ``((AᵀA)_uu + λI)·x_u = −(AᵀA)_uk·x_k + λ·y_u``, ``λ = σ_e²/σ_n²`` (the
    excitation's variance over the click's). ``λ = 0`` is the least-squares
    interpolant (the samples treated as missing). Needs ``P`` valid samples
    on either side.
    """
    p = c.shape[0] - 1
    n = hi - lo
    m = np.zeros((n, p + 1))
    b = np.empty(n)
    diag = c[0] * (1.0 + SOLVE_RIDGE) + lam
    for i in range(n):
        t = lo + i
        m[i, 0] = diag
        for q in range(1, min(i, p) + 1):
            m[i, q] = c[q]
        s = 0.0
        for k in range(-p, p + 1):
            u = t + k
            if u < lo or u >= hi:
                s += c[abs(k)] * x[u]
        b[i] = lam * x[t] - s
    y = _band_solve(m, b, p)
    for i in range(n):
        x[lo + i] = y[i]


@njit(fastmath=True)
def _band_solve(m, b, p):
    """Solve ``M·y = b``, ``M`` symmetric positive definite of bandwidth ``p``, by banded Cholesky.

    ``m[i, q]`` holds ``M[i, i − q]`` (``q = 0 … p``) and is overwritten by the
    factor. The algorithm of :func:`._repair_kernels._band_cholesky_solve`,
    compiled with ``fastmath`` so its inner sums vectorise (``M`` is
    positive definite: no NaN or infinity reaches them).
    """
    n = b.shape[0]
    for i in range(n):
        for q in range(min(i, p), -1, -1):
            j = i - q
            s = m[i, q]
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
