"""AnalyticFilter and ButterworthFilter: measured responses against their formulas and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from conftest import SR, noise, stream

from clarity_fx.errors import ParameterError
from clarity_fx.processors.analytic import (
    F_MATCH_MID,
    F_MATCH_TOP,
    AnalyticFilter,
    highpass_response,
    lowpass_response,
    matched_section,
)
from clarity_fx.processors.butterworth import ButterworthFilter, sosfilt_stream

RATES = [44100, 48000]
#: (kind, frequencies) over the promised range of cutoffs, ~20 Hz to ~10 kHz.
CASES = [
    ("lowpass", {"cutoff_hz": 20}),
    ("lowpass", {"cutoff_hz": 1000}),
    ("lowpass", {"cutoff_hz": 10000}),
    ("highpass", {"cutoff_hz": 20}),
    ("highpass", {"cutoff_hz": 1000}),
    ("highpass", {"cutoff_hz": 10000}),
    ("bandpass", {"low_hz": 300, "high_hz": 3000}),
    ("bandpass", {"low_hz": 20, "high_hz": 10000}),
]
CASE_IDS = [f"{kind}-{'-'.join(str(v) for v in f.values())}" for kind, f in CASES]


def db(x: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.abs(x))


def measured_response(plugin, sr: float, n: int, at: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Process an impulse at sample ``at``; the FFT of the output, re-aligned to ``at``."""
    impulse = np.zeros(n, np.float32)
    impulse[at] = 1
    y = plugin(impulse, sr).astype(np.float64)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    return freqs, np.fft.rfft(np.roll(y, -at))


def resolvable(Y: np.ndarray, n: int) -> float:
    """Gain 60 dB above the spectral noise of rounding a length-``n`` output to float32.

    Rounding each sample to float32 adds noise of ``eps·|y[n]|``; its DFT has
    an rms of ``eps·‖y‖₂`` per bin, so gains above 1000× that are measured to
    0.01 dB.
    """
    norm = np.sqrt((2 * np.sum(np.abs(Y) ** 2) - np.abs(Y[0]) ** 2) / n)  # Parseval
    return 1000 * np.finfo(np.float32).eps * norm


# --------------------------------------------------------------------------- the formulas
def test_first_order_formulas():
    f = np.array([0.0, 500.0, 1000.0, 4000.0])
    s = 1j * f / 1000
    np.testing.assert_allclose(lowpass_response(f, 1000), 1 / (1 + s))
    np.testing.assert_allclose(highpass_response(f, 1000), s / (1 + s))
    lp = AnalyticFilter("lowpass", cutoff_hz=1000)
    assert db(lp.transfer_function(np.array([1000.0])))[0] == pytest.approx(-10 * np.log10(2))


@pytest.mark.parametrize("kind, freqs", CASES, ids=CASE_IDS)
def test_order_cascades_the_stage(kind, freqs):
    f = np.geomspace(10, 20000, 50)
    one = AnalyticFilter(kind, **freqs).transfer_function(f)
    np.testing.assert_allclose(AnalyticFilter(kind, order=3, **freqs).transfer_function(f), one**3)
    sr = 48000
    one_iir = AnalyticFilter(kind, **freqs).frequency_response(f, sr)
    three_iir = AnalyticFilter(kind, order=3, **freqs).frequency_response(f, sr)
    np.testing.assert_allclose(three_iir, one_iir**3, rtol=1e-9)


