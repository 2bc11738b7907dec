"""TruePeakLimiter: the output's ITU-R BS.1770-4 true peak never exceeds the ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SR, noise, stream
from reference_peak import reference_dbtp, reference_true_peak

from clarity_fx.errors import ParameterError
from clarity_fx.processors.dynamics import TRUE_PEAK_PHASES, true_peak, true_peak_dbtp
from clarity_fx.processors.limiter import SAFETY_MARGIN_DB, TruePeakLimiter

CEILING = -1.0


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise by shaping white noise's spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size)
    spectrum /= np.sqrt(np.maximum(f, 1))
    return np.fft.irfft(spectrum, n)


def to_dbtp(x: np.ndarray, dbtp: float) -> np.ndarray:
    """``x`` scaled so that its true peak is ``dbtp``, float32."""
    return (x * 10 ** (dbtp / 20) / true_peak(x)).astype(np.float32)


def tone(freq: float, n: int, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(n) / SR + phase)


def clipped_master(rng: np.random.Generator, n: int) -> np.ndarray:
    """A brick-walled master: loud 'music' (tones, beats, noise) hard-clipped at 0 dBFS."""
    t = np.arange(n) / SR
    beat = (np.sin(2 * np.pi * 2 * t) > 0.6) * rng.standard_normal(n)
    music = (
        np.sin(2 * np.pi * 110 * t)
        + 0.7 * np.sin(2 * np.pi * 2637 * t)
        + 0.8 * beat
        + 0.3 * pink(n, rng)
    )
    wide = np.stack([music, np.roll(music, 37)]) * 3
    return np.clip(wide, -1.0, 1.0)


def guarantee_cases(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = SR // 2
    over = CEILING + 12  # driven 12 dB over the ceiling
    return {
        "white": to_dbtp(rng.standard_normal((2, n)), over),
        "pink": to_dbtp(np.stack([pink(n, rng), pink(n, rng)]), over),
        # samples at ±0.707 of the crest: +3 dB inter-sample peaks
        "fs/4": to_dbtp(np.stack([tone(SR / 4, n, math.pi / 4)] * 2), CEILING + 6),
        "near fs/4": to_dbtp(
            np.stack([tone(SR / 4 - 50, n, 0.3), tone(SR / 4 + 70, n, 1.0)]), over
        ),
        "near fs/2": to_dbtp(
            np.stack([tone(0.45 * SR, n, 0.2), tone(0.47 * SR, n, 2.0)]), CEILING + 6
        ),
        "clipped master": clipped_master(rng, n).astype(np.float32),
    }


# --------------------------------------------------------------------------- the meter
def test_true_peak_meter_is_bs1770_annex2():
    # Four phases of one symmetric 48-tap low-pass with unity DC gain.
    prototype = TRUE_PEAK_PHASES.T.reshape(-1)
    assert prototype.size == 48 and np.allclose(prototype, prototype[::-1])
    assert np.allclose(TRUE_PEAK_PHASES.sum(axis=1), 1.0, atol=0.03)
    # A low tone is interpolated almost exactly; sampling at ±45° of fs/4
    # shows 0.707 as sample peak, and the meter finds the crest.
    assert true_peak(tone(1000, 4800, 0.3)) == pytest.approx(1.0, abs=1e-3)
    x = tone(SR / 4, 4800, math.pi / 4)
    assert np.abs(x).max() == pytest.approx(math.sqrt(0.5))
    assert true_peak_dbtp(x) == pytest.approx(0.0, abs=0.1)
    # Channels on either axis, and silence.
    assert true_peak(np.stack([x, 0.5 * x]).T) == true_peak(x)
    assert true_peak_dbtp(np.zeros(10)) == -math.inf


# --------------------------------------------------------------------------- the guarantee
def ceiling_cases(rate: int, seed: int = 0, seconds: float = 0.25) -> dict[str, np.ndarray]:
    """The signal classes of issue 14 at ``rate``: music-like, noise, near-Nyquist tones, clipping."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    beat = (np.sin(2 * np.pi * 4 * t) > 0.6) * rng.standard_normal(n)
    music = (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 2637 * t + 1.0) + 0.6 * beat
             + 0.3 * pink(n, rng))
    music = np.stack([music, np.roll(music, 37)])
    near = np.stack([np.sin(2 * np.pi * 0.45 * rate * t + 0.2), np.sin(2 * np.pi * 0.47 * rate * t + 2.0)])
    return {
        "music +9 dB": to_dbtp(music, CEILING + 9),
        "white σ 0.5": (0.5 * rng.standard_normal((2, n))).astype(np.float32),
        "0.45/0.47 fs": to_dbtp(near, CEILING + 6),
        "clipped master": np.clip(3 * music / np.abs(music).max(), -1.0, 1.0).astype(np.float32),
    }


