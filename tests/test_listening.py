"""clarity_fx.listening: the blind test page's contents and key, and the score of its answers."""

from __future__ import annotations

import base64
import hashlib
import io
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
from scipy.stats import binomtest

from clarity_fx import listening as ls

ROOT = Path(__file__).resolve().parent.parent
TAKE = ROOT / "examples" / "take.wav"
PRESETS = ("telephone-band", "hum-removal")
REPEATS, ABX = 2, 2


def clarity(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clarity_fx", *map(str, args)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def page_data(folder: Path) -> dict:
    text = (folder / ls.PAGE_NAME).read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="listen-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def decode(src: str) -> tuple[np.ndarray, int]:
    assert src.startswith("data:audio/ogg;base64,")
    x, rate = sf.read(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), dtype="float64", always_2d=True)
    return x, rate


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory) -> Path:
    before = digest(TAKE)
    out = tmp_path_factory.mktemp("listen") / "test"
    ls.make_test(TAKE, PRESETS, out, repeats=REPEATS, abx=ABX, seconds=2.0, start=1.0, seed=5)
    assert digest(TAKE) == before  # the input is only read
    return out


def key_of(folder: Path) -> dict:
    return ls.read_key(folder / ls.KEY_NAME)


# --------------------------------------------------------------------------- statistics
def test_holm_steps_down_and_keeps_order():
    # Sorted 0.01, 0.03, 0.04 (m = 3): 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04).
    assert ls.holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert ls.holm([0.5, 0.9]) == [1.0, 1.0]
    assert ls.holm([]) == []


def test_preferences_pool_either_way_round_and_match_scipy():
    judgements = (
        [ls.Preference("x", "original", "x", "A")] * 7
        + [ls.Preference("original", "x", "x", "B")] * 2  # the same pair, named the other way round
        + [ls.Preference("x", "original", "original", "A")]
        + [ls.Preference("x", "original", None, "=")] * 3
        + [ls.Preference("y", "original", "original", "B")] * 2
    )
    rows = {r["condition"]: r for r in ls.tally_preferences(judgements)}
    x, y = rows["x"], rows["y"]
    assert (x["trials"], x["wins"], x["losses"], x["ties"]) == (13, 9, 1, 3)
    assert x["rate"] == 0.9 and x["p"] == binomtest(9, 10, 0.5).pvalue
    assert (y["wins"], y["losses"], y["rate"]) == (0, 2, 0.0)
    assert [x["p_holm"], y["p_holm"]] == ls.holm([x["p"], y["p"]])
    assert ls.preference_verdict(x) == "preferred" and ls.preference_verdict(y) == "no clear preference"


def test_identifications_are_one_sided():
    right, wrong = ls.Identification("x", "original", True), ls.Identification("x", "original", False)
    guess = [ls.Identification("y", "original", k % 2 == 0) for k in range(10)]
    heard, chance = ls.tally_identifications([right] * 9 + [wrong] + guess)
    assert (heard["condition"], heard["trials"], heard["correct"], heard["rate"]) == ("x", 10, 9, 0.9)
    assert heard["p"] == pytest.approx(11 / 1024)  # P(K >= 9), K ~ Binomial(10, 1/2): one-sided
    assert heard["p"] == pytest.approx(binomtest(9, 10, 0.5).pvalue / 2)
    assert (chance["correct"], chance["p"]) == (5, pytest.approx(binomtest(5, 10, 0.5, "greater").pvalue))
    assert [heard["p_holm"], chance["p_holm"]] == ls.holm([heard["p"], chance["p"]])
    assert ls.identification_verdict(heard) == "difference heard"
    assert ls.identification_verdict(chance) == "not shown to be heard"


