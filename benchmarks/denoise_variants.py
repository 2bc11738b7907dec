"""A-priori SNR and noise-estimate variants of SpectralSubtraction, measured offline.

``bench_denoise.py --compare`` scores settings the processor has. This script
scores ideas it does *not* have, to show why: each variant recomputes the gains
G(k, m) in numpy from the very STFT and noise profile ``SpectralSubtraction``
uses (``spectral_gains``), and the processor's own WOLA resynthesis applies
them. The baseline is ``SpectralSubtraction(lookahead=False)``, the two-step
decision-directed Wiener gain; the first row checks the harness (the numpy
re-implementation of that baseline must score what the processor scores),
and the ``lookahead`` row is what the processor's default became.

Scores are the mean SI-SDR improvement over the noisy input, on the benchmark
set of ``bench_denoise.py`` (80 mixtures) and on its held-out set (other voices,
sentences, rates and noise draws, 80 mixtures), as ``variant − baseline``.

Usage::

    python benchmarks/denoise_variants.py            # about 3 minutes on 2 cores
    python benchmarks/denoise_variants.py --only fb_max lookahead
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_denoise as bd  # noqa: E402

from clarity_fx.processors.spectral import SpectralSubtraction, analysis_window  # noqa: E402

#: The processor's defaults: ξ_min = β = 0.003, a = 0.95, G ≥ −30 dB.
BETA, DD_WEIGHT, G_MIN = 0.003, 0.95, 10 ** (-30 / 20)
#: Gerkmann & Hendriks (2012): fixed a-priori SNR under speech presence, 15 dB.
XI_H1 = 10 ** (15 / 10)


def wiener(xi: np.ndarray) -> np.ndarray:
    """``G = ξ/(1 + ξ)`` with ``ξ ≥ β``."""
    xi = np.maximum(xi, BETA)
    return xi / (1 + xi)


def decision_directed(x2: np.ndarray, lam: np.ndarray, a: float = DD_WEIGHT, reverse: bool = False,
                      track_s: float = 0.0, frame_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: DD ξ (Ephraim & Malah 1984) then the TSNR step (Plapous et al. 2006).

    Returns the final gains and ``ξ₂ = G₁²γ`` per frame. ``reverse`` runs the
    recursion backwards in time. ``track_s > 0`` updates the noise after each
    frame with the speech-presence-probability tracker of Gerkmann & Hendriks
    (2012), starting from the profile, with that time constant.
    """
    frames, bins = x2.shape
    gains, xi2 = np.empty((frames, bins)), np.empty((frames, bins))
    prev, lam = np.zeros(bins), lam.copy()
    pole = np.exp(-frame_s / track_s) if track_s > 0 else 0.0
    smoothed_p = np.zeros(bins)
    for m in range(frames - 1, -1, -1) if reverse else range(frames):
        gamma = x2[m] / lam
        g1 = wiener(a * prev / lam + (1 - a) * np.maximum(gamma - 1, 0))
        prev = g1**2 * x2[m]
        xi2[m] = g1**2 * gamma
        gains[m] = wiener(xi2[m])
        if track_s > 0:
            p = 1 / (1 + (1 + XI_H1) * np.exp(-np.minimum(gamma * XI_H1 / (1 + XI_H1), 700)))
            smoothed_p = 0.9 * smoothed_p + 0.1 * p
            p = np.where(smoothed_p > 0.99, np.minimum(p, 0.99), p)
            lam = pole * lam + (1 - pole) * ((1 - p) * x2[m] + p * lam)
    return gains, xi2


def spp_gain(x2: np.ndarray, lam: np.ndarray, **_: object) -> np.ndarray:
    """OM-LSA-style ``G^p · G_min^(1−p)`` with the fixed-prior speech presence probability p."""
    gains, _ = decision_directed(x2, lam)
    p = 1 / (1 + (1 + XI_H1) * np.exp(-np.minimum(x2 / lam * XI_H1 / (1 + XI_H1), 700)))
    return np.maximum(gains, 1e-6) ** p * G_MIN ** (1 - p)


def lookahead(x2: np.ndarray, lam: np.ndarray, **_: object) -> np.ndarray:
    """ξ₂ averaged over frames m and m + 1 (one hop of latency), then one more TSNR step."""
    _, xi2 = decision_directed(x2, lam)
    ahead = np.concatenate([xi2[1:], xi2[-1:]])
    g = wiener(0.5 * (xi2 + ahead))
    return wiener(g**2 * x2 / lam)


def third_step(x2: np.ndarray, lam: np.ndarray, **_: object) -> np.ndarray:
    """A third TSNR step: ``ξ₃ = G₂²γ``."""
    gains, _ = decision_directed(x2, lam)
    return wiener(gains**2 * x2 / lam)


def forward_backward_max(x2: np.ndarray, lam: np.ndarray, **_: object) -> np.ndarray:
    """The larger of the forward and the time-reversed recursion (needs the whole file)."""
    return np.maximum(decision_directed(x2, lam)[0], decision_directed(x2, lam, reverse=True)[0])


