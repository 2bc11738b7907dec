"""SpectralSubtraction: the formulas, streaming = whole, profiles, channels, parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from clarity_fx.errors import AudioFileError, ClarityError, ParameterError
from clarity_fx.processors import spectral
from clarity_fx.processors.spectral import NoiseProfile, SpectralSubtraction, lsa_gain

SR = 16000


def white(n: int, channels: int = 1, seed: int = 0, level: float = 0.05) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


def tone(n: int, freq: float = 1000.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window, written out independently of the module."""
    return np.sin(np.pi * np.arange(n_fft) / n_fft) ** 2


def mean_noise_spectrum(clip: np.ndarray, n_fft: int, hop: int, power: int) -> np.ndarray:
    """Mean of ``|DFT(w·frame)|^power`` over the whole frames of ``clip`` (numpy only)."""
    starts = range(0, clip.size - n_fft + 1, hop)
    return np.mean([np.abs(np.fft.rfft(clip[i : i + n_fft] * hann(n_fft))) ** power for i in starts], 0)


def frame_spectrum(x: np.ndarray, m: int, n_fft: int, hop: int) -> np.ndarray:
    """numpy's DFT of STFT frame ``m``: samples ``m·hop − (n_fft − hop)`` on, zeros before 0."""
    start = m * hop - (n_fft - hop)
    seg = np.zeros(n_fft)
    lo = max(start, 0)
    seg[lo - start :] = x[lo : start + n_fft]
    return np.fft.rfft(seg * hann(n_fft))


def chunked(plugin: SpectralSubtraction, x: np.ndarray, seed: int, sr: int = SR) -> np.ndarray:
    """Stream ``x`` through ``plugin`` in random chunk sizes (1 to 5000 samples), then flush."""
    rng = np.random.default_rng(seed)
    plugin.reset()
    outs, i = [], 0
    while i < x.shape[-1]:
        n = int(rng.integers(1, 5000))
        outs.append(plugin.process(x[..., i : i + n], sr, reset=False))
        i += n
    outs.append(plugin.flush())
    return np.concatenate(outs, axis=-1)


def tone_and_residual(y: np.ndarray, freq: float, sr: int = SR) -> tuple[float, float]:
    """Least-squares amplitude of the tone at ``freq`` in ``y`` and the power of the rest."""
    t = np.arange(y.size) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    residual = y - basis @ coef
    return float(np.hypot(*coef)), float(np.mean(residual**2))


# --------------------------------------------------------------------------- reconstruction
@pytest.mark.parametrize(
    "params", [{}, {"window": "hamming"}, {"n_fft": 512, "hop": 256}, {"n_fft": 1024, "hop": 128}]
)
def test_perfect_reconstruction_when_gain_is_one(params):
    # max_reduction_db=0 forces G = 1: WOLA must give the input back, latency removed.
    x = white(SR * 2, channels=2, level=0.3) + tone(SR * 2)
    p = SpectralSubtraction(max_reduction_db=0, **params)
    y = p.process(x, SR)
    assert y.shape == x.shape
    assert np.abs(y - x).max() <= 1e-5
    assert np.abs(chunked(p, x, seed=4) - x).max() <= 1e-5
    n_fft, hop = p.stft_size(SR)
    # Unfitted: region end + STFT latency (n_fft − 1, and a hop of look-ahead by default).
    assert p.latency_for(SR) == SR + n_fft - 1 + hop


# --------------------------------------------------------------------------- the formulas
def test_seed_formula_magnitude_subtraction_exactly():
    # |Ŝ| = max(|X| − |N|, 0) with |N| the mean noise magnitude, computed here with numpy alone.
    n_fft, hop = 512, 128
    noise_clip = white(SR * 2, seed=1)[0]
    x = tone(SR * 2, 937.5) + white(SR * 2, seed=2)[0]  # stationary: a tone in white noise
    p = SpectralSubtraction(
        method="subtraction",
        oversubtraction=1.0,
        spectral_floor=0.0,
        domain="magnitude",
        max_reduction_db=None,
        time_smoothing_ms=0,
        freq_smoothing_hz=0,
        n_fft=n_fft,
        hop=hop,
        noise_clip=noise_clip,
    )
    n_mag = mean_noise_spectrum(noise_clip, n_fft, hop, power=1)
    spectra, gains = p.spectral_gains(x, SR)
    for m in (40, 101, 200):
        x_m = frame_spectrum(x, m, n_fft, hop)
        assert np.allclose(spectra[0, m], x_m, atol=1e-4)
        expected = np.maximum(np.abs(x_m) - n_mag, 0)
        got = np.abs(spectra[0, m] * gains[0, m])
        assert np.abs(got - expected).max() <= 1e-4 * np.abs(x_m).max()
        assert np.any(expected == 0) and np.any(expected > 0)  # both branches of max() are hit


