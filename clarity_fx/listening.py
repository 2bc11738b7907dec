"""Blind listening tests: the score of a listener's answers, and the files a test is made of.

A blind test compares *versions* of one excerpt (the unprocessed input and one render per
preset) in *trials*. An A/B trial asks which of two versions sounds better (``A``, ``B``, or
``=`` for no preference); an ABX trial plays A, B and X, where X is one of them at random, and
asks which (``A`` or ``B``), to learn whether a difference is heard at all.

Scoring walks the standard paired-comparison analysis:

1. For each pair of versions, a preference is a *win* for one side; ties (``=``) are left out.
2. The preference rate is ``wins / (wins + losses)``.
3. The two-sided sign test asks how likely so uneven a split is if neither version were
   preferred: ``p = P(|K - n/2| >= |k - n/2|)``, ``K ~ Binomial(n, 1/2)``, ``n`` the decisive
   trials (``scipy.stats.binomtest``).
4. An ABX pair is *heard* when X was named right more often than chance: the one-sided test
   ``p = P(K >= k)``, ``K ~ Binomial(n, 1/2)``.
5. Several pairs are several tests, so the p-values of one family (A/B preferences, ABX
   identifications) are adjusted by Holm's step-down method (Holm 1979): sorted ascending,
   ``p_(i)`` becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))`` for ``m`` tests.

Three small versioned JSON files carry a test (see :data:`KEY_FORMAT`, :data:`ANSWERS_FORMAT`
and :data:`RESULT_FORMAT`): the *key*, written beside the test page by ``clarity listen make``
and never read by the page; the *answers*, which the page saves from the listener's browser;
and the *result*, which ``clarity listen score --json`` writes by joining the two. A result
file names versions, not sides, so results of different listeners (and different tests of
the same presets) pool.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import ClarityError

#: The label of the unprocessed input among the versions.
ORIGINAL = "original"
#: A/B answers: A preferred, B preferred, or no preference.
CHOICES = ("A", "B", "=")
#: ABX answers: X is A, or X is B.
ABX_CHOICES = ("A", "B")
#: Fewest decisive trials for which a two-sided sign test can reach p < 0.05 (2 * 0.5**6 = 0.031).
MIN_DECISIVE = 6
#: Fewest ABX trials for which the one-sided test can reach p < 0.05 (0.5**5 = 0.031).
MIN_ABX = 5
#: Significance level of every verdict.
ALPHA = 0.05
#: What the listener is asked in an A/B trial.
QUESTION = (
    "Which of the two sounds better: clearer speech, fewer artefacts (warbling or 'underwater' "
    "sound, pumping, lisping, muffled or thin tone, clicks)? If you cannot hear a difference or "
    "cannot decide, answer '='."
)
#: What the listener is asked in an ABX trial.
ABX_QUESTION = "X is either A or B. Which one is it? Guess if you must: ABX counts right and wrong."

#: ``format`` of the key file, and its version.
KEY_FORMAT, KEY_VERSION = "clarity-listen-key", 1
#: ``format`` of the answers file the page saves, and its version.
ANSWERS_FORMAT, ANSWERS_VERSION = "clarity-listen-answers", 1
#: ``format`` of the result file ``clarity listen score --json`` writes, and its version.
RESULT_FORMAT, RESULT_VERSION = "clarity-listen-result", 1
#: Largest answers, key or result file read, bytes (they are a few kB; this stops a wrong file early).
MAX_JSON_BYTES = 16 * 2**20


class ListeningTestError(ClarityError):
    """A listening-test file (key, answers, result) is missing, malformed or from another test."""


# --------------------------------------------------------------------------- statistics
def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    Parameters
    ----------
    pvalues : sequence of float
        The p-values of one family of tests.

    Returns
    -------
    list of float
        ``max_{j<=i} min(1, (m - j + 1) p_(j))`` for the ``i``-th smallest, put back in place.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Preference:
    """One A/B judgement, by version rather than by side.

    Attributes
    ----------
    challenger, reference : str
        The pair's versions; the table counts wins for ``challenger``.
    preferred : str or None
        The version chosen, or ``None`` for no preference (``=``).
    side : str
        What the listener pressed: ``"A"``, ``"B"`` or ``"="`` (kept to spot a side bias).
    """

    challenger: str
    reference: str
    preferred: str | None
    side: str = "="


@dataclass(frozen=True)
class Identification:
    """One ABX judgement.

    Attributes
    ----------
    challenger, reference : str
        The two versions played as A and B (in either order).
    is_correct : bool
        Whether the listener named X right.
    """

    challenger: str
    reference: str
    is_correct: bool


def tally_preferences(judgements: Iterable[Preference]) -> list[dict[str, Any]]:
    """Per pair: wins, losses and ties of the challenger, its preference rate and the sign test.

    Parameters
    ----------
    judgements : iterable of Preference
        Any number of listeners' A/B judgements; the same pair given either way round is one pair.

    Returns
    -------
    list of dict
        ``condition``, ``reference``, ``trials``, ``wins``, ``losses``, ``ties``, ``rate`` (wins
        / decisive trials, ``None`` if none), ``p`` (two-sided sign test) and ``p_holm``, best
        rate first.

    Examples
    --------
    >>> rows = tally_preferences([Preference("x", "original", "x", "A")] * 6)
    >>> rows[0]["wins"], rows[0]["rate"], round(rows[0]["p"], 4)
    (6, 1.0, 0.0312)
    """
    from scipy.stats import binomtest

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for judgement in judgements:
        challenger, reference = judgement.challenger, judgement.reference
        if (reference, challenger) in rows:
            challenger, reference = reference, challenger
        row = rows.setdefault(
            (challenger, reference),
            {"condition": challenger, "reference": reference, "trials": 0, "wins": 0, "losses": 0, "ties": 0},
        )
        row["trials"] += 1
        if judgement.preferred is None:
            row["ties"] += 1
        elif judgement.preferred == challenger:
            row["wins"] += 1
        else:
            row["losses"] += 1
    result = list(rows.values())
    for row in result:
        decisive = row["wins"] + row["losses"]
        row["rate"] = row["wins"] / decisive if decisive else None
        row["p"] = float(binomtest(row["wins"], decisive, 0.5).pvalue) if decisive else 1.0
    for row, adjusted in zip(result, holm([row["p"] for row in result]), strict=True):
        row["p_holm"] = adjusted
    result.sort(key=lambda r: (r["rate"] is None, -(r["rate"] or 0.0), -r["wins"], r["condition"]))
    return result


def tally_identifications(judgements: Iterable[Identification]) -> list[dict[str, Any]]:
    """Per pair: how often X was named right, and the one-sided binomial test against guessing.

    Parameters
    ----------
    judgements : iterable of Identification
        Any number of listeners' ABX judgements.

    Returns
    -------
    list of dict
        ``condition``, ``reference``, ``trials``, ``correct``, ``rate``, ``p`` and ``p_holm``,
        most often right first.
    """
    from scipy.stats import binomtest

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for judgement in judgements:
        pair = (judgement.challenger, judgement.reference)
        if pair[::-1] in rows:
            pair = pair[::-1]
        row = rows.setdefault(pair, {"condition": pair[0], "reference": pair[1], "trials": 0, "correct": 0})
        row["trials"] += 1
        row["correct"] += bool(judgement.is_correct)
    result = list(rows.values())
    for row in result:
        row["rate"] = row["correct"] / row["trials"]
        row["p"] = float(binomtest(row["correct"], row["trials"], 0.5, alternative="greater").pvalue)
    for row, adjusted in zip(result, holm([row["p"] for row in result]), strict=True):
        row["p_holm"] = adjusted
    result.sort(key=lambda r: (-r["rate"], -r["correct"], r["condition"]))
    return result


def preference_verdict(row: dict[str, Any]) -> str:
    """A row of :func:`tally_preferences` in words: who is preferred, if anyone, at :data:`ALPHA`."""
    if row["p_holm"] < ALPHA:
        return "preferred" if row["wins"] > row["losses"] else f"{row['reference']} preferred"
    if row["p"] < ALPHA:
        return "leaning (not significant after Holm)"
    return "no clear preference"


def identification_verdict(row: dict[str, Any]) -> str:
    """A row of :func:`tally_identifications` in words: whether the difference was heard."""
    if row["p_holm"] < ALPHA:
        return "difference heard"
    if row["p"] < ALPHA:
        return "leaning (not significant after Holm)"
    return "not shown to be heard"


def _table(header: list[str], body: list[list[str]], left: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in [header, *body]
    ]


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f} %"


def format_preferences(rows: list[dict[str, Any]], sides: dict[str, int] | None = None) -> list[str]:
    """The ranked A/B table of :func:`tally_preferences`, with how to read it, as lines of text.

    Parameters
    ----------
    rows : list of dict
        From :func:`tally_preferences`.
    sides : dict, optional
        How often ``"A"``, ``"B"`` and ``"="`` were pressed; a significant lean to one side is noted.

    Returns
    -------
    list of str
    """
    header = ["rank", "condition", "vs", "trials", "wins", "losses", "ties", "preferred", "p", "p (Holm)",
              "verdict"]
    body = [
        [str(rank), row["condition"], row["reference"], str(row["trials"]), str(row["wins"]),
         str(row["losses"]), str(row["ties"]), _percent(row["rate"]), f"{row['p']:.3f}",
         f"{row['p_holm']:.3f}", preference_verdict(row)]
        for rank, row in enumerate(rows, 1)
    ]
    lines = _table(header, body, {1, 2, 10})
    lines += [
        "",
        "preferred: wins / (wins + losses), ties left out. p: two-sided binomial sign test of the wins",
        "against 50 % over the decisive trials (scipy.stats.binomtest); Holm: adjusted for the "
        f"{len(rows)} comparisons.",
    ]
    short = [r["condition"] for r in rows if r["wins"] + r["losses"] < MIN_DECISIVE]
    if short:
        lines.append(
            f"{len(short)} condition(s) had fewer than {MIN_DECISIVE} decisive trials, where p cannot reach "
            "0.05 whatever the answers: test fewer conditions with more --repeats to decide them."
        )
    if sides:
        decisive = sides.get("A", 0) + sides.get("B", 0)
        if decisive >= MIN_DECISIVE:
            from scipy.stats import binomtest

            side = binomtest(sides.get("A", 0), decisive, 0.5).pvalue
            if side < ALPHA:
                lines.append(
                    f"note: A was chosen {sides.get('A', 0)} of {decisive} times (p = {side:.3f}): "
                    "a side bias; the balanced design cancels it, but check the player."
                )
    return lines


def format_identifications(rows: list[dict[str, Any]]) -> list[str]:
    """The ABX table of :func:`tally_identifications`, with how to read it, as lines of text."""
    header = ["pair", "trials", "correct", "rate", "p", "p (Holm)", "verdict"]
    body = [
        [f"{row['condition']} / {row['reference']}", str(row["trials"]), str(row["correct"]),
         _percent(row["rate"]), f"{row['p']:.3f}", f"{row['p_holm']:.3f}", identification_verdict(row)]
        for row in rows
    ]
    lines = _table(header, body, {0, 6})
    lines += [
        "",
        "ABX p: one-sided binomial test of the right answers against guessing (50 %); Holm: adjusted "
        f"for the {len(rows)} pairs.",
    ]
    if any(r["trials"] < MIN_ABX for r in rows):
        lines.append(
            f"a pair heard in fewer than {MIN_ABX} ABX trials cannot reach p < 0.05 even if every answer "
            "is right: use --abx 6 or more."
        )
    return lines


# --------------------------------------------------------------------------- files
def _read_json(path: Path, what: str) -> Any:
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ListeningTestError(f"{path}: no such file; give the {what}") from None
    except OSError as err:
        raise ListeningTestError(f"{path}: cannot read ({err.strerror}); give the {what}") from None
    if not path.is_file():
        raise ListeningTestError(f"{path}: is not a file; give the {what}")
    if size > MAX_JSON_BYTES:
        raise ListeningTestError(f"{path}: {size} bytes is far too large for a {what}; is it the right file?")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ListeningTestError(f"{path}: not UTF-8 text; give the {what} as saved") from None
    except ValueError as err:
        raise ListeningTestError(f"{path}: not valid JSON ({err}); give the {what} as saved") from None


def _check_format(data: Any, path: Path, fmt: str, version: int, what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") not in (KEY_FORMAT, ANSWERS_FORMAT, RESULT_FORMAT):
        raise ListeningTestError(f"{path}: not a clarity listening-test file; give the {what}")
    if data["format"] != fmt:
        found = {KEY_FORMAT: "a key", ANSWERS_FORMAT: "an answers file", RESULT_FORMAT: "a result"}
        raise ListeningTestError(f"{path}: this is {found[data['format']]}, not {what}; give the {what}")
    if data.get("version") != version:
        raise ListeningTestError(
            f"{path}: {what} version {data.get('version')!r}; this clarity-fx reads version {version}: "
            "update clarity-fx"
        )
    if not isinstance(data.get("test"), str) or not data["test"]:
        raise ListeningTestError(f"{path}: has no test id; give the {what} as saved")
    return data


def read_key(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a key file written by ``clarity listen make``.

    The key (format :data:`KEY_FORMAT`) holds ``test`` (the test's random id), ``versions``
    (label → how it was made, its loudness and the matching gain), ``trials`` (for each:
    ``trial``, ``type`` ``"ab"`` or ``"abx"``, the versions played as ``A`` and ``B``, the pair
    as ``challenger`` / ``reference``, and for ABX ``X``, ``"A"`` or ``"B"``) and what the page
    was made from.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict

    Raises
    ------
    ListeningTestError
        Missing, not JSON, not a key, or a trial that does not make sense.
    """
    path = Path(path)
    key = _check_format(_read_json(path, "key"), path, KEY_FORMAT, KEY_VERSION, "the key")
    trials = key.get("trials")
    versions = key.get("versions")
    if not isinstance(trials, list) or not trials or not isinstance(versions, dict):
        raise ListeningTestError(f"{path}: a key without trials or versions; make the test again")
    for trial in trials:
        ok = (
            isinstance(trial, dict)
            and isinstance(trial.get("trial"), int)
            and trial.get("type") in ("ab", "abx")
            and {trial.get("A"), trial.get("B")} == {trial.get("challenger"), trial.get("reference")}
            and trial.get("A") in versions
            and trial.get("B") in versions
            and trial.get("A") != trial.get("B")
            and (trial.get("type") == "ab" or trial.get("X") in ABX_CHOICES)
        )
        if not ok:
            raise ListeningTestError(f"{path}: trial {trial!r} is malformed; make the test again")
    return key


