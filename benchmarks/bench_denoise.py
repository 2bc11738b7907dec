"""Noise reduction quality and speed: SpectralSubtraction against noisereduce.

Clean speech (espeak-ng, see ``speech.py``) is mixed with five noises (white,
pink, brown, 50 Hz mains hum with harmonics, slowly modulated noise) at 0, 5,
10 and 20 dB SNR after a 1 s noise-only lead-in. Both denoisers learn the
noise from that first second:

- ours: ``SpectralSubtraction()`` with its defaults,
- noisereduce: ``reduce_noise(y, sr, y_noise=first_second, stationary=True)``.

Reported, on the speech part (after the lead-in), as improvements over the
noisy mix: SI-SDR (Le Roux et al. 2019) and STOI (Taal et al. 2011, pystoi,
which resamples to 10 kHz itself). Speed: both on 60 s of stereo 48 kHz,
best of five, measured in the same run.

Usage::

    python benchmarks/bench_denoise.py              # full table and speed, under 2 minutes
    python benchmarks/bench_denoise.py --quick      # 2 clips, 2 SNRs, 20 s speed test
    python benchmarks/bench_denoise.py --compare    # also the alternatives (about 4 more minutes)
    python benchmarks/bench_denoise.py --held-out   # other voices, sentences, rates and noise draws
    python benchmarks/bench_denoise.py --reverb 6   # talkers in a room (RT60 0.4 s, DRR 6 dB)
    python benchmarks/bench_denoise.py --set method=mmse_lsa --set n_fft=2048
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speech import VOICES, clean_speech, long_speech  # noqa: E402

from clarity_fx.processors.spectral import SpectralSubtraction  # noqa: E402

NOISES = ("white", "pink", "brown", "hum", "modulated")
SNRS_DB = (0, 5, 10, 20)
LEAD_IN_S = 1.0
#: (sample rate, voice, take): two voices at each rate, different sentences at each.
CLIPS = ((16000, VOICES[0], 0), (16000, VOICES[1], 1), (48000, VOICES[1], 0), (48000, VOICES[2], 1))
QUICK_CLIPS = ((16000, VOICES[0], 0), (48000, VOICES[1], 1))
#: ``--held-out``: voices, sentences, rates and noise draws the defaults were never tuned on.
HELD_OUT_CLIPS = (
    (22050, "en-gb-scotland+f2", 2),
    (44100, "en-029+m3", 3),
    (16000, "en-us-nyc+f4", 3),
    (48000, "en-gb-x-rp", 2),
)
HELD_OUT_SEED = 2
QUICK_SNRS_DB = (0, 10)
MAINS_HZ = 50.0

Denoiser = Callable[[np.ndarray, int], np.ndarray]


# --------------------------------------------------------------------------- metrics
def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019).

    ``s_t = (⟨ŝ, s⟩ / ‖s‖²)·s``, ``e = ŝ − s_t``, ``SI-SDR = 10·log10(‖s_t‖² / ‖e‖²)``,
    both signals made zero-mean first.
    """
    s = np.asarray(reference, np.float64) - np.mean(reference)
    e = np.asarray(estimate, np.float64) - np.mean(estimate)
    target = (np.dot(e, s) / np.dot(s, s)) * s
    residual = e - target
    return float(10 * np.log10(np.dot(target, target) / max(np.dot(residual, residual), 1e-30)))


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (pystoi; resamples to 10 kHz internally)."""
    from pystoi import stoi as _stoi

    return float(_stoi(reference, estimate, sample_rate, extended=False))


# --------------------------------------------------------------------------- noises
def _shaped(n: int, sample_rate: int, rng: np.random.Generator, slope: float, corner_hz: float) -> np.ndarray:
    """Gaussian noise with power ∝ 1/f^slope above ``corner_hz`` (flat below)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum /= np.maximum(f, corner_hz) ** (slope / 2)
    out = np.fft.irfft(spectrum, n)
    return out / np.std(out)


