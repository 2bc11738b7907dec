"""Declip: clip-level detection and consistent (constrained) LS AR interpolation, measured."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, stream

import clarity_fx as cfx
from clarity_fx.errors import ParameterError
from clarity_fx.processors.declip import Declip


def harmonic(seconds: float = 3.0, seed: int = 1) -> np.ndarray:
    """A known clean signal, peak 0.5: harmonics of 196 Hz with a slow swell, and −60 dB noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(0.5 ** k * np.sin(2 * np.pi * 196 * (k + 1) * t + rng.uniform(0, 6)) for k in range(8))
    x = tones * (0.7 + 0.3 * np.sin(2 * np.pi * 0.5 * t)) + 0.001 * rng.standard_normal(t.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def clip_over(x: np.ndarray, over_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(reference, clipped): ``x`` scaled up by ``over_db``, then hard-clipped at its old peak."""
    peak = np.abs(x).max()
    ref = x * np.float32(10 ** (over_db / 20))
    return ref, np.clip(ref, -peak, peak)


def sdr_db(ref: np.ndarray, y: np.ndarray) -> float:
    ref64 = ref.astype(np.float64)
    return float(10 * np.log10(np.sum(ref64**2) / np.sum((ref64 - y) ** 2)))


def test_unclipped_audio_passes_bit_identical():
    for x in (harmonic(), harmonic(seed=4)[::-1].copy(), np.round(harmonic() * 32767) / np.float32(32767)):
        plugin = Declip()
        out = plugin(x, SR)
        np.testing.assert_array_equal(out, x)
        assert plugin.repaired_samples == 0


@pytest.mark.parametrize("over_db", [1, 3, 6, 10])
def test_restores_clipping_consistently(over_db):
    ref, clipped = clip_over(harmonic(), over_db)
    level = np.abs(clipped).max()
    plugin = Declip()
    out = plugin(clipped, SR)
    delta = sdr_db(ref, out) - sdr_db(ref, clipped)
    assert delta > 3.0
    was_clipped = np.abs(clipped) >= level * 10 ** (-plugin.tolerance_db / 20)  # what counts as clipped
    # consistency: restored samples keep the clipped sign and reach at least the clip level
    assert np.all(np.sign(out[was_clipped]) == np.sign(clipped[was_clipped]))
    assert np.all(np.abs(out[was_clipped]) >= np.abs(clipped[was_clipped]))
    # everything else is the input, untouched
    np.testing.assert_array_equal(out[~was_clipped], clipped[~was_clipped])
    assert np.abs(out).max() > level  # the peaks come back above the old clip level
    assert int((np.abs(clipped) >= level).sum()) <= plugin.repaired_samples <= int(was_clipped.sum())


def add_spikes(x: np.ndarray, level: float, seed: int = 0, count: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(damaged, where): lone spikes of 1.3–2× ``level``, either sign, the first two at the very start."""
    rng = np.random.default_rng(seed)
    where = np.concatenate([[0, 1], rng.integers(100, x.shape[-1] - 100, count - 2)])
    signs = np.concatenate([[1.0, -1.0], rng.choice([-1.0, 1.0], count - 2)])
    y = x.copy()
    y[..., where] = (signs * level * rng.uniform(1.3, 2.0, count)).astype(np.float32)
    return y, where


@pytest.mark.parametrize("over_db", [1, 3, 6, 10])
def test_restores_clipping_despite_clicks_above_the_clip_level(over_db):
    """The real fault: spikes above the clip level (at the start) once switched declipping off for good."""
    ref, clipped = clip_over(harmonic(), over_db)
    level = float(np.abs(clipped).max())
    damaged, where = add_spikes(clipped, level)
    keep = np.ones(ref.size, bool)
    keep[where] = False  # score the declipping against the clean signal, away from the spikes
    out = Declip()(damaged, SR)
    delta = sdr_db(ref[keep], out[keep]) - sdr_db(ref[keep], damaged[keep])
    clean_delta = sdr_db(ref, Declip()(clipped, SR)) - sdr_db(ref, clipped)
    assert delta > 3.0 and delta > clean_delta - 1.0
    was_clipped = np.abs(clipped) >= level * 10 ** (-Declip().tolerance_db / 20)
    was_clipped[where] = False
    assert np.all(np.abs(out[was_clipped]) >= level)  # consistent, as without the spikes
    untouched = ~was_clipped
    untouched[where] = False
    np.testing.assert_array_equal(out[untouched], damaged[untouched])
    # a spike amid clipping is an outlier (nothing genuine passes the clip level) and is restored,
    # nearer the clean signal; one far from any clipping is left alone
    changed = out[where] != damaged[where]
    assert np.all(np.abs(out[where] - ref[where])[changed] < np.abs(damaged[where] - ref[where])[changed] / 2)


def test_streams_like_whole_buffer_with_clicks_above_the_clip_level():
    _, clipped = clip_over(np.stack([harmonic(1.0), harmonic(1.0, seed=2)]), 6)
    damaged, _ = add_spikes(clipped, float(np.abs(clipped).max()))
    plugin = Declip()
    whole = plugin(damaged, SR)
    np.testing.assert_array_equal(stream(plugin, damaged, [333, 4096, 17, 9000]), whole)
    assert plugin.repaired_samples > 0


def test_streams_like_whole_buffer_when_clipped():
    ref, clipped = clip_over(np.stack([harmonic(1.0), harmonic(1.0, seed=2)]), 6)
    plugin = Declip()
    whole = plugin(clipped, SR)
    np.testing.assert_array_equal(stream(plugin, clipped, [333, 4096, 17, 9000]), whole)


def test_latency_is_half_window_plus_lookahead():
    # the look-ahead holds the longest run plus 2P of context, P the highest candidate order (3 × 32)
    plugin = Declip(window_ms=40.0, ar_order=32, max_run_ms=10.0)
    assert plugin.latency_for(48000) == 960 + 480 + 2 * 96
    assert Declip(ar_order=32, choose_order=False).latency_for(48000) == 960 + 480 + 2 * 32


def test_blend_removed_is_what_was_taken_out():
    _, clipped = clip_over(harmonic(1.0), 6)
    processed = cfx.Blend(Declip())(clipped, SR)
    removed = cfx.Blend(Declip(), listen="removed")(clipped, SR)
    np.testing.assert_allclose(processed + removed, clipped, atol=1e-6)
    assert np.abs(removed).max() > 0.05


@pytest.mark.parametrize("bad", [{"tolerance_db": -1.0}, {"ar_order": 1000}, {"min_run_samples": 0}])
def test_parameters_are_range_checked(bad):
    with pytest.raises(ParameterError):
        Declip(**bad)


SPEECH = Path("/usr/share/sounds/alsa/Front_Center.wav")
needs_speech = pytest.mark.skipif(not SPEECH.exists(), reason="alsa-utils' spoken words are not installed")


def speech() -> np.ndarray:
    """Real speech, peak as recorded: alsa-utils' "Front center" (1.4 s, 48 kHz)."""
    data, rate = sf.read(SPEECH, dtype="float32", always_2d=True)
    assert rate == SR
    return np.ascontiguousarray(data[:, 0])


@needs_speech
def test_cross_validated_order_beats_the_fixed_order_on_heavy_clipping():
    """Each hop's model is the candidate that best restores the hop clipped again 3 dB lower.

    On speech clipped 10 dB over its level (long runs), that choice gains over the fixed
    order-32 model (measured 8.2 against 5.4 dB ΔSDR).
    """
    ref, clipped = clip_over(speech(), 10)
    base = sdr_db(ref, clipped)
    fixed = sdr_db(ref, Declip(choose_order=False)(clipped, SR)) - base
    chosen_plugin = Declip()
    out = chosen_plugin(clipped, SR)
    chosen = sdr_db(ref, out) - base
    assert chosen >= fixed + 2.0
    level = np.abs(clipped).max()
    was_clipped = np.abs(clipped) >= level * 10 ** (-chosen_plugin.tolerance_db / 20)
    # still consistent: clipped sign kept, at or beyond the clip level; the rest untouched
    assert np.all(np.sign(out[was_clipped]) == np.sign(clipped[was_clipped]))
    assert np.all(np.abs(out[was_clipped]) >= np.abs(clipped[was_clipped]))
    np.testing.assert_array_equal(out[~was_clipped], clipped[~was_clipped])


def adeclip(clipped: np.ndarray, folder: Path) -> np.ndarray:
    """``ffmpeg -af adeclip`` (defaults) on ``clipped``."""
    src, dst = folder / "in.wav", folder / "out.wav"
    sf.write(src, clipped, SR, subtype="FLOAT")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-af", "adeclip",
                    "-c:a", "pcm_f32le", str(dst)], check=True)
    theirs, _ = sf.read(dst, dtype="float32")
    return theirs[: clipped.size]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("signal, over_db", [("harmonic", 3), pytest.param("speech", 10, marks=needs_speech)])
def test_beats_ffmpeg_adeclip_by_2_db(tmp_path, signal, over_db):
    """The goal: ΔSDR at least 2 dB above ``ffmpeg -af adeclip`` (defaults) on the same clipping.

    Two cases, kept cheap (adeclip's time grows with the clipping): the synthetic harmonic at
    3 dB and real speech at 10 dB, the hardest case of the goal. Every recording at 1, 3, 6 and
    10 dB is measured by ``benchmarks/bench_declick.py``.
    """
    ref, clipped = clip_over(harmonic(1.0) if signal == "harmonic" else speech(), over_db)
    theirs = adeclip(clipped, tmp_path)
    base = sdr_db(ref, clipped)
    assert sdr_db(ref, Declip()(clipped, SR)) - base >= sdr_db(ref, theirs) - base + 2.0