def read_answers(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check an answers file saved by a test page.

    The answers file (format :data:`ANSWERS_FORMAT`, version :data:`ANSWERS_VERSION`) is::

        {"format": "clarity-listen-answers", "version": 1, "test": "<the test's id>",
         "listener": "initials, or empty", "started": "<ISO time>", "saved": "<ISO time>",
         "page": "<the page's URL>", "user_agent": "<the browser>", "notes": "free text",
         "answers": [{"trial": 1, "choice": "A", "seconds": 21.4, "switches": 7}, ...]}

    ``choice`` is ``"A"``, ``"B"`` or ``"="`` in an A/B trial and ``"A"`` or ``"B"`` in an ABX
    trial; ``seconds`` (time listened) and ``switches`` (times the version was switched) are
    informative. A trial not answered is absent. The page holds no labels, so neither does this.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict
        As read, with ``answers`` checked.

    Raises
    ------
    ListeningTestError
        Missing, not JSON, not an answers file, or an answer that is not one.
    """
    path = Path(path)
    data = _check_format(_read_json(path, "answers file"), path, ANSWERS_FORMAT, ANSWERS_VERSION,
                         "the answers file")
    answers = data.get("answers")
    if not isinstance(answers, list):
        raise ListeningTestError(f"{path}: has no 'answers' list; save the answers from the test page again")
    seen: set[int] = set()
    for number, answer in enumerate(answers, 1):
        trial = answer.get("trial") if isinstance(answer, dict) else None
        if not isinstance(trial, int) or isinstance(trial, bool):
            raise ListeningTestError(f"{path}: answer {number} has no trial number; save the answers again")
        if trial in seen:
            raise ListeningTestError(f"{path}: trial {trial} is answered twice; keep one answer per trial")
        seen.add(trial)
        if answer.get("choice") not in CHOICES:
            raise ListeningTestError(
                f"{path}: trial {trial}: choice {answer.get('choice')!r} is not A, B or =; "
                "save the answers from the test page again"
            )
    return data


@dataclass
class Score:
    """What a set of answers says, pooled over listeners.

    Attributes
    ----------
    preferences : list of dict
        :func:`tally_preferences` rows.
    identifications : list of dict
        :func:`tally_identifications` rows.
    sides : dict
        Times ``A``, ``B`` and ``=`` were pressed in A/B trials.
    sources : list of dict
        Per file read: ``path``, ``test``, ``listener``, ``answered`` and ``trials``.
    judgements : list of dict
        Every judgement by version (what a result file keeps).
    """

    preferences: list[dict[str, Any]] = field(default_factory=list)
    identifications: list[dict[str, Any]] = field(default_factory=list)
    sides: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    judgements: list[dict[str, Any]] = field(default_factory=list)


def join_answers(answers: dict[str, Any], key: dict[str, Any], path: Path | str = "answers") -> list[dict]:
    """Judgements by version: each answer joined with its trial in the key.

    Parameters
    ----------
    answers : dict
        From :func:`read_answers`.
    key : dict
        From :func:`read_key`, of the same test.
    path : path-like, optional
        The answers' file, named in errors.

    Returns
    -------
    list of dict
        ``type`` (``"ab"`` / ``"abx"``), ``trial``, ``challenger``, ``reference``, ``side`` (what was
        pressed), and ``preferred`` (A/B: a version or ``None``) or ``correct`` (ABX).

    Raises
    ------
    ListeningTestError
        The answers are of another test, or answer a trial the test does not have.
    """
    if answers["test"] != key["test"]:
        raise ListeningTestError(
            f"{path}: answers test {answers['test']} with a key of test {key['test']}; give the key "
            "made with that test page"
        )
    trials = {t["trial"]: t for t in key["trials"]}
    joined = []
    for answer in answers["answers"]:
        trial = trials.get(answer["trial"])
        if trial is None:
            raise ListeningTestError(f"{path}: test {key['test']} has no trial {answer['trial']}; "
                                     "save the answers from the test page again")
        choice = answer["choice"]
        entry = {"type": trial["type"], "trial": trial["trial"], "challenger": trial["challenger"],
                 "reference": trial["reference"], "side": choice}
        if trial["type"] == "ab":
            entry["preferred"] = None if choice == "=" else trial[choice]
        else:
            if choice not in ABX_CHOICES:
                raise ListeningTestError(f"{path}: trial {trial['trial']} is ABX: its choice must be A or B, "
                                         f"not {choice!r}; save the answers from the test page again")
            entry["correct"] = choice == trial["X"]
        joined.append(entry)
    return joined


def _key_for(answers: dict[str, Any], path: Path, keys: dict[str, tuple[Path, dict]]) -> dict[str, Any]:
    """The key of the answers' test: given with --key, else key.json beside the page or the answers."""
    if answers["test"] in keys:
        return keys[answers["test"]][1]
    places = [path.parent / "key.json"]
    page = answers.get("page")
    if isinstance(page, str) and page.startswith("file:"):
        places.insert(0, Path(unquote(urlparse(page).path)).parent / "key.json")
    for place in places:
        try:
            key = read_key(place)
        except ListeningTestError:
            continue
        if key["test"] == answers["test"]:
            keys[key["test"]] = (place, key)
            return key
    raise ListeningTestError(
        f"{path}: no key for test {answers['test']} (looked for key.json beside the page and beside the "
        "answers); give --key DIR/key.json, written by 'clarity listen make'"
    )


def _settings(key: dict[str, Any]) -> dict[str, Any]:
    """What a result keeps of its test's key: how the versions were made and heard, not the trials."""
    names = ("input", "sample_rate", "excerpt_start_s", "excerpt_seconds", "pairs", "repeats", "abx", "seed",
             "matched_lufs", "kbps", "made")  # fmt: skip
    return {**{n: key[n] for n in names if n in key}, "input": Path(str(key.get("input", ""))).name,
            "versions": key["versions"]}  # fmt: skip


def _read_result(data: dict[str, Any], path: Path) -> list[dict]:
    judgements = data.get("judgements")
    if not isinstance(judgements, list):
        raise ListeningTestError(f"{path}: a result without judgements; score the answers again")
    for entry in judgements:
        ok = isinstance(entry, dict) and isinstance(entry.get("challenger"), str) and isinstance(
            entry.get("reference"), str) and (
            (entry.get("type") == "ab" and (entry.get("preferred") is None or entry.get("preferred") in (
                entry["challenger"], entry["reference"])))
            or (entry.get("type") == "abx" and isinstance(entry.get("correct"), bool)))
        if not ok:
            raise ListeningTestError(f"{path}: judgement {entry!r} is malformed; score the answers again")
    return judgements


def score_files(
    paths: Sequence[str | os.PathLike[str]], keys: Sequence[str | os.PathLike[str]] = ()
) -> Score:
    """Score answers files (joined with their keys) and result files, pooled.

    Parameters
    ----------
    paths : sequence of path-like
        Answers files saved by test pages, or result files written by ``clarity listen score --json``
        (which carry their key). Several listeners, or several tests of the same versions, pool.
    keys : sequence of path-like, optional
        Key files. An answers file without one here is matched with ``key.json`` beside its page
        (the page records its own address) or beside the answers file.

    Returns
    -------
    Score

    Raises
    ------
    ListeningTestError
        A file is missing or malformed, an answers file has no key, or the same answers are given twice.
    """
    if not paths:
        raise ListeningTestError("no answers given; give the JSON file(s) the test page saved")
    known: dict[str, tuple[Path, dict]] = {}
    for key_path in keys:
        key = read_key(key_path)
        known[key["test"]] = (Path(key_path), key)
    score = Score()
    seen: dict[tuple[str, str], Path] = {}
    for raw in paths:
        path = Path(raw)
        data = _read_json(path, "answers file")
        if isinstance(data, dict) and data.get("format") == RESULT_FORMAT:
            data = _check_format(data, path, RESULT_FORMAT, RESULT_VERSION, "a result")
            judgements = _read_result(data, path)
            sources = [s for s in data.get("sources", []) if isinstance(s, dict)] or [
                {"test": data["test"], "listener": str(data.get("listener") or ""),
                 "answered": len(judgements), "trials": len(judgements)}]
            sources = [{**s, "path": f"{path} ({s.get('path', '')})"} for s in sources]
        else:
            data = read_answers(path)
            key = _key_for(data, path, known)
            judgements = join_answers(data, key, path)
            sources = [{"path": str(path), "test": data["test"], "listener": str(data.get("listener") or ""),
                        "started": str(data.get("started") or ""), "answered": len(judgements),
                        "trials": len(key["trials"]), "browser": str(data.get("user_agent") or ""),
                        "settings": _settings(key)}]  # fmt: skip
        for source in sources:
            if source.get("started"):
                stamp = (str(source.get("test")), str(source["started"]))
                if stamp in seen:
                    raise ListeningTestError(
                        f"{path}: holds the same answers as {seen[stamp]}; give each listener's answers once")
                seen[stamp] = path
        score.sources += sources
        score.judgements += judgements
    ab = [j for j in score.judgements if j["type"] == "ab"]
    score.sides = {c: sum(1 for j in ab if j.get("side") == c) for c in CHOICES}
    score.preferences = tally_preferences(
        Preference(j["challenger"], j["reference"], j["preferred"], j.get("side", "=")) for j in ab
    )
    score.identifications = tally_identifications(
        Identification(j["challenger"], j["reference"], j["correct"]) for j in score.judgements
        if j["type"] == "abx"
    )
    return score


def format_score(score: Score) -> str:
    """:class:`Score` as the text ``clarity listen score`` prints."""
    lines = []
    for source in score.sources:
        who = f" ({source['listener']})" if source["listener"] else ""
        missing = f", {source['trials'] - source['answered']} not answered" if (
            isinstance(source["trials"], int) and source["trials"] > source["answered"]) else ""
        lines.append(f"{source['path']}{who}: test {source['test']}, {source['answered']} of "
                     f"{source['trials']} trials answered{missing}")
    if not score.judgements:
        lines.append("no trial was answered: take the test in the page, then save the answers")
        return "\n".join(lines)
    if score.preferences:
        lines += ["", f"A/B preference (answers: A {score.sides['A']}, B {score.sides['B']}, "
                  f"= {score.sides['=']})", ""]
        lines += format_preferences(score.preferences, score.sides)
    if score.identifications:
        lines += ["", "ABX: is the difference heard?", ""]
        lines += format_identifications(score.identifications)
    return "\n".join(lines)


def result_json(score: Score) -> dict[str, Any]:
    """:class:`Score` as a result file (format :data:`RESULT_FORMAT`): judgements by version, and tallies.

    One result can be scored again, alone or pooled with others, without its key.
    """
    tests = sorted({s["test"] for s in score.sources})
    listeners = sorted({s["listener"] for s in score.sources if s["listener"]})
    return {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "test": tests[0] if len(tests) == 1 else "+".join(tests),
        "listener": ", ".join(listeners),
        "trials": sum(s["trials"] for s in score.sources if isinstance(s["trials"], int)),
        "sources": score.sources,
        "judgements": score.judgements,
        "preferences": score.preferences,
        "identifications": score.identifications,
    }


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to ``path`` atomically (a temporary file beside it, renamed)."""
    from .audio_io import atomic_output

    target = Path(path)
    with atomic_output(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- design
def design_trials(
    comparisons: Sequence[tuple[str, str]], inputs: Sequence[str], repeats: int, seed: int
) -> list[dict]:
    """The blind design: which pair each trial plays, and which side is which.

    Every (input, challenger, reference) comparison is heard ``repeats`` times, the challenger
    on side A in half of them (the odd one out at random); the order is shuffled, and the same
    comparison is kept from playing twice in a row where possible.

    Parameters
    ----------
    comparisons : sequence of (str, str)
        (challenger, reference) labels.
    inputs : sequence of str
        Input files.
    repeats : int
        Times each comparison is heard, per input.
    seed : int
        Seed of the randomisation.

    Returns
    -------
    list of dict
        ``trial`` (1-based), ``input``, ``challenger``, ``reference``, ``A`` and ``B`` (labels).
    """
    import random

    rng = random.Random(seed)
    trials: list[dict] = []
    for source in inputs:
        for challenger, reference in comparisons:
            sides = [i % 2 == 0 for i in range(repeats)]
            if repeats % 2:
                sides[-1] = rng.random() < 0.5
            rng.shuffle(sides)
            for challenger_is_a in sides:
                a, b = (challenger, reference) if challenger_is_a else (reference, challenger)
                trials.append(
                    {"input": source, "challenger": challenger, "reference": reference, "A": a, "B": b}
                )
    rng.shuffle(trials)

    def same(x: dict, y: dict) -> bool:
        return (x["input"], x["challenger"], x["reference"]) == (y["input"], y["challenger"], y["reference"])

    for i in range(1, len(trials)):
        if same(trials[i], trials[i - 1]):
            for j in range(i + 1, len(trials)):
                if not same(trials[j], trials[i - 1]):
                    trials[i], trials[j] = trials[j], trials[i]
                    break
    return [{"trial": n, **trial} for n, trial in enumerate(trials, 1)]


# --------------------------------------------------------------------------- audio
#: Shortest excerpt BS.1770 can measure (one 400 ms gating block), with a margin.
MIN_SECONDS = 0.5
#: Fade in and out of every clip, seconds (the same on all, so no clip clicks and none is told apart).
FADE_SECONDS = 0.01
#: Every clip is matched to this integrated loudness unless a peak forces all of them lower.
TARGET_LUFS = -23.0
#: Highest true peak of any matched clip, dBTP.
CEILING_DBTP = -1.0


def cut_excerpt(audio: Any, sample_rate: float, start: float, seconds: float) -> Any:
    """The excerpt ``[start, start + seconds)`` (shorter at the end of the file), faded in and out.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)``.
    sample_rate : float
    start, seconds : float
        Where the excerpt starts and its longest length, seconds.

    Returns
    -------
    numpy.ndarray
        A copy, with :data:`FADE_SECONDS` raised-cosine fades.

    Raises
    ------
    ListeningTestError
        The excerpt would be shorter than BS.1770 can measure.
    """
    import numpy as np

    first = int(round(start * sample_rate))
    last = min(audio.shape[1], first + int(round(seconds * sample_rate)))
    if last - first < MIN_SECONDS * sample_rate:
        length = audio.shape[1] / sample_rate
        raise ListeningTestError(
            f"the input is {length:.1f} s long: an excerpt from {start:g} s would be under "
            f"{MIN_SECONDS:g} s; use a smaller --start"
        )
    clip = audio[:, first:last].copy()
    fade = min(int(FADE_SECONDS * sample_rate), clip.shape[1] // 4)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        clip[:, :fade] *= ramp
        clip[:, -fade:] *= ramp[::-1]
    return clip


def matching_gains(
    loudness: dict[Any, float], true_peaks: dict[Any, float], target: float, ceiling: float
) -> tuple[dict[Any, float], float]:
    """Gains (dB) that bring every clip to one loudness, all lowered together if a peak would pass.

    ``g_i = target - L_i - r`` with ``r = max(0, max_i(TP_i + target - L_i) - ceiling)``: one
    common reduction keeps the clips matched to each other.

    Parameters
    ----------
    loudness, true_peaks : dict
        Clip → integrated loudness (LUFS) and true peak (dBTP) before matching.
    target : float
        Wanted loudness, LUFS.
    ceiling : float
        Highest true peak any clip may have after its gain, dBTP.

    Returns
    -------
    gains : dict
        Clip → gain in dB.
    reduction : float
        dB by which every clip was lowered below ``target`` to respect ``ceiling`` (0 if none).

    Examples
    --------
    >>> matching_gains({"a": -20.0, "b": -30.0}, {"a": -3.0, "b": -2.0}, -23.0, -1.0)  # b would peak at +5
    ({'a': -9.0, 'b': 1.0}, 6.0)
    """
    gains = {clip: target - level for clip, level in loudness.items()}
    over = max(true_peaks[clip] + gains[clip] for clip in gains) - ceiling
    reduction = max(0.0, over)
    return {clip: gain - reduction for clip, gain in gains.items()}, reduction


# --------------------------------------------------------------------------- make
#: How the versions are paired: each preset with the unprocessed input, or every pair of versions.
PAIRINGS = ("original", "all")
#: Amplitude of the TPDF dither added to every clip before encoding (one 16-bit step, ~-96 dBFS).
#: It is inaudible, but makes every clip's bytes its own: two clips of one version, or X and the
#: side it copies, cannot be matched by comparing the page's data.
DITHER = 2.0**-16
#: Name of the test page and of the key in the test's folder.
PAGE_NAME, KEY_NAME = "index.html", "key.json"


@dataclass
class Version:
    """One version in a test: the unprocessed input or a preset's render.

    Attributes
    ----------
    label : str
        Its name in the key and in the score (the preset's name, or :data:`ORIGINAL`).
    preset : str or None
        The preset as given (name or file); None for the original.
    preset_file : str or None
        The YAML it was read from.
    overrides : list of str
        ``--set`` overrides applied.
    """

    label: str
    preset: str | None = None
    preset_file: str | None = None
    overrides: list[str] = field(default_factory=list)


def _label(name_or_path: str) -> str:
    path = Path(name_or_path)
    return path.stem if path.suffix in (".yaml", ".yml") or os.sep in name_or_path else name_or_path


def build_versions(presets: Sequence[str], overrides: Sequence[str] = ()) -> tuple[list[Version], list[Any]]:
    """The original and one version per preset, each validated before anything is rendered.

    Parameters
    ----------
    presets : sequence of str
        Preset names or files.
    overrides : sequence of str, optional
        ``STAGE.PARAM=VALUE`` texts applied to every preset (as ``clarity apply --set``).

    Returns
    -------
    versions : list of Version
        The original first.
    specs : list
        The presets (:class:`~clarity_fx.preset.Preset`), None for the original.

    Raises
    ------
    ListeningTestError, ClarityError
        No preset, a preset twice, a keyed preset, or an invalid preset or override.
    """
    from .preset import load_preset_spec
    from .rendering import _keyed_stages

    if not presets:
        raise ListeningTestError("nothing to compare: give at least one --preset")
    versions, specs = [Version(ORIGINAL)], [None]
    for name in presets:
        label = _label(name)
        if label in {v.label for v in versions}:
            raise ListeningTestError(
                f"--preset {name}: {label!r} is in the test twice; give each preset once"
            )
        spec = load_preset_spec(name, list(overrides))
        if _keyed_stages(spec.build()):
            raise ListeningTestError(
                f"preset {label} ducks under a sidechain key (a second recording); a listening test "
                "renders the input on its own, so leave it out"
            )
        versions.append(Version(label, name, spec.source, list(overrides)))
        specs.append(spec)
    return versions, specs


def _render(spec: Any, source: Path, workdir: Path) -> tuple[Any, float]:
    """The whole input through a preset (None: through nothing, by the same reader), as float64."""
    import soundfile as sf

    from .chain import Chain
    from .rendering import render

    if spec is None:
        chain = Chain([])
    else:
        spec.check_input(source)
        chain = spec.build()
    target = workdir / "render.wav"
    render(source, target, chain, bit_depth=32, progress=False)
    audio, rate = sf.read(target, dtype="float64", always_2d=True)
    target.unlink()
    return audio.T, float(rate)


def _abx_sides(trials: list[dict], seed: int) -> None:
    """Put X on A in half of each pair's ABX trials (the odd one at random)."""
    import random

    rng = random.Random(seed)
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for trial in trials:
        by_pair.setdefault((trial["challenger"], trial["reference"]), []).append(trial)
    for group in by_pair.values():
        sides = ["A" if i % 2 == 0 else "B" for i in range(len(group))]
        if len(group) % 2:
            sides[-1] = rng.choice("AB")
        rng.shuffle(sides)
        for trial, side in zip(group, sides, strict=True):
            trial["X"] = side


def make_test(
    input_path: str | os.PathLike[str],
    presets: Sequence[str],
    outdir: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    pairs: str = "original",
    repeats: int = 2,
    abx: int = 0,
    seconds: float = 15.0,
    start: float = 0.0,
    seed: int | None = None,
    lufs: float = TARGET_LUFS,
    max_bytes: int | None = None,
    key_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Render ``input_path`` with each preset and write a blind A/B (and ABX) test page.

    The folder gets ``index.html``, a self-contained page (no network; its audio embedded as
    Ogg Vorbis, see :mod:`clarity_fx.webpage`) that plays each trial's versions in sync on one
    transport and switches between them at the same position; and ``key.json``, which says what
    each trial played and is never read by the page. The page holds no version's name, no
    loudness or gain, no waveform and no picture, and every clip of every trial is its own
    encoding (with an inaudible dither of its own), so nothing in the page's data tells which
    clips are the same version or which side X copies. The listener saves the answers from the
    page as a small JSON file (:func:`read_answers`); :func:`score_files` joins it with the key.

    Every version is cut to the same excerpt, faded, and matched to one integrated loudness
    (``lufs``, lowered together if a true peak would pass :data:`CEILING_DBTP`), so that the
    louder version does not win for being louder. The gains are applied to the audio itself.

    Parameters
    ----------
    input_path : path-like
        The recording. It is rendered whole (a noise profile is learnt from its start, as in
        ``clarity apply``) and only read.
    presets : sequence of str
        Preset names or files; the unprocessed input is always a version too.
    outdir : path-like
        New or empty folder for the page and the key; it appears complete or not at all.
    overrides : sequence of str, optional
        ``--set`` overrides applied to every preset.
    pairs : {"original", "all"}, optional
        Compare each preset with the original (default), or every pair of versions.
    repeats : int, optional
        A/B trials per pair (sides balanced).
    abx : int, optional
        ABX trials per pair, after the A/B trials (X on each side equally often); 0 for none.
    seconds, start : float, optional
        Length and start of the excerpt, seconds.
    seed : int, optional
        Seed of the order and the sides (default random; kept in the key).
    lufs : float, optional
        Loudness every clip plays at.
    max_bytes : int, optional
        Ceiling of the page's size (default :data:`clarity_fx.webpage.DEFAULT_MAX_BYTES`); the
        Vorbis bitrate is chosen to fit it.
    key_path : path-like, optional
        Write the key here instead of ``outdir/key.json`` (to hand the folder to a listener).

    Returns
    -------
    dict
        The key.

    Raises
    ------
    ListeningTestError, ClarityError
        Bad arguments, input or presets, or a page that cannot fit ``max_bytes``; nothing is left.
    """
    import secrets
    import shutil
    import tempfile
    import time

    import numpy as np

    from .meters import integrated_loudness, true_peak_dbtp
    from .webpage import DEFAULT_MAX_BYTES, choose_bitrate_kbps, encode_ogg

    if pairs not in PAIRINGS:
        raise ListeningTestError(f"--pairs {pairs!r}: use 'original' or 'all'")
    if not seconds >= MIN_SECONDS:
        raise ListeningTestError(
            f"--seconds {seconds:g} is too short to measure; give {MIN_SECONDS:g} or more"
        )
    if not start >= 0:
        raise ListeningTestError("--start must be 0 or more seconds")
    if repeats < 0 or abx < 0 or repeats + abx < 1:
        raise ListeningTestError("--repeats and --abx must be 0 or more, and not both 0")
    if not (math.isfinite(lufs) and lufs < 0):
        raise ListeningTestError(f"--lufs {lufs:g}: give a negative loudness, e.g. -23")
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    source = Path(input_path).expanduser()
    outdir = Path(outdir).expanduser()
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise ListeningTestError(
            f"{outdir} exists and is not empty; give a new folder (a test, and its key, is never overwritten)"
        )
    key_target = Path(key_path).expanduser() if key_path is not None else None
    if key_target is not None and key_target.exists():
        raise ListeningTestError(
            f"{key_target} exists; give a new file for the key (a key is never overwritten)"
        )
    if key_target is not None and not key_target.parent.is_dir():
        raise ListeningTestError(f"{key_target.parent}: the key's folder does not exist; create it first")
    versions, specs = build_versions(presets, overrides)
    labels = [v.label for v in versions]
    if pairs == "original":
        comparisons = [(label, ORIGINAL) for label in labels[1:]]
    else:
        comparisons = [(labels[j], labels[i]) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    trials = [{**t, "type": "ab"} for t in design_trials(comparisons, [str(source)], repeats, seed)]
    abx_trials = [{**t, "type": "abx"} for t in design_trials(comparisons, [str(source)], abx, seed + 1)]
    _abx_sides(abx_trials, seed + 2)
    for number, trial in enumerate([*trials, *abx_trials], 1):
        trial["trial"] = number
        del trial["input"]
    trials += abx_trials

    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.partial-", dir=outdir.parent))
    try:
        clips: dict[str, Any] = {}
        loudness: dict[str, float] = {}
        peaks: dict[str, float] = {}
        rate = 0.0
        for version, spec in zip(versions, specs, strict=True):
            audio, rate = _render(spec, source, staging)
            clip = cut_excerpt(audio, rate, start, seconds)
            level = integrated_loudness(clip, rate)
            if not math.isfinite(level):
                raise ListeningTestError(
                    f"{version.label} on {source}: the excerpt is silent (below the BS.1770 gate); "
                    "choose another --start"
                )
            clips[version.label], loudness[version.label] = clip, level
            peaks[version.label] = true_peak_dbtp(clip, rate)
        gains, reduction = matching_gains(loudness, peaks, lufs, CEILING_DBTP)
        length = clips[ORIGINAL].shape[1] / rate
        channels = clips[ORIGINAL].shape[0]
        sides_per_trial = [3 if t["type"] == "abx" else 2 for t in trials]
        kbps = choose_bitrate_kbps(sum(sides_per_trial) * length, max_bytes, 200_000)
        if kbps is None:
            raise ListeningTestError(
                f"{len(trials)} trials of {length:.1f} s do not fit a {max_bytes / 1e6:g} MB page; give a "
                "shorter --seconds, fewer --repeats or --abx, or a larger --max-mb"
            )
        rng = np.random.default_rng()  # the dither's only job is to differ; it is not kept
        page_trials = []
        for trial in trials:
            sides = ["A", "B"] + (["X"] if trial["type"] == "abx" else [])
            tracks = []
            for side in sides:
                label = trial[trial["X"]] if side == "X" else trial[side]
                audio = clips[label] * 10 ** (gains[label] / 20)
                audio = audio + DITHER * (rng.random(audio.shape) - rng.random(audio.shape))
                encoded = encode_ogg([audio.astype(np.float32)], rate, channels, kbps)
                tracks.append({"side": side, "src": encoded})
            page_trials.append({"trial": trial["trial"], "type": trial["type"], "tracks": tracks})
        test_id = secrets.token_hex(8)
        key = {
            "format": KEY_FORMAT,
            "version": KEY_VERSION,
            "test": test_id,
            "made_by": "clarity listen make",
            "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "page": PAGE_NAME,
            "input": str(source.resolve()),
            "sample_rate": rate,
            "excerpt_start_s": start,
            "excerpt_seconds": round(length, 6),
            "question": QUESTION,
            "abx_question": ABX_QUESTION,
            "pairs": pairs,
            "repeats": repeats,
            "abx": abx,
            "seed": seed,
            "target_lufs": lufs,
            "matched_lufs": lufs - reduction,
            "peak_reduction_db": reduction,
            "ceiling_dbtp": CEILING_DBTP,
            "kbps": kbps,
            "versions": {
                v.label: {
                    "preset": v.preset,
                    "preset_file": v.preset_file,
                    "overrides": v.overrides,
                    "loudness_before_lufs": round(loudness[v.label], 3),
                    "true_peak_before_dbtp": round(peaks[v.label], 3),
                    "gain_db": round(gains[v.label], 3),
                }
                for v in versions
            },
            "trials": trials,
        }
        text = page_html(test_id, page_trials, length, lufs - reduction)
        (staging / PAGE_NAME).write_text(text, encoding="utf-8")
        if key_target is None:
            write_json(staging / KEY_NAME, key)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; the finished folder gets the usual mode
        if outdir.is_dir():
            outdir.rmdir()  # empty (checked above)
        staging.rename(outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if key_target is not None:
        write_json(key_target, key)
    return key


def page_html(test_id: str, trials: Sequence[dict[str, Any]], duration_s: float, lufs: float) -> str:
    """The blind test page: one transport (:data:`clarity_fx.webpage.PLAYER_JS`) per trial, in turn.

    Parameters
    ----------
    test_id : str
        The test's random id, which the answers carry back.
    trials : sequence of dict
        ``trial``, ``type`` and ``tracks``: per side (``A``, ``B``, and ``X`` in ABX) its
        Ogg Vorbis bytes as ``src``. Nothing else about a trial may go in.
    duration_s : float
        Length of every clip, seconds.
    lufs : float
        Loudness every clip plays at (the same for all, so it says nothing).

    Returns
    -------
    str
        The whole HTML document.
    """
    from .webpage import _json_for_script, data_uri, escape, page

    data = {
        "format": ANSWERS_FORMAT,
        "version": ANSWERS_VERSION,
        "test": test_id,
        "duration_s": round(float(duration_s), 6),
        "trials": [
            {
                "trial": t["trial"],
                "type": t["type"],
                "tracks": [{"side": s["side"], "src": data_uri(s["src"], "audio/ogg")} for s in t["tracks"]],
            }
            for t in trials
        ],
    }
    n_ab = sum(t["type"] == "ab" for t in trials)
    n_abx = len(trials) - n_ab
    parts = [f"{n_ab} A/B trial{'s' if n_ab != 1 else ''}"] if n_ab else []
    if n_abx:
        parts.append(f"{n_abx} ABX trial{'s' if n_abx != 1 else ''}")
    minutes = len(trials) * (3 * duration_s + 5) / 60
    body = f"""
<main class="listen" id="listen" aria-labelledby="listen-title">
<h1 id="listen-title">Blind listening test</h1>
<p class="muted">{escape(" and ".join(parts))} of a {duration_s:.1f} s excerpt, about {minutes:.0f} min.
Test <code>{escape(test_id)}</code>.</p>
<details open><summary>How to take the test</summary>
<ol>
<li>Use good headphones (or studio monitors) in a quiet room. Set a comfortable level on the first trial,
then leave the volume alone: every version plays at the same loudness ({lufs:.1f} LUFS).</li>
<li>Press <kbd>Space</kbd> to play and pause, <kbd>A</kbd>, <kbd>B</kbd> (and <kbd>X</kbd>) to switch
version at the same moment, <kbd>&larr;</kbd>/<kbd>&rarr;</kbd> to seek. Switch as often as you like.</li>
<li>A/B: {escape(QUESTION)}</li>
<li>ABX: {escape(ABX_QUESTION)}</li>
<li>Answer with the buttons or <kbd>1</kbd>, <kbd>2</kbd> and <kbd>0</kbd> (no difference);
<kbd>N</kbd> and <kbd>P</kbd> go to the next and previous trial.</li>
<li>Listen only: the page does not say what the versions are, and the test is void if you find out.</li>
<li>At the end press <b>Save answers</b>: the browser downloads a small JSON file. Send that file.</li>
</ol></details>
<label>Your name or initials (optional): <input type="text" id="listener" autocomplete="off"
 aria-label="Your name or initials (optional)"></label>
<section class="trial" aria-live="polite" aria-labelledby="trial-title">
<h2 id="trial-title">Trial <span id="trial-number">1</span> of {len(trials)}
<small id="trial-kind"></small></h2>
<div class="transport">
<button type="button" id="play" class="play" aria-label="Play (space)" disabled>&#9654; Play</button>
<span id="time" class="time">0:00.0</span> / <span>{int(duration_s // 60)}:{duration_s % 60:04.1f}</span>
<input type="range" id="position" class="position" min="0" max="{duration_s:.3f}" step="0.01" value="0"
 aria-label="Playback position, seconds">
<label><input type="checkbox" id="mute"> Mute</label>
<span id="status" class="status" role="status" aria-live="polite">Decoding audio…</span>
</div>
<div class="versions" id="versions" role="group" aria-label="Versions"></div>
<p id="question" class="question"></p>
<div class="choices" id="choices" role="group" aria-label="Your answer"></div>
<div class="nav">
<button type="button" id="prev" aria-label="Previous trial (P)">&larr; Previous</button>
<button type="button" id="next" aria-label="Next trial (N)">Next &rarr;</button>
<span id="progress" class="muted" role="status"></span>
</div>
</section>
<label class="notes">Notes (optional; what you heard):<br>
<textarea id="notes" rows="3" cols="70" aria-label="Notes"></textarea></label>
<p><button type="button" id="save" class="save">Save answers</button>
<span id="saved" class="muted" role="status" aria-live="polite"></span></p>
</main>
<script type="application/json" id="listen-data">{_json_for_script(data)}</script>
<script>{LISTEN_JS}</script>
"""
    return page(f"Blind listening test {test_id}", body, head=f"<style>{LISTEN_CSS}</style>\n")


LISTEN_CSS = """
.listen .question { font-weight: 600; margin: 14px 0 6px; }
.choices, .nav { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; align-items: center; }
.choices button[aria-pressed="true"] { background: #2e7d32; color: #fff; border-color: #2e7d32; }
.versions .version { min-width: 64px; font-weight: 600; }
.trial { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 12px; margin: 16px 0; }
.save { font-weight: 600; }
"""

#: The page's own script: trials in turn on one ClarityPlayer, the answers, and their download.
#: It runs after the shared player script (at DOMContentLoaded), and keeps everything it records
#: in ``window.clarityListen`` for tests.
LISTEN_JS = r"""
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const data = JSON.parse(document.getElementById("listen-data").textContent);
  const $ = id => document.getElementById(id);
  const root = $("listen");
  const players = window.clarityPlayers = window.clarityPlayers || {};
  const state = { index: 0, answers: {}, seconds: {}, switches: {}, started: new Date().toISOString() };
  let player = null, playedFrom = null;
  const ANSWERS = {
    ab: [["A", "1", "A sounds better"], ["B", "2", "B sounds better"],
         ["=", "0", "No difference / cannot decide"]],
    abx: [["A", "1", "X is A"], ["B", "2", "X is B"]],
  };
  const QUESTIONS = { ab: "Which sounds better?", abx: "X is A or B: which?" };
  function fmt(t) {
    const m = Math.floor(t / 60); const s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function trial() { return data.trials[state.index]; }
  function account() {
    if (player && playedFrom !== null) {
      const n = trial().trial;
      state.seconds[n] = (state.seconds[n] || 0) + Math.max(0, player.ctx.currentTime - playedFrom);
      playedFrom = null;
    }
  }
  function stop() {
    if (!player) return;
    player.pause(); account();
    if (player.ctx) player.ctx.close();
    delete players[player.config.id];
    player = null;
  }
  function answered() { return Object.keys(state.answers).length; }
  function progress() {
    $("progress").textContent = answered() + " of " + data.trials.length + " answered";
    $("save").textContent = "Save answers (" + answered() + " of " + data.trials.length + ")";
  }
  function drawChoices() {
    const t = trial(), box = $("choices");
    box.innerHTML = "";
    ANSWERS[t.type].forEach(([choice, key, text]) => {
      const b = document.createElement("button");
      b.type = "button"; b.dataset.choice = choice;
      b.setAttribute("aria-keyshortcuts", key);
      b.setAttribute("aria-pressed", String(state.answers[t.trial] === choice));
      b.setAttribute("aria-label", text + " (key " + key + ")");
      b.innerHTML = "<kbd>" + key + "</kbd> " + text;
      b.addEventListener("click", () => answer(choice));
      box.appendChild(b);
    });
  }
  function show(i) {
    stop();
    state.index = Math.max(0, Math.min(data.trials.length - 1, i));
    const t = trial();
    const config = {
      id: "listen-" + t.trial, matched: false, duration_s: data.duration_s,
      tracks: t.tracks.map(s => ({
        id: s.side.toLowerCase(), label: s.side, key: s.side.toLowerCase(), src: s.src,
        offset_db: 0, loudness_lufs: null, follows_match: false, duration_s: data.duration_s })),
    };
    root.dataset.ready = "false"; root.dataset.trial = String(t.trial);
    $("trial-number").textContent = String(state.index + 1);
    $("trial-kind").textContent = t.type === "abx" ? "ABX" : "A/B";
    $("question").textContent = QUESTIONS[t.type];
    $("play").disabled = true; $("status").textContent = "Decoding audio…";
    $("prev").disabled = state.index === 0; $("next").disabled = state.index === data.trials.length - 1;
    const box = $("versions"); box.innerHTML = "";
    config.tracks.forEach((track, j) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "version"; b.dataset.index = String(j);
      b.setAttribute("aria-pressed", String(j === 0));
      b.setAttribute("aria-keyshortcuts", track.label);
      b.setAttribute("aria-label", "Listen to " + track.label + " (key " + track.label + ")");
      b.innerHTML = "<kbd>" + track.label + "</kbd> " + track.label;
      b.addEventListener("click", () => player && player.select(j));
      box.appendChild(b);
    });
    drawChoices(); progress();
    const p = player = new window.ClarityPlayer(root, config);
    players[config.id] = p;
    p.setMuted($("mute").checked);
    p.on("time", t => {
      $("time").textContent = fmt(t);
      if (document.activeElement !== $("position")) $("position").value = t;
    });
    p.on("state", s => {
      if (p !== player) return;
      if (s === "playing") playedFrom = p.ctx.currentTime; else if (s === "paused") account();
      $("play").innerHTML = p.playing ? "&#10074;&#10074; Pause" : "&#9654; Play";
      $("play").setAttribute("aria-label", p.playing ? "Pause (space)" : "Play (space)");
    });
    p.on("select", j => {
      const n = trial().trial; state.switches[n] = (state.switches[n] || 0) + 1;
      Array.from(box.children).forEach((b, k) => b.setAttribute("aria-pressed", String(j === k)));
      $("status").textContent = "Playing " + config.tracks[j].label;
    });
    p.on("ready", () => {
      if (p !== player) return;
      $("play").disabled = false; $("status").textContent = "Ready"; root.dataset.ready = "true";
    });
    p.load().catch(err => {
      $("status").textContent = "This browser cannot decode the audio: " + err;
      root.dataset.error = String(err);
    });
  }
  function answer(choice) {
    const t = trial();
    if (!ANSWERS[t.type].some(a => a[0] === choice)) return;
    state.answers[t.trial] = choice;
    drawChoices(); progress();
  }
  function answers() {
    account();
    if (player && player.playing) playedFrom = player.ctx.currentTime;
    return {
      format: data.format, version: data.version, test: data.test,
      listener: $("listener").value.trim(), started: state.started, saved: new Date().toISOString(),
      page: String(window.location.href).split("#")[0], user_agent: navigator.userAgent,
      notes: $("notes").value,
      answers: data.trials.filter(t => t.trial in state.answers).map(t => ({
        trial: t.trial, type: t.type, choice: state.answers[t.trial],
        seconds: Math.round(100 * (state.seconds[t.trial] || 0)) / 100,
        switches: state.switches[t.trial] || 0,
      })),
    };
  }
  function fileName() {
    const who = $("listener").value.trim().replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
    return "answers-" + data.test + (who ? "-" + who : "") + ".json";
  }
  function save() {
    const text = JSON.stringify(answers(), null, 1) + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url; a.download = fileName(); a.style.display = "none";
    document.body.appendChild(a); a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
    const left = data.trials.length - answered();
    $("saved").textContent = "Saved " + a.download
      + (left ? " (" + left + " trials not answered yet)" : "") + ".";
  }
  $("play").addEventListener("click", () => player && player.toggle());
  $("position").addEventListener("input", () => player && player.seek($("position").value));
  $("mute").addEventListener("change", () => player && player.setMuted($("mute").checked));
  $("prev").addEventListener("click", () => show(state.index - 1));
  $("next").addEventListener("click", () => show(state.index + 1));
  $("save").addEventListener("click", save);
  document.addEventListener("keydown", ev => {
    const tag = (ev.target && ev.target.tagName) || "";
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const typing = tag === "INPUT" && ev.target.type !== "checkbox" && ev.target.type !== "range";
    if (typing || tag === "TEXTAREA") return;
    const key = ev.key.toLowerCase();
    const pick = { "1": "A", "2": "B", "0": "=", "=": "=" }[key];
    if (pick) { answer(pick); ev.preventDefault(); }
    else if (key === "n") { show(state.index + 1); ev.preventDefault(); }
    else if (key === "p") { show(state.index - 1); ev.preventDefault(); }
  });
  window.clarityListen = { answers, save, show, answer, fileName, state, trials: data.trials.length,
                           get player() { return player; } };
  show(0);
});
"""