# --------------------------------------------------------------------------- the page and its key
def test_page_is_blind_and_complete(test_dir):
    key = key_of(test_dir)
    assert sorted(p.name for p in test_dir.iterdir()) == [ls.PAGE_NAME, ls.KEY_NAME]
    n_ab, n_abx = len(PRESETS) * REPEATS, len(PRESETS) * ABX
    assert [t["type"] for t in key["trials"]] == ["ab"] * n_ab + ["abx"] * n_abx
    assert [t["trial"] for t in key["trials"]] == list(range(1, n_ab + n_abx + 1))
    assert set(key["versions"]) == {"original", *PRESETS}
    for name in PRESETS:  # each preset against the original, on each side (and as X) equally often
        ab = [t for t in key["trials"] if t["challenger"] == name and t["type"] == "ab"]
        abx = [t for t in key["trials"] if t["challenger"] == name and t["type"] == "abx"]
        assert len(ab) == REPEATS and sum(t["A"] == name for t in ab) == REPEATS // 2
        assert {t["reference"] for t in ab + abx} == {"original"}
        assert sorted(t["X"] for t in abx) == ["A", "B"]
    page = (test_dir / ls.PAGE_NAME).read_text(encoding="utf-8")
    text = re.sub(r"data:audio/ogg;base64,[A-Za-z0-9+/=]+", "", page)  # the audio itself, to decode below
    assert len(text) < 40_000
    # What a curious listener sees in the page's source or devtools: no names, no numbers per
    # version, no way to the key, nothing fetched.
    for secret in [*PRESETS, "hum", "telephone", "original", "key.json", "preset", "lufs_", "gain_db"]:
        assert secret not in text.lower(), secret
    for version in key["versions"].values():
        assert f"{version['gain_db']}" not in text and f"{version['loudness_before_lufs']}" not in text
    assert not re.search(r"https?:|fetch\(|XMLHttpRequest|(src|href)=\"(?!data:)", text)
    data = page_data(test_dir)
    assert data["test"] == key["test"] and len(data["trials"]) == len(key["trials"])
    srcs = []
    for shown, trial in zip(data["trials"], key["trials"], strict=True):
        assert set(shown) == {"trial", "type", "tracks"} and shown["trial"] == trial["trial"]
        assert [t["side"] for t in shown["tracks"]] == (
            ["A", "B", "X"] if trial["type"] == "abx" else ["A", "B"]
        )
        assert all(set(t) == {"side", "src"} for t in shown["tracks"])
        srcs += [t["src"] for t in shown["tracks"]]
    assert len(set(srcs)) == len(srcs)  # every clip is its own encoding: none can be matched by its bytes
    assert len({s[-2000:] for s in srcs}) == len(srcs)


def test_clips_are_matched_and_x_is_the_side_the_key_says(test_dir):
    key, data = key_of(test_dir), page_data(test_dir)
    levels = []
    for shown, trial in zip(data["trials"], key["trials"], strict=True):
        audio = {t["side"]: decode(t["src"]) for t in shown["tracks"]}
        for x, rate in audio.values():
            assert rate == 48000 and abs(x.shape[0] - 2 * rate) < 0.05 * rate  # the 2 s excerpt
            assert np.abs(x).max() < 1.0
            levels.append(pyloudnorm.Meter(rate).integrated_loudness(x))
        if trial["type"] == "abx":
            n = min(len(a) for a, _ in audio.values())
            x = audio["X"][0][:n]
            same, other = (audio[s][0][:n] for s in (trial["X"], "B" if trial["X"] == "A" else "A"))
            # X is the key's side up to the codec (and the dither); the other differs by a preset.
            assert np.sum((x - same) ** 2) < 0.3 * np.sum((x - other) ** 2)
    assert max(levels) - min(levels) < 0.5
    assert abs(np.mean(levels) - key["matched_lufs"]) < 0.5