def test_power_subtraction_with_floor():
    # Berouti: |Ŝ|² = max(|X|² − α|N|², β|N|²) with |N|² the mean noise power.
    n_fft, hop = 512, 256
    clip = white(SR, seed=3)[0]
    x = tone(SR, 2000.0) + white(SR, seed=4)[0]
    alpha, beta = 2.0, 0.05
    p = SpectralSubtraction(
        method="subtraction",
        domain="power",
        oversubtraction=alpha,
        spectral_floor=beta,
        max_reduction_db=None,
        n_fft=n_fft,
        hop=hop,
        noise_clip=clip,
    )
    n_pow = mean_noise_spectrum(clip, n_fft, hop, power=2)
    spectra, gains = p.spectral_gains(x, SR)
    m = 30
    x2 = np.abs(spectra[0, m]) ** 2
    expected = np.maximum(x2 - alpha * n_pow, beta * n_pow)
    assert np.allclose(x2 * gains[0, m] ** 2, expected, rtol=1e-4, atol=1e-9 * x2.max())


@pytest.mark.parametrize(
    "method,two_step,lookahead",
    [
        ("wiener", True, True),
        ("wiener", True, False),
        ("wiener", False, False),
        ("mmse_lsa", False, False),
        ("mmse_lsa", True, True),
        ("mmse_lsa", True, False),
    ],
)
def test_decision_directed_gains_follow_the_equations(method, two_step, lookahead):
    # Re-run the Notes' recursion in numpy (exact E1 from scipy) and compare every frame.
    n_fft, hop, a, beta = 512, 128, 0.95, 0.003
    clip = white(SR, seed=5)[0]
    x = tone(SR, 700.0, 0.1) + white(SR, seed=6)[0]
    p = SpectralSubtraction(
        method=method,
        two_step=two_step,
        lookahead=lookahead,
        dd_weight=a,
        spectral_floor=beta,
        max_reduction_db=None,
        n_fft=n_fft,
        hop=hop,
        noise_clip=clip,
    )
    lam = mean_noise_spectrum(clip, n_fft, hop, power=2)
    spectra, gains = p.spectral_gains(x, SR)

    def rule(xi, gamma):
        return lsa_gain(xi, gamma).clip(max=1) if method == "mmse_lsa" else xi / (1 + xi)

    prev = np.zeros_like(lam)
    expected, xi2, gammas = [], [], []
    for m in range(spectra.shape[1]):
        x2 = np.abs(spectra[0, m]) ** 2
        gamma = x2 / lam
        xi = np.maximum(a * prev / lam + (1 - a) * np.maximum(gamma - 1, 0), beta)
        g = rule(xi, gamma)
        prev = g**2 * x2
        xi2.append(np.maximum(g**2 * gamma, beta))
        gammas.append(gamma)
        expected.append(rule(xi2[-1], gamma) if two_step else g)
    if lookahead:
        # ξ₂ averaged over frames m and m + 1, then the gain once more at ξ₃ = G²γ. (The last
        # frame's look-ahead lies in the flush, outside ``spectra``.)
        for m in range(len(xi2) - 1):
            g = rule(0.5 * (xi2[m] + xi2[m + 1]), gammas[m])
            expected[m] = rule(np.maximum(g**2 * gammas[m], beta), gammas[m])
        expected = expected[:-1]
    worst = max(np.abs(gains[0, m] - g).max() for m, g in enumerate(expected))
    assert worst <= 2e-4
    assert p.latency_for(SR) == n_fft - 1 + (hop if lookahead else 0)


