"""Sidechain keys: a de-esser from a band-pass key, ducking music under a voice."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, stream
from test_chain import Delay

import clarity_fx as cfx
from clarity_fx.sidechain import KeyMismatchError

T = np.arange(2 * SR) / SR
TONE = (0.3 * np.sin(2 * np.pi * 1000 * T)).astype(np.float32)
BURSTS = (0.3 * np.sin(2 * np.pi * 6000 * T) * ((T % 0.5) < 0.1)).astype(np.float32)


def de_esser():
    return cfx.load_preset("de-esser")


def test_de_esser_leaves_a_steady_tone_alone():
    out = de_esser()(TONE, SR)
    steady = slice(SR // 2, None)
    change = 20 * np.log10(np.abs(out[steady]).max() / np.abs(TONE[steady]).max())
    assert abs(change) < 0.1


def test_de_esser_turns_down_6khz_bursts():
    x = TONE + BURSTS
    out = de_esser()(x, SR)
    inside = ((T % 0.5) > 0.01) & ((T % 0.5) < 0.1)
    change = 20 * np.log10(np.sqrt(np.mean(out[inside] ** 2)) / np.sqrt(np.mean(x[inside] ** 2)))
    assert change < -6


def test_key_latency_is_aligned_with_the_audio():
    x = TONE + BURSTS
    plain = cfx.HardKneeCompressor(threshold_db=-20, ratio=4)(x, SR)
    keyed = cfx.HardKneeCompressor(threshold_db=-20, ratio=4, key=cfx.Chain([Delay(delay_samples=300)]))(
        x, SR
    )
    np.testing.assert_allclose(keyed, plain, atol=1e-6)


def test_keyed_compressor_streams_exactly():
    comp = de_esser()
    x = (TONE + BURSTS)[None, :]
    np.testing.assert_allclose(stream(comp, x, [37, 1000, 4096, 12345]), comp(x, SR), atol=1e-6)


DEPTH, ATTACK, RELEASE, LOOKAHEAD = 12.0, 10.0, 400.0, 10.0


def ducked_gain_db():
    music = np.full(4 * SR, 0.1, np.float32)  # a constant bed: the output is the gain itself
    voice = np.zeros(4 * SR, np.float32)
    voice[SR : 2 * SR] = 0.3 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)
    bed = cfx.duck(
        music, voice, SR, depth_db=DEPTH, attack_ms=ATTACK, release_ms=RELEASE, lookahead_ms=LOOKAHEAD
    )
    return 20 * np.log10(bed / 0.1)


def test_duck_drops_by_the_set_amount_within_the_attack_time():
    gain = ducked_gain_db()
    assert abs(gain[int(1.5 * SR)] + DEPTH) < 0.1  # the set amount
    start = SR - int(LOOKAHEAD * 1e-3 * SR)  # the gain starts moving one lookahead early
    reached = start + np.argmax(gain[start:] <= -DEPTH * (1 - 1 / np.e))
    assert abs((reached - start) / SR * 1e3 - ATTACK) <= 0.05 * ATTACK + 0.1
    assert np.all(gain[: start - 1] == 0.0)  # nothing before the voice


def test_duck_recovers_within_the_release_time():
    gain = ducked_gain_db()
    end = 2 * SR
    back = end + np.argmax(gain[end:] >= -DEPTH / np.e)
    assert abs((back - end) / SR * 1e3 - RELEASE) <= 0.05 * RELEASE


def test_key_rules():
    music = np.full(SR, 0.1, np.float32)
    with pytest.raises(KeyMismatchError, match="resample the key"):
        cfx.HardKneeCompressor(external_key=cfx.KeySource(np.zeros(SR), 44100))(music, SR)
    stereo = np.full((2, SR), 0.1, np.float32)
    with pytest.raises(KeyMismatchError, match="link='max' or 'mean'"):
        cfx.HardKneeCompressor(link="none", external_key=cfx.KeySource(np.zeros((3, SR)), SR))(stereo, SR)
    short_voice = 0.3 * np.ones(SR // 4, np.float32)  # shorter: silence after its end, no guess
    bed = cfx.duck(music, short_voice, SR, release_ms=20)
    assert bed[-1] == pytest.approx(0.1, rel=1e-3) and bed[SR // 8] < 0.05


def test_cli_key_and_podcast_duck_preset(tmp_path):
    music = (0.1 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    voice = np.zeros(3 * SR, np.float32)
    voice[SR : 2 * SR] = 0.3 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)
    sf.write(tmp_path / "music.wav", music, SR, subtype="FLOAT")
    sf.write(tmp_path / "voice.wav", voice, SR, subtype="FLOAT")
    subprocess.run(
        [
            "clarity",
            "apply",
            "podcast-duck",
            str(tmp_path / "music.wav"),
            "--key",
            str(tmp_path / "voice.wav"),
            "-o",
            str(tmp_path / "bed.wav"),
        ],
        check=True,
    )
    bed, _ = sf.read(tmp_path / "bed.wav", dtype="float32")
    np.testing.assert_allclose(bed, cfx.duck(music, voice, SR), atol=1e-6)
    missing = subprocess.run(
        ["clarity", "apply", "podcast-duck", str(tmp_path / "music.wav"), "-o", str(tmp_path / "bed2.wav")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "pass --key" in missing.stderr
    assert not (tmp_path / "bed2.wav").exists()