def test_make_refuses_a_used_folder_and_leaves_nothing_on_error(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "answers.json").write_text("mine", encoding="utf-8")
    with pytest.raises(ls.ListeningTestError, match="not empty"):
        ls.make_test(TAKE, ["hum-removal"], taken, seconds=2.0)
    assert (taken / "answers.json").read_text(encoding="utf-8") == "mine"
    result = clarity(
        "listen", "make", TAKE, "--preset", "podcast-duck", "-o", tmp_path / "new", "--seconds", 2
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "sidechain key" in result.stderr
    with pytest.raises(ls.ListeningTestError, match="at least one --preset"):
        ls.make_test(TAKE, [], tmp_path / "new")
    with pytest.raises(ls.ListeningTestError, match="do not fit"):
        ls.make_test(TAKE, ["hum-removal"], tmp_path / "new", seconds=2.0, max_bytes=100_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


# --------------------------------------------------------------------------- answers and score
def answers_for(key: dict, choose, **extra) -> dict:
    """An answers file as the page writes it; ``choose(trial)`` gives the side pressed."""
    return {
        "format": ls.ANSWERS_FORMAT, "version": ls.ANSWERS_VERSION, "test": key["test"], "listener": "T",
        "started": "2026-01-01T00:00:00Z", "saved": "2026-01-01T00:10:00Z",
        "answers": [{"trial": t["trial"], "type": t["type"], "choice": c, "seconds": 3.0, "switches": 2}
                    for t in key["trials"] if (c := choose(t)) is not None],
        **extra,
    }  # fmt: skip


def prefer(name: str):
    """Press the side of ``name`` in A/B trials (= when it is not there) and name X right in ABX."""
    return lambda t: (
        t["X"] if t["type"] == "abx" else "A" if t["A"] == name else "B" if t["B"] == name else "="
    )


def test_score_joins_answers_with_the_key_found_beside_the_page(test_dir, tmp_path):
    key = key_of(test_dir)
    path = tmp_path / "answers.json"
    page = (test_dir / ls.PAGE_NAME).resolve().as_uri()
    path.write_text(json.dumps(answers_for(key, prefer("telephone-band"), page=page)), encoding="utf-8")
    result = clarity("listen", "score", path, "--json", tmp_path / "result.json")
    assert result.returncode == 0, result.stderr
    lines = {
        line.split()[1]: line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()
    }
    # telephone-band: chosen in each of its REPEATS trials; hum-removal: never there, so '=' each time.
    assert lines["telephone-band"][:8] == ["1", "telephone-band", "original", str(REPEATS), str(REPEATS),
                                           "0", "0", "100"]  # fmt: skip
    assert lines["hum-removal"][3:7] == [str(REPEATS), "0", "0", str(REPEATS)]
    assert f"{len(key['trials'])} of {len(key['trials'])} trials answered" in result.stdout
    assert re.search(rf"hum-removal / original\s+{ABX}\s+{ABX}\s+100 %", result.stdout)
    # The result file carries its key: scored again (without one), alone or pooled, it says the same.
    score = ls.score_files([tmp_path / "result.json"])
    again = ls.score_files([path], [test_dir / ls.KEY_NAME])
    assert score.preferences == again.preferences and score.identifications == again.identifications
    assert score.preferences[0]["p"] == binomtest(REPEATS, REPEATS, 0.5).pvalue


def test_several_listeners_pool(test_dir, tmp_path):
    key = key_of(test_dir)
    paths = []
    for n in range(3):
        path = tmp_path / f"listener{n}.json"
        path.write_text(json.dumps(answers_for(key, prefer("original"), started=f"2026-01-0{n + 1}")))
        paths.append(path)
    score = ls.score_files(paths, [test_dir / ls.KEY_NAME])
    rows = {r["condition"]: r for r in score.preferences}
    assert all(r["trials"] == 3 * REPEATS and r["losses"] == 3 * REPEATS for r in rows.values())
    assert rows["hum-removal"]["p"] == binomtest(0, 3 * REPEATS, 0.5).pvalue
    assert len(score.sources) == 3
    with pytest.raises(ls.ListeningTestError, match="same answers"):
        ls.score_files([paths[0], paths[0]], [test_dir / ls.KEY_NAME])


def test_partial_answers_are_scored_and_said(test_dir, tmp_path):
    key = key_of(test_dir)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(answers_for(key, lambda t: "B" if t["trial"] <= 2 else None)))
    text = ls.format_score(ls.score_files([path], [test_dir / ls.KEY_NAME]))
    assert f"2 of {len(key['trials'])} trials answered, {len(key['trials']) - 2} not answered" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(test="0" * 16), "no key for test 0000000000000000"),
        (lambda a: a["answers"][0].update(choice="maybe"), "choice 'maybe' is not A, B or ="),
        (lambda a: a["answers"].append(dict(a["answers"][0])), "answered twice"),
        (lambda a: a.update(version=2), "version 2; this clarity-fx reads version 1"),
        (lambda a: a.update(format=ls.KEY_FORMAT), "this is a key, not the answers file"),
        (lambda a: a["answers"][-1].update(choice="="), "is ABX: its choice must be A or B"),
        (lambda a: a["answers"][0].update(trial=999), "has no trial 999"),
    ],
)
def test_bad_answers_are_one_line(test_dir, tmp_path, capsys, change, message):
    from clarity_fx.cli import main

    answers = answers_for(key_of(test_dir), prefer("hum-removal"))
    change(answers)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(answers))
    shutil.copy(test_dir / ls.KEY_NAME, tmp_path / "key.json")  # found beside the answers
    with pytest.raises(SystemExit) as stop:
        main(["listen", "score", str(path)])  # in-process: the one-line rule is main's, not the shell's
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert err.startswith("clarity: error: ")
