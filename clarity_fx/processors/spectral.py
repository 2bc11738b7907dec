"""Noise reduction by short-time spectral attenuation: |Ŝ(k, m)| = G(k, m) · |X(k, m)|.

The seed's formula, ``|S_clean| = max(|S_in| − |N|, 0)`` with ``|N|`` learned
from a noise-only stretch, is kept exactly (``method="subtraction"``, α = 1,
β = 0, ``domain="magnitude"``, no smoothing, no limit) and extended the way the
literature did to get rid of its "musical noise":

1. Berouti, Schwartz & Makhoul (1979): over-subtraction α and spectral floor β,
   ``|Ŝ|^p = max(|X|^p − α·|N|^p, β·|N|^p)``, in magnitude (p = 1) or power
   (p = 2).
2. Ephraim & Malah (1984, 1985): the Wiener and the MMSE log-spectral-amplitude
   (LSA) gains driven by the decision-directed a-priori SNR ξ, whose recursive
   smoothing is what removes the musical noise (Cappé 1994). ξ ≥ ξ_min plays
   the role of Berouti's floor.
3. Cohen & Berdugo (2002): minima-controlled recursive averaging (MCRA) tracks
   the noise spectrum when there is no noise-only stretch to learn from.

The streaming short-time Fourier transform is weighted overlap-add (WOLA) with
an analysis window ``w`` and the synthesis window ``w / Σ_m w²(n − mH)``, so
that with G = 1 the output is the input, delayed by ``n_fft − 1`` samples that
the base class removes.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.fft

from ..errors import AudioFileError, ClarityError, ParameterError
from ..plugin import Param, Plugin, StreamState, as_channels_first

__all__ = [
    "NoiseProfile",
    "SpectralSubtraction",
    "analysis_window",
    "estimate_noise_profile",
    "lsa_gain",
]

# --------------------------------------------------------------------------- constants
#: Decision-directed smoothing of the a-priori SNR, a = 0.98 (Ephraim & Malah 1984, eq. 51).
DD_A = 0.98
#: Euler–Mascheroni constant, for E1(v) ≈ −γ_E − ln v + v near zero.
EULER_GAMMA = 0.5772156649015329

# MCRA (Cohen & Berdugo 2002), given there per 8 ms hop at 16 kHz; here as time constants
# so that the tracker behaves the same whatever the hop and sample rate.
#: α_s = 0.8 per 8 ms: smoothing of the periodogram before the minimum search.
MCRA_TAU_S_S = 0.008 / -math.log(0.8)
#: α_d = 0.95 per 8 ms: noise-averaging time constant (while speech is absent).
MCRA_TAU_D_S = 0.008 / -math.log(0.95)
#: α_p = 0.2 per 8 ms: smoothing of the speech-presence indicator.
MCRA_TAU_P_S = 0.008 / -math.log(0.2)
#: L = 125 frames of 8 ms: the minimum is searched over windows of this length.
MCRA_WINDOW_S = 1.0
#: δ = 5: S/S_min above this means speech is present.
MCRA_DELTA = 5.0
#: Rayleigh-distributed noise: E|N| = sqrt(π·E|N|²) / 2, for magnitude subtraction
#: when the noise is tracked as a power.
RAYLEIGH_MEAN = math.sqrt(math.pi) / 2

#: Default frame length when ``n_fft`` is None: the fast FFT length at or above this many seconds.
AUTO_FRAME_S = 0.064
#: Default hop when ``hop`` is None: ``n_fft / AUTO_OVERLAP``.
AUTO_OVERLAP = 3
#: Whole-buffer calls hand the DSP blocks of at least this many samples.
WHOLE_BLOCK = 1 << 18

METHODS = ("mmse_lsa", "wiener", "subtraction")
_METHOD_CODE = {"subtraction": 0, "wiener": 1, "mmse_lsa": 2}


# --------------------------------------------------------------------------- windows
def analysis_window(name: str, n_fft: int) -> np.ndarray:
    """Periodic (DFT-even) ``hann`` or ``hamming`` window of length ``n_fft``, float64."""
    n = np.arange(n_fft)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / n_fft)
    raise ParameterError(f"window={name!r} is not known: use one of hann, hamming")


def synthesis_window(window: np.ndarray, hop: int) -> np.ndarray:
    """WOLA synthesis window ``w(n) / Σ_m w²(n − mH)``: perfect reconstruction when G = 1."""
    n_fft = window.size
    overlap = (window**2).reshape(n_fft // hop, hop).sum(axis=0)
    return window / np.tile(overlap, n_fft // hop)


# --------------------------------------------------------------------------- noise profile
@dataclass
class NoiseProfile:
    """The noise spectrum, independent of sample rate, frame length and window.

    Stored as densities per hertz so that it can be applied to any STFT:
    ``psd[c, i]`` is ``E|N(f_i)|² / (Σw² · fs)`` and ``asd[c, i]`` is
    ``E|N(f_i)| / sqrt(Σw² · fs)`` at the frequencies ``freqs_hz``. For
    white noise of variance σ² both are flat: ``psd = σ²/fs``.

    Attributes
    ----------
    freqs_hz : numpy.ndarray
        ``(bins,)`` frequencies of the learned spectrum.
    psd, asd : numpy.ndarray
        ``(channels, bins)`` mean power and mean magnitude densities.
    sample_rate : float
        Rate it was learned at (its Nyquist frequency bounds ``freqs_hz``).
    n_fft : int
        Frame length it was learned with.
    """

    freqs_hz: np.ndarray
    psd: np.ndarray
    asd: np.ndarray
    sample_rate: float
    n_fft: int

    @property
    def channels(self) -> int:
        """Number of channels the profile was learned from."""
        return int(self.psd.shape[0])

    def for_stft(self, sample_rate: float, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean noise power ``E|N_k|²`` and magnitude ``E|N_k|`` on an STFT's bins.

        Parameters
        ----------
        sample_rate : float
            Rate of the audio the profile is applied to.
        window : numpy.ndarray
            The analysis window (its length is ``n_fft``).

        Returns
        -------
        power, magnitude : numpy.ndarray
            ``(channels, n_fft // 2 + 1)`` float64. A profile learned with
            another frame length or rate is interpolated on the frequency axis
            (and held at its last value above its own Nyquist frequency).
        """
        n_fft = window.size
        energy = float(np.sum(window**2)) * sample_rate
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        if freqs.size == self.freqs_hz.size and np.allclose(freqs, self.freqs_hz):
            psd, asd = self.psd, self.asd
        else:
            psd = np.stack([np.interp(freqs, self.freqs_hz, row) for row in self.psd])
            asd = np.stack([np.interp(freqs, self.freqs_hz, row) for row in self.asd])
        return psd * energy, asd * math.sqrt(energy)

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile to a ``.npz`` file (see :meth:`load`)."""
        np.savez(
            path,
            freqs_hz=self.freqs_hz,
            psd=self.psd,
            asd=self.asd,
            sample_rate=np.float64(self.sample_rate),
            n_fft=np.int64(self.n_fft),
            format=np.str_("clarity_fx.NoiseProfile/1"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoiseProfile:
        """Read a profile written by :meth:`save`.

        Raises
        ------
        AudioFileError
            When the file is missing or is not a saved noise profile.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data.get("format", "")) != "clarity_fx.NoiseProfile/1":
                    raise KeyError("format")
                return cls(
                    freqs_hz=np.asarray(data["freqs_hz"], dtype=np.float64),
                    psd=np.atleast_2d(np.asarray(data["psd"], dtype=np.float64)),
                    asd=np.atleast_2d(np.asarray(data["asd"], dtype=np.float64)),
                    sample_rate=float(data["sample_rate"]),
                    n_fft=int(data["n_fft"]),
                )
        except FileNotFoundError:
            raise AudioFileError(
                f"noise profile {os.fspath(path)!r} does not exist; check the path"
            ) from None
        except (KeyError, ValueError, OSError) as exc:
            raise AudioFileError(
                f"{os.fspath(path)!r} is not a noise profile ({exc}); "
                "write one with SpectralSubtraction.save_profile()"
            ) from None