# --------------------------------------------------------------------------- streaming
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"adaptive": True},
        pytest.param(  # the region takes in the tone's start: the processor warns, rightly
            {"noise_start_s": 0.5, "noise_end_s": 1.25},
            marks=pytest.mark.filterwarnings("ignore:SpectralSubtraction. the noise region"),
        ),
        {"method": "mmse_lsa", "time_smoothing_ms": 20, "freq_smoothing_hz": 200},
    ],
)
def test_streaming_equals_whole_unfitted(params):
    late_tone = tone(SR * 3, 440.0) * (np.arange(SR * 3) > SR)
    x = (white(SR * 3, 2, seed=7) + late_tone).astype(np.float32)
    p = SpectralSubtraction(**params)
    whole = p.process(x, SR)
    for seed in (0, 1):
        assert np.abs(chunked(p, x, seed) - whole).max() <= 1e-5


def test_fit_path_streaming_equals_whole_and_cuts_latency():
    x = (white(SR * 3, 2, seed=8) + tone(SR * 3, 300.0) * (np.arange(SR * 3) > SR)).astype(np.float32)
    reference = SpectralSubtraction().process(x, SR)  # unfitted: learns the first second in-stream
    p = SpectralSubtraction()
    n_fft, hop = p.stft_size(SR)
    consumed = []

    def blocks():
        for i in range(0, x.shape[1], 1000):
            consumed.append(i)
            yield x[:, i : i + 1000]

    p.fit(blocks(), SR)
    assert len(consumed) == SR // 1000  # stopped right after the 1 s region
    assert p.latency_for(SR) == n_fft - 1 + hop
    assert np.abs(p.process(x, SR) - reference).max() <= 1e-6
    assert np.abs(chunked(p, x, seed=3) - reference).max() <= 1e-5
    p._unfit()
    assert p.latency_for(SR) == SR + n_fft - 1 + hop


def test_render_like_fit_then_stream():
    # What render does: fit on the blocks, stream the same blocks, flush; equals the whole call.
    x = (white(SR * 2, 1, seed=9) + tone(SR * 2, 500.0)).astype(np.float32)
    whole = SpectralSubtraction(noise_seconds=0.5).process(x, SR)
    p = SpectralSubtraction(noise_seconds=0.5)
    size = 4096
    p.fit((x[:, i : i + size] for i in range(0, x.shape[1], size)), SR)
    p.reset()
    parts = [p.process(x[:, i : i + size], SR, reset=False) for i in range(0, x.shape[1], size)]
    out = np.concatenate(parts + [p.flush()], axis=1)
    assert np.abs(out - whole).max() <= 1e-5


def test_shorter_than_one_frame_and_shorter_than_region():
    n_fft, _ = SpectralSubtraction().stft_size(SR)
    for n in (1, 100, n_fft - 1):
        for x in (white(n, seed=n)[0], white(n, 2, seed=n)):  # mono 1-D and stereo
            if x.ndim == 2 and n < 3:
                continue  # a (2, 1) array is ambiguous: pedalboard reads it as 2 samples
            y = SpectralSubtraction().process(x, SR)
            assert y.shape == x.shape and np.all(np.isfinite(y))
            assert np.abs(y).max() < np.abs(x).max()  # it learned the clip itself as noise
            stream = chunked(SpectralSubtraction(), x, seed=n)
            assert stream.shape == x.shape and np.abs(stream - y).max() <= 1e-6
    y = SpectralSubtraction(noise_clip=white(SR)[0]).process(white(10)[0], SR)
    assert y.shape == (10,)


def test_region_outside_audio_warns_and_passes_through():
    x = white(SR, 1, seed=10)
    with pytest.warns(UserWarning, match="outside the audio"):
        y = SpectralSubtraction(noise_start_s=5.0).process(x, SR)
    assert np.abs(y - x).max() <= 1e-5  # a zero noise profile removes nothing