def test_bandpass_is_highpass_times_lowpass_not_the_seed_formula():
    f = np.geomspace(10, 24000, 200)
    bp = AnalyticFilter("bandpass", low_hz=300, high_hz=3000)
    np.testing.assert_allclose(
        bp.transfer_function(f), highpass_response(f, 300) * lowpass_response(f, 3000)
    )
    # The IIR band-pass is the high-pass section followed by the low-pass one.
    hp = AnalyticFilter("highpass", cutoff_hz=300).frequency_response(f, SR)
    lp = AnalyticFilter("lowpass", cutoff_hz=3000).frequency_response(f, SR)
    np.testing.assert_allclose(bp.frequency_response(f, SR), hp * lp, rtol=1e-12)

    # The seed's printed formula, LP factor upside down, rises without bound above f_b.
    def seed(f):
        return (1j * f / 300) / (1 + 1j * f / 300) * (1 + 1j * f / 3000)

    ten_k = np.array([10000.0])
    assert db(seed(ten_k))[0] == pytest.approx(10.83, abs=0.01)
    # ours falls instead: |HP(10k; 300)|² · |LP(10k; 3000)|², in dB
    want = -10 * np.log10(1 + (300 / 10000) ** 2) - 10 * np.log10(1 + (10000 / 3000) ** 2)
    assert db(bp.transfer_function(ten_k))[0] == pytest.approx(want)
    assert want == pytest.approx(-10.84, abs=0.01)
    above = f > 3000
    assert np.all(np.diff(db(bp.transfer_function(f[above]))) < 0)  # falls, 6 dB/octave


# --------------------------------------------------------------------------- the IIR design
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
@pytest.mark.parametrize("cutoff", [20, 100, 1000, 5000, 10000])
def test_matched_section_interpolates_h_at_its_match_points(sr, kind, cutoff):
    section = matched_section(kind, cutoff, sr)
    b, a = section[:3], section[3:]
    assert a[1] == pytest.approx(-np.exp(-2 * np.pi * cutoff / sr))  # matched-z pole
    # Exact at DC and 0.4 fs; the low-pass at fs/4 too, the high-pass in its DC slope.
    if kind == "lowpass":
        f, H = np.array([F_MATCH_MID, F_MATCH_TOP]) * sr, lowpass_response
    else:
        f, H = np.array([1e-3 * cutoff, F_MATCH_TOP * sr]), highpass_response
    _, h = scipy.signal.freqz(b, a, worN=f, fs=sr)
    np.testing.assert_allclose(np.abs(h), np.abs(H(f, cutoff)), rtol=1e-6)
    dc = np.sum(b) / np.sum(a)
    assert dc == pytest.approx(1.0 if kind == "lowpass" else 0.0, abs=1e-12)
    assert np.all(np.abs(np.roots(b)) <= 1 + 1e-9)  # minimum phase: no needless delay


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kind, freqs", CASES, ids=CASE_IDS)
def test_iir_design_within_0_1_db_per_stage_up_to_0_4_fs(sr, order, kind, freqs):
    f = np.geomspace(20, 0.4 * sr, 2000)
    p = AnalyticFilter(kind, order=order, **freqs)
    err = db(p.frequency_response(f, sr)) - db(p.transfer_function(f))
    assert np.abs(err).max() < 0.1 * order  # docstring: 0.076 dB per stage


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kind, freqs", CASES, ids=CASE_IDS)
def test_iir_measured_magnitude_within_0_5_db_up_to_0_4_fs(sr, order, kind, freqs):
    p = AnalyticFilter(kind, order=order, **freqs)
    f, Y = measured_response(p, sr, n=sr)  # 1 s: the slowest (20 Hz) tail has died out
    H = p.transfer_function(f)
    # Far below the peak, the float32 output's rounding, not the filter, sets the measurement.
    band = (f >= 20) & (f <= 0.4 * sr) & (np.abs(H) > resolvable(Y, sr))
    # (an order-2 low-pass at 20 Hz spans 120 dB: float32 resolves 60% of it)
    assert band.sum() > 0.5 * ((f >= 20) & (f <= 0.4 * sr)).sum()
    assert np.abs(db(Y[band]) - db(H[band])).max() < 0.5
    # and what was measured is the documented digital response
    assert np.abs(db(Y[band]) - db(p.frequency_response(f[band], sr))).max() < 0.01