def _frames(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(channels, frames, n_fft)`` strided view of the frames that fit in ``audio``."""
    return np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[:, ::hop]


def estimate_noise_profile(
    noise: np.ndarray, sample_rate: float, n_fft: int, hop: int, window: str = "hann"
) -> NoiseProfile:
    """Learn a :class:`NoiseProfile` from noise-only audio: the mean of ``|N|`` and ``|N|²``.

    Parameters
    ----------
    noise : numpy.ndarray
        ``(channels, samples)`` noise-only audio.
    sample_rate : float
        Its sample rate in Hz.
    n_fft, hop : int
        Frame length and hop of the STFT it is averaged over.
    window : str
        ``"hann"`` or ``"hamming"``.

    Returns
    -------
    NoiseProfile
        Averages over every whole frame in ``noise``. Audio shorter than one
        frame is zero-padded to one, and its power scaled back up by the share
        of the window's energy it covered. Empty audio gives a zero profile.
    """
    noise = np.atleast_2d(np.asarray(noise, dtype=np.float64))
    w = analysis_window(window, n_fft)
    n = noise.shape[1]
    if n >= n_fft:
        spectra = scipy.fft.rfft(_frames(noise, n_fft, hop) * w, axis=-1, workers=-1)
        power = np.mean(np.abs(spectra) ** 2, axis=1)
        magnitude = np.mean(np.abs(spectra), axis=1)
    elif n > 0:
        # One frame with the audio in its middle, where the window is largest.
        start = (n_fft - n) // 2
        padded = np.zeros((noise.shape[0], n_fft))
        padded[:, start : start + n] = noise
        spectra = scipy.fft.rfft(padded * w, axis=-1)
        share = float(np.sum(w**2) / max(np.sum(w[start : start + n] ** 2), 1e-30))
        power = np.abs(spectra) ** 2 * share
        magnitude = np.abs(spectra) * math.sqrt(share)
    else:
        power = magnitude = np.zeros((noise.shape[0], n_fft // 2 + 1))
    energy = float(np.sum(w**2)) * sample_rate
    return NoiseProfile(
        freqs_hz=np.fft.rfftfreq(n_fft, 1.0 / sample_rate),
        psd=power / energy,
        asd=magnitude / math.sqrt(energy),
        sample_rate=float(sample_rate),
        n_fft=int(n_fft),
    )


# --------------------------------------------------------------------------- MMSE-LSA gain
def lsa_gain(xi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Ephraim–Malah (1985) log-spectral-amplitude gain, exactly (with ``scipy.special.exp1``).

    ``G = ξ/(1+ξ) · exp(½ E1(v))``, ``v = ξ·γ/(1+ξ)``, for a-priori SNR ``ξ``
    and a-posteriori SNR ``γ``. The processor uses a tabulated version of the
    same function (:func:`_lsa_table`), accurate to 1e-5.
    """
    from scipy.special import exp1

    xi = np.asarray(xi, dtype=np.float64)
    v = np.maximum(xi * np.asarray(gamma, dtype=np.float64) / (1 + xi), 1e-300)
    return xi / (1 + xi) * np.exp(0.5 * exp1(v))


#: exp(½ E1(e^u)) is tabulated on u ∈ [LSA_U0, LSA_U1] in steps of 1/LSA_STEPS.
LSA_U0, LSA_U1, LSA_STEPS = -12.0, 4.5, 256
_LSA_TABLE: np.ndarray | None = None


def _lsa_table() -> np.ndarray:
    global _LSA_TABLE
    if _LSA_TABLE is None:
        from scipy.special import exp1

        u = np.linspace(LSA_U0, LSA_U1, int((LSA_U1 - LSA_U0) * LSA_STEPS) + 1)
        _LSA_TABLE = np.exp(0.5 * exp1(np.exp(u)))
    return _LSA_TABLE


# --------------------------------------------------------------------------- the gain kernel
# Settings passed to the kernel as two small arrays (numba compiles one signature).
_F_ALPHA, _F_BETA, _F_GMIN, _F_CTIME, _F_AS, _F_AD, _F_AP, _F_NFLOOR, _F_DD = range(9)
_I_METHOD, _I_POWER, _I_HALF, _I_ADAPTIVE, _I_WINDOW, _I_WARMUP, _I_TWO_STEP = range(7)


def _lsa_factor(v, table):
    """exp(½·E1(v)) from the table (linear in u = ln v), with its limits outside it."""
    if v <= 0.0:
        return 1e30
    u = math.log(v)
    if u >= LSA_U1:
        return 1.0
    if u <= LSA_U0:
        return math.exp(0.5 * (-EULER_GAMMA - u + v))  # E1(v) = −γ_E − ln v + v + O(v²)
    t = (u - LSA_U0) * LSA_STEPS
    i = min(int(t), table.shape[0] - 2)
    t -= i
    return table[i] + t * (table[i + 1] - table[i])


def _gain_kernel(spectra, noise, gains, prev_a2, prev_gain, mcra, counters, fset, iset, table):
    """Compute the gains ``G[r, m, k]`` and apply them to ``spectra`` in place (numba).

    ``spectra`` is ``(channels, frames, bins)``; ``gains`` has one row for all
    channels (linked: the periodogram is the channel mean) or one per channel.
    ``noise[0]`` holds ``E|N|²`` and ``noise[1]`` ``E|N|`` per row and bin; in
    adaptive mode MCRA updates them after each frame. ``prev_a2`` is ``Â²`` of
    the previous frame (decision-directed ξ), ``prev_gain`` the previous
    smoothed gain, ``mcra`` = (S, S_min, S_tmp, p̂), ``counters[0]`` the frames
    seen so far. Loops run frame by frame, each over contiguous bins.
    """
    channels, frames, bins = spectra.shape
    rows = gains.shape[0]
    alpha, beta, g_min, c_time = fset[_F_ALPHA], fset[_F_BETA], fset[_F_GMIN], fset[_F_CTIME]
    a_s, a_d, a_p, n_floor, a_dd = fset[_F_AS], fset[_F_AD], fset[_F_AP], fset[_F_NFLOOR], fset[_F_DD]
    method, p, half = iset[_I_METHOD], iset[_I_POWER], iset[_I_HALF]
    adaptive, window, warmup, two_step = (
        iset[_I_ADAPTIVE],
        iset[_I_WINDOW],
        iset[_I_WARMUP],
        iset[_I_TWO_STEP],
    )
    x2 = np.empty(bins)
    row = np.empty(bins)
    share = 1.0 / (channels // rows)
    for m in range(frames):
        seen = counters[0] + m
        for r in range(rows):
            # Periodogram |X|², averaged over the channels that share this gain row.
            x2[:] = 0.0
            for c in range(channels):
                if rows == 1 or c == r:
                    for k in range(bins):
                        v = spectra[c, m, k]
                        x2[k] += share * (v.real * v.real + v.imag * v.imag)
            g = gains[r, m]
            if adaptive and seen < warmup:
                # The first frames overlap the zeros before the stream: start afresh on each.
                for k in range(bins):
                    s = max(x2[k], n_floor)
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
                    g[k] = math.sqrt(max(x2[k] - alpha * lam, beta * lam) / x2[k]) if x2[k] > 0 else 0.0
            elif method == 1:
                # Wiener, on the decision-directed a-priori SNR (Ephraim & Malah 1984, eq. 51);
                # with TSNR (Plapous et al. 2006) ξ is then re-estimated from this frame's estimate.
                for k in range(bins):
                    lam = max(alpha * noise[0, r, k], 1e-30)
                    gamma = x2[k] / lam
                    xi = max(a_dd * prev_a2[r, k] / lam + (1.0 - a_dd) * max(gamma - 1.0, 0.0), beta)
                    gk = xi / (1.0 + xi)
                    prev_a2[r, k] = gk * gk * x2[k]
                    xi2 = max(gk * gk * gamma, beta)
                    g[k] = xi2 / (1.0 + xi2) if two_step else gk
            else:
                # LSA: G = ξ/(1+ξ)·exp(½E1(v)), v = ξγ/(1+ξ) (Ephraim & Malah 1985), same ξ.
                for k in range(bins):
                    lam = max(alpha * noise[0, r, k], 1e-30)
                    gamma = x2[k] / lam
                    xi = max(a_dd * prev_a2[r, k] / lam + (1.0 - a_dd) * max(gamma - 1.0, 0.0), beta)
                    gk = xi / (1.0 + xi)
                    gk = min(gk * _lsa_factor(gk * gamma, table), 1.0)
                    prev_a2[r, k] = gk * gk * x2[k]
                    if two_step:
                        xi = max(gk * gk * gamma, beta)
                        gk = xi / (1.0 + xi)
                        gk = min(gk * _lsa_factor(gk * gamma, table), 1.0)
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
                    present = 1.0 if s > MCRA_DELTA * max(mcra[1, r, k], n_floor) else 0.0
                    ph = a_p * mcra[3, r, k] + (1.0 - a_p) * present
                    mcra[3, r, k] = ph
                    ad = a_d + (1.0 - a_d) * ph
                    lam_d = max(ad * noise[0, r, k] + (1.0 - ad) * x2[k], n_floor)
                    noise[0, r, k] = lam_d
                    noise[1, r, k] = RAYLEIGH_MEAN * math.sqrt(lam_d)
        # Ŝ = G·X, in place.
        for c in range(channels):
            g = gains[0 if rows == 1 else c, m]
            for k in range(bins):
                spectra[c, m, k] *= g[k]
    counters[0] += frames


_KERNEL = None
_POOL = None
#: Frames per pipeline chunk (see ``SpectralSubtraction._run_stft``).
PIPELINE_FRAMES = 24


def _pool() -> Any:
    """One worker thread for the STFT pipeline, started on first use."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clarity-stft")
    return _POOL


def _kernel() -> Any:
    """The gain kernel, compiled by numba on first use (and cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        globals()["_lsa_factor"] = numba.njit(cache=True, nogil=True)(_lsa_factor)
        _KERNEL = numba.njit(cache=True, nogil=True, fastmath=True)(_gain_kernel)
    return _KERNEL


# --------------------------------------------------------------------------- the processor
class SpectralSubtraction(Plugin):
    r"""Noise reduction: a spectral gain G(k, m) ∈ [G_min, 1] per STFT bin.

    Each frame ``X(k, m)`` of the short-time Fourier transform is multiplied
    by a gain computed from its power ``|X|²`` and the noise power ``λ(k)``;
    the frames are overlap-added back (WOLA). ``λ`` is learned from a
    noise-only stretch, a noise clip, a saved profile, or tracked (MCRA).

    Parameters
    ----------
    method : {"mmse_lsa", "wiener", "subtraction"}
        Gain rule (see Notes). Default ``"mmse_lsa"``.
    n_fft : int or None
        Frame length in samples. None (default) picks the power of two
        nearest 32 ms: 512 at 16 kHz, 1024 at 44.1 kHz, 2048 at 48 kHz.
    hop : int or None
        Frame step, a divisor of ``n_fft`` no larger than ``n_fft / 2``.
        None (default): ``n_fft // 4``.
    window : {"hann", "hamming"}
        Analysis window (periodic).
    noise_seconds : float
        Length of the noise-only region, from ``noise_start_s``. Default 1.0:
        the first second.
    noise_start_s, noise_end_s : float, float or None
        Region ``[noise_start_s, noise_end_s)`` holding only noise; when
        ``noise_end_s`` is None it is ``noise_start_s + noise_seconds``.
    noise_clip : numpy.ndarray or str or None
        Separate noise-only audio (``(channels, n)``, ``(n, channels)`` or
        1-D), or the path of an audio file. It overrides the region.
    noise_clip_sample_rate : float or None
        Rate of an array ``noise_clip`` when it differs from the audio's; the
        clip is resampled. A file's own rate is read from the file.
    noise_profile : NoiseProfile or str or None
        A learned profile, or the path of one saved with :meth:`save_profile`.
        Overrides ``noise_clip`` and the region. Usually set with
        :meth:`load_profile`.
    adaptive : bool
        Track the noise with MCRA instead of learning it from a region. A
        given ``noise_clip``/``noise_profile`` is then only the starting
        estimate.
    oversubtraction : float
        α: the noise estimate is multiplied by α before use.
    spectral_floor : float
        β. ``subtraction``: the floor ``β·|N|^p`` (Berouti). ``wiener`` and
        ``mmse_lsa``: the a-priori SNR floor ξ_min = β (Cappé 1994).
    domain : {"magnitude", "power"}
        For ``subtraction``: subtract magnitudes (p = 1) or powers (p = 2).
    max_reduction_db : float or None
        Largest attenuation: G ≥ 10^(−max_reduction_db / 20). None: no limit;
        0: no reduction at all (the output is the input).
    time_smoothing_ms : float
        Time constant of a one-pole smoother on G across frames (0: none).
    freq_smoothing_hz : float
        Width of a moving average on G across bins (0: none).
    linked : bool
        True: one profile (the channel average) and one gain for all channels,
        which keeps the stereo image. False: each channel on its own.

    Notes
    -----
    With ``γ = |X|²/λ`` (a-posteriori SNR) and the decision-directed a-priori
    SNR (Ephraim & Malah 1984, a = 0.98)::

        ξ(m) = max(a·Â²(m−1)/λ + (1 − a)·max(γ(m) − 1, 0), β)

    the gain rules are::

        subtraction  |Ŝ|^p = max(|X|^p − α|N|^p, β|N|^p),   G = |Ŝ| / |X|
        wiener       G = ξ / (1 + ξ)
        mmse_lsa     G = ξ / (1 + ξ) · exp(½·E1(v)),         v = ξ·γ / (1 + ξ)

    then ``G ← max(G, G_min)``, a moving average over ``freq_smoothing_hz``
    and a one-pole smoother of ``time_smoothing_ms``. The seed's formula
    ``|Ŝ| = max(|X| − |N|, 0)`` is ``method="subtraction"``, α = 1, β = 0,
    ``domain="magnitude"``, ``max_reduction_db=None`` and no smoothing.

    **Defaults were chosen by measurement** with ``benchmarks/bench_denoise.py``
    (espeak-ng speech, 3 voices, 16 and 48 kHz, white, pink, brown, hum and
    modulated noise at 0, 5, 10 and 20 dB SNR). DEFAULTS_NOTE

    **Latency and streaming.** The output is delayed by ``n_fft − 1`` samples
    (the base class removes it). When the noise comes from a region of the
    audio itself, a stream cannot know it until the region has passed, so:

    - *not fitted*: :meth:`latency_for` adds the region's end, and
      :meth:`process_block` holds the audio back until the region is complete,
      learns the profile, then processes the backlog. Streaming output equals
      the whole-buffer output exactly, at the cost of buffering the region.
    - *fitted*: :meth:`fit` (called by ``render`` in a pre-pass, ``needs_fit``)
      reads only the region from its blocks and stops early, so the latency is
      just ``n_fft − 1``. :meth:`_unfit` forgets that profile, never one given
      with ``noise_clip``/``noise_profile``/:meth:`load_profile`.
    - ``noise_clip``, ``noise_profile`` and ``adaptive`` need no region: the
      latency is ``n_fft − 1`` from the start.

    Audio that ends before the region does uses what there is of it.

    References
    ----------
    .. [1] M. Berouti, R. Schwartz, J. Makhoul, "Enhancement of speech corrupted
       by acoustic noise", ICASSP 1979.
    .. [2] Y. Ephraim, D. Malah, "Speech enhancement using a minimum mean-square
       error short-time spectral amplitude estimator", IEEE TASSP 32(6), 1984.
    .. [3] Y. Ephraim, D. Malah, "Speech enhancement using a minimum mean-square
       error log-spectral amplitude estimator", IEEE TASSP 33(2), 1985.
    .. [4] O. Cappé, "Elimination of the musical noise phenomenon with the
       Ephraim and Malah noise suppressor", IEEE TSAP 2(2), 1994.
    .. [5] I. Cohen, B. Berdugo, "Noise estimation by minima controlled
       recursive averaging for robust speech enhancement", IEEE SPL 9(1), 2002.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> rng = np.random.default_rng(0)
    >>> noisy = (0.01 * rng.standard_normal(48000 * 3)).astype(np.float32)
    >>> denoise = cfx.SpectralSubtraction(noise_seconds=1.0)
    >>> clean = denoise(noisy, 48000)                     # learns the first second
    >>> denoise.save_profile("/tmp/room.npz")             # reuse it on the next take
    >>> cfx.SpectralSubtraction(max_reduction_db=12).load_profile("/tmp/room.npz")
    SpectralSubtraction(...)
    """

    needs_fit = True

    method = Param("wiener", kind=str, choices=METHODS, help="Gain rule: mmse_lsa, wiener or subtraction.")
    n_fft = Param(
        None,
        kind=int,
        nullable=True,
        minimum=16,
        maximum=1 << 16,
        help="STFT frame length in samples; None picks about 32 ms.",
    )
    hop = Param(
        None,
        kind=int,
        nullable=True,
        minimum=1,
        maximum=1 << 15,
        help="STFT hop in samples, dividing n_fft, at most n_fft/2; None is n_fft/4.",
    )
    window = Param("hann", kind=str, choices=("hann", "hamming"), help="Analysis window.")
    noise_seconds = Param(
        1.0,
        unit="s",
        minimum=0.0,
        maximum=24 * 3600.0,
        exclusive_minimum=True,
        help="Length of the noise-only region (from noise_start_s).",
    )
    noise_start_s = Param(0.0, unit="s", minimum=0.0, help="Start of the noise-only region.")
    noise_end_s = Param(
        None,
        unit="s",
        nullable=True,
        minimum=0.0,
        exclusive_minimum=True,
        help="End of the noise-only region; None is noise_start_s + noise_seconds.",
    )
    noise_clip = Param(None, kind=object, nullable=True, help="Noise-only audio (array or file path).")
    noise_clip_sample_rate = Param(
        None,
        unit="Hz",
        nullable=True,
        minimum=0.0,
        exclusive_minimum=True,
        help="Sample rate of an array noise_clip; None is the audio's rate.",
    )
    noise_profile = Param(
        None, kind=object, nullable=True, help="A NoiseProfile, or the path of a saved .npz profile."
    )
    two_step = Param(True, kind=bool, help="Two-step a-priori SNR (TSNR) for wiener and mmse_lsa.")
    dd_weight = Param(
        0.95,
        minimum=0.0,
        maximum=1.0,
        exclusive_minimum=False,
        help="Weight a of the previous frame in the decision-directed a-priori SNR.",
    )
    adaptive = Param(False, kind=bool, help="Track the noise with MCRA instead of learning a region.")
    oversubtraction = Param(
        1.0,
        minimum=0.0,
        maximum=20.0,
        exclusive_minimum=True,
        help="Over-subtraction factor alpha applied to the noise estimate.",
    )
    spectral_floor = Param(
        0.003,
        minimum=0.0,
        maximum=1.0,
        help="Spectral floor beta (subtraction) or a-priori SNR floor (wiener, mmse_lsa).",
    )
    domain = Param(
        "magnitude",
        kind=str,
        choices=("magnitude", "power"),
        help="Subtract magnitudes or powers (method=subtraction).",
    )
    max_reduction_db = Param(
        30.0,
        unit="dB",
        nullable=True,
        minimum=0.0,
        maximum=200.0,
        help="Largest attenuation in dB; None for no limit.",
    )
    time_smoothing_ms = Param(
        0.0, unit="ms", minimum=0.0, maximum=10000.0, help="Time constant of the gain smoother across frames."
    )
    freq_smoothing_hz = Param(
        0.0, unit="Hz", minimum=0.0, maximum=20000.0, help="Width of the gain smoother across frequency."
    )
    linked = Param(True, kind=bool, help="One profile and gain for all channels (keeps the stereo image).")

    def __init__(self, **params: Any) -> None:
        self._ready = False
        self._fitted: NoiseProfile | None = None
        self._learned: NoiseProfile | None = None
        self._clip_cache: tuple[Any, NoiseProfile] | None = None
        super().__init__(**params)
        self._ready = True
        self._check_combination()

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("n_fft", "hop", "noise_start_s", "noise_end_s", "noise_profile") and self.__dict__.get(
            "_ready"
        ):
            self._check_combination()

    def _check_combination(self) -> None:
        """Cross-parameter checks, run when any of them is set (after the constructor)."""
        n_fft, hop = self.n_fft, self.hop
        if n_fft is not None and n_fft % 2:
            raise ParameterError(f"n_fft={n_fft} must be even: use {n_fft + 1}")
        if n_fft is not None and hop is not None and (n_fft % hop or hop > n_fft // 2):
            raise ParameterError(
                f"hop={hop} must divide n_fft={n_fft} and be at most n_fft/2: use e.g. {n_fft // 4}"
            )
        if self.noise_end_s is not None and self.noise_end_s <= self.noise_start_s:
            raise ParameterError(
                f"noise_end_s={self.noise_end_s:g} s must be after noise_start_s={self.noise_start_s:g} s"
            )
        if isinstance(self.noise_profile, (str, os.PathLike)):
            self.__dict__["noise_profile"] = NoiseProfile.load(self.noise_profile)
        elif self.noise_profile is not None and not isinstance(self.noise_profile, NoiseProfile):
            raise ParameterError(
                "noise_profile must be a NoiseProfile or a .npz path, "
                f"not {type(self.noise_profile).__name__}"
            )

    # ------------------------------------------------------------------ STFT geometry
    def stft_size(self, sample_rate: float) -> tuple[int, int]:
        """``(n_fft, hop)`` used at ``sample_rate`` (resolving the None defaults)."""
        n_fft = self.n_fft
        if n_fft is None:
            # A multiple of 2·AUTO_OVERLAP so that the hop is even; 5-smooth for a fast FFT.
            step = 2 * AUTO_OVERLAP
            n_fft = step * scipy.fft.next_fast_len(
                max(2, math.ceil(AUTO_FRAME_S * sample_rate / step)), real=True
            )
        hop = self.hop
        if hop is None:
            overlap = next((o for o in (AUTO_OVERLAP, 4, 2) if n_fft % o == 0), 2)
            hop = n_fft // overlap
        if n_fft % hop or hop > n_fft // 2:
            raise ParameterError(f"hop={hop} must divide n_fft={n_fft} and be at most n_fft/2")
        return n_fft, hop

    def _region(self, sample_rate: float) -> tuple[int, int]:
        end_s = self.noise_end_s if self.noise_end_s is not None else self.noise_start_s + self.noise_seconds
        return round(self.noise_start_s * sample_rate), round(end_s * sample_rate)

    def _needs_region(self) -> bool:
        return (
            not self.adaptive
            and self.noise_profile is None
            and self.noise_clip is None
            and self._fitted is None
        )

    def latency_for(self, sample_rate: float) -> int:
        """``n_fft − 1``, plus the noise region's end while the profile must be learned in-stream."""
        n_fft, _ = self.stft_size(sample_rate)
        extra = self._region(sample_rate)[1] if self._needs_region() else 0
        return n_fft - 1 + extra

    # ------------------------------------------------------------------ profiles
    def _given_profile(self, sample_rate: float, channels: int) -> NoiseProfile | None:
        """The profile given up front or fitted, in precedence order; None if there is none."""
        if self.noise_profile is not None:
            return self.noise_profile
        if self.noise_clip is not None:
            return self._clip_profile(sample_rate)
        return self._fitted

    def _clip_profile(self, sample_rate: float) -> NoiseProfile:
        n_fft, hop = self.stft_size(sample_rate)
        key = (id(self.noise_clip), self.noise_clip_sample_rate, sample_rate, n_fft, hop, self.window)
        if self._clip_cache is not None and self._clip_cache[0] == key:
            return self._clip_cache[1]
        clip = self.noise_clip
        if isinstance(clip, (str, os.PathLike)):
            clip, clip_rate = _read_audio(clip)
        else:
            try:
                clip = as_channels_first(np.asarray(clip, dtype=np.float64).astype(np.float32))[0]
            except TypeError as exc:
                raise ParameterError(f"noise_clip must be an audio array or a file path ({exc})") from None
            clip_rate = self.noise_clip_sample_rate or sample_rate
        clip = _resample(clip, clip_rate, sample_rate)
        profile = estimate_noise_profile(clip, sample_rate, n_fft, hop, self.window)
        self._clip_cache = (key, profile)
        return profile

    def _learn(self, region: np.ndarray, sample_rate: float) -> NoiseProfile:
        n_fft, hop = self.stft_size(sample_rate)
        if region.shape[1] == 0:
            warnings.warn(
                "SpectralSubtraction: the noise region lies outside the audio, so no noise is removed; "
                "set noise_start_s/noise_end_s inside it or give a noise_clip",
                stacklevel=4,
            )
        return estimate_noise_profile(region, sample_rate, n_fft, hop, self.window)

    def fit(self, blocks: Any, sample_rate: float) -> None:
        """Learn the noise profile from the region, reading only as many blocks as needed.

        Parameters
        ----------
        blocks : iterable of numpy.ndarray
            ``(channels, n)`` blocks of the audio, in order (as ``render``
            passes them). Iteration stops once the region has passed.
        sample_rate : float
            Their sample rate.
        """
        if self.adaptive or self.noise_profile is not None or self.noise_clip is not None:
            return
        start, end = self._region(sample_rate)
        parts, pos = [], 0
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            if block.ndim == 1:
                block = block[None, :]
            lo, hi = max(start - pos, 0), min(end - pos, block.shape[1])
            if hi > lo:
                parts.append(block[:, lo:hi])
            pos += block.shape[1]
            if pos >= end:
                break
        channels = parts[0].shape[0] if parts else 1
        region = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)
        self._fitted = self._learn(region, sample_rate)

    def _unfit(self) -> None:
        self._fitted = None

    def profile(self) -> NoiseProfile | None:
        """The profile in use: given, fitted, or learned by the last stream (None if none yet)."""
        if self.noise_profile is not None:
            return self.noise_profile
        if self.noise_clip is not None and self._clip_cache is not None:
            return self._clip_cache[1]
        return self._fitted or self._learned

    def save_profile(self, path: str | os.PathLike) -> None:
        """Save the noise profile in use to a ``.npz`` file, for :meth:`load_profile`.

        Raises
        ------
        ClarityError
            When no profile has been learned yet.
        """
        profile = self.profile()
        if profile is None:
            raise ClarityError(
                "no noise profile to save yet: process some audio, call fit(), or give noise_clip first"
            )
        profile.save(path)

    def load_profile(self, path: str | os.PathLike) -> SpectralSubtraction:
        """Use the profile saved at ``path`` (sets ``noise_profile``); returns self.

        A profile learned at another sample rate or frame length is
        interpolated on the frequency axis.
        """
        self.noise_profile = NoiseProfile.load(path)
        return self

    # ------------------------------------------------------------------ streaming
    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        # Output does not depend on block size; big blocks amortise the per-block work.
        return super()._process_whole(audio, sample_rate, max(buffer_size, WHOLE_BLOCK))

    def _finish_aligned(self, owed: int) -> np.ndarray:
        if self._state is not None:
            # Whatever comes now is the flush's silence: a region cut short ends here.
            self._state.input_end = self._state.position
        return super()._finish_aligned(owed)

    def _begin(self, state: StreamState) -> None:
        sr, channels = state.sample_rate, state.channels
        n_fft, hop = self.stft_size(sr)
        state.n_fft, state.hop = n_fft, hop
        state.latency = self.latency_for(sr)
        state.zeros_owed = state.latency - (n_fft - 1)  # the region's wait, paid out as silence
        state.waiting = self._needs_region()
        state.backlog = []
        w = analysis_window(self.window, n_fft)
        state.w = w.astype(np.float32)
        state.ws = synthesis_window(w, hop).astype(np.float32)
        # WOLA memories: n_fft − hop zeros stand for the time before the stream.
        state.fifo = np.zeros((channels, n_fft - hop), np.float32)
        state.acc = np.zeros((channels, n_fft - hop), np.float32)
        state.discard = n_fft - hop
        state.pending = np.zeros((channels, n_fft - 1), np.float32)  # y[−L .. −1]
        state.kernel_state = None

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "fifo" not in state:
            self._begin(state)
        n = block.shape[1]
        if state.waiting:
            state.backlog.append(block)
            start, end = self._region(state.sample_rate)
            seen = state.position + n
            if "input_end" in state:
                end = min(end, state.input_end)
            if seen >= end:
                audio = np.concatenate(state.backlog, axis=1)
                region = audio[:, min(start, end) : end]
                self._learned = self._learn(region, state.sample_rate)
                state.waiting, state.backlog = False, []
                self._run_stft(audio, state)
        else:
            self._run_stft(block, state)
        # Output: first the silence owed for the region's wait, then finished samples.
        out = np.zeros((state.channels, n), np.float32)
        z = min(state.zeros_owed, n)
        state.zeros_owed -= z
        take = n - z
        if take:
            out[:, z:] = state.pending[:, :take]
            state.pending = state.pending[:, take:]
        return out

    def _noise_for_stream(self, state: StreamState) -> tuple[np.ndarray, np.ndarray] | None:
        profile = self._given_profile(state.sample_rate, state.channels) or self._learned
        if profile is None:
            return None
        power, magnitude = profile.for_stft(state.sample_rate, state.w.astype(np.float64))
        return power, magnitude

    def _settings(self, state: StreamState) -> tuple[np.ndarray, np.ndarray]:
        sr, hop, n_fft = state.sample_rate, state.hop, state.n_fft
        frame_s = hop / sr

        def pole(tau_s: float) -> float:
            return math.exp(-frame_s / tau_s) if tau_s > 0 else 0.0

        g_min = 0.0 if self.max_reduction_db is None else 10 ** (-self.max_reduction_db / 20)
        fset = np.array(
            [
                self.oversubtraction,
                self.spectral_floor,
                g_min,
                pole(self.time_smoothing_ms / 1000),
                pole(MCRA_TAU_S_S),
                pole(MCRA_TAU_D_S),
                pole(MCRA_TAU_P_S),
                1e-20,
                self.dd_weight,
            ]
        )
        half = int(round(self.freq_smoothing_hz / (sr / n_fft))) // 2
        iset = np.array(
            [
                _METHOD_CODE[self.method],
                1 if self.domain == "magnitude" else 2,
                half,
                int(self.adaptive),
                max(1, round(MCRA_WINDOW_S / frame_s)),
                n_fft // hop,
                int(self.two_step),
            ],
            dtype=np.int64,
        )
        return fset, iset

    def _kernel_state(self, state: StreamState, rows: int, bins: int) -> dict[str, np.ndarray]:
        ks = state.kernel_state
        if ks is None or ks["prev_a2"].shape != (rows, bins):
            ks = state.kernel_state = {
                "noise": np.zeros((2, rows, bins)),
                "noise_key": None,
                "prev_a2": np.zeros((rows, bins)),
                "prev_gain": np.ones((rows, bins)),
                "mcra": np.zeros((4, rows, bins)),
                "counters": np.zeros(2, np.int64),
            }
        return ks

    def _apply_gains(self, spectra: np.ndarray, state: StreamState) -> np.ndarray:
        """Multiply ``(channels, frames, bins)`` spectra by their gains in place; return the gains."""
        channels, frames, bins = spectra.shape
        rows = 1 if self.linked else channels
        ks = self._kernel_state(state, rows, bins)
        noise = ks["noise"]
        profile_noise = self._noise_for_stream(state)
        if profile_noise is not None and (not self.adaptive or ks["counters"][0] == 0):
            # A fixed profile (also the adaptive tracker's start): channel-averaged when linked.
            p_pow, p_mag = profile_noise
            if p_pow.shape[0] not in (1, channels) and rows > 1:
                raise ClarityError(
                    f"the noise profile has {p_pow.shape[0]} channels for {channels}-channel audio; "
                    "use linked=True or a profile learned from this channel layout"
                )
            if rows == 1:
                p_pow, p_mag = p_pow.mean(axis=0, keepdims=True), p_mag.mean(axis=0, keepdims=True)
            noise[0] = np.broadcast_to(p_pow, (rows, bins))
            noise[1] = np.broadcast_to(p_mag, (rows, bins))
        fset, iset = self._settings(state)
        if self.adaptive and profile_noise is not None:
            iset[_I_WARMUP] = 0  # start from the given profile instead of the first frames
        gains = np.empty((rows, frames, bins), np.float32)
        _kernel()(
            spectra,
            noise,
            gains,
            ks["prev_a2"],
            ks["prev_gain"],
            ks["mcra"],
            ks["counters"],
            fset,
            iset,
            _lsa_table(),
        )
        return gains

    def _run_stft(self, audio: np.ndarray, state: StreamState) -> None:
        """Push samples through the WOLA STFT; finished output goes to ``state.pending``.

        Long runs of frames go in chunks through a two-stage pipeline: a worker
        thread windows and transforms chunk i + 1 while this thread computes
        the gains of chunk i and resynthesises it (both stages release the GIL).
        """
        n_fft, hop = state.n_fft, state.hop
        fifo = np.concatenate([state.fifo, audio], axis=1)
        frames = (fifo.shape[1] - n_fft) // hop + 1 if fifo.shape[1] >= n_fft else 0
        if frames <= 0:
            state.fifo = fifo
            return
        channels = fifo.shape[0]
        framed = _frames(fifo, n_fft, hop)
        w = state.w

        def analyse(a: int, b: int) -> np.ndarray:
            return scipy.fft.rfft(framed[:, a:b] * w, axis=-1, workers=1)

        chunks = [(a, min(a + PIPELINE_FRAMES, frames)) for a in range(0, frames, PIPELINE_FRAMES)]
        pool = _pool() if len(chunks) > 1 else None
        ahead = pool.submit(analyse, *chunks[0]) if pool else None
        # Overlap-add: chunk j of frame m lands on samples (m + j)·hop ... (m + j + 1)·hop.
        out = np.zeros((channels, (frames - 1) * hop + n_fft), np.float32)
        out[:, : n_fft - hop] += state.acc
        for i, (a, b) in enumerate(chunks):
            spectra = ahead.result() if ahead is not None else analyse(a, b)
            if pool is not None and i + 1 < len(chunks):
                ahead = pool.submit(analyse, *chunks[i + 1])
            original = spectra.copy() if "collect" in state else None
            gains = self._apply_gains(spectra, state)
            if original is not None:
                state.collect.append((original, gains))
            y = scipy.fft.irfft(spectra, n_fft, axis=-1, workers=1)
            y *= state.ws
            span = (b - a) * hop
            for j in range(n_fft // hop):
                start = (a + j) * hop
                out[:, start : start + span] += y[:, :, j * hop : (j + 1) * hop].reshape(channels, span)
        done = frames * hop
        state.acc = out[:, done:]
        state.fifo = fifo[:, done:]
        finished = out[:, :done]
        if state.discard:
            cut = min(state.discard, done)
            state.discard -= cut
            finished = finished[:, cut:]
        state.pending = np.concatenate([state.pending, finished], axis=1)

    # ------------------------------------------------------------------ inspection
    def spectral_gains(self, audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
        """The STFT of ``audio`` and the gains applied to it, frame by frame.

        Parameters
        ----------
        audio : numpy.ndarray
            Audio as for :meth:`process`.
        sample_rate : float
            Its rate in Hz.

        Returns
        -------
        spectra : numpy.ndarray
            ``(channels, frames, n_fft // 2 + 1)`` complex: frame ``m`` covers
            samples ``m·hop − (n_fft − hop)`` to ``m·hop + hop − 1`` (zeros
            before the start).
        gains : numpy.ndarray
            ``(1 or channels, frames, bins)``: ``G``, so the output frame is
            ``spectra · gains``.
        """
        audio = as_channels_first(audio)[0]
        self.reset()
        self._start_stream(float(sample_rate), audio.shape[0], WHOLE_BLOCK)
        assert self._state is not None
        self._begin(self._state)
        self._state.collect = []
        self._push(audio)
        self._finish()
        collected = self._state.collect
        self.reset()
        spectra = np.concatenate([s for s, _ in collected], axis=1)
        gains = np.concatenate([g for _, g in collected], axis=1)
        return spectra, gains


# --------------------------------------------------------------------------- helpers
def _read_audio(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    import soundfile as sf

    try:
        data, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise AudioFileError(f"cannot read noise clip {os.fspath(path)!r}: {exc}") from None
    return np.ascontiguousarray(data.T), float(rate)


def _resample(audio: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Polyphase resampling of ``(channels, n)`` audio from ``rate_in`` to ``rate_out``."""
    if rate_in == rate_out:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)