def make_noise(kind: str, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise of one of :data:`NOISES`."""
    if kind == "white":
        out = rng.standard_normal(n)
    elif kind == "pink":
        out = _shaped(n, sample_rate, rng, 1.0, 20.0)
    elif kind == "brown":
        out = _shaped(n, sample_rate, rng, 2.0, 20.0)
    elif kind == "hum":
        # Mains hum: 50 Hz and harmonics to 2 kHz, amplitudes ~1/k (odd ones stronger),
        # random phases, a slight wobble of the mains frequency, plus a little hiss.
        t = np.arange(n) / sample_rate
        drift = 0.05 * np.sin(2 * np.pi * 0.1 * t)  # ±0.05 Hz
        phase = 2 * np.pi * np.cumsum(MAINS_HZ + drift) / sample_rate
        out = np.zeros(n)
        for k in range(1, int(2000 / MAINS_HZ) + 1):
            amp = (1.0 if k % 2 else 0.5) / k
            out += amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        out /= np.std(out)
        out += 10 ** (-30 / 20) * rng.standard_normal(n)
    elif kind == "modulated":
        # Pink noise whose level wanders slowly (±4 dB at 0.1 to 0.3 Hz), like a fan or traffic.
        t = np.arange(n) / sample_rate
        level_db = (
            4
            * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6.3))
            * np.sin(2 * np.pi * 0.29 * t + rng.uniform(0, 6.3))
        )
        out = _shaped(n, sample_rate, rng, 1.0, 20.0) * 10 ** (level_db / 20)
    else:
        raise ValueError(f"unknown noise {kind!r}")
    return out / np.std(out)


@dataclass
class Case:
    """One noisy mixture: ``noisy = [lead-in noise | clean + noise]`` at ``snr_db``."""

    clip: str
    sample_rate: int
    noise: str
    snr_db: float
    clean: np.ndarray
    noisy: np.ndarray
    lead: int


def room_response(rate: int, rt60_s: float, drr_db: float, seed: int) -> np.ndarray:
    """A synthetic room: a direct path, then a diffuse exponential tail from 2 ms on.

    The tail is Gaussian noise decaying by 60 dB over ``rt60_s``, with its energy
    ``drr_db`` below the direct path's (the direct-to-reverberant ratio).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(rt60_s * rate)) / rate
    h = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60_s)
    h[: int(0.002 * rate)] = 0.0
    h *= np.sqrt(10 ** (-drr_db / 10) / np.sum(h**2))
    h[0] = 1.0
    return h


def make_cases(clips: tuple, snrs: tuple, seed: int = 1, reverb_drr_db: float | None = None) -> list[Case]:
    """Every clip × noise × SNR, noise scaled on the speech part.

    ``reverb_drr_db`` puts the talker in a room first (RT60 0.4 s, that
    direct-to-reverberant ratio); the reverberant speech is then the reference.
    """
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    cases = []
    for rate, voice, take in clips:
        clean = clean_speech(rate, voice, take).astype(np.float64)
        if reverb_drr_db is not None:
            wet = fftconvolve(clean, room_response(rate, 0.4, reverb_drr_db, seed=take + 7))[: clean.size]
            clean = 0.5 * wet / np.abs(wet).max()
        lead = int(LEAD_IN_S * rate)
        for kind in NOISES:
            noise = make_noise(kind, lead + clean.size, rate, rng)
            speech_power = np.mean(clean**2)
            for snr in snrs:
                scaled = noise * np.sqrt(speech_power / 10 ** (snr / 10) / np.mean(noise[lead:] ** 2))
                noisy = scaled.copy()
                noisy[lead:] += clean
                cases.append(
                    Case(
                        f"{voice}/{take}@{rate // 1000}k",
                        rate,
                        kind,
                        snr,
                        clean,
                        noisy.astype(np.float32),
                        lead,
                    )
                )
    return cases


# --------------------------------------------------------------------------- denoisers
def ours(**params: object) -> Denoiser:
    """``SpectralSubtraction(**params)`` as a function of (noisy, rate)."""
    processor = SpectralSubtraction(**params)
    return lambda noisy, rate: processor.process(noisy, rate)


def noisereduce_stationary(noisy: np.ndarray, rate: int) -> np.ndarray:
    """The reference: noisereduce's stationary spectral gating, profile from the first second."""
    import noisereduce

    first_second = noisy[..., : int(rate)]
    return noisereduce.reduce_noise(y=noisy, sr=rate, y_noise=first_second, stationary=True)


def score(cases: list[Case], denoiser: Denoiser) -> np.ndarray:
    """``(cases, 2)``: SI-SDR and STOI of the denoised speech part."""
    out = np.empty((len(cases), 2))
    for i, case in enumerate(cases):
        est = np.asarray(denoiser(case.noisy, case.sample_rate), np.float64)[case.lead :]
        out[i] = si_sdr(est, case.clean), stoi(est, case.clean, case.sample_rate)
    return out


def noisy_scores(cases: list[Case]) -> np.ndarray:
    """Scores of the unprocessed mixtures, the baseline of the improvements."""
    return score(cases, lambda noisy, rate: noisy)