def hrnr(x2: np.ndarray, lam: np.ndarray, spectrum: np.ndarray = None, n_fft: int = 0,
         **_: object) -> np.ndarray:
    """Harmonic regeneration (Plapous et al. 2006): ξ from ρ|Ŝ|² + (1 − ρ)|FFT(max(ŝ, 0))|², ρ = G."""
    gains, _ = decision_directed(x2, lam)
    import scipy.fft

    estimate = gains * spectrum
    harmonic = scipy.fft.rfft(np.maximum(scipy.fft.irfft(estimate, n_fft, axis=-1), 0), axis=-1)
    return wiener((gains * np.abs(estimate) ** 2 + (1 - gains) * np.abs(harmonic) ** 2) / lam)


def smoothed_profile(bins_each_side: int) -> Callable[..., np.ndarray]:
    """The baseline with the noise profile averaged over ±``bins_each_side`` bins."""

    def variant(x2: np.ndarray, lam: np.ndarray, **_: object) -> np.ndarray:
        kernel = np.ones(2 * bins_each_side + 1) / (2 * bins_each_side + 1)
        smooth = np.convolve(np.pad(lam, bins_each_side, mode="edge"), kernel, "valid")
        return decision_directed(x2, smooth)[0]

    return variant


def tracked(track_s: float) -> Callable[..., np.ndarray]:
    """The baseline with SPP noise tracking (Gerkmann & Hendriks 2012) from the profile."""

    def variant(x2: np.ndarray, lam: np.ndarray, frame_s: float = 0.0, **_: object) -> np.ndarray:
        return decision_directed(x2, lam, track_s=track_s, frame_s=frame_s)[0]

    return variant


VARIANTS: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "numpy": ("the baseline, re-implemented in numpy (harness check)", lambda x2, lam, **_: (
        decision_directed(x2, lam)[0])),
    "third_step": ("a third TSNR step", third_step),
    "lookahead": ("ξ₂ over frames m, m+1, then a third step (+1 hop latency)", lookahead),
    "fb_max": ("max of forward and backward recursions (whole file)", forward_backward_max),
    "spp_gain": ("speech-presence weighted gain (OM-LSA style)", spp_gain),
    "track_72ms": ("SPP noise tracking from the profile, τ = 72 ms", tracked(0.072)),
    "track_300ms": ("SPP noise tracking from the profile, τ = 300 ms", tracked(0.3)),
    "hrnr": ("harmonic regeneration (HRNR)", hrnr),
    "profile_3bins": ("noise profile averaged over 3 bins", smoothed_profile(1)),
    "profile_5bins": ("noise profile averaged over 5 bins", smoothed_profile(2)),
}


class _FixedGains(SpectralSubtraction):
    """SpectralSubtraction that applies given gains instead of computing them."""

    fixed: np.ndarray

    def _apply_gains(self, spectra: np.ndarray, state: object) -> np.ndarray:
        start = state.frame0 if "frame0" in state else 0
        gains = self.fixed[:, start : start + spectra.shape[1]]
        state.frame0 = start + spectra.shape[1]
        spectra *= gains
        return gains


def _improvement(case: bd.Case, gains: np.ndarray) -> float:
    apply = _FixedGains()
    apply.fixed = np.maximum(gains, G_MIN)[None].astype(np.float32)
    out = apply.process(case.noisy, case.sample_rate)[case.lead :]
    return bd.si_sdr(out, case.clean) - bd.si_sdr(case.noisy[case.lead :], case.clean)


def _score(job: tuple[str, list[str]]) -> dict[str, list[float]]:
    which, names = job
    clips, seed = (bd.HELD_OUT_CLIPS, bd.HELD_OUT_SEED) if which == "held-out" else (bd.CLIPS, 1)
    scores: dict[str, list[float]] = {name: [] for name in ["processor", *names]}
    for case in bd.make_cases(clips, bd.SNRS_DB, seed=seed):
        processor = SpectralSubtraction(lookahead=False)
        spectra, gains = processor.spectral_gains(case.noisy, case.sample_rate)
        n_fft, hop = processor.stft_size(case.sample_rate)
        x2 = np.abs(spectra[0]).astype(np.float64) ** 2
        # The processor's own noise profile, on its own STFT bins.
        profile = processor.profile()
        assert profile is not None
        window = analysis_window(processor.window, n_fft)
        lam = profile.for_stft(case.sample_rate, window)[0][0] * processor.oversubtraction + 1e-30
        scores["processor"].append(_improvement(case, gains[0]))
        for name in names:
            g = VARIANTS[name][1](x2, lam, spectrum=spectra[0], n_fft=n_fft, frame_s=hop / case.sample_rate)
            scores[name].append(_improvement(case, g))
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="score just these variants")
    args = parser.parse_args(argv)
    names = ["numpy", *[n for n in (args.only or VARIANTS) if n != "numpy"]]
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        main_set, held = pool.map(_score, [("benchmark", names), ("held-out", names)])
    base_main, base_held = np.mean(main_set["processor"]), np.mean(held["processor"])
    print(
        f"SpectralSubtraction(lookahead=False): ΔSI-SDR {base_main:+.2f} dB (benchmark), "
        f"{base_held:+.2f} dB (held-out)\n"
    )
    print(f"{'variant':<62}{'benchmark':>11}{'held-out':>11}")
    for name in names:
        d_main = np.mean(main_set[name]) - base_main
        d_held = np.mean(held[name]) - base_held
        print(f"{VARIANTS[name][0]:<62}{d_main:>+8.2f} dB{d_held:>+8.2f} dB")
    print(f"\nran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