#: How far under the ceiling (by the reference) each class may land: the detector's
#: high-band term over-reads content near Nyquist, so noise and tones there are held lower.
DEEPEST = {"music +9 dB": 0.3, "white σ 0.5": 1.5, "0.45/0.47 fs": 6.0, "clipped master": 0.6}


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
@pytest.mark.parametrize("name", list(DEEPEST))
def test_ceiling_held_by_the_reference_meter(name, rate):
    x = ceiling_cases(rate)[name]
    assert reference_dbtp(x) > CEILING + 1  # the limiter has work to do
    y = TruePeakLimiter(ceiling_dbtp=CEILING)(x, rate)
    by_reference, by_bs1770 = reference_dbtp(y), true_peak_dbtp(y)
    assert by_reference <= CEILING, f"{name} at {rate} Hz: {by_reference:+.4f} dBTP (reference)"
    assert by_bs1770 <= CEILING, f"{name} at {rate} Hz: {by_bs1770:+.4f} dBTP (BS.1770)"
    assert by_reference >= CEILING - DEEPEST[name]  # and it does not crush


def test_reference_meter_agrees_with_fft_interpolation():
    # The 16× windowed-sinc grid, refined by FFT interpolation of the loudest neighbourhoods,
    # against FFT (ideal sinc) interpolation of the whole padded signal, 32×.
    from scipy.signal import resample

    rng = np.random.default_rng(3)
    n = 4000
    for x in (rng.standard_normal(n), tone(0.47 * SR, n, 0.4), clipped_master(rng, n)[0]):
        padded = np.pad(x, 2048)
        ideal = np.abs(resample(padded, padded.size * 32)).max()
        assert 20 * math.log10(reference_true_peak(x) / ideal) == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize("name", list(guarantee_cases(0)))
def test_true_peak_never_exceeds_ceiling(name):
    limiter = TruePeakLimiter(ceiling_dbtp=CEILING)
    for seed in range(3):
        x = guarantee_cases(seed)[name]
        assert true_peak_dbtp(x) > CEILING + 1  # the limiter has work to do
        y = limiter(x, SR)
        out = true_peak_dbtp(y)
        assert out <= CEILING, f"{name}: {out:.4f} dBTP"
        # and it does not crush (noise and near-Nyquist tones are over-read, so held lower)
        assert out >= CEILING - SAFETY_MARGIN_DB - (0.5 if name in ("pink", "clipped master") else 6.0), out


def test_worst_case_over_random_signals():
    """Random segments of noise, squares, near-Nyquist tones, clicks and clipping,
    levels jumping ±20 dB, random settings: report the highest output true peak."""
    rng = np.random.default_rng(2024)
    worst = -math.inf
    for _ in range(100):
        parts, total = [], 0
        while total < SR // 4:
            size = int(rng.integers(1, 300))
            t = np.arange(size)
            kind = rng.integers(0, 5)
            if kind == 0:
                seg = rng.standard_normal((2, size))
            elif kind == 1:
                seg = np.where((t // rng.integers(1, 6)) % 2 == 0, 1.0, -1.0)[None].repeat(2, 0)
            elif kind == 2:
                seg = np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 7))[
                    None
                ].repeat(2, 0)
            elif kind == 3:
                seg = np.zeros((2, size))
                seg[:, rng.integers(0, size)] = rng.choice([-1.0, 1.0])
            else:
                seg = np.clip(4 * rng.standard_normal((2, size)), -1, 1)
            parts.append(seg * 10 ** (rng.uniform(-20, 20) / 20))
            total += size
        x = np.concatenate(parts, axis=1).astype(np.float32)
        ceiling = float(rng.uniform(-12, 0))
        limiter = TruePeakLimiter(
            ceiling_dbtp=ceiling,
            release_ms=float(rng.choice([1.0, 10.0, 50.0, 300.0])),
            lookahead_ms=float(rng.choice([0.0, 0.5, 1.5, 5.0])),
        )
        worst = max(worst, true_peak_dbtp(limiter(x, SR)) - ceiling)
    print(f"\nworst output true peak over 100 random signals: {worst:+.4f} dB re ceiling")
    assert worst <= 0.0


