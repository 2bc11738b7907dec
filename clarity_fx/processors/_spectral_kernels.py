"""numba kernels of spectral noise reduction: the gain rules, MCRA noise tracking, WOLA overlap-add.

Compiled at import by the one scheme (:func:`._jit.njit`, cached on disk);
:class:`~clarity_fx.processors.spectral.SpectralSubtraction` imports this
module on its first block, so ``import clarity_fx`` never loads numba. The
equations and papers are in :mod:`clarity_fx.processors.spectral`.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit

__all__ = ["gain_kernel", "lsa_factor", "lsa_table", "overlap_add"]

#: Euler–Mascheroni constant, for E1(v) ≈ −γ_E − ln v + v near zero.
EULER_GAMMA = 0.5772156649015329
#: δ = 5 (Cohen & Berdugo 2002): S / S_min above this means speech is present.
MCRA_DELTA = 5.0
#: Rayleigh-distributed noise: E|N| = sqrt(π·E|N|²) / 2 (magnitude subtraction, adaptive).
RAYLEIGH_MEAN = math.sqrt(math.pi) / 2
#: Smallest noise power the tracker keeps (avoids 0/0 in digital silence).
NOISE_FLOOR = 1e-20

#: exp(½·E1(e^u)) is tabulated for u = ln v in [LSA_U0, LSA_U1], LSA_STEPS points per unit.
LSA_U0, LSA_U1, LSA_STEPS = -12.0, 4.5, 256
_LSA_TABLE: np.ndarray | None = None
#: What the kernel is given for ``table`` when the method is not LSA (it is not read; building the
#: real one imports scipy.special, 0.1 s).
NO_TABLE = np.ones(2)


def lsa_table() -> np.ndarray:
    """exp(½·E1(e^u)) on the grid of ``u`` that :func:`lsa_factor` interpolates (built once)."""
    global _LSA_TABLE
    if _LSA_TABLE is None:
        from scipy.special import exp1

        u = np.linspace(LSA_U0, LSA_U1, int((LSA_U1 - LSA_U0) * LSA_STEPS) + 1)
        _LSA_TABLE = np.exp(0.5 * exp1(np.exp(u)))
    return _LSA_TABLE


@njit
def lsa_factor(v, table):
    """exp(½·E1(v)) from the table (linear in ln v), with its limits outside the table."""
    if v <= 0.0:
        return 1e30
    u = math.log(v)
    if u >= LSA_U1:
        return 1.0  # E1(90) < 1e-40
    if u <= LSA_U0:
        return math.exp(0.5 * (-EULER_GAMMA - u + v))  # E1(v) = −γ_E − ln v + v + O(v²)
    t = (u - LSA_U0) * LSA_STEPS
    i = min(int(t), table.shape[0] - 2)
    t -= i
    return table[i] + t * (table[i + 1] - table[i])


# --------------------------------------------------------------------------- the gain kernel
# Settings reach the kernel as two small arrays, so numba compiles a single signature.
F_ALPHA, F_BETA, F_GMIN, F_CTIME, F_AS, F_AD, F_AP, F_DD = range(8)
I_METHOD, I_POWER, I_HALF, I_ADAPTIVE, I_WINDOW, I_WARMUP, I_TWO_STEP, I_AHEAD = range(8)


@njit(fastmath=True)
def tsnr_gain(xi, gamma, method, table):
    """The gain rule at a-priori SNR ``ξ``: Wiener ``ξ/(1+ξ)`` or LSA (numba)."""
    gk = xi / (1.0 + xi)
    if method == 2:
        gk = min(gk * lsa_factor(gk * gamma, table), 1.0)
    return gk


@njit(fastmath=True)
def periodogram(spectra, m, r, rows, x2):
    """``x2 = |X|²`` of frame ``m``, averaged over the channels that share gain row ``r`` (numba)."""
    channels, _, bins = spectra.shape
    share = 1.0 / (channels // rows)
    x2[:] = 0.0
    for c in range(channels):
        if rows == 1 or c == r:
            for k in range(bins):
                v = spectra[c, m, k]
                x2[k] += share * (v.real * v.real + v.imag * v.imag)


@njit(fastmath=True)
def xi2_frame(spectra, m, r, rows, x2, a2, inv_lam, xi2, gam, a_dd, beta, method, table):
    """Frame ``m``, row ``r``: ``γ`` into ``gam``, the TSNR ``ξ₂`` into ``xi2``; update ``Â²`` (numba)."""
    bins = xi2.shape[0]
    periodogram(spectra, m, r, rows, x2)
    for k in range(bins):
        gamma = x2[k] * inv_lam[k]
        xi = max(a_dd * a2[k] * inv_lam[k] + (1.0 - a_dd) * max(gamma - 1.0, 0.0), beta)
        gam[k] = gamma
        xi2[k] = xi / (1.0 + xi)  # the Wiener gain G₁, for now
    if method == 2:  # a loop of its own, so that the Wiener one vectorises
        for k in range(bins):  # G = ξ/(1+ξ)·exp(½E1(v)), v = ξγ/(1+ξ)
            xi2[k] = min(xi2[k] * lsa_factor(xi2[k] * gam[k], table), 1.0)
    for k in range(bins):
        gk = xi2[k]
        a2[k] = gk * gk * x2[k]
        xi2[k] = max(gk * gk * gam[k], beta)


@njit(fastmath=True)
def gain_kernel(spectra, noise, gains, prev_a2, prev_gain, mcra, counters, fset, iset, table):
    """Compute the gains ``G[r, m, k]`` and apply them to ``spectra`` in place (numba).

    ``spectra`` is ``(channels, frames, bins)``; ``gains`` has one row for all
    channels (linked: the periodogram is the channel mean) or one per channel.
    ``noise[0]`` holds ``E|N|²`` and ``noise[1]`` ``E|N|`` per row and bin; in
    adaptive mode MCRA updates them after each frame. ``prev_a2`` is ``Â²`` of
    the previous frame (decision-directed ξ), ``prev_gain`` the previous
    smoothed gain, ``mcra`` = (S, S_min, S_tmp, p̂), ``counters[0]`` the frames
    seen so far. The loops run frame by frame, each over contiguous bins.

    With look-ahead (``iset[I_AHEAD] = 1``) the last frame of ``spectra`` is
    only looked at: ξ₂ of frame m is averaged with that of frame m + 1, and the
    gain is evaluated once more at ``ξ₃ = G²γ``. The look-ahead frame leaves no
    trace in the state (the next call starts with it), and it gets no gain.
    """
    channels, all_frames, bins = spectra.shape
    rows = gains.shape[0]
    alpha, beta, g_min, c_time = fset[F_ALPHA], fset[F_BETA], fset[F_GMIN], fset[F_CTIME]
    a_s, a_d, a_p, a_dd = fset[F_AS], fset[F_AD], fset[F_AP], fset[F_DD]
    method, p, half = iset[I_METHOD], iset[I_POWER], iset[I_HALF]
    adaptive, window, warmup = iset[I_ADAPTIVE], iset[I_WINDOW], iset[I_WARMUP]
    two_step, ahead = iset[I_TWO_STEP], iset[I_AHEAD]
    frames = all_frames - ahead
    x2 = np.empty(bins)
    row = np.empty(bins)
    if ahead:
        # The decision-directed ξ and the TSNR ξ₂ of each frame, one frame ahead of the gains
        # (the profile is fixed, so the noise does not change from frame to frame); two frames
        # of them are kept, in slots m % 2, so they stay in the cache.
        xi2_all = np.empty((rows, 2, bins))
        gamma_all = np.empty((rows, 2, bins))
        inv_lam = np.empty((rows, bins))
        a2 = prev_a2.copy()
        for r in range(rows):
            for k in range(bins):
                inv_lam[r, k] = 1.0 / max(alpha * noise[0, r, k], 1e-30)
            xi2_frame(spectra, 0, r, rows, x2, a2[r], inv_lam[r], xi2_all[r, 0], gamma_all[r, 0],
                      a_dd, beta, method, table)
            if frames == 1:
                prev_a2[r, :] = a2[r]  # the state after the last frame that gets a gain
    for m in range(frames):
        seen = counters[0] + m
        if ahead:
            nxt_slot = (m + 1) % 2
            for r in range(rows):
                xi2_frame(spectra, m + 1, r, rows, x2, a2[r], inv_lam[r], xi2_all[r, nxt_slot],
                          gamma_all[r, nxt_slot], a_dd, beta, method, table)
                if m + 1 == frames - 1:
                    prev_a2[r, :] = a2[r]  # the state after the last frame that gets a gain
        for r in range(rows):
            g = gains[r, m]
            if ahead:
                # ξ₂ over frames m and m + 1, then one more step at ξ₃ = G²·γ.
                now, nxt, gam = xi2_all[r, m % 2], xi2_all[r, (m + 1) % 2], gamma_all[r, m % 2]
                if method == 1:
                    for k in range(bins):
                        xi = 0.5 * (now[k] + nxt[k])
                        gk = xi / (1.0 + xi)
                        xi = max(gk * gk * gam[k], beta)
                        g[k] = xi / (1.0 + xi)
                else:
                    for k in range(bins):
                        gk = tsnr_gain(0.5 * (now[k] + nxt[k]), gam[k], method, table)
                        g[k] = tsnr_gain(max(gk * gk * gam[k], beta), gam[k], method, table)
            else:
                periodogram(spectra, m, r, rows, x2)
                if adaptive and seen < warmup:
                    # These frames overlap the zeros before the stream: start afresh on each.
                    for k in range(bins):
                        s = max(x2[k], NOISE_FLOOR)
                        noise[0, r, k] = s
                        noise[1, r, k] = RAYLEIGH_MEAN * math.sqrt(s)
                        mcra[0, r, k] = s
                        mcra[1, r, k] = s
                        mcra[2, r, k] = s
                        mcra[3, r, k] = 0.0
                if method == 0 and p == 1:
                    # Berouti et al. (1979), p = 1: |Ŝ| = max(|X| − α|N|, β|N|).
                    for k in range(bins):
                        x = math.sqrt(x2[k])
                        nk = noise[1, r, k]
                        g[k] = max(x - alpha * nk, beta * nk) / x if x > 0 else 0.0
                elif method == 0:
                    # p = 2: |Ŝ|² = max(|X|² − α|N|², β|N|²).
                    for k in range(bins):
                        lam = noise[0, r, k]
                        s = max(x2[k] - alpha * lam, beta * lam)
                        g[k] = math.sqrt(s / x2[k]) if x2[k] > 0 else 0.0
                elif method == 1:
                    # Wiener on the decision-directed ξ (Ephraim & Malah 1984, eq. 51); with TSNR
                    # (Plapous et al. 2006) ξ is then re-estimated from this frame's estimate.
                    # (A loop apart from LSA's: one loop through _tsnr_gain measured 25 % slower,
                    # as the call keeps the Wiener arithmetic from vectorising.)
                    for k in range(bins):
                        lam = max(alpha * noise[0, r, k], 1e-30)
                        gamma = x2[k] / lam
                        xi = a_dd * prev_a2[r, k] / lam + (1.0 - a_dd) * max(gamma - 1.0, 0.0)
                        xi = max(xi, beta)
                        gk = xi / (1.0 + xi)
                        prev_a2[r, k] = gk * gk * x2[k]
                        xi2 = max(gk * gk * gamma, beta)
                        g[k] = xi2 / (1.0 + xi2) if two_step else gk
                else:
                    # LSA: G = ξ/(1+ξ)·exp(½E1(v)), v = ξγ/(1+ξ) (Ephraim & Malah 1985), same ξ.
                    for k in range(bins):
                        lam = max(alpha * noise[0, r, k], 1e-30)
                        gamma = x2[k] / lam
                        xi = a_dd * prev_a2[r, k] / lam + (1.0 - a_dd) * max(gamma - 1.0, 0.0)
                        xi = max(xi, beta)
                        gk = xi / (1.0 + xi)
                        gk = min(gk * lsa_factor(gk * gamma, table), 1.0)
                        prev_a2[r, k] = gk * gk * x2[k]
                        if two_step:
                            xi = max(gk * gk * gamma, beta)
                            gk = xi / (1.0 + xi)
                            gk = min(gk * lsa_factor(gk * gamma, table), 1.0)
                        g[k] = gk
            for k in range(bins):
                g[k] = max(g[k], g_min)
            if half > 0:
                # Frequency smoothing: moving average over 2·half + 1 bins.
                row[:] = g
                acc = 0.0
                lo, hi = 0, -1
                for k in range(bins):
                    while hi < min(k + half, bins - 1):
                        hi += 1
                        acc += row[hi]
                    while lo < k - half:
                        acc -= row[lo]
                        lo += 1
                    g[k] = acc / (hi - lo + 1)
            if c_time > 0.0:
                # Time smoothing: one-pole recursion on the gain.
                if seen > 0:
                    for k in range(bins):
                        g[k] = c_time * prev_gain[r, k] + (1.0 - c_time) * g[k]
                for k in range(bins):
                    prev_gain[r, k] = g[k]
            if adaptive and seen >= warmup:
                # MCRA (Cohen & Berdugo 2002): smoothed periodogram S, its running minimum
                # S_min over windows of L frames, speech presence p̂ = smoothed [S/S_min > δ],
                # noise λ_d ← α̃_d·λ_d + (1 − α̃_d)·|Y|², α̃_d = α_d + (1 − α_d)·p̂.
                restart = (seen - warmup) % window == 0
                for k in range(bins):
                    sf = 0.25 * x2[max(k - 1, 0)] + 0.5 * x2[k] + 0.25 * x2[min(k + 1, bins - 1)]
                    s = a_s * mcra[0, r, k] + (1.0 - a_s) * sf
                    mcra[0, r, k] = s
                    if restart:
                        mcra[1, r, k] = min(mcra[2, r, k], s)
                        mcra[2, r, k] = s
                    else:
                        mcra[1, r, k] = min(mcra[1, r, k], s)
                        mcra[2, r, k] = min(mcra[2, r, k], s)
                    present = 1.0 if s > MCRA_DELTA * max(mcra[1, r, k], NOISE_FLOOR) else 0.0
                    ph = a_p * mcra[3, r, k] + (1.0 - a_p) * present
                    mcra[3, r, k] = ph
                    ad = a_d + (1.0 - a_d) * ph
                    lam_d = max(ad * noise[0, r, k] + (1.0 - ad) * x2[k], NOISE_FLOOR)
                    noise[0, r, k] = lam_d
                    noise[1, r, k] = RAYLEIGH_MEAN * math.sqrt(lam_d)
        # Ŝ = G·X, in place.
        for c in range(channels):
            g = gains[0 if rows == 1 else c, m]
            for k in range(bins):
                spectra[c, m, k] *= g[k]
    counters[0] += frames


@njit(fastmath=True)
def overlap_add(frames, synthesis, out, hop):
    """``out[c, m·hop + n] += frames[c, m, n] · synthesis[n]``: WOLA resynthesis (numba)."""
    channels, count, n_fft = frames.shape
    for c in range(channels):
        for m in range(count):
            at = m * hop
            for n in range(n_fft):
                out[c, at + n] += frames[c, m, n] * synthesis[n]
