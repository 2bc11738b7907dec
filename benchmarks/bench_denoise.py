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
best of three, measured in the same run.

Usage::

    python benchmarks/bench_denoise.py            # full table, about 2 minutes
    python benchmarks/bench_denoise.py --quick    # fewer clips and SNRs
    python benchmarks/bench_denoise.py --set method=wiener --set n_fft=1024
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
        level_db = 4 * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6.3)) * np.sin(
            2 * np.pi * 0.29 * t + rng.uniform(0, 6.3)
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


def make_cases(clips: tuple, snrs: tuple, seed: int = 1) -> list[Case]:
    """Every clip × noise × SNR, noise scaled on the speech part."""
    rng = np.random.default_rng(seed)
    cases = []
    for rate, voice, take in clips:
        clean = clean_speech(rate, voice, take).astype(np.float64)
        lead = int(LEAD_IN_S * rate)
        for kind in NOISES:
            noise = make_noise(kind, lead + clean.size, rate, rng)
            speech_power = np.mean(clean**2)
            for snr in snrs:
                scaled = noise * np.sqrt(speech_power / 10 ** (snr / 10) / np.mean(noise[lead:] ** 2))
                noisy = scaled.copy()
                noisy[lead:] += clean
                cases.append(
                    Case(f"{voice}/{take}@{rate // 1000}k", rate, kind, snr, clean, noisy.astype(np.float32), lead)
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
def speed(denoiser: Denoiser, seconds: float = 60.0, rate: int = 48000, repeats: int = 3) -> float:
    """Best wall time of ``denoiser`` on ``seconds`` of noisy stereo speech at ``rate``."""
    rng = np.random.default_rng(7)
    audio = long_speech(rate, seconds, channels=2) + 0.02 * rng.standard_normal((2, int(seconds * rate)))
    audio = audio.astype(np.float32)
    denoiser(audio[:, : rate * 2], rate)  # warm-up: numba compile, FFT plans
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        denoiser(audio, rate)
        best = min(best, time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------- report
def table(cases: list[Case], base: np.ndarray, results: dict[str, np.ndarray]) -> str:
    """Mean improvements per noise type and overall, one column pair per denoiser."""
    names = list(results)
    head = f"{'noise':<10}" + "".join(f"{n + ' ΔSI-SDR':>22}{n + ' ΔSTOI':>18}" for n in names)
    lines = [head, "-" * len(head)]
    groups = [(kind, [c.noise == kind for c in cases]) for kind in NOISES]
    groups += [(f"{snr:g} dB", [c.snr_db == snr for c in cases]) for snr in sorted({c.snr_db for c in cases})]
    groups.append(("overall", [True] * len(cases)))
    for label, mask in groups:
        mask = np.array(mask)
        if label.endswith("dB") and lines[-1][0] != "-" and not lines[-1].endswith("dB-"):
            pass
        row = f"{label:<10}"
        for n in names:
            gain = (results[n] - base)[mask].mean(axis=0)
            row += f"{gain[0]:>+20.2f}dB{gain[1]:>+18.3f}"
        lines.append(row)
        if label in (NOISES[-1],) or label.endswith("dB") and label == f"{max(c.snr_db for c in cases):g} dB":
            lines.append("-" * len(head))
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two clips, two SNRs, 20 s speed test")
    parser.add_argument("--set", action="append", default=[], help="a SpectralSubtraction parameter: key=value")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    args = parser.parse_args(argv)
    params = parse_sets(args.set)

    started = time.perf_counter()
    clips, snrs = (QUICK_CLIPS, QUICK_SNRS_DB) if args.quick else (CLIPS, SNRS_DB)
    cases = make_cases(clips, snrs)
    print(f"{len(cases)} mixtures: {len(clips)} clips × {len(NOISES)} noises × SNR {snrs} dB")
    print(f"ours: SpectralSubtraction({', '.join(f'{k}={v!r}' for k, v in params.items())})")
    base = noisy_scores(cases)
    results = {"ours": score(cases, ours(**params)), "noisereduce": score(cases, noisereduce_stationary)}
    print(f"\nMean improvement over the noisy input (noisy: SI-SDR {base[:, 0].mean():.2f} dB, "
          f"STOI {base[:, 1].mean():.3f})")
    print(table(cases, base, results))
    diff = (results["ours"] - results["noisereduce"]).mean(axis=0)
    print(f"ours − noisereduce: SI-SDR {diff[0]:+.2f} dB, STOI {diff[1]:+.3f}")

    if not args.no_speed:
        seconds = 20.0 if args.quick else 60.0
        t_ours = speed(ours(**params), seconds)
        t_nr = speed(noisereduce_stationary, seconds)
        print(f"\nSpeed on {seconds:g} s stereo 48 kHz: ours {t_ours:.3f} s ({seconds / t_ours:.0f}× realtime), "
              f"noisereduce {t_nr:.3f} s ({seconds / t_nr:.0f}× realtime): ours is {t_nr / t_ours:.1f}× faster")
    print(f"\nbenchmark ran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
