"""Noise reduction by short-time spectral attenuation: Ŝ(k, m) = G(k, m) · X(k, m).

The seed's formula, ``|S_clean| = max(|S_in| − |N|, 0)`` with ``|N|`` learned
from a noise-only stretch, is kept exactly (``method="subtraction"``, α = 1,
β = 0, ``domain="magnitude"``, no smoothing, no limit) and extended the way the
literature did to get rid of its "musical noise":

1. Berouti, Schwartz & Makhoul (1979): over-subtraction α and spectral floor β,
   ``|Ŝ|^p = max(|X|^p − α·|N|^p, β·|N|^p)``, on magnitudes (p = 1) or powers
   (p = 2).
2. Ephraim & Malah (1984, 1985): Wiener and MMSE log-spectral-amplitude (LSA)
   gains driven by the decision-directed a-priori SNR ξ, whose recursive
   smoothing is what removes the musical noise (Cappé 1994); ξ ≥ ξ_min plays
   the role of Berouti's floor.
3. Plapous, Marro & Scalart (2006): the two-step (TSNR) re-estimate of ξ from
   the current frame, which removes the decision-directed estimate's one-frame
   lag at speech onsets and offsets. Here it also looks one frame ahead (ξ₂ of
   frames m and m + 1), which measured better still, for one hop of latency.
4. Cohen & Berdugo (2002): minima-controlled recursive averaging (MCRA) tracks
   the noise spectrum when there is no noise-only stretch to learn from.

The streaming STFT is weighted overlap-add (WOLA) with analysis window ``w``
and synthesis window ``w / Σ_m w²(n − mH)``: with G = 1 the output is the
input, delayed by ``n_fft − 1`` samples (``n_fft − 1 + hop`` with look-ahead)
that the base class removes.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import ClarityError, ParameterError
from ..plugin import Param, Plugin, StreamState, as_channels_first
from . import _fft
from .noise_profile import (
    UNSTEADY_REGION_DB,
    NoiseProfile,
    _frames,
    _resample,
    analysis_window,
    estimate_noise_profile,
    region_unsteadiness_db,
    synthesis_window,
)

__all__ = [
    "NoiseProfile",
    "SpectralSubtraction",
    "analysis_window",
    "estimate_noise_profile",
    "lsa_gain",
    "region_unsteadiness_db",
    "synthesis_window",
]

# --------------------------------------------------------------------------- constants
# MCRA (Cohen & Berdugo 2002) gives its constants per 8 ms hop at 16 kHz; here they are
# time constants, so that the tracker behaves the same whatever the hop and sample rate.
#: α_s = 0.8 per 8 ms: smoothing of the periodogram before the minimum search.
MCRA_TAU_S_S = 0.008 / -math.log(0.8)
#: α_d = 0.95 per 8 ms: noise averaging while speech is absent.
MCRA_TAU_D_S = 0.008 / -math.log(0.95)
#: α_p = 0.2 per 8 ms: smoothing of the speech-presence indicator.
MCRA_TAU_P_S = 0.008 / -math.log(0.2)
#: L = 125 frames of 8 ms: the minimum is searched over windows this long.
MCRA_WINDOW_S = 1.0
# δ = 5 (S / S_min above it means speech), the Rayleigh mean and the noise floor are
# the kernel's own constants: MCRA_DELTA, RAYLEIGH_MEAN, NOISE_FLOOR in _spectral_kernels.

#: ``n_fft=None``: the fast FFT length at or just above this many seconds (measured best).
AUTO_FRAME_S = 0.064
#: ``hop=None``: ``n_fft / AUTO_OVERLAP`` (Hann² then sums to a constant, 9/8).
AUTO_OVERLAP = 3
#: Whole-buffer calls hand the DSP blocks of at least this many samples.
WHOLE_BLOCK = 1 << 20
#: Frames per chunk of the three-stage STFT pipeline (see ``SpectralSubtraction._run_stft``).
PIPELINE_FRAMES = 64

METHODS = ("wiener", "mmse_lsa", "subtraction")
_METHOD_CODE = {"subtraction": 0, "wiener": 1, "mmse_lsa": 2}


# --------------------------------------------------------------------------- MMSE-LSA gain
def lsa_gain(xi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Ephraim–Malah (1985) log-spectral-amplitude gain, exactly (``scipy.special.exp1``).

    ``G = ξ/(1+ξ) · exp(½·E1(v))``, ``v = ξ·γ/(1+ξ)``, for a-priori SNR ``ξ``
    and a-posteriori SNR ``γ``. The processor evaluates the same function from
    a table (``_spectral_kernels.lsa_factor``), within 1e-5.
    """
    from scipy.special import exp1

    xi = np.asarray(xi, dtype=np.float64)
    v = np.maximum(xi * np.asarray(gamma, dtype=np.float64) / (1 + xi), 1e-300)
    return xi / (1 + xi) * np.exp(0.5 * exp1(v))


_POOL = None


def _kernels() -> ModuleType:
    """The numba kernels (:mod:`._spectral_kernels`), imported on the first block."""
    from . import _spectral_kernels

    return _spectral_kernels


