"""Blind A/B listening test of presets (issue #4): make a kit, listen, score the answers.

Usage::

    python benchmarks/listening_test.py make OUTDIR [--preset NAME ...]
        [--variant NAME:STAGE.PARAM=VALUE,STAGE.PARAM=VALUE ...] [--input FILE ...]
        [--seed N] [--seconds S] [--start S] [--repeats N] [--lufs L]
    python benchmarks/listening_test.py score OUTDIR

``make`` renders every condition with the library (``clarity_fx.render``), cuts the same excerpt
from each, matches them all to one integrated loudness (BS.1770, ``clarity_fx.analysis``) so that
the louder clip does not win for being louder, and writes a blind kit: ``trialNN_A.wav`` /
``trialNN_B.wav`` pairs (24-bit WAV), ``answers.csv`` for the listener, ``README.txt`` and the
hidden ``key.json``. Each preset is compared with the unprocessed original; each variant (a
preset with ``--set`` style overrides) with the preset it varies. Every comparison is heard
``--repeats`` times with the sides balanced, in a shuffled order (``--seed``).

``score`` reads ``answers.csv`` and ``key.json`` and prints, per condition, wins, losses and
ties against its reference, the preference rate and a two-sided sign test
(``scipy.stats.binomtest``) against 50 %, ranked; the statistics are the package's
(``clarity_fx.listening``, which ``clarity listen`` uses for its browser test page).

The kit is built in a hidden folder beside OUTDIR and renamed into place when complete, so a
failed or interrupted run leaves nothing; an existing, non-empty OUTDIR is never overwritten
(it may hold answers). Inputs are only read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The questions, answers and statistics are the package's, shared with 'clarity listen'.
from clarity_fx.listening import (  # TARGET_LUFS: clips are matched to it; CEILING_DBTP: no peak passes it
    CEILING_DBTP,
    CHOICES,
    MIN_DECISIVE,
    MIN_SECONDS,
    ORIGINAL,
    QUESTION,
    TARGET_LUFS,
    ListeningTestError,
    cut_excerpt,
    design_trials,
    matching_gains,
)

ROOT = Path(__file__).resolve().parent.parent
TAKE = ROOT / "examples" / "take.wav"
KEY_VERSION = 1


class KitError(Exception):
    """A user error: printed as one line, exit status 2."""


@dataclass
class Condition:
    """One thing a listener hears: the original, a preset, or a preset with overrides.

    Attributes
    ----------
    label : str
        Name in ``key.json`` and in the score table.
    kind : str
        ``"original"``, ``"preset"`` or ``"variant"``.
    preset : str or None
        The preset name or file as given.
    preset_file : str or None
        The YAML file it was read from.
    overrides : list of str
        ``STAGE.PARAM=VALUE`` texts, applied like ``clarity apply --set``.
    reference : str or None
        Label of the condition it is compared with (``None`` for the original).
    """

    label: str
    kind: str
    preset: str | None = None
    preset_file: str | None = None
    overrides: list[str] = field(default_factory=list)
    reference: str | None = None


# --------------------------------------------------------------------------- conditions
def shipped_presets() -> list[Path]:
    """The shipped preset files (the repository's ``presets/``; user presets do not shadow them).

    Returns
    -------
    list of Path
        Sorted by name.
    """
    from clarity_fx.preset import SHIPPED_DIRS

    for folder in SHIPPED_DIRS:
        if folder.is_dir():
            return sorted(folder.glob("*.yaml"))
    raise KitError("no shipped presets found; run from a clarity-fx checkout or pass --preset")


#: Splits "a.b=1,c.d=[1,2]" before each "STAGE.PARAM=" so that a list value may hold commas.
_OVERRIDE_SPLIT = re.compile(r",(?=[^,=\[\]{}]+\.[^,=\[\]{}.]+=)")


def parse_variant(text: str) -> tuple[str, list[str]]:
    """Split ``NAME:STAGE.PARAM=VALUE,STAGE.PARAM=VALUE`` into the preset and its overrides.

    Parameters
    ----------
    text : str
        What ``--variant`` was given.

    Returns
    -------
    tuple of (str, list of str)
        The preset name or file and the overrides, each as ``clarity apply --set`` takes it.

    Raises
    ------
    KitError
        No ``:`` or no override.
    """
    preset, sep, rest = text.partition(":")
    overrides = [part.strip() for part in _OVERRIDE_SPLIT.split(rest) if part.strip()] if sep else []
    if not preset.strip() or not overrides:
        raise KitError(
            f"--variant {text!r}: write PRESET:STAGE.PARAM=VALUE[,STAGE.PARAM=VALUE...], "
            "e.g. --variant vocal-clarity:spectral_subtraction.noise_seconds=0.5"
        )
    return preset.strip(), overrides


def _preset_label(name_or_path: str) -> str:
    path = Path(name_or_path)
    return path.stem if path.suffix in (".yaml", ".yml") or os.sep in name_or_path else name_or_path


def _load(condition: Condition) -> Any:
    """The condition's validated :class:`~clarity_fx.preset.Preset` (overrides applied by the library)."""
    from clarity_fx.preset import load_preset_spec

    assert condition.preset is not None
    return load_preset_spec(condition.preset, condition.overrides)


def _is_keyed(spec: Any) -> bool:
    """Whether the preset ducks under a sidechain key (it cannot be rendered from the input alone)."""
    from clarity_fx.rendering import _keyed_stages

    return bool(_keyed_stages(spec.build()))


def build_conditions(
    presets: list[str] | None, variants: list[str]
) -> tuple[dict[str, Condition], list[str]]:
    """The kit's conditions, each validated (overrides included) before anything is rendered.

    Parameters
    ----------
    presets : list of str or None
        Preset names or files; ``None``: every shipped preset.
    variants : list of str
        ``--variant`` texts. A variant's preset joins the kit if it was not listed.

    Returns
    -------
    conditions : dict
        Label → :class:`Condition`, the original first.
    skipped : list of str
        Notes on shipped presets left out (those that need a sidechain key).

    Raises
    ------
    KitError, clarity_fx.ClarityError
        An unknown preset, a bad override, a duplicate, or a keyed preset asked for by name.
    """
    conditions: dict[str, Condition] = {ORIGINAL: Condition(ORIGINAL, "original")}
    skipped: list[str] = []
    explicit = presets is not None
    wanted = list(presets) if explicit else [str(path) for path in shipped_presets()]
    parsed = [parse_variant(text) for text in variants]
    for base, _ in parsed:
        if _preset_label(base) not in {_preset_label(p) for p in wanted}:
            wanted.append(base)
    for name in wanted:
        label = _preset_label(name)
        if label in conditions:
            if conditions[label].preset == name:
                continue
            raise KitError(f"two presets are both called {label!r}; rename one of the files")
        condition = Condition(label, "preset", name, reference=ORIGINAL)
        spec = _load(condition)
        condition.preset_file = spec.source
        if _is_keyed(spec):
            if explicit or any(_preset_label(base) == label for base, _ in parsed):
                raise KitError(
                    f"preset {label} ducks under a sidechain key (a second recording); "
                    "the listening test renders each input on its own, so leave it out"
                )
            skipped.append(f"{label} (needs a sidechain key)")
            continue
        conditions[label] = condition
    for text, (base, overrides) in zip(variants, parsed, strict=True):
        label = f"{_preset_label(base)}:{','.join(overrides)}"
        if label in conditions:
            raise KitError(f"--variant {text!r} is given twice; drop one")
        base_condition = conditions[_preset_label(base)]
        condition = Condition(
            label, "variant", base_condition.preset, overrides=overrides, reference=base_condition.label
        )
        condition.preset_file = _load(condition).source
        conditions[label] = condition
    if len(conditions) < 2:
        raise KitError("nothing to compare: give at least one --preset")
    return conditions, skipped


# --------------------------------------------------------------------------- design
def trial_files(trial: int, count: int) -> tuple[str, str]:
    """File names of a trial's two clips; they say nothing about what is in them."""
    width = max(2, len(str(count)))
    return f"trial{trial:0{width}d}_A.wav", f"trial{trial:0{width}d}_B.wav"


# --------------------------------------------------------------------------- audio
def render_condition(condition: Condition, source: Path, workdir: Path) -> tuple[np.ndarray, float]:
    """Render a whole input through a condition with the library; the excerpt is cut afterwards.

    The whole file is rendered (not just the excerpt), so stages that learn from its start,
    such as a noise profile from the first second, work as they would on the recording.

    Returns
    -------
    audio : numpy.ndarray
        ``(channels, n)`` float64, time-aligned with the input.
    sample_rate : float
    """
    import soundfile as sf

    import clarity_fx as cfx

    if condition.kind == "original":
        chain = cfx.Chain([])  # read by the same decoder as the processed conditions
    else:
        spec = _load(condition)
        spec.check_input(source)
        chain = spec.build()
    target = workdir / "render.wav"
    cfx.render(source, target, chain, bit_depth=32, progress=False)
    audio, rate = sf.read(target, dtype="float64", always_2d=True)
    target.unlink()
    return audio.T, float(rate)


def write_clip(path: Path, audio: np.ndarray, sample_rate: float) -> None:
    """A 24-bit WAV of ``(channels, n)`` audio."""
    import soundfile as sf

    sf.write(path, audio.T, int(round(sample_rate)), subtype="PCM_24")


# --------------------------------------------------------------------------- make
def _minutes(trials: int, seconds: float) -> float:
    """Rough listening time: each clip played about one and a half times, plus 5 s to answer."""
    return trials * (3 * seconds + 5) / 60


def _readme(count: int, seconds: float, lufs: float, repeats: int) -> str:
    width = max(2, len(str(count)))
    first, last = f"trial{1:0{width}d}", f"trial{count:0{width}d}"
    question = textwrap.fill(f"Question: {QUESTION}", 78, initial_indent="   ", subsequent_indent="   ")
    return f"""Blind listening test: {count} trials, about {_minutes(count, seconds):.0f} min.

Each trial is two clips of the same excerpt, {first}_A.wav and {first}_B.wav
up to {last}_A.wav and {last}_B.wav. Each pair is processed differently (or
one of them not at all). Some pairs come back more than once, sides swapped.

1. Use good closed or open headphones (or studio monitors) in a quiet room.
2. Set a comfortable level on the first trial, then leave the volume alone.
   Every clip is matched to the same loudness ({lufs:.1f} LUFS), so level is
   not part of the test.
3. For each trial, play A and B as often as you like, switching between them.
{question}
4. Write A, B or = in the 'choice' column of answers.csv (one row per trial;
   any order; keep it as CSV). '=' is a full answer: do not guess. Write what
   you heard in 'notes' if you like (e.g. "B lisps", "A hiss").
5. Do NOT open key.json and do not look at waveforms or spectrograms: key.json
   says what each clip is, and knowing ends the test. Listen only.
6. Take a short break half way.

When every row has a choice, from the clarity-fx checkout run:

    python benchmarks/listening_test.py score THIS_FOLDER

(Each comparison is heard {repeats} time(s) per input.)
"""


def make_kit(
    outdir: Path,
    presets: list[str] | None = None,
    variants: list[str] | None = None,
    inputs: list[Path] | None = None,
    seed: int | None = None,
    seconds: float = 15.0,
    start: float = 0.0,
    repeats: int = 2,
    lufs: float = TARGET_LUFS,
) -> dict:
    """Render, match and write a blind listening kit into ``outdir`` (created; must be new or empty).

    Parameters
    ----------
    outdir : Path
        Folder for the kit.
    presets : list of str, optional
        Preset names or files; default every shipped preset that does not need a sidechain key.
    variants : list of str, optional
        ``PRESET:STAGE.PARAM=VALUE,...``, each compared with its preset.
    inputs : list of Path, optional
        Recordings; default ``examples/take.wav``.
    seed : int, optional
        Seed of the order and the A/B sides; default a random one (kept in ``key.json``).
    seconds : float, optional
        Longest excerpt, seconds.
    start : float, optional
        Where the excerpt starts in every input, seconds.
    repeats : int, optional
        Times each comparison is heard per input.
    lufs : float, optional
        Loudness every clip is matched to (lower if a peak would pass -1 dBTP).

    Returns
    -------
    dict
        What was written to ``key.json``.

    Raises
    ------
    KitError, clarity_fx.ClarityError
        Bad arguments, inputs or presets; nothing is left behind.
    """
    from clarity_fx.analysis import integrated_loudness, true_peak_dbtp

    if seconds < MIN_SECONDS:
        raise KitError(f"--seconds {seconds:g} is too short to measure; give {MIN_SECONDS:g} or more")
    if start < 0:
        raise KitError("--start must be 0 or more seconds")
    if repeats < 1:
        raise KitError("--repeats must be 1 or more")
    if not math.isfinite(lufs) or lufs >= 0:
        raise KitError("--lufs must be a negative number, e.g. -23")
    outdir = Path(outdir)
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise KitError(f"{outdir} exists and is not empty; give a new folder (a kit is never overwritten)")
    sources = [Path(p) for p in (inputs or [TAKE])]
    for source in sources:
        if not source.is_file():
            raise KitError(f"{source}: no such input file")
    if len({s.resolve() for s in sources}) != len(sources):
        raise KitError("the same input is given twice; drop one")
    conditions, skipped = build_conditions(presets, list(variants or []))
    for note in skipped:
        print(f"left out {note}", file=sys.stderr)
    seed = secrets.randbelow(2**31) if seed is None else seed
    comparisons = [(c.label, c.reference) for c in conditions.values() if c.reference is not None]
    trials = design_trials(comparisons, [str(s) for s in sources], repeats, seed)

    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.partial-", dir=outdir.parent))
    try:
        work = staging / ".render"
        work.mkdir()
        clips: dict[tuple[str, str], np.ndarray] = {}
        rates: dict[str, float] = {}
        loudness: dict[tuple[str, str], float] = {}
        peaks: dict[tuple[str, str], float] = {}
        inputs_info = []
        for source in sources:
            for label, condition in conditions.items():
                audio, rate = render_condition(condition, source, work)
                try:
                    clip = cut_excerpt(audio, rate, start, seconds)
                except ListeningTestError as err:
                    raise KitError(f"{source}: {err}") from None
                level = integrated_loudness(clip, rate)
                if not math.isfinite(level):
                    raise KitError(
                        f"{label} on {source}: the excerpt is silent (below the BS.1770 gate); "
                        "choose another --start"
                    )
                key = (str(source), label)
                clips[key], rates[str(source)] = clip, rate
                loudness[key], peaks[key] = level, true_peak_dbtp(clip, rate)
            inputs_info.append(
                {
                    "path": str(source),
                    "sample_rate": rates[str(source)],
                    "excerpt_start_s": start,
                    "excerpt_seconds": clips[(str(source), ORIGINAL)].shape[1] / rates[str(source)],
                }
            )
        shutil.rmtree(work)
        gains, reduction = matching_gains(loudness, peaks, lufs, CEILING_DBTP)
        files: dict[str, dict] = {}
        for trial in trials:
            names = trial_files(trial["trial"], len(trials))
            trial["file_a"], trial["file_b"] = names
            for side, name in zip(("A", "B"), names, strict=True):
                key = (trial["input"], trial[side])
                condition = conditions[trial[side]]
                write_clip(staging / name, clips[key] * 10 ** (gains[key] / 20), rates[trial["input"]])
                files[name] = {
                    "trial": trial["trial"],
                    "side": side,
                    "condition": condition.label,
                    "kind": condition.kind,
                    "preset": condition.preset,
                    "overrides": condition.overrides,
                    "input": trial["input"],
                    "loudness_before_lufs": round(loudness[key], 3),
                    "true_peak_before_dbtp": round(peaks[key], 3),
                    "gain_db": round(gains[key], 3),
                }
        key_data = {
            "version": KEY_VERSION,
            "made_by": "benchmarks/listening_test.py",
            "question": QUESTION,
            "seed": seed,
            "repeats": repeats,
            "target_lufs": lufs,
            "matched_lufs": lufs - reduction,
            "peak_reduction_db": reduction,
            "ceiling_dbtp": CEILING_DBTP,
            "left_out": skipped,
            "conditions": {label: asdict(c) for label, c in conditions.items()},
            "inputs": inputs_info,
            "trials": trials,
            "files": files,
        }
        (staging / "key.json").write_text(json.dumps(key_data, indent=2) + "\n", encoding="utf-8")
        with open(staging / "answers.csv", "w", encoding="utf-8", newline="") as sheet:
            writer = csv.writer(sheet)
            writer.writerow(["trial", "file_a", "file_b", "choice", "notes"])
            for trial in trials:
                writer.writerow([trial["trial"], trial["file_a"], trial["file_b"], "", ""])
        (staging / "README.txt").write_text(
            _readme(len(trials), max(i["excerpt_seconds"] for i in inputs_info), lufs - reduction, repeats),
            encoding="utf-8",
        )
        if outdir.is_dir():
            outdir.rmdir()  # empty (checked above)
        staging.rename(outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return key_data


# --------------------------------------------------------------------------- score
def _read_key(outdir: Path) -> dict:
    path = outdir / "key.json"
    if not path.is_file():
        raise KitError(f"{path}: not found; is {outdir} a kit made by 'listening_test.py make'?")
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise KitError(f"{path}: not valid JSON ({err}); make the kit again") from None
    if (
        not isinstance(key, dict)
        or key.get("version") != KEY_VERSION
        or not isinstance(key.get("trials"), list)
    ):
        raise KitError(f"{path}: not a version-{KEY_VERSION} listening-test key; make the kit again")
    return key


def read_answers(outdir: Path, key: dict) -> dict[int, str]:
    """Trial → ``"A"``, ``"B"`` or ``"="`` from ``answers.csv``, every trial answered.

    Lower case and surrounding spaces are accepted; a sheet saved by a spreadsheet with
    ``;`` or tab separators or a byte-order mark is read too.

    Raises
    ------
    KitError
        Missing sheet or column, an invalid or missing choice, a row that is not one of the
        kit's trials: one line that names the line of the sheet and the fix.
    """
    path = outdir / "answers.csv"
    if not path.is_file():
        raise KitError(f"{path}: not found; it is written by 'make' beside the clips")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise KitError(f"{path}: not UTF-8 text; save it as CSV (UTF-8)") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        raise KitError(f"{path}: the sheet is empty; make the kit again or restore answers.csv")
    header = [cell.strip().lower() for cell in rows[0]]
    for column in ("trial", "choice"):
        if column not in header:
            raise KitError(
                f"{path}: line 1 has no '{column}' column; keep the header trial,file_a,file_b,choice,notes"
            )
    expected = {t["trial"]: t for t in key["trials"]}
    answers: dict[int, str] = {}
    missing: list[tuple[int, int]] = []
    for line, row in enumerate(rows[1:], 2):
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        if not any(cells.values()):
            continue
        try:
            trial = int(cells.get("trial", ""))
        except ValueError:
            raise KitError(
                f"{path}: line {line}: trial {cells.get('trial')!r} is not a trial number; "
                "restore the 'trial' column"
            ) from None
        if trial not in expected:
            raise KitError(f"{path}: line {line}: this kit has no trial {trial}; remove the line")
        if trial in answers or any(t == trial for t, _ in missing):
            raise KitError(f"{path}: line {line}: trial {trial} appears twice; keep one line per trial")
        for column, name in (("file_a", expected[trial]["file_a"]), ("file_b", expected[trial]["file_b"])):
            if cells.get(column) and cells[column] != name:
                raise KitError(
                    f"{path}: line {line}: trial {trial} lists {cells[column]}, expected {name}; "
                    "the sheet is from another kit or was edited"
                )
        choice = cells.get("choice", "").upper()
        if not choice:
            missing.append((trial, line))
        elif choice not in CHOICES:
            raise KitError(
                f"{path}: line {line} (trial {trial}): choice {cells['choice']!r} is not A, B or =; "
                "write A, B or = (= for no difference)"
            )
        else:
            answers[trial] = choice
    absent = sorted(set(expected) - set(answers) - {t for t, _ in missing})
    if not answers:
        raise KitError(
            f"{path}: no answers yet (0 of {len(expected)} trials); listen to each trial "
            "and write A, B or = in its 'choice' column"
        )
    if absent:
        raise KitError(
            f"{path}: no line for trial {absent[0]} ({len(absent)} trial(s) missing); "
            f"add '{absent[0]},{expected[absent[0]]['file_a']},{expected[absent[0]]['file_b']},CHOICE,'"
        )
    if missing:
        trial, line = missing[0]
        raise KitError(
            f"{path}: {len(missing)} of {len(expected)} trials have no choice, the first on "
            f"line {line} (trial {trial}); write A, B or = in each"
        )
    return answers


def tally(key: dict, answers: dict[int, str]) -> list[dict]:
    """Per challenger condition: wins, losses and ties against its reference, and the sign test.

    The counting and the statistics are :func:`clarity_fx.listening.tally_preferences`'s; this
    turns the kit's sides into the versions chosen.

    Returns
    -------
    list of dict
        ``condition``, ``reference``, ``trials``, ``wins``, ``losses``, ``ties``, ``rate``
        (wins / decisive trials, ``None`` if none), ``p`` and ``p_holm``, best first.
    """
    from clarity_fx.listening import Preference, tally_preferences

    return tally_preferences(
        Preference(
            trial["challenger"],
            trial["reference"],
            None if answers[trial["trial"]] == "=" else trial[answers[trial["trial"]]],
            answers[trial["trial"]],
        )
        for trial in key["trials"]
    )


def score_kit(outdir: Path) -> str:
    """The ranked result of a kit whose ``answers.csv`` is complete, as printable text.

    Raises
    ------
    KitError
        Missing or invalid key or answers.
    """
    from clarity_fx.listening import format_preferences

    outdir = Path(outdir)
    key = _read_key(outdir)
    answers = read_answers(outdir, key)
    rows = tally(key, answers)
    counts = {c: sum(1 for a in answers.values() if a == c) for c in CHOICES}
    lines = [
        f"{outdir}: {len(answers)} trials on {len(key['inputs'])} input(s), loudness-matched to "
        f"{key['matched_lufs']:.1f} LUFS; answers A {counts['A']}, B {counts['B']}, = {counts['=']}",
        "",
    ]
    return "\n".join(lines + format_preferences(rows, counts))


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listening_test.py",
        description="Blind A/B listening test of clarity-fx presets: make a kit, listen, score.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="Render a blind, loudness-matched kit into OUTDIR.")
    make.add_argument("outdir", type=Path, metavar="OUTDIR", help="New (or empty) folder for the kit.")
    make.add_argument(
        "--preset",
        action="append",
        dest="presets",
        metavar="NAME",
        help="Preset name or YAML file (repeat; default: every shipped preset).",
    )
    make.add_argument(
        "--variant",
        action="append",
        dest="variants",
        default=[],
        metavar="NAME:STAGE.PARAM=VALUE[,...]",
        help="A preset with --set overrides, compared with the preset (repeat).",
    )
    make.add_argument(
        "--input",
        action="append",
        dest="inputs",
        type=Path,
        metavar="FILE",
        help="Recording to test on (repeat; default: examples/take.wav).",
    )
    make.add_argument(
        "--seed", type=int, help="Seed of the order and A/B sides (default: random, kept in key.json)."
    )
    make.add_argument("--seconds", type=float, default=15.0, help="Longest excerpt, seconds (default 15).")
    make.add_argument(
        "--start",
        type=float,
        default=0.0,
        help="Start of the excerpt in each input, seconds (default 0: the whole file is "
        "always rendered, so a noise profile still comes from its start).",
    )
    make.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="Times each comparison is heard per input (default 2; 6+ to decide one).",
    )
    make.add_argument(
        "--lufs",
        type=float,
        default=TARGET_LUFS,
        help=f"Loudness every clip is matched to (default {TARGET_LUFS:g}).",
    )
    score = commands.add_parser("score", help="Score a kit's answers.csv against its key.json.")
    score.add_argument("outdir", type=Path, metavar="OUTDIR", help="The kit's folder.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user error is one line on stderr and exit status 2.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status.
    """
    from clarity_fx.errors import ClarityError

    args = _parser().parse_args(argv)
    try:
        if args.command == "make":
            key = make_kit(
                args.outdir,
                args.presets,
                args.variants,
                args.inputs,
                args.seed,
                args.seconds,
                args.start,
                args.repeats,
                args.lufs,
            )
            count, repeats = len(key["trials"]), key["repeats"]
            seconds = max(i["excerpt_seconds"] for i in key["inputs"])
            print(
                f"{args.outdir}: {count} trials, {len(key['conditions']) - 1} conditions, "
                f"about {_minutes(count, seconds):.0f} min of listening; see README.txt there"
            )
            if repeats * len(key["inputs"]) < MIN_DECISIVE:
                floor = 2 * 0.5 ** (repeats * len(key["inputs"]))
                print(
                    f"note: each condition is heard {repeats * len(key['inputs'])} time(s), so its p-value "
                    f"cannot go below {floor:.2f}; for a decision, test fewer conditions with --repeats 6 "
                    "or more",
                    file=sys.stderr,
                )
        else:
            print(score_kit(args.outdir))
    except (KitError, ClarityError) as err:
        print(f"listening_test.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("listening_test.py: interrupted; no partial kit was left", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