# --------------------------------------------------------------------------- speed
def speed(denoisers: dict[str, Denoiser], seconds: float = 60.0, rate: int = 48000, repeats: int = 5) -> dict:
    """Best wall time of each denoiser on ``seconds`` of noisy stereo speech at ``rate``.

    The denoisers take turns in each repetition, so a busy machine slows them alike.
    """
    rng = np.random.default_rng(7)
    audio = long_speech(rate, seconds, channels=2) + 0.02 * rng.standard_normal((2, int(seconds * rate)))
    audio = audio.astype(np.float32)
    for denoiser in denoisers.values():
        denoiser(audio[:, : rate * 2], rate)  # warm-up: numba compile, FFT plans
    best = dict.fromkeys(denoisers, np.inf)
    for _ in range(repeats):
        for name, denoiser in denoisers.items():
            start = time.perf_counter()
            denoiser(audio, rate)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------- report
def table(cases: list[Case], base: np.ndarray, results: dict[str, np.ndarray]) -> str:
    """Mean improvements over the noisy input: per noise type, per SNR, and overall."""
    names = list(results)
    head = f"{'':<11}" + "".join(f"{name + ' ΔSI-SDR':>22}{name + ' ΔSTOI':>19}" for name in names)
    rule = "-" * len(head)
    groups = [[(kind, [c.noise == kind for c in cases]) for kind in NOISES]]
    groups.append(
        [(f"{snr:g} dB SNR", [c.snr_db == snr for c in cases]) for snr in sorted({c.snr_db for c in cases})]
    )
    groups.append([("overall", [True] * len(cases))])
    lines = [head]
    for group in groups:
        lines.append(rule)
        for label, mask in group:
            row = f"{label:<11}"
            for name in names:
                gain = (results[name] - base)[np.array(mask)].mean(axis=0)
                row += f"{gain[0]:>+19.2f} dB{gain[1]:>+19.3f}"
            lines.append(row)
    return "\n".join(lines)


def parse_sets(items: list[str]) -> dict[str, object]:
    """``["method=wiener", "n_fft=1024"]`` → ``{"method": "wiener", "n_fft": 1024}``."""
    params: dict[str, object] = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            params[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[key] = text
    return params


#: Alternatives measured with ``--compare``: what the defaults were chosen against. A
#: ``by_rate`` entry gives per-rate parameters (16 kHz, 48 kHz).
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "seed formula (subtraction, α=1, β=0)": {
        "method": "subtraction",
        "oversubtraction": 1.0,
        "spectral_floor": 0.0,
        "max_reduction_db": None,
    },
    "Berouti, power, α=2, β=0.01": {
        "method": "subtraction",
        "domain": "power",
        "oversubtraction": 2.0,
        "spectral_floor": 0.01,
    },
    "TSNR without look-ahead": {"lookahead": False},
    "TSNR without look-ahead, hop n_fft/4": {
        "lookahead": False,
        "by_rate": {16000: {"n_fft": 1080, "hop": 270}, 48000: {"n_fft": 3072, "hop": 768}},
    },
    "wiener, decision-directed, a=0.98": {"two_step": False, "dd_weight": 0.98},
    "mmse_lsa, decision-directed, a=0.98": {
        "method": "mmse_lsa",
        "two_step": False,
        "dd_weight": 0.98,
    },
    "wiener, decision-directed, a=0.95": {"two_step": False},
    "mmse_lsa with TSNR": {"method": "mmse_lsa"},
    "frames of 32 ms, hop n_fft/4": {
        "by_rate": {16000: {"n_fft": 512, "hop": 128}, 48000: {"n_fft": 2048, "hop": 512}}
    },
    "hop n_fft/4": {"by_rate": {16000: {"n_fft": 1080, "hop": 270}, 48000: {"n_fft": 3072, "hop": 768}}},
    "hop n_fft/2": {"by_rate": {16000: {"n_fft": 1080, "hop": 540}, 48000: {"n_fft": 3072, "hop": 1536}}},
    "max_reduction_db 20": {"max_reduction_db": 20.0},
    "max_reduction_db None": {"max_reduction_db": None},
    "time_smoothing_ms 30": {"time_smoothing_ms": 30.0},
    "freq_smoothing_hz 100": {"freq_smoothing_hz": 100.0},
    "adaptive (MCRA, no profile)": {"adaptive": True},
}


def ours_for(params: dict[str, Any]) -> Denoiser:
    """Like :func:`ours`, with an optional ``by_rate`` dict of per-rate parameters."""
    params = dict(params)
    by_rate = params.pop("by_rate", {})
    made = {rate: ours(**params, **extra) for rate, extra in by_rate.items()}
    default = ours(**params)
    return lambda noisy, rate: made.get(rate, default)(noisy, rate)