#: Constants that moved to the kernel module with the kernels; still readable here (loads numba).
_KERNEL_CONSTANTS = frozenset(
    {"EULER_GAMMA", "MCRA_DELTA", "RAYLEIGH_MEAN", "NOISE_FLOOR", "LSA_U0", "LSA_U1", "LSA_STEPS"}
)


def __getattr__(name: str) -> Any:
    if name in _KERNEL_CONSTANTS:
        return getattr(_kernels(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pools() -> tuple[Any, Any]:
    """Two worker threads for the STFT pipeline: analysis and synthesis.

    Each is a one-thread executor, so its tasks run in submission order (the
    overlap-adds of consecutive chunks touch the same samples). They are started
    on first use in each process: a forked child inherits the executors but not
    their threads, so it makes its own.
    """
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL = (
            os.getpid(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="clarity-stft-analysis"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="clarity-stft-synthesis"),
        )
    return _POOL[1], _POOL[2]


# --------------------------------------------------------------------------- the processor
#: Most STFT frames overlapping one sample (n_fft / hop); the default is 3, and 16 costs about 7x that.
MAX_OVERLAP = 16


class SpectralSubtraction(Plugin):
    r"""Noise reduction: a gain G(k, m) ∈ [G_min, 1] on every STFT bin.

    Each frame ``X(k, m)`` of the short-time Fourier transform is multiplied by
    a gain computed from its power ``|X|²`` and the noise power ``λ(k)``, and
    the frames are overlap-added back (WOLA). ``λ`` is learned from a
    noise-only region of the audio, a noise clip or a saved profile, or it is
    tracked (MCRA).

    Parameters
    ----------
    method : {"wiener", "mmse_lsa", "subtraction"}
        Gain rule (see Notes). Default ``"wiener"``.
    two_step : bool
        ``wiener``/``mmse_lsa``: re-estimate ξ from the current frame (TSNR,
        Plapous et al. 2006). Default True.
    lookahead : bool
        With ``two_step``: average ξ₂ over this frame and the next, then
        evaluate the gain once more (see Notes). Adds ``hop`` samples of
        latency. Default True. Not used with ``adaptive``.
    dd_weight : float
        ``a`` of the decision-directed ξ: the weight of the previous frame's
        estimate. Default 0.95.
    n_fft : int or None
        Frame length in samples (even). None (default): the fast FFT length at
        or just above 64 ms, a multiple of 6 (1080 at 16 kHz, 2880 at 44.1 kHz,
        3072 at 48 kHz).
    hop : int or None
        Frame step, a divisor of ``n_fft`` of at most ``n_fft / 2``. None
        (default): ``n_fft / 3`` (``n_fft / 4`` or ``/ 2`` if 3 does not divide).
    window : {"hann", "hamming"}
        Analysis window (periodic).
    noise_seconds : float
        Length of the noise-only region, from ``noise_start_s``. Default 1.0:
        the first second.
    noise_start_s : float
        Start of the noise-only region in seconds. Default 0.
    noise_end_s : float or None
        End of the region; None is ``noise_start_s + noise_seconds``.
    noise_clip : numpy.ndarray or str or None
        Separate noise-only audio (1-D, ``(channels, n)`` or ``(n, channels)``)
        or the path of an audio file. Used instead of the region.
    noise_clip_sample_rate : float or None
        Rate of an array ``noise_clip`` when it differs from the audio's (it is
        resampled). A file's own rate is read from the file.
    noise_profile : NoiseProfile or str or None
        A profile, or the path of one written by :meth:`save_profile`. Used
        before ``noise_clip`` and the region. :meth:`load_profile` sets it.
    adaptive : bool
        Track the noise with MCRA instead of learning a region. A given
        ``noise_profile``/``noise_clip`` is then the tracker's start.
    oversubtraction : float
        α: the noise estimate is multiplied by α. Default 1.
    spectral_floor : float
        β. ``subtraction``: the floor ``β·|N|^p`` (Berouti). ``wiener`` and
        ``mmse_lsa``: the a-priori SNR floor ξ_min = β (Cappé 1994). Default
        0.003 (ξ_min = −25 dB).
    domain : {"magnitude", "power"}
        ``subtraction`` of magnitudes (p = 1, default) or powers (p = 2).
    max_reduction_db : float or None
        Largest attenuation: ``G ≥ 10^(−max_reduction_db/20)``. Default 30.
        None: no limit. 0: no reduction at all (the output is the input).
    time_smoothing_ms : float
        Time constant of a one-pole smoother on G across frames. Default 0.
    freq_smoothing_hz : float
        Width of a moving average on G across frequency. Default 0.
    linked : bool
        True (default): one profile (the channel average) and one gain for all
        channels, which keeps the stereo image. False: each channel alone.

    Notes
    -----
    With ``λ = α·E|N|²``, the a-posteriori SNR ``γ = |X|²/λ`` and the
    decision-directed a-priori SNR (Ephraim & Malah 1984, eq. 51)::

        ξ(m)  = max(a·Â²(m−1)/λ + (1 − a)·max(γ(m) − 1, 0), β),   Â(m) = G₁(m)·|X(m)|
        G₁    = ξ/(1 + ξ)                                  (wiener)
              = ξ/(1 + ξ)·exp(½·E1(v)),  v = ξ·γ/(1 + ξ)   (mmse_lsa)
        two_step:  ξ₂ = max(G₁²·γ, β),  G = G₁ evaluated at ξ₂,  else G = G₁
        lookahead: G₂ = G₁ evaluated at ½(ξ₂(m) + ξ₂(m+1)),  ξ₃ = max(G₂²·γ, β),
                   G = G₁ evaluated at ξ₃
        subtraction:  |Ŝ|^p = max(|X|^p − α·|N|^p, β·|N|^p),  G = |Ŝ|/|X|

    then ``G ← max(G, G_min)``, the moving average over ``freq_smoothing_hz``
    and the one-pole smoother of ``time_smoothing_ms``. Plain magnitude subtraction,
    ``|Ŝ| = max(|X| − |N|, 0)`` (the formula of clarity-fx's original specification),
    is ``method="subtraction"``, α = 1, β = 0, ``domain="magnitude"``,
    ``max_reduction_db=None``, no smoothing.

    **Defaults were chosen by measurement** with ``benchmarks/bench_denoise.py
    --compare`` (espeak-ng speech: 4 clips, 3 voices, 16 and 48 kHz; white,
    pink, brown, mains-hum and slowly modulated noise at 0, 5, 10 and 20 dB SNR
    after a 1 s noise-only lead-in; mean improvement over the noisy input, and
    over ``noisereduce.reduce_noise(stationary=True)`` in the same run):

    ======================================  =========  =======  ==============
    setting                                 ΔSI-SDR    ΔSTOI    vs noisereduce
    ======================================  =========  =======  ==============
    defaults: wiener, TSNR + look-ahead     +8.25 dB   +0.024   +4.15 dB
    TSNR without look-ahead (old default)   +8.11 dB   +0.022   +4.00 dB
    … and hop n_fft/4                       +8.15 dB   +0.022   +4.05 dB
    plain subtraction (α=1, β=0)            +6.56 dB   +0.024   +2.46 dB
    Berouti, power, α = 2, β = 0.01         +6.57 dB   +0.024   +2.47 dB
    wiener, decision-directed, a = 0.98     +6.45 dB   +0.002   +2.35 dB
    mmse_lsa, decision-directed, a = 0.98   +6.57 dB   +0.003   +2.47 dB
    wiener, decision-directed, a = 0.95     +7.52 dB   +0.016   +3.42 dB
    mmse_lsa, TSNR + look-ahead             +8.13 dB   +0.026   +4.03 dB
    frames of 32 ms, hop n_fft/4            +7.43 dB   +0.017   +3.33 dB
    hop n_fft/4                             +8.24 dB   +0.024   +4.14 dB
    hop n_fft/2                             +7.98 dB   +0.019   +3.88 dB
    max_reduction_db 20                     +8.10 dB   +0.024   +4.00 dB
    max_reduction_db None                   +8.23 dB   +0.022   +4.13 dB
    time_smoothing_ms 30                    +6.99 dB   +0.019   +2.89 dB
    freq_smoothing_hz 100                   +3.46 dB   +0.009   −0.64 dB
    adaptive (MCRA, no profile)             +6.96 dB   +0.018   +2.86 dB
    ======================================  =========  =======  ==============

    The hop of ``n_fft/3`` measures as well as ``n_fft/4`` for 25 % less work.
    ``spectral_floor`` from 0.0003 to 0.03 changes nothing measurable; 0.003 is
    Cappé's −25 dB. The ``max_reduction_db`` of 30 dB costs 0.08 dB here and
    bounds the artefacts on real material. On the held-out set of
    ``bench_denoise.py --held-out`` (other voices, sentences, rates of 16,
    22.05, 44.1 and 48 kHz, other noise draws) the defaults measure +9.33 dB
    SI-SDR, +5.90 dB and +0.012 STOI over noisereduce. With the talkers in a
    room (``--reverb 6``: RT60 0.4 s, direct-to-reverberant ratio 6 dB) the
    margin shrinks to +3.69 dB on the benchmark clips and +5.63 dB on the
    held-out ones (STOI +0.007, +0.012): the gain attenuates the weak
    reverberant tails as if they were noise. Ideas measured with
    ``benchmarks/denoise_variants.py`` (benchmark / held-out, against these
    defaults without look-ahead): look-ahead as here +0.15/+0.18 dB
    (adopted); a third TSNR step alone +0.05/+0.08 dB; the larger of a
    forward and a backward recursion +0.18/+0.21 dB (not adopted: it needs
    the whole file, so it cannot stream). Rejected: speech-presence-weighted
    gain −0.13/−0.15 dB; SPP noise tracking from the
    profile (Gerkmann & Hendriks 2012) −0.81 to −1.64 dB; harmonic
    regeneration (HRNR) −0.58/−0.75 dB; a noise profile smoothed over 3 or 5
    bins −0.16 to −0.40 dB; and (``bench_denoise.py --set``) 96 ms frames
    +0.01 dB, 128 ms −0.07 dB. Speed: 60 s of stereo 48 kHz in 0.094 s (636×
    realtime), 12.8× faster than noisereduce's stationary mode in the same
    run (2 cores; three threads: analysis, gains, synthesis).

    **Latency and streaming.** The output is delayed by L = ``n_fft − 1``
    samples, ``n_fft − 1 + hop`` with ``lookahead`` (the base class removes
    the delay). When the noise comes from a region of
    the audio itself, a stream cannot know it before the region has passed:

    - *not fitted*: :meth:`latency_for` adds the region's end and
      :meth:`process_block` holds the audio back until the region is complete,
      learns the profile, then processes the backlog. Streamed output equals
      the whole-buffer output exactly, at the cost of buffering the region.
    - *fitted*: ``render`` calls :meth:`fit` in a pre-pass (``needs_fit``); it
      reads only the region from the blocks and stops, so the latency is just
      L. :meth:`_unfit` forgets that profile, never one given with
      ``noise_clip``, ``noise_profile`` or :meth:`load_profile`.
    - ``noise_clip``, ``noise_profile`` and ``adaptive`` need no region: the
      latency is L from the start.

    Audio that ends before its region does learns from what there is of it. A
    region that is not steady noise (its loudest 50 ms more than
    :data:`UNSTEADY_REGION_DB` above its quietest tenth, see
    :func:`region_unsteadiness_db`) draws a warning: it probably holds speech or
    music, which the profile would then remove too.

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
    .. [5] C. Plapous, C. Marro, P. Scalart, "Improved signal-to-noise ratio
       estimation for speech enhancement", IEEE TASLP 14(6), 2006.
    .. [6] I. Cohen, B. Berdugo, "Noise estimation by minima controlled
       recursive averaging for robust speech enhancement", IEEE SPL 9(1), 2002.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> rng = np.random.default_rng(0)
    >>> noisy = (0.01 * rng.standard_normal(48000 * 3)).astype(np.float32)
    >>> denoise = cfx.SpectralSubtraction(noise_seconds=1.0)
    >>> clean = denoise(noisy, 48000)                  # learns the first second
    >>> denoise.save_profile("/tmp/room.npz")          # reuse it on the next take
    >>> next_take = cfx.SpectralSubtraction(max_reduction_db=12).load_profile("/tmp/room.npz")
    >>> next_take.latency_for(48000)                   # nothing to wait for
    4095
    """

    needs_fit = True

    method = Param("wiener", kind=str, choices=METHODS, help="Gain rule (see the Notes).")
    two_step = Param(True, kind=bool, help="Two-step (TSNR) a-priori SNR for wiener and mmse_lsa.")
    lookahead = Param(
        True,
        kind=bool,
        help="Average the two-step SNR with the next frame's (one hop more latency; not with adaptive).",
    )
    dd_weight = Param(
        0.95, minimum=0.0, maximum=1.0, help="Weight a of the previous frame in the a-priori SNR."
    )
    n_fft = Param(
        None,
        kind=int,
        nullable=True,
        minimum=16,
        maximum=1 << 16,
        help="STFT frame length in samples; None is about 64 ms.",
    )
    hop = Param(
        None,
        kind=int,
        nullable=True,
        minimum=1,
        maximum=1 << 15,
        help="STFT hop in samples, dividing n_fft, at most n_fft/2; None is n_fft/3.",
    )
    window = Param("hann", kind=str, choices=("hann", "hamming"), help="STFT analysis window.")
    noise_seconds = Param(
        1.0,
        unit="s",
        minimum=0.0,
        maximum=24 * 3600.0,
        exclusive_minimum=True,
        help="Length of the noise-only region, from noise_start_s.",
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
    noise_clip = Param(None, kind=object, nullable=True, help="Noise-only audio: an array or a file path.")
    noise_clip_sample_rate = Param(
        None,
        unit="Hz",
        nullable=True,
        minimum=0.0,
        exclusive_minimum=True,
        help="Sample rate of an array noise_clip; None is the audio's rate.",
    )
    noise_profile = Param(
        None, kind=object, nullable=True, help="A NoiseProfile, or the path of a saved profile."
    )
    adaptive = Param(False, kind=bool, help="Track the noise (MCRA) instead of learning a region.")
    oversubtraction = Param(
        1.0,
        minimum=0.0,
        maximum=20.0,
        exclusive_minimum=True,
        help="Over-subtraction factor alpha on the noise estimate.",
    )
    spectral_floor = Param(
        0.003,
        minimum=0.0,
        maximum=1.0,
        help="Spectral floor beta (subtraction) or a-priori SNR floor (wiener, mmse_lsa).",
    )
    domain = Param(
        "magnitude", kind=str, choices=("magnitude", "power"), help="Subtract magnitudes or powers."
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
        0.0, unit="ms", minimum=0.0, maximum=10000.0, help="Time constant of the gain smoother."
    )
    freq_smoothing_hz = Param(
        0.0, unit="Hz", minimum=0.0, maximum=20000.0, help="Width of the gain smoother in Hz."
    )
    linked = Param(True, kind=bool, help="One profile and gain for all channels (keeps the image).")

    _CHECKED = ("n_fft", "hop", "noise_start_s", "noise_end_s", "noise_profile", "noise_clip")

    def __init__(self, **params: Any) -> None:
        self._ready = False
        self._fitted: NoiseProfile | None = None
        self._learned: NoiseProfile | None = None
        self._loaded: tuple[Any, NoiseProfile] | None = None
        self._clip_cache: tuple[Any, NoiseProfile] | None = None
        super().__init__(**params)
        self._ready = True
        self._check_combination()

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in self._CHECKED and self.__dict__.get("_ready"):
            self._check_combination()

    def _check_combination(self) -> None:
        """Checks across parameters, run whenever one of them is set (after the constructor)."""
        n_fft, hop = self.n_fft, self.hop
        if hop is not None and n_fft is None:
            # The automatic n_fft depends on the rate, so a hop alone is checkable only at render.
            raise ParameterError(f"hop={hop} needs n_fft too (a hop must divide it): give both, e.g. "
                                 f"n_fft={4 * hop}, hop={hop}")
        if n_fft is not None and n_fft % 2:
            raise ParameterError(f"n_fft={n_fft} must be even: use {n_fft + 1}")
        if n_fft is not None and hop is not None and (n_fft % hop or hop > n_fft // 2):
            raise ParameterError(
                f"hop={hop} must divide n_fft={n_fft} and be at most n_fft/2: use e.g. {n_fft // 4}"
            )
        if n_fft is not None and hop is not None and n_fft // hop > MAX_OVERLAP:
            # The work per sample grows with n_fft/hop: bound it (the default overlap is 3).
            raise ParameterError(
                f"hop={hop} is too small for n_fft={n_fft}: use at least n_fft/{MAX_OVERLAP} = "
                f"{max(1, n_fft // MAX_OVERLAP)}"
            )
        end = self.noise_end_s
        if end is not None and end <= self.noise_start_s:
            raise ParameterError(
                f"noise_end_s={end:g} s must be after noise_start_s={self.noise_start_s:g} s"
            )
        self._profile_param()  # a bad path or type fails now, not at the first block
        self._check_clip()

    def _check_clip(self) -> None:
        """A ``noise_clip`` that cannot be audio (a number, a missing file) fails now, not at the render."""
        clip = self.noise_clip
        if clip is None:
            return
        if isinstance(clip, (str, os.PathLike)):
            from ..audio_io import open_audio

            open_audio(clip, what="noise clip")  # like a missing noise_profile: an AudioFileError now
            return
        try:
            array = np.asarray(clip)
            usable = array.ndim in (1, 2) and array.size > 0 and array.dtype.kind in "iuf"
        except (TypeError, ValueError):
            usable = False
        if not usable:
            raise ParameterError(
                f"noise_clip must be an audio array (1-D, or 2-D channels and samples) or a file path, "
                f"not {type(clip).__name__} {str(clip)[:40]}"
            )

    # ------------------------------------------------------------------ STFT geometry
    def stft_size(self, sample_rate: float) -> tuple[int, int]:
        """``(n_fft, hop)`` used at ``sample_rate``, with the None defaults resolved."""
        n_fft = self.n_fft
        if n_fft is None:
            # A multiple of 2·AUTO_OVERLAP (an even hop), 5-smooth for a fast FFT.
            step = 2 * AUTO_OVERLAP
            size = max(2, math.ceil(AUTO_FRAME_S * sample_rate / step))
            n_fft = step * _fft.next_fast_len(size, real=True)
        hop = self.hop
        if hop is None:
            hop = n_fft // next((o for o in (AUTO_OVERLAP, 4, 2) if n_fft % o == 0), 2)
        elif n_fft % hop or hop > n_fft // 2 or n_fft // hop > MAX_OVERLAP:  # a hop for the automatic n_fft
            raise ParameterError(
                f"hop={hop} does not fit n_fft={n_fft} (chosen for {sample_rate:g} Hz): it must divide "
                f"n_fft, be at most n_fft/2 and at least n_fft/{MAX_OVERLAP}; set n_fft too, or unset hop"
            )
        return n_fft, hop

    def _region(self, sample_rate: float) -> tuple[int, int]:
        start = self.noise_start_s
        end = self.noise_end_s if self.noise_end_s is not None else start + self.noise_seconds
        return round(start * sample_rate), round(end * sample_rate)

    def _has_given_profile(self) -> bool:
        return self.noise_profile is not None or self.noise_clip is not None

    def _needs_region(self) -> bool:
        return not (self.adaptive or self._has_given_profile() or self._fitted is not None)

    def latency_for(self, sample_rate: float) -> int:
        """``n_fft − 1`` (plus ``hop`` with look-ahead), plus the region's end while it is awaited."""
        return self._stft_latency(sample_rate) + (self._region(sample_rate)[1] if self._needs_region() else 0)

    def _ahead_frames(self) -> int:
        """1 when the gain looks one frame ahead (see ``lookahead``), else 0."""
        tsnr = self.method != "subtraction" and self.two_step
        return int(self.lookahead and tsnr and not self.adaptive)

    def _stft_latency(self, sample_rate: float) -> int:
        n_fft, hop = self.stft_size(sample_rate)
        return n_fft - 1 + self._ahead_frames() * hop

    # ------------------------------------------------------------------ profiles
    def _profile_param(self) -> NoiseProfile | None:
        """``noise_profile`` as a NoiseProfile (a path is read once and cached)."""
        given = self.noise_profile
        if given is None or isinstance(given, NoiseProfile):
            return given
        if not isinstance(given, (str, os.PathLike)):
            raise ParameterError(
                f"noise_profile must be a NoiseProfile or a .npz path, not {type(given).__name__}"
            )
        if self._loaded is None or self._loaded[0] != given:
            self._loaded = (given, NoiseProfile.load(given))
        return self._loaded[1]

    def _given_profile(self, sample_rate: float) -> NoiseProfile | None:
        """The profile given up front: ``noise_profile``, else ``noise_clip`` at ``sample_rate``."""
        profile = self._profile_param()
        if profile is not None or self.noise_clip is None:
            return profile
        return self._clip_profile(sample_rate)

    def _clip_profile(self, sample_rate: float) -> NoiseProfile:
        n_fft, hop = self.stft_size(sample_rate)
        clip = self.noise_clip
        key = (id(clip), self.noise_clip_sample_rate, sample_rate, n_fft, hop, self.window)
        if self._clip_cache is not None and self._clip_cache[0] == key:
            return self._clip_cache[1]
        if isinstance(clip, (str, os.PathLike)):
            from ..audio_io import read_all

            audio, clip_rate = read_all(clip, what="noise clip")
        else:
            try:
                audio = as_channels_first(np.asarray(clip, dtype=np.float64).astype(np.float32))[0]
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"noise_clip must be an audio array or a file path ({exc})") from None
            clip_rate = self.noise_clip_sample_rate or sample_rate
        audio = _resample(audio, clip_rate, sample_rate)
        profile = estimate_noise_profile(audio, sample_rate, n_fft, hop, self.window)
        self._clip_cache = (key, profile)
        return profile

    def _learn(self, region: np.ndarray, sample_rate: float) -> NoiseProfile:
        n_fft, hop = self.stft_size(sample_rate)
        if region.shape[1] == 0:
            warnings.warn(
                "SpectralSubtraction: the noise region lies outside the audio, so nothing is "
                "removed; set noise_start_s/noise_end_s inside it or give a noise_clip",
                stacklevel=4,
            )
        jump = region_unsteadiness_db(region, sample_rate)
        if jump > UNSTEADY_REGION_DB:
            start, end = self._region(sample_rate)
            warnings.warn(
                f"SpectralSubtraction: the noise region {start / sample_rate:g}-{end / sample_rate:g} s "
                f"is not steady (its loudest 50 ms is {jump:.0f} dB above its quiet ones), so it probably "
                "holds speech, music or a click, which will be removed too; set noise_start_s/"
                "noise_end_s to a noise-only stretch, give a noise_clip, or use adaptive=True",
                stacklevel=4,
            )
        return estimate_noise_profile(region, sample_rate, n_fft, hop, self.window)

    def fit(self, blocks: Iterable[np.ndarray], sample_rate: float) -> None:
        """Learn the noise profile from the region, reading only as many blocks as it needs.

        Parameters
        ----------
        blocks : iterable of numpy.ndarray
            ``(channels, n)`` blocks of the audio, in order, as ``render``
            passes them. Iteration stops once the region has passed.
        sample_rate : float
            Their sample rate.
        """
        if self.adaptive or self._has_given_profile():
            return
        start, end = self._region(sample_rate)
        parts, pos, channels = [], 0, 1
        for block in blocks:
            block = np.atleast_2d(np.asarray(block, dtype=np.float32))
            channels = block.shape[0]
            lo, hi = max(start - pos, 0), min(end - pos, block.shape[1])
            if hi > lo:
                parts.append(block[:, lo:hi])
            pos += block.shape[1]
            if pos >= end:
                break
        region = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)
        self._fitted = self._learn(region, sample_rate)

    def _unfit(self) -> None:
        self._fitted = None

    def profile(self) -> NoiseProfile | None:
        """The profile in use: given, fitted, or learned by the last stream (None if none yet)."""
        given = self._profile_param()
        if given is not None:
            return given
        if self.noise_clip is not None and self._clip_cache is not None:
            return self._clip_cache[1]
        return self._fitted or self._learned

    def save_profile(self, path: str | os.PathLike) -> None:
        """Save the profile in use to a ``.npz`` file, for :meth:`load_profile`.

        Raises
        ------
        ClarityError
            When there is no profile yet.
        """
        profile = self.profile()
        if profile is None:
            raise ClarityError(
                "no noise profile to save yet: process some audio, call fit(), or give a noise_clip"
            )
        profile.save(path)

    def load_profile(self, path: str | os.PathLike) -> SpectralSubtraction:
        """Use the profile saved at ``path`` (sets ``noise_profile``); returns ``self``.

        A profile learned at another sample rate or frame length is
        interpolated on the frequency axis.
        """
        self.noise_profile = NoiseProfile.load(path)
        return self

    # ------------------------------------------------------------------ streaming
    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        # The output does not depend on block sizes; big blocks amortise the per-block work.
        return super()._process_whole(audio, sample_rate, max(buffer_size, WHOLE_BLOCK))

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        # Streamed blocks are run whole too (not in buffer_size pieces): the output does not
        # depend on block sizes, and a long block fills the three-thread STFT pipeline.
        super()._start(sample_rate, channels, max(buffer_size, WHOLE_BLOCK))

    def _begin(self, state: StreamState) -> None:
        n_fft, hop = self.stft_size(state.sample_rate)
        state.n_fft, state.hop = n_fft, hop
        state.waiting = self._needs_region()
        # Silence paid out while the region is awaited; then the STFT's own latency.
        state.zeros_owed = self.latency_for(state.sample_rate) - self._stft_latency(state.sample_rate)
        state.ahead = self._ahead_frames()
        state.backlog = []
        w = analysis_window(self.window, n_fft)
        state.w = w.astype(np.float32)
        state.ws = synthesis_window(w, hop).astype(np.float32)
        # WOLA memories: n_fft − hop zeros stand for the time before the stream.
        state.fifo = np.zeros((state.channels, n_fft - hop), np.float32)
        state.acc = np.zeros((state.channels, n_fft - hop), np.float32)
        state.discard = n_fft - hop
        # y[−L .. −1], L = the STFT's latency: n_fft − 1, and a hop more with look-ahead.
        state.pending = np.zeros((state.channels, self._stft_latency(state.sample_rate)), np.float32)
        state.kernel_state = None

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "fifo" not in state:
            self._begin(state)
        n = block.shape[1]
        if state.waiting:
            state.backlog.append(block)
            start, end = self._region(state.sample_rate)
            if "input_end" in state:
                end = min(end, state.input_end)
            if state.position + n >= end:
                audio = np.concatenate(state.backlog, axis=1)
                self._learned = self._learn(audio[:, min(start, end) : end], state.sample_rate)
                state.waiting, state.backlog = False, []
                self._run_stft(audio, state)
        else:
            self._run_stft(block, state)
        if state.zeros_owed == 0:  # the usual case: hand out finished samples as they are
            out, state.pending = state.pending[:, :n], state.pending[:, n:]
            return out
        out = np.zeros((state.channels, n), np.float32)
        z = min(state.zeros_owed, n)
        state.zeros_owed -= z
        if n > z:
            out[:, z:] = state.pending[:, : n - z]
            state.pending = state.pending[:, n - z :]
        return out

    def _settings(self, state: StreamState) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's settings as its two arrays, ``fset`` (floats) and ``iset`` (ints)."""
        k = _kernels()  # the slots of the two arrays are named there
        frame_s = state.hop / state.sample_rate

        def pole(tau_s: float) -> float:
            return math.exp(-frame_s / tau_s) if tau_s > 0 else 0.0

        g_min = 0.0 if self.max_reduction_db is None else 10 ** (-self.max_reduction_db / 20)
        fset = np.zeros(8)
        fset[k.F_ALPHA], fset[k.F_BETA] = self.oversubtraction, self.spectral_floor
        fset[k.F_GMIN], fset[k.F_CTIME] = g_min, pole(self.time_smoothing_ms / 1000)
        fset[k.F_AS], fset[k.F_AD] = pole(MCRA_TAU_S_S), pole(MCRA_TAU_D_S)
        fset[k.F_AP] = pole(MCRA_TAU_P_S)
        fset[k.F_DD] = self.dd_weight
        iset = np.zeros(8, np.int64)
        iset[k.I_METHOD] = _METHOD_CODE[self.method]
        iset[k.I_POWER] = 1 if self.domain == "magnitude" else 2
        iset[k.I_HALF] = int(round(self.freq_smoothing_hz * state.n_fft / state.sample_rate)) // 2
        iset[k.I_ADAPTIVE] = int(self.adaptive)
        iset[k.I_WINDOW] = max(1, round(MCRA_WINDOW_S / frame_s))
        iset[k.I_WARMUP] = state.n_fft // state.hop  # frames that overlap the stream's start
        iset[k.I_TWO_STEP] = int(self.two_step)
        iset[k.I_AHEAD] = state.ahead
        return fset, iset

    def _apply_gains(self, spectra: np.ndarray, state: StreamState) -> np.ndarray:
        """Multiply ``(channels, frames, bins)`` spectra by their gains in place; return them."""
        channels, frames, bins = spectra.shape
        rows = 1 if self.linked else channels
        if state.kernel_state is None:
            state.kernel_state = {
                "noise": np.zeros((2, rows, bins)),
                "prev_a2": np.zeros((rows, bins)),
                "prev_gain": np.ones((rows, bins)),
                "mcra": np.zeros((4, rows, bins)),
                "counters": np.zeros(1, np.int64),
            }
        ks = state.kernel_state
        k = _kernels()
        profile = self._given_profile(state.sample_rate) or self._fitted or self._learned
        fset, iset = self._settings(state)
        if profile is not None and (not self.adaptive or ks["counters"][0] == 0):
            # The fixed profile (or the tracker's start), channel-averaged when linked. It is the
            # same for every block of a stream, so it is interpolated once.
            if ks.get("profile") is profile:
                iset[k.I_WARMUP] = 0
                return self._run_kernel(spectra, ks, rows, fset, iset)
            ks["profile"] = profile
            power, magnitude = profile.for_stft(state.sample_rate, state.w.astype(np.float64))
            if power.shape[0] not in (1, channels) and rows > 1:
                raise ClarityError(
                    f"the noise profile has {power.shape[0]} channels for {channels}-channel "
                    "audio; use linked=True or a profile learned from this channel layout"
                )
            if rows == 1:
                power, magnitude = power.mean(axis=0), magnitude.mean(axis=0)
            ks["noise"][0] = power
            ks["noise"][1] = magnitude
            iset[k.I_WARMUP] = 0  # the tracker starts from the profile, not from the first frames
        return self._run_kernel(spectra, ks, rows, fset, iset)

    def _gains_into(self, spectra: np.ndarray, state: StreamState) -> None:
        """Apply the gains to ``spectra`` in place, keeping a copy for :meth:`spectral_gains`.

        With look-ahead the last frame of ``spectra`` only informs the others' gains.
        """
        original = spectra[:, : spectra.shape[1] - state.ahead].copy() if "collect" in state else None
        gains = self._apply_gains(spectra, state)
        if original is not None:
            state.collect.append((original, gains))

    def _run_kernel(self, spectra: np.ndarray, ks: dict, rows: int, fset: np.ndarray,
                    iset: np.ndarray) -> np.ndarray:
        k = _kernels()
        _, frames, bins = spectra.shape
        gains = np.empty((rows, frames - iset[k.I_AHEAD], bins), np.float32)
        k.gain_kernel(
            spectra,
            ks["noise"],
            gains,
            ks["prev_a2"],
            ks["prev_gain"],
            ks["mcra"],
            ks["counters"],
            fset,
            iset,
            k.lsa_table() if iset[k.I_METHOD] == _METHOD_CODE["mmse_lsa"] else k.NO_TABLE,
        )
        return gains

    def _run_stft(self, audio: np.ndarray, state: StreamState) -> None:
        """Push samples through the WOLA STFT; the finished output goes to ``state.pending``.

        Long runs of frames go through a three-stage pipeline in chunks of
        :data:`PIPELINE_FRAMES`: one worker thread windows and transforms chunk
        i + 1, this thread computes the gains of chunk i, and a second worker
        inverse-transforms and overlap-adds chunk i − 1. All three stages
        release the GIL; the result does not depend on the chunking.
        """
        n_fft, hop, ahead = state.n_fft, state.hop, state.ahead
        fifo = np.concatenate([state.fifo, audio], axis=1)
        # Frames that get their gain now; with look-ahead the next frame must be there too.
        frames = (fifo.shape[1] - n_fft) // hop + 1 - ahead if fifo.shape[1] >= n_fft else 0
        if frames <= 0:
            state.fifo = fifo
            return
        channels = fifo.shape[0]
        framed = _frames(fifo, n_fft, hop)
        out = np.zeros((channels, (frames - 1) * hop + n_fft), np.float32)
        out[:, : n_fft - hop] = state.acc

        def analyse(a: int, b: int) -> np.ndarray:
            return _fft.rfft(framed[:, a : b + ahead] * state.w, axis=-1, workers=1)

        overlap_add = _kernels().overlap_add

        def synthesise(spectra: np.ndarray, a: int) -> None:
            y = _fft.irfft(spectra[:, : spectra.shape[1] - ahead], n_fft, axis=-1, workers=1)
            overlap_add(y, state.ws, out[:, a * hop :], hop)

        chunks = [(a, min(a + PIPELINE_FRAMES, frames)) for a in range(0, frames, PIPELINE_FRAMES)]
        if len(chunks) == 1:
            spectra = analyse(0, frames)
            self._gains_into(spectra, state)
            synthesise(spectra, 0)
        else:
            analysis, synthesis = _pools()
            upcoming = analysis.submit(analyse, *chunks[0])
            behind: list[Any] = []
            try:
                for i, (a, _) in enumerate(chunks):
                    spectra = upcoming.result()
                    if i + 1 < len(chunks):
                        upcoming = analysis.submit(analyse, *chunks[i + 1])
                    self._gains_into(spectra, state)
                    if len(behind) >= 2:  # at most two chunks of spectra wait for synthesis
                        behind.pop(0).result()
                    behind.append(synthesis.submit(synthesise, spectra, a))
            finally:
                upcoming.result()
                for future in behind:
                    future.result()
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
            ``(channels, frames, n_fft // 2 + 1)`` complex: frame ``m`` is the
            DFT of ``w·x`` over samples ``m·hop − (n_fft − hop)`` to
            ``m·hop + hop − 1`` (zeros before the start).
        gains : numpy.ndarray
            ``(1 or channels, frames, bins)``: the output frame is ``spectra·gains``.
        """
        audio = as_channels_first(audio)[0]
        self.reset()
        self._start_stream(float(sample_rate), audio.shape[0], WHOLE_BLOCK)
        state = self._state
        assert state is not None
        self._begin(state)
        state.collect = []
        self._push(audio)
        self._finish()
        self.reset()
        spectra = np.concatenate([s for s, _ in state.collect], axis=1)
        gains = np.concatenate([g for _, g in state.collect], axis=1)
        return spectra, gains