@pytest.mark.parametrize("kind, freqs", CASES[:6], ids=CASE_IDS[:6])
def test_iir_is_causal_with_zero_latency(kind, freqs):
    p = AnalyticFilter(kind, **freqs)
    assert p.latency_for(SR) == 0
    x = np.zeros(256, np.float32)
    x[100] = 1
    y = p(x, SR)
    assert np.all(y[:100] == 0) and y[100] != 0


def test_plain_bilinear_is_worse_than_the_matched_design():
    # The brief's motivating number: bilinear low-pass, f_c = 1 kHz, 48 kHz, at 10 kHz.
    w = 2 * np.pi * 1000
    b, a = scipy.signal.bilinear([w], [1, w], 48000)
    f = np.array([10000.0])
    _, h = scipy.signal.freqz(b, a, worN=f, fs=48000)
    H = lowpass_response(f, 1000)
    assert db(h / H)[0] == pytest.approx(-1.37, abs=0.01)
    ours = AnalyticFilter("lowpass", cutoff_hz=1000).frequency_response(f, 48000)
    assert abs(db(ours / H)[0]) < 0.05


# --------------------------------------------------------------------------- fft mode
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kind, freqs", CASES, ids=CASE_IDS)
def test_fft_mode_applies_h_exactly(sr, order, kind, freqs):
    p = AnalyticFilter(kind, order=order, mode="fft", **freqs)
    assert p.latency_for(sr) == 4096
    n = 1 << 16
    f, Y = measured_response(p, sr, n=n, at=n // 2)  # the middle: pre-ringing is kept too
    H = p.transfer_function(f)
    band = (f >= 20) & (f <= 20000) & (np.abs(H) > resolvable(Y, n))
    assert band.sum() > 0.5 * ((f >= 20) & (f <= 20000)).sum()
    assert np.abs(db(Y[band]) - db(H[band])).max() < 0.1
    assert np.abs(np.angle(Y[band] / H[band])).max() < 0.01  # radians: the analytic phase
    np.testing.assert_allclose(p.frequency_response(f, sr), H)


def test_mode_cannot_change_during_a_stream():
    p = AnalyticFilter("lowpass", cutoff_hz=1000)
    x = noise(2, 0.1)
    p.process(x, SR, reset=False)
    p.mode = "fft"
    with pytest.raises(ParameterError, match="reset"):
        p.process(x, SR, reset=False)
    assert p.process(x, SR).shape == x.shape  # a fresh stream is fine


# --------------------------------------------------------------------------- Butterworth
def test_telephone_band_matches_scipy_and_edges_are_300_and_3000_hz():
    sr = 48000
    phone = ButterworthFilter("bandpass", low_hz=300, high_hz=3000, order=10)
    reference = scipy.signal.butter(10, [300, 3000], btype="bandpass", fs=sr, output="sos")
    np.testing.assert_array_equal(phone.sos_for(sr), reference)
    f, Y = measured_response(phone, sr, n=sr)
    _, want = scipy.signal.sosfreqz(reference, worN=f, fs=sr)
    band = np.abs(want) > resolvable(Y, sr)
    assert np.abs(db(Y[band]) - db(want[band])).max() < 0.01
    # −3 dB crossings of the measured 1 Hz-resolution response, by interpolation
    level = db(Y) + 10 * np.log10(2)
    crossings = np.flatnonzero(np.diff(np.sign(level)))
    edges = [f[i] - level[i] * (f[i + 1] - f[i]) / (level[i + 1] - level[i]) for i in crossings]
    np.testing.assert_allclose(edges, [300, 3000], atol=2)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(
    "kind, freqs",
    [
        ("lowpass", {"cutoff_hz": 2000}),
        ("highpass", {"cutoff_hz": 80}),
        ("bandpass", {"low_hz": 100, "high_hz": 8000}),
        ("bandstop", {"low_hz": 900, "high_hz": 1100}),
    ],
)
def test_butterworth_equals_scipy_sosfilt(sr, kind, freqs):
    p = ButterworthFilter(kind, order=4, **freqs)
    edges = list(freqs.values())
    wn = edges if len(edges) == 2 else edges[0]
    sos = scipy.signal.butter(4, wn, btype=kind, fs=sr, output="sos")
    x = noise(2, 0.25, sr=sr)
    want = scipy.signal.sosfilt(sos, x.astype(np.float64), axis=1)
    np.testing.assert_allclose(p(x, sr), want, atol=1e-5)
    f = np.linspace(10, sr / 2 - 10, 300)
    np.testing.assert_allclose(
        p.frequency_response(f, sr), scipy.signal.sosfreqz(sos, worN=f, fs=sr)[1], rtol=1e-12
    )
    assert np.allclose(db(p.frequency_response(np.array(edges, float), sr)), -3.0103, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_kernel_equals_scipy_sosfilt_across_blocks(channels):
    sos = scipy.signal.butter(6, [200, 5000], btype="bandpass", fs=SR, output="sos")
    x = noise(channels, 0.2)
    want = scipy.signal.sosfilt(sos, x.astype(np.float64), axis=1)
    zi = np.zeros((sos.shape[0], channels, 2))
    view = np.asfortranarray(x)  # strided rows
    view.flags.writeable = False
    parts = [sosfilt_stream(sos, view[:, i : i + 1000], zi) for i in range(0, x.shape[1], 1000)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), want, atol=1e-6)


# --------------------------------------------------------------------------- streaming, automation
STREAMED = {
    "analytic-iir-lp": lambda: AnalyticFilter("lowpass", cutoff_hz=500, order=2),
    "analytic-iir-bp": lambda: AnalyticFilter("bandpass", low_hz=100, high_hz=4000),
    "analytic-fft-hp": lambda: AnalyticFilter("highpass", cutoff_hz=200, mode="fft"),
    "butterworth-bp": lambda: ButterworthFilter("bandpass", low_hz=300, high_hz=3000, order=10),
}


@pytest.mark.parametrize("name", STREAMED)
@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_whole_with_random_chunks(name, seed):
    rng = np.random.default_rng(seed)
    x = noise(2, 0.5, seed=seed)
    p = STREAMED[name]()
    whole = p.process(x, SR)
    sizes = list(rng.integers(1, 3000, size=40))
    buffer_size = int(rng.choice([64, 1000, 8192]))
    parts = stream(p, x, sizes, buffer_size=buffer_size)
    assert parts.shape == whole.shape
    assert np.abs(parts - whole).max() <= 1e-5


def test_cutoff_automation_is_continuous_and_settles_on_the_new_filter():
    sr, block = SR, 480
    t = np.arange(20 * block) / sr
    x = (0.5 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    p = AnalyticFilter("lowpass", cutoff_hz=1000, order=2)
    p.reset()
    outs = []
    for k in range(20):
        if k == 10:
            p.cutoff_hz = 4000
        outs.append(p.process(x[k * block : (k + 1) * block], sr, reset=False))
    y = np.concatenate(outs)
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 1
    # No click: the step at the switch is no bigger than the signal's own steps after it.
    switch = 10 * block
    assert abs(y[switch] - y[switch - 1]) <= np.abs(np.diff(y[switch + 240 :])).max()
    # The memory carried over decays (new pole e^{-2π·4000/48000} ≈ 0.59): 5 ms later the
    # output is that of the new filter alone.
    static = AnalyticFilter("lowpass", cutoff_hz=4000, order=2).process(x, sr)
    settled = slice(10 * block + 240, None)
    assert np.abs(y[settled] - static[settled]).max() < 1e-5


@pytest.mark.parametrize("mode", ["iir", "fft"])
def test_automating_every_parameter_never_blows_up(mode):
    rng = np.random.default_rng(5)
    x = noise(2, 1.0)
    p = AnalyticFilter("lowpass", cutoff_hz=1000, mode=mode)
    p.reset()
    outs = []
    for k, i in enumerate(range(0, x.shape[1], 2400)):
        if k % 4 == 1:
            p.kind, p.cutoff_hz = "highpass", float(rng.uniform(20, 20000))
        elif k % 4 == 3:
            p.kind, p.low_hz, p.high_hz = "bandpass", 100.0, float(rng.uniform(200, 20000))
        else:
            p.kind, p.cutoff_hz = "lowpass", float(rng.uniform(20, 20000))
        p.order = int(rng.integers(1, 5))
        outs.append(p.process(x[:, i : i + 2400], SR, reset=False))
    outs.append(p.flush())
    y = np.concatenate(outs, axis=1)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.abs(y).max() < 4 * np.abs(x).max()


def test_butterworth_order_automation_stays_bounded_and_settles():
    x = noise(2, 0.5)
    p = ButterworthFilter("lowpass", cutoff_hz=2000, order=2)
    p.reset()
    outs = []
    for k, i in enumerate(range(0, x.shape[1], 1000)):
        if k < 12:  # automate for a quarter second, then hold
            p.order, p.cutoff_hz = 2 + k % 5, 1000.0 + 300 * k
        outs.append(p.process(x[:, i : i + 1000], SR, reset=False))
    y = np.concatenate(outs, axis=1)
    assert np.all(np.isfinite(y)) and np.abs(y).max() < np.abs(x).max()
    static = ButterworthFilter("lowpass", cutoff_hz=p.cutoff_hz, order=p.order).process(x, SR)
    settled = slice(14000, None)  # 2000 samples after the last change
    assert np.abs(y[:, settled] - static[:, settled]).max() < 1e-5


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [AnalyticFilter, ButterworthFilter])
@pytest.mark.parametrize(
    "name, value",
    [
        ("cutoff_hz", 0),
        ("cutoff_hz", -5.0),
        ("cutoff_hz", "1k"),
        ("cutoff_hz", float("nan")),
        ("order", 0),
        ("order", 1.5),
        ("kind", "notch"),
        ("low_hz", -1.0),
    ],
)
def test_invalid_values_raise_when_set(cls, name, value):
    p = cls("lowpass", cutoff_hz=1000)
    with pytest.raises(ParameterError):
        setattr(p, name, value)
    with pytest.raises(ParameterError):
        cls(**{"kind": "lowpass", "cutoff_hz": 1000, name: value})


def test_invalid_mode_raises_when_set():
    with pytest.raises(ParameterError, match="iir, fft"):
        AnalyticFilter("lowpass", cutoff_hz=1000, mode="fir")


@pytest.mark.parametrize("cls", [AnalyticFilter, ButterworthFilter])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "lowpass"}, "needs cutoff_hz"),
        ({"kind": "highpass", "low_hz": 100}, "needs cutoff_hz"),
        ({"kind": "bandpass", "low_hz": 300}, "needs low_hz and high_hz"),
        ({"kind": "bandpass", "low_hz": 3000, "high_hz": 300}, "must be below high_hz"),
        ({"kind": "bandpass", "low_hz": 300, "high_hz": 3000, "cutoff_hz": 9}, "drop cutoff_hz"),
        ({"kind": "lowpass", "cutoff_hz": 1000, "high_hz": 300}, "drop them"),
    ],
)
def test_wrong_frequencies_for_the_kind_are_one_line_errors_at_construction(cls, kwargs, message):
    with pytest.raises(ParameterError, match=message) as err:
        cls(**kwargs)
    assert "\n" not in str(err.value)


def test_butterworth_cutoff_at_or_above_nyquist_names_the_fix():
    p = ButterworthFilter("lowpass", cutoff_hz=30000)
    with pytest.raises(ParameterError, match="below 22050 Hz") as err:
        p(noise(1, 0.01), 44100)
    assert "Nyquist" in str(err.value) and "\n" not in str(err.value)
    assert p(noise(1, 0.01, sr=96000), 96000).shape == (1, 960)  # fine at 96 kHz
    band = ButterworthFilter("bandpass", low_hz=300, high_hz=24000)
    with pytest.raises(ParameterError, match="high_hz=24000"):
        band.frequency_response(np.array([1000.0]), 48000)
