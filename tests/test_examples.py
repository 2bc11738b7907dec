"""The scripts in examples/ run, and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TAKE = EXAMPLES / "take.wav"


def run(script: str, *args: object) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_shipped_take_is_what_make_take_describes():
    x, rate = sf.read(TAKE)
    assert rate == 48000 and x.ndim == 1 and 8 < x.size / rate < 15
    lead_in = 20 * np.log10(np.sqrt(np.mean(x[:rate] ** 2)))
    speech = 20 * np.log10(np.sqrt(np.mean(x[rate:] ** 2)))
    assert -45 < lead_in < -35 and speech - lead_in > 12  # room tone, then a voice well above it


def test_master_folder(tmp_path):
    album, out = tmp_path / "album", tmp_path / "out"
    album.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for i, level in enumerate((0.03, 0.1)):
        sf.write(album / f"{i}.wav", level * rng.standard_normal((3 * 48000, 2)), 48000)
    text = run("master_folder.py", album, out)
    assert text.count("LUFS") == 2
    for path in out.iterdir():
        x, rate = sf.read(path)
        assert abs(pyloudnorm.Meter(rate).integrated_loudness(x) + 14) < 0.15


def test_python_chain_with_vst3(tmp_path, vst3_plugins):
    text = run("python_chain.py", TAKE, tmp_path / "out.flac", vst3_plugins["gain"])
    assert "ExternalPlugin" in text or "VST3Plugin" in text
    assert sf.info(tmp_path / "out.flac").frames == sf.info(TAKE).frames


def test_automation_blocks(tmp_path):
    text = run("automation_blocks.py", TAKE, tmp_path / "out.wav")
    difference = float(text.split("whole-buffer call: ")[1])
    assert difference <= 1e-5
    out, _ = sf.read(tmp_path / "out.wav")
    assert np.sqrt(np.mean(out[:4800] ** 2)) < 0.1 * np.sqrt(np.mean(out[-48000:] ** 2))  # faded in


def test_compare_presets(tmp_path):
    text = run("compare_presets.py", TAKE, tmp_path, "vocal-clarity", "dialogue-denoise")
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    floor_before = float(lines["(input)"][1])
    assert float(lines["vocal-clarity"][1]) < floor_before - 15  # the denoiser lowers the noise floor
    assert float(lines["dialogue-denoise"][1]) < floor_before - 10


def test_de_esser_and_duck_examples(tmp_path):
    text = run("de_ess.py", tmp_path)
    assert "sibilance" in text
    text = run("duck_music.py", tmp_path)
    assert "ducked" in text and (tmp_path / "bed.wav").exists()