_WORKER_CASES: list[Case] = []


def _score_alternative(job: tuple[tuple, tuple, int, float | None, dict[str, Any]]) -> np.ndarray:
    clips, snrs, seed, reverb, params = job
    if not _WORKER_CASES:
        _WORKER_CASES.extend(make_cases(clips, snrs, seed=seed, reverb_drr_db=reverb))
    return score(_WORKER_CASES, ours_for(params))


def compare(
    clips: tuple,
    snrs: tuple,
    base: np.ndarray,
    reference: np.ndarray,
    seed: int = 1,
    reverb: float | None = None,
) -> None:
    """Score :data:`ALTERNATIVES` (two processes) and print them beside the defaults."""
    from concurrent.futures import ProcessPoolExecutor

    print("\nAlternatives: mean improvement over the noisy input, and over noisereduce")
    jobs = [(clips, snrs, seed, reverb, params) for params in ALTERNATIVES.values()]
    with ProcessPoolExecutor(2) as pool:
        for label, got in zip(ALTERNATIVES, pool.map(_score_alternative, jobs), strict=True):
            d_base, d_ref = (got - base).mean(axis=0), (got - reference).mean(axis=0)
            print(
                f"  {label:<38} ΔSI-SDR {d_base[0]:+6.2f} dB  ΔSTOI {d_base[1]:+.3f}"
                f"   vs noisereduce {d_ref[0]:+6.2f} dB {d_ref[1]:+.3f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two clips, two SNRs, 20 s speed test")
    parser.add_argument(
        "--set", action="append", default=[], help="a SpectralSubtraction parameter: key=value"
    )
    parser.add_argument(
        "--compare", action="store_true", help="also score the alternatives the defaults beat"
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    parser.add_argument(
        "--reverb",
        type=float,
        metavar="DRR_DB",
        help="put the talkers in a room (RT60 0.4 s) with this direct-to-reverberant ratio, e.g. 6",
    )
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="score on clips the defaults were not chosen on (other voices, sentences, rates, noise draws)",
    )
    args = parser.parse_args(argv)
    params = parse_sets(args.set)

    started = time.perf_counter()
    clips, snrs = (QUICK_CLIPS, QUICK_SNRS_DB) if args.quick else (CLIPS, SNRS_DB)
    seed = 1
    if args.held_out:
        clips, seed = HELD_OUT_CLIPS, HELD_OUT_SEED
    cases = make_cases(clips, snrs, seed=seed, reverb_drr_db=args.reverb)
    names = ", ".join(sorted({c.clip for c in cases}))
    print(
        f"{len(cases)} mixtures: {len(clips)} clips ({names}) x {len(NOISES)} noises"
        f" x SNR {', '.join(map(str, snrs))} dB, {LEAD_IN_S:g} s noise-only lead-in"
        + (" (held-out set)" if args.held_out else "")
        + (f", in a room: RT60 0.4 s, DRR {args.reverb:g} dB" if args.reverb is not None else "")
    )
    print(
        f"ours = SpectralSubtraction({', '.join(f'{k}={v!r}' for k, v in params.items())}); "
        "noisereduce = reduce_noise(y, sr, y_noise=first_second, stationary=True)"
    )
    base = noisy_scores(cases)
    results = {
        "ours": score(cases, ours(**params)),
        "noisereduce": score(cases, noisereduce_stationary),
    }
    print(
        f"\nMean improvement on the speech part (noisy input: SI-SDR {base[:, 0].mean():.2f} dB, "
        f"STOI {base[:, 1].mean():.3f})"
    )
    print(table(cases, base, results))
    diff = (results["ours"] - results["noisereduce"]).mean(axis=0)
    print(f"ours - noisereduce: SI-SDR {diff[0]:+.2f} dB, STOI {diff[1]:+.3f}")

    if args.compare:
        compare(clips, snrs, base, results["noisereduce"], seed, args.reverb)

    if not args.no_speed:
        seconds = 20.0 if args.quick else 60.0
        best = speed({"ours": ours(**params), "noisereduce": noisereduce_stationary}, seconds)
        t_ours, t_nr = best["ours"], best["noisereduce"]
        print(
            f"\nSpeed, {seconds:g} s stereo 48 kHz (best of 5, taking turns): "
            f"ours {t_ours:.3f} s ({seconds / t_ours:.0f}x realtime), "
            f"noisereduce {t_nr:.3f} s ({seconds / t_nr:.0f}x realtime): "
            f"ours is {t_nr / t_ours:.1f}x faster"
        )
    print(f"\nbenchmark ran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