def test_unsteady_noise_region_warns_steady_ones_do_not(recwarn):
    rng = np.random.default_rng(3)
    t = np.arange(SR) / SR
    pole = math.exp(-2 * math.pi * 40 / SR)
    steady = {
        "white": white(SR, 2, seed=11),
        # Rumble: white noise through a one-pole low-pass at 40 Hz.
        "rumble": lfilter([1.0], [1.0, -pole], rng.standard_normal((1, SR))) * 1e-3,
        "hum": 0.05 * np.sin(2 * np.pi * 50 * t)[None] + white(SR, 1, seed=12, level=0.002),
        "slowly wandering": white(SR, 1, seed=13) * (1 + 0.4 * np.sin(2 * np.pi * 0.3 * t)),
    }
    for name, region in steady.items():
        assert spectral.region_unsteadiness_db(region, SR) < spectral.UNSTEADY_REGION_DB, name
    # Syllable-like 120 ms tone bursts, 15 dB above the noise, in the first second.
    bursts = white(2 * SR, 1, seed=14, level=0.01)
    for start in (0.1, 0.45, 0.8):
        i = int(start * SR)
        bursts[0, i : i + int(0.12 * SR)] += 0.056 * np.sin(2 * np.pi * 220 * t[: int(0.12 * SR)])
    assert spectral.region_unsteadiness_db(bursts[:, :SR], SR) > spectral.UNSTEADY_REGION_DB
    recwarn.clear()
    SpectralSubtraction().process(steady["white"], SR)
    assert not [w for w in recwarn if "not steady" in str(w.message)]
    with pytest.warns(UserWarning, match=r"noise region 0-1 s is not steady .* noise_clip"):
        SpectralSubtraction().process(bursts, SR)