# --------------------------------------------------------------------------- transparency, latency
def test_transparent_below_the_ceiling():
    # Tones and faint noise: little near Nyquist, so the detector's high-band term adds
    # at most ~0.02 dB (1.5 × the local RMS of the 4th difference, ≈ 0.5 σ for white noise).
    # Faded in and out: an abrupt end rings above the samples (Gibbs), and the detector sees that.
    x = noise(2, 0.5, level=0.001)
    fade = np.sin(np.linspace(0, np.pi / 2, 480)) ** 2
    x[:, :480] *= fade
    x[:, -480:] *= fade[::-1]
    x = to_dbtp(x, CEILING - SAFETY_MARGIN_DB - 0.05)
    limiter = TruePeakLimiter(ceiling_dbtp=CEILING)
    y = limiter(x, SR)
    assert np.abs(y - x).max() <= 1e-7
    stream(limiter, x, [1000])
    assert np.all(limiter.gain_reduction_db == 0.0)  # gain exactly 1.0


@pytest.mark.parametrize(
    "rate, lookahead_ms, expected",
    [(48000, 1.5, 72), (44100, 1.5, 66), (48000, 0.0, 42), (96000, 5.0, 480)],
)
def test_latency_is_lookahead(rate, lookahead_ms, expected):
    assert TruePeakLimiter(lookahead_ms=lookahead_ms).latency_for(rate) == expected


def test_output_is_aligned_with_input():
    # A steady loud tone: once settled, y/x is one constant gain only if aligned.
    x = to_dbtp(np.stack([tone(997, SR // 2, 0.0), tone(1499, SR // 2, 1.0)]), CEILING + 6)
    limiter = TruePeakLimiter(ceiling_dbtp=CEILING, lookahead_ms=3.0)
    y = limiter(x, SR)
    ratio = y[:, -SR // 10 :] / x[:, -SR // 10 :]
    ratio = ratio[np.abs(x[:, -SR // 10 :]) > 0.05]
    # (the detector's high-band term, ~1e-5 on these tones, moves the gain a little)
    assert ratio.std() <= 1e-4 and 0.3 < ratio.mean() < 1.0


@pytest.mark.parametrize(
    "params", [{}, {"lookahead_ms": 0.0, "release_ms": 5.0}, {"lookahead_ms": 5.0}]
)
def test_streaming_equals_whole(params):
    x = guarantee_cases(1)["white"][:, : SR // 4]
    limiter = TruePeakLimiter(ceiling_dbtp=CEILING, **params)
    whole = limiter(x, SR)
    for sizes, buffer_size in (([1000], 8192), ([7, 1, 300, 4096], 256), ([x.shape[1]], 50)):
        assert np.abs(stream(limiter, x, sizes, buffer_size=buffer_size) - whole).max() <= 1e-6


def test_release_time_constant():
    # A 30 ms loud burst, then a quiet tone: after the hold, 1 − g closes as exp(−t/τ_R).
    n, burst = SR // 2, SR * 30 // 1000
    x = tone(1000, n, 0.0) * 0.05
    x[:burst] *= 40  # ≈ +5 dBTP, 6 dB over the ceiling
    # faded in over 5 ms: an abrupt onset's high band makes the detector dip deepest there
    x[:240] *= np.sin(np.linspace(0, np.pi / 2, 240)) ** 2
    for release_ms in (20.0, 50.0, 150.0):
        limiter = TruePeakLimiter(ceiling_dbtp=CEILING, release_ms=release_ms)
        limiter.process(x.astype(np.float32), SR, buffer_size=n + 8192, reset=False)
        gain = 10 ** (limiter.gain_reduction_db[0] / 20)  # one block, latency-delayed
        start = int(np.flatnonzero(gain <= gain.min() + 1e-12)[-1])  # the release begins
        deficit = 1 - gain[start:]
        t63 = int(np.argmax(deficit <= deficit[0] / math.e))
        assert 1000 * t63 / SR == pytest.approx(release_ms, rel=0.10)


@pytest.mark.parametrize(
    "params",
    [{"ceiling_dbtp": 10.0}, {"release_ms": 0.0}, {"lookahead_ms": -1.0}, {"ceiling_db": -1.0}],
)
def test_invalid_parameters_raise(params):
    with pytest.raises(ParameterError):
        TruePeakLimiter(**params)
