"""benchmarks/listening_test.py: a blind, loudness-matched A/B kit, and the score of its answers."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt
from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "listening_test.py"
TAKE = ROOT / "examples" / "take.wav"
PRESETS = ("telephone-band", "hum-removal")
REPEATS = 4


def _load_script():
    spec = importlib.util.spec_from_file_location("listening_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["listening_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lt = _load_script()


def make(out: Path, *args: str) -> int:
    argv = ["make", str(out), "--seconds", "3"]
    for name in PRESETS:
        argv += ["--preset", name]
    return lt.main([*argv, *args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    before = digest(TAKE)
    out = tmp_path_factory.mktemp("kits") / "kit"
    assert make(out, "--seed", "7", "--repeats", str(REPEATS)) == 0
    assert digest(TAKE) == before  # the input is only read
    return out


def key_of(kit: Path) -> dict:
    return json.loads((kit / "key.json").read_text(encoding="utf-8"))


def lufs(path: Path) -> float:
    x, rate = sf.read(path)
    return pyloudnorm.Meter(rate).integrated_loudness(x)


def test_kit_is_blind_matched_and_complete(kit):
    key = key_of(kit)
    clips = sorted(p.name for p in kit.glob("*.wav"))
    n_trials = len(PRESETS) * REPEATS
    assert len(key["trials"]) == n_trials and len(clips) == 2 * n_trials
    assert sorted(p.name for p in kit.iterdir()) == sorted([*clips, "README.txt", "answers.csv", "key.json"])
    # Names say nothing about what is inside; the key maps every file, and only those.
    assert all(re.fullmatch(r"trial\d\d_[AB]\.wav", name) for name in clips)
    assert set(key["files"]) == set(clips)
    for trial in key["trials"]:
        for side, name in (("A", trial["file_a"]), ("B", trial["file_b"])):
            entry = key["files"][name]
            assert entry["condition"] == trial[side] and entry["input"] == str(TAKE)
            assert {"loudness_before_lufs", "gain_db", "overrides", "preset"} <= set(entry)
    # Each preset is heard REPEATS times against the original, on each side equally often.
    for name in PRESETS:
        trials = [t for t in key["trials"] if t["challenger"] == name]
        assert len(trials) == REPEATS and {t["reference"] for t in trials} == {"original"}
        assert sum(t["A"] == name for t in trials) == REPEATS // 2
    # Loudness-matched (measured independently), under 0 dBFS, 24-bit, the 3 s excerpt.
    levels = [lufs(kit / name) for name in clips]
    assert max(levels) - min(levels) < 0.5
    assert abs(np.mean(levels) - key["matched_lufs"]) < 0.5
    for name in clips:
        x, rate = sf.read(kit / name)
        assert np.abs(x).max() < 1.0
        assert sf.info(kit / name).subtype == "PCM_24"
        assert x.shape[0] == 3 * rate
    # The conditions really differ: telephone-band's clip has lost its lows; the original has not.
    trial = next(t for t in key["trials"] if t["challenger"] == "telephone-band")
    band = trial["file_a"] if trial["A"] == "telephone-band" else trial["file_b"]
    original = trial["file_b"] if band == trial["file_a"] else trial["file_a"]
    low = butter(4, 200, "lowpass", fs=48000, output="sos")

    def low_share(name: str) -> float:
        x, _ = sf.read(kit / name)
        return float(np.sum(sosfilt(low, x) ** 2) / np.sum(x**2))

    assert low_share(band) < 0.1 * low_share(original)
    # The sheet: one empty row per trial.
    with open(kit / "answers.csv", newline="", encoding="utf-8") as sheet:
        rows = list(csv.DictReader(sheet))
    assert [int(r["trial"]) for r in rows] == list(range(1, n_trials + 1))
    assert all(r["choice"] == "" and r["notes"] == "" for r in rows)
    readme = (kit / "README.txt").read_text(encoding="utf-8")
    assert "headphones" in readme and "key.json" in readme and "answers.csv" in readme


def test_seed_fixes_the_design(kit, tmp_path):
    assert make(tmp_path / "same", "--seed", "7", "--repeats", str(REPEATS)) == 0
    assert make(tmp_path / "other", "--seed", "8", "--repeats", str(REPEATS)) == 0
    design = key_of(kit)["trials"]
    assert key_of(tmp_path / "same")["trials"] == design
    assert all(digest(tmp_path / "same" / n) == digest(kit / n) for n in key_of(kit)["files"])
    other = key_of(tmp_path / "other")["trials"]
    assert [(t["A"], t["B"]) for t in other] != [(t["A"], t["B"]) for t in design]
    assert sorted(t["challenger"] for t in other) == sorted(t["challenger"] for t in design)


def answer(kit: Path, choose) -> None:
    """Fill answers.csv: ``choose(trial)`` gives the condition preferred, or None for '='."""
    key = key_of(kit)
    with open(kit / "answers.csv", newline="", encoding="utf-8") as sheet:
        rows = list(csv.DictReader(sheet))
    for row, trial in zip(rows, key["trials"], strict=True):
        preferred = choose(trial)
        row["choice"] = "=" if preferred is None else "A" if trial["A"] == preferred else "B"
    with open(kit / "answers.csv", "w", newline="", encoding="utf-8") as sheet:
        writer = csv.DictWriter(sheet, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_score_counts_wins_and_matches_scipy(kit, tmp_path, capsys):
    scored = shutil.copytree(kit, tmp_path / "kit")
    seen = {name: 0 for name in PRESETS}

    def choose(trial):
        # telephone-band wins every trial; hum-removal: one tie, then loses the rest.
        name = trial["challenger"]
        seen[name] += 1
        if name == "telephone-band":
            return name
        return None if seen[name] == 1 else "original"

    answer(scored, choose)
    assert lt.main(["score", str(scored)]) == 0
    text = capsys.readouterr().out
    rows = {r["condition"]: r for r in lt.tally(key_of(scored), lt.read_answers(scored, key_of(scored)))}
    band, hum = rows["telephone-band"], rows["hum-removal"]
    assert (band["wins"], band["losses"], band["ties"]) == (REPEATS, 0, 0)
    assert (hum["wins"], hum["losses"], hum["ties"]) == (0, REPEATS - 1, 1)
    assert band["p"] == binomtest(REPEATS, REPEATS, 0.5).pvalue
    assert hum["p"] == binomtest(0, REPEATS - 1, 0.5).pvalue
    assert band["rate"] == 1.0 and hum["rate"] == 0.0
    lines = {line.split()[1]: line.split() for line in text.splitlines() if line.strip()[:1].isdigit()}
    assert lines["telephone-band"][:8] == [
        "1",
        "telephone-band",
        "original",
        str(REPEATS),
        str(REPEATS),
        "0",
        "0",
        "100",
    ]
    assert lines["telephone-band"][9] == f"{binomtest(REPEATS, REPEATS, 0.5).pvalue:.3f}"
    assert lines["hum-removal"][:7] == [
        "2",
        "hum-removal",
        "original",
        str(REPEATS),
        "0",
        str(REPEATS - 1),
        "1",
    ]


def test_invalid_choice_is_one_line_error(kit, tmp_path):
    scored = shutil.copytree(kit, tmp_path / "kit")
    answer(scored, lambda trial: "original")
    text = (scored / "answers.csv").read_text(encoding="utf-8").splitlines()
    text[3] = re.sub(r",[AB],", ",maybe,", text[3])
    (scored / "answers.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "score", str(scored)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "line 4 (trial 3)" in result.stderr and "'maybe'" in result.stderr and "A, B or =" in result.stderr


@pytest.mark.parametrize(
    ("fill", "message"),
    [
        (0, "no answers yet"),
        (3, f"{len(PRESETS) * REPEATS - 3} of {len(PRESETS) * REPEATS} trials have no choice"),
    ],
)
def test_empty_or_incomplete_sheet(kit, tmp_path, capsys, fill, message):
    scored = shutil.copytree(kit, tmp_path / "kit")
    if fill:
        answer(scored, lambda trial: None if trial["trial"] <= fill else "skip")
        text = (scored / "answers.csv").read_text(encoding="utf-8")
        (scored / "answers.csv").write_text(re.sub(r",[AB],", ",,", text), encoding="utf-8")
    assert lt.main(["score", str(scored)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_variant_is_compared_with_its_preset(tmp_path):
    out = tmp_path / "kit"
    assert (
        lt.main(
            [
                "make",
                str(out),
                "--preset",
                "hum-removal",
                "--variant",
                "hum-removal:0.gain_db=-6,1.q=10",
                "--seconds",
                "3",
                "--repeats",
                "2",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    key = key_of(out)
    variant = key["conditions"]["hum-removal:0.gain_db=-6,1.q=10"]
    assert variant["kind"] == "variant" and variant["reference"] == "hum-removal"
    assert variant["overrides"] == ["0.gain_db=-6", "1.q=10"]
    pairs = {(t["challenger"], t["reference"]) for t in key["trials"]}
    assert pairs == {("hum-removal", "original"), ("hum-removal:0.gain_db=-6,1.q=10", "hum-removal")}
    assert lt.parse_variant("p:a.b=[1,2],c.d=3") == ("p", ["a.b=[1,2]", "c.d=3"])


def test_peaks_lower_every_clip_together(tmp_path):
    # Quiet noise with full-scale clicks: matching it to -14 LUFS would clip, so all clips go down.
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal((3 * 48000, 2))
    x[::12000] = 0.95
    spiky = tmp_path / "spiky.wav"
    sf.write(spiky, x, 48000, subtype="FLOAT")
    out = tmp_path / "kit"
    assert (
        lt.main(
            [
                "make",
                str(out),
                "--input",
                str(spiky),
                "--preset",
                "hum-removal",
                "--lufs",
                "-14",
                "--repeats",
                "2",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    key = key_of(out)
    assert key["peak_reduction_db"] > 1 and key["matched_lufs"] < -15
    levels = [lufs(path) for path in out.glob("*.wav")]
    assert max(levels) - min(levels) < 0.5
    assert all(np.abs(sf.read(path)[0]).max() < 1.0 for path in out.glob("*.wav"))


def test_make_never_overwrites_and_leaves_nothing_on_error(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "answers.csv").write_text("mine", encoding="utf-8")
    assert make(taken) == 2
    assert (taken / "answers.csv").read_text(encoding="utf-8") == "mine"
    assert (
        lt.main(
            [
                "make",
                str(tmp_path / "new"),
                "--preset",
                "hum-removal",
                "--variant",
                "hum-removal:0.no_such_param=1",
                "--seconds",
                "3",
            ]
        )
        == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("listening_test.py: error: ") for line in errors)