# --------------------------------------------------------------------------- how much it removes
def test_white_noise_reduced_tone_kept():
    n = SR * 4
    noise = white(n, seed=11, level=0.05)[0]
    x = tone(n, 1000.0, 0.2) * (np.arange(n) >= SR) + noise  # 1 s noise-only lead-in
    y = SpectralSubtraction().process(x.astype(np.float32), SR)
    after = slice(SR + SR // 2, n - SR // 4)
    amp_in, _ = tone_and_residual(x[after], 1000.0)
    amp_out, residual = tone_and_residual(y[after], 1000.0)
    reduction_db = 10 * np.log10(np.mean(noise[after] ** 2) / residual)
    assert reduction_db >= 15.0
    assert abs(20 * np.log10(amp_out / amp_in)) <= 1.0
    # The lead-in itself is noise only and is removed down to the 30 dB floor or below.
    assert 10 * np.log10(np.mean(noise[SR // 2 : SR] ** 2) / np.mean(y[SR // 2 : SR] ** 2)) >= 20.0


def test_adaptive_reduces_stationary_noise_without_lead_in():
    n = SR * 6
    t = np.arange(n) / SR
    gate = (np.sin(2 * np.pi * 0.5 * t) > 0).astype(np.float32)  # tone on 1 s, off 1 s, from t = 0
    noise = white(n, seed=12, level=0.05)[0]
    x = (tone(n, 800.0, 0.2) * gate + noise).astype(np.float32)
    y = SpectralSubtraction(adaptive=True).process(x, SR)
    settled = (t > 3.0) & (np.abs(np.sin(2 * np.pi * 0.5 * t)) > 0.3)  # away from the edges
    gaps, on = settled & (gate == 0), settled & (gate == 1)
    assert 10 * np.log10(np.mean(noise[gaps] ** 2) / np.mean(y[gaps] ** 2)) >= 10.0
    amp_in, _ = tone_and_residual(x[on] - noise[on], 800.0)
    amp_out, _ = tone_and_residual(y[on], 800.0)
    assert abs(20 * np.log10(amp_out / amp_in)) <= 1.0


# --------------------------------------------------------------------------- profiles
def test_profile_save_load_round_trip(tmp_path):
    x = (white(SR * 3, 2, seed=13) + tone(SR * 3, 600.0) * (np.arange(SR * 3) > SR)).astype(np.float32)
    learner = SpectralSubtraction()
    learned_out = learner.process(x, SR)
    path = tmp_path / "room.npz"
    learner.save_profile(path)
    loaded = NoiseProfile.load(path)
    assert loaded.sample_rate == SR and loaded.n_fft == learner.stft_size(SR)[0]
    assert np.array_equal(loaded.psd, learner.profile().psd)
    reuser = SpectralSubtraction().load_profile(path)
    reuser.fit([x[:, :SR]], SR)  # a given profile is kept: fit learns nothing, _unfit forgets nothing
    reuser._unfit()
    n_fft, hop = reuser.stft_size(SR)
    assert reuser.latency_for(SR) == n_fft - 1 + hop  # nothing to wait for
    assert np.abs(reuser.process(x, SR) - learned_out).max() <= 1e-6
    assert np.abs(SpectralSubtraction(noise_profile=str(path)).process(x, SR) - learned_out).max() <= 1e-6


def test_profile_at_another_rate_or_frame_is_interpolated(tmp_path):
    # The profile is a density per hertz: white noise of variance σ² at 48 kHz, band-limited
    # to 8 kHz for a 16 kHz recording, keeps σ²/48000 per Hz, so its variance becomes σ²/3.
    sigma = 0.05
    noise_48k = white(48000 * 4, level=sigma, seed=20)
    at_48k = spectral.estimate_noise_profile(noise_48k, 48000, 2048, 512)
    w = spectral.analysis_window("hann", 512)
    power, _ = at_48k.for_stft(SR, w)
    expected = sigma**2 / 3 * np.sum(w**2)
    assert abs(10 * np.log10(np.median(power) / expected)) <= 0.3
    at_48k.save(tmp_path / "p.npz")
    p = SpectralSubtraction(n_fft=1024, hop=256).load_profile(tmp_path / "p.npz")
    # The same kind of noise recorded at 16 kHz:
    x = spectral._resample(white(48000 * 2, level=sigma, seed=21), 48000, SR)
    y = p.process(x, SR)
    assert 10 * np.log10(np.mean(x**2) / np.mean(y**2)) >= 20.0


def test_noise_clip_at_another_rate_and_from_a_file(tmp_path):
    band = np.fft.irfft(
        np.fft.rfft(white(48000 * 2, level=0.1, seed=15)[0]) * (np.fft.rfftfreq(96000, 1 / 48000) < 6000)
    )
    clip_48k = band.astype(np.float32)
    sf.write(tmp_path / "noise.wav", clip_48k, 48000, subtype="FLOAT")
    from_array = SpectralSubtraction(noise_clip=clip_48k, noise_clip_sample_rate=48000)
    from_file = SpectralSubtraction(noise_clip=str(tmp_path / "noise.wav"))
    native = spectral.estimate_noise_profile(
        spectral._resample(clip_48k[None], 48000, SR), SR, *from_array.stft_size(SR)
    )
    x = white(SR, seed=16)
    out_a = from_array.process(x, SR)
    out_f = from_file.process(x, SR)
    assert np.abs(out_a - out_f).max() <= 1e-6
    assert np.allclose(from_array.profile().psd, native.psd)
    assert from_array.profile().sample_rate == SR  # resampled to the audio's rate, not refused


def test_profile_errors(tmp_path):
    with pytest.raises(ClarityError, match="no noise profile"):
        SpectralSubtraction().save_profile(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(AudioFileError, match="not a noise profile"):
        SpectralSubtraction().load_profile(tmp_path / "other.npz")
    with pytest.raises(AudioFileError, match="does not exist"):
        SpectralSubtraction(noise_profile=str(tmp_path / "missing.npz"))
    with pytest.raises(AudioFileError, match="noise clip .*missing.wav: no such file"):
        SpectralSubtraction(noise_clip=str(tmp_path / "missing.wav"))  # at once, not at the first block
    with pytest.raises(ParameterError, match="noise_clip must be an audio array"):
        SpectralSubtraction(noise_clip=float("inf"))


# --------------------------------------------------------------------------- channels
def test_linked_keeps_the_stereo_image():
    mono = (white(SR * 2, seed=17)[0] + tone(SR * 2, 1500.0) * (np.arange(SR * 2) > SR)).astype(np.float32)
    x = np.stack([mono, 0.5 * mono])  # right is left at −6 dB
    p = SpectralSubtraction(linked=True)
    y = p.process(x, SR)
    assert np.abs(y[1] - 0.5 * y[0]).max() <= 1e-6  # one gain for both: the image is kept
    _, gains = p.spectral_gains(x, SR)
    assert gains.shape[0] == 1


def test_independent_channels_equal_mono_processing():
    x = np.stack([white(SR * 2, seed=18)[0], white(SR * 2, seed=19, level=0.01)[0] + tone(SR * 2, 300.0)])
    x = x.astype(np.float32)
    stereo = SpectralSubtraction(linked=False).process(x, SR)
    for c in range(2):
        mono = SpectralSubtraction().process(x[c], SR)
        assert np.abs(stereo[c] - mono).max() <= 1e-6
    linked = SpectralSubtraction(linked=True).process(x, SR)
    assert np.abs(linked - stereo).max() > 1e-3  # linking changes the gains when channels differ


def test_multichannel_profile_mismatch():
    p = SpectralSubtraction(linked=False, noise_clip=white(SR, channels=3))
    with pytest.raises(ClarityError, match="3 channels"):
        p.process(white(SR, channels=2), SR)
    y = SpectralSubtraction(linked=True, noise_clip=white(SR, channels=3)).process(white(SR, channels=2), SR)
    assert y.shape == (2, SR)


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "params",
    [
        {"method": "spectral_gate"},
        {"window": "blackman"},
        {"n_fft": 1001},
        {"n_fft": 1024, "hop": 1000},
        {"n_fft": 1024, "hop": 1024},
        {"oversubtraction": 0.0},
        {"spectral_floor": -0.1},
        {"max_reduction_db": -3.0},
        {"noise_seconds": 0.0},
        {"noise_start_s": 2.0, "noise_end_s": 1.0},
        {"dd_weight": 1.5},
        {"linked": "yes"},
        {"noise_profile": 42},
        {"time_smoothing_ms": -1},
        {"noise_sconds": 1.0},
    ],
)
def test_invalid_parameters_raise_at_set_time(params):
    with pytest.raises(ParameterError):
        SpectralSubtraction(**params)


def test_invalid_combination_after_construction():
    p = SpectralSubtraction(n_fft=1024)
    with pytest.raises(ValueError, match="hop"):
        p.hop = 768
    p = SpectralSubtraction(noise_start_s=1.0)
    with pytest.raises(ParameterError, match="after noise_start_s"):
        p.noise_end_s = 0.5


def test_auto_frame_is_about_64_ms_and_fast():
    p = SpectralSubtraction()
    for rate in (8000, 16000, 22050, 44100, 48000, 96000):
        n_fft, hop = p.stft_size(rate)
        assert 0.064 <= n_fft / rate <= 0.07 and n_fft % hop == 0
        assert math.prod(f for f in (2, 3, 5) if n_fft % f == 0) > 1


# --------------------------------------------------------------------------- scipy's pocketfft, alone
def test_fft_module_is_scipys_pocketfft_bit_for_bit_without_importing_scipy_fft():
    import subprocess
    import sys

    import scipy.fft

    from clarity_fx.processors import _fft

    if not _fft._pocketfft():  # a scipy that keeps it elsewhere: the fallback is scipy.fft itself
        pytest.skip("this scipy has no scipy.fft._pocketfft.pypocketfft: clarity uses scipy.fft (0.2 s more)")
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 7, 3072)).astype(dtype)
        spectra = _fft.rfft(x[:, 1:6], axis=-1, workers=1)
        assert spectra.dtype == scipy.fft.rfft(x[:, 1:6], axis=-1).dtype
        assert np.array_equal(spectra, scipy.fft.rfft(x[:, 1:6], axis=-1, workers=1))
        assert np.array_equal(_fft.rfft(x, axis=1, workers=-1), scipy.fft.rfft(x, axis=1, workers=-1))
        back = _fft.irfft(spectra[:, :4], 3072, axis=-1, workers=1)
        assert np.array_equal(back, scipy.fft.irfft(spectra[:, :4], 3072, axis=-1, workers=1))
    # What it does not take goes to scipy.fft: integers, a length that does not match the bins.
    assert np.array_equal(_fft.rfft(np.arange(8)), scipy.fft.rfft(np.arange(8)))
    assert np.array_equal(_fft.irfft(spectra, 100), scipy.fft.irfft(spectra, 100))
    assert [_fft.next_fast_len(n, True) for n in range(1, 600)] == [
        scipy.fft.next_fast_len(n, True) for n in range(1, 600)
    ]
    # A fresh process denoises without importing scipy.fft or scipy.special.
    code = (
        "import sys, numpy as np; from clarity_fx.processors.spectral import SpectralSubtraction; "
        "x = np.random.default_rng(0).standard_normal((2, 96000)).astype(np.float32); "
        "SpectralSubtraction().process(x, 48000); "
        "print(sorted(m for m in ('scipy.fft', 'scipy.special') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
