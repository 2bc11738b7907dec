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
                        "trials": len(key["trials"])}]
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
