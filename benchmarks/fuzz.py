"""Fuzz the preset loader and the audio input path: only ``ClarityError`` may come out.

    python benchmarks/fuzz.py [--cases 10000] [--seed 0]

Four targets share the cases equally:

- ``preset-text``: random YAML-ish text (the characters YAML cares about,
  words it knows) and mutations of a valid preset, through
  ``parse_preset`` and ``build``;
- ``preset-data``: random but well-formed YAML documents built from the
  preset vocabulary (processor names, parameter names, ``vst3``, ``mix``,
  ``bypass``) with hostile values (NaN, huge numbers, wrong types), through
  ``parse_preset``, ``--set`` overrides and ``build``;
- ``audio-bytes``: random bytes named ``.wav``/``.flac``/``.mp3``/``.ogg``/``.aiff``,
  through ``render``;
- ``audio-mutated``: real WAV/FLAC/AIFF files (1-8 channels, 8-192 kHz,
  0-2000 frames, PCM and float, NaN and Inf samples), then truncated,
  bit-flipped or padded, through ``render``.

A render that fails must also leave nothing in the output folder. Audio cases
run in child processes (``clarity_fx.isolate.ChildPool``), so an input that
crashes a native decoder is reported, and kept under ``benchmarks/out/fuzz-crashes/``,
instead of ending the run. Prints the cases run and every exception that is
not a ``ClarityError``, with the input that raised it; exits 1 if there was
any. The test suite runs a small version (``run(200)``).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, Phase, given, reject, seed, settings
from hypothesis import strategies as st

TARGETS = ("preset-text", "preset-data", "audio-bytes", "audio-mutated")
VALID_PRESET = """\
name: fuzz
description: a valid preset the mutations start from
chain:
  - highpass_filter: {cutoff_frequency_hz: 80}
  - spectral_subtraction: {noise_seconds: 0.5, max_reduction_db: 20}
  - compressor: {threshold_db: -18, ratio: 3}
  - mix:
      - [{gain: {gain_db: -3}}]
      - [{delay: {delay_seconds: 0.01}}]
  - true_peak_limiter: {ceiling_dbtp: -1}
    bypass: false
"""
YAML_ALPHABET = st.sampled_from(list("{}[]:-,&*!|>'\"#%@?~ \t\n.=/\\0123456789eE+") +
                                ["name", "chain", "gain", "mix", "vst3", "path", "bypass", "!!python/object",
                                 "&a", "*a", "<<", "true", "null", ".nan", ".inf", "1e309", "sample_rate",
                                 "spectral_subtraction", "gain_db", "\u00e9", "\x00", "\ufeff"])


# --------------------------------------------------------------------------- strategies
def _vocabulary() -> tuple[list[str], list[str]]:
    from clarity_fx.registry import processor_types

    types = processor_types()
    params = sorted({p for t in types.values() for p in t.params})
    return sorted(types) + ["vst3", "mix", "bogus"], params + ["path", "parameters", "state", "bogus"]


def _values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-10**12, 10**12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, -1, 1e-12, 1e300, 65536, 2**31, -2**63, "", ".", "/", "~", "$HOME", "hann",
                         "lowpass", "mmse_lsa", "1 kHz", "nan"]),
        st.text(max_size=12),
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                        st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def _typed_value(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a parameter's own type and range, with its edges; sometimes one step outside."""
    kind, low, high = spec["type"], spec["minimum"], spec["maximum"]
    if spec["choices"]:
        return st.sampled_from(list(spec["choices"]))
    if kind == "bool":
        return st.booleans()
    if kind in ("int", "float"):
        lo = -1e6 if low is None else low
        hi = 1e6 if high is None else high
        inside = st.integers(int(math.ceil(lo)), int(hi)) if kind == "int" else st.floats(lo, hi)
        edges = st.sampled_from([lo, hi, lo - 1, hi + 1])
        return st.one_of(inside, inside, edges)
    return st.text(max_size=8)


@st.composite
def typed_chains(draw: Any) -> dict[str, Any]:
    """Chains of real processors with parameters of the right type: these reach ``build``."""
    from clarity_fx.registry import processor_types

    types = processor_types()
    items = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(types)))
        specs = {k: v for k, v in types[name].params.items() if v["type"] != "object"}
        chosen = draw(st.lists(st.sampled_from(sorted(specs)), unique=True, max_size=3)) if specs else []
        item: dict[str, Any] = {name: {k: draw(_typed_value(specs[k])) for k in chosen}}
        if draw(st.integers(0, 9)) == 0:
            item["bypass"] = draw(st.booleans())
        items.append(item)
    if draw(st.integers(0, 4)) == 0:
        items = [{"mix": [items[: len(items) // 2 + 1], items[len(items) // 2:] or [{"gain": {}}]]}]
    return {"name": "typed", "chain": items}


@st.composite
def preset_documents(draw: Any) -> tuple[str, list[str]]:
    kinds, params = _vocabulary()
    values = _values()
    item = st.builds(lambda kind, ps, extra: {kind: ps, **extra},
                     st.sampled_from(kinds),
                     st.dictionaries(st.sampled_from(params), values, max_size=3) | values,
                     st.dictionaries(st.sampled_from(["bypass", "bogus"]), values, max_size=1))
    chain = st.lists(item | values, max_size=4)
    top = st.fixed_dictionaries({"chain": chain | values},
                                optional={"name": values, "description": values, "sample_rate": values,
                                          "extra": values})
    document = draw(typed_chains() | top | values)
    selectors = st.sampled_from(kinds + ["0", "-1", "9", "compressor"])
    raw_values = st.sampled_from(["1", "-3", "nan", "[1,2]", "{a: 1}", "'x'", ":"])
    override = st.builds(lambda s, p, v: f"{s}.{p}={v}", selectors, st.sampled_from(params), raw_values)
    overrides = draw(st.lists(override | st.text(max_size=20), max_size=2))
    return yaml.safe_dump(document, allow_unicode=True), overrides


@st.composite
def preset_texts(draw: Any) -> str:
    if draw(st.booleans()):
        return "".join(draw(st.lists(YAML_ALPHABET, max_size=60)))
    text = VALID_PRESET
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = "".join(draw(st.lists(YAML_ALPHABET, min_size=1, max_size=3)))
        width = draw(st.integers(1, 8))
        if how == "delete":
            text = text[:at] + text[at + width:]
        elif how == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + width:]
    return text


@st.composite
def audio_files(draw: Any) -> tuple[str, bytes]:
    """A real audio file's bytes (then maybe damaged), and its extension."""
    import soundfile as sf

    fmt, ext, subtypes = draw(st.sampled_from([
        ("WAV", ".wav", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"]),
        ("FLAC", ".flac", ["PCM_16", "PCM_24"]),
        ("AIFF", ".aiff", ["PCM_16", "PCM_24", "FLOAT"]),
    ]))
    subtype = draw(st.sampled_from(subtypes))
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000]))
    channels = draw(st.integers(1, 8))
    frames = draw(st.integers(0, 2000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    audio = (rng.standard_normal((frames, channels)) * draw(st.sampled_from([0.0, 0.1, 1.0, 10.0]))).astype(
        np.float64)
    if frames and draw(st.booleans()):
        audio.flat[draw(st.integers(0, audio.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    import io

    buffer = io.BytesIO()
    try:
        sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    except (AssertionError, RuntimeError, ValueError):  # a combination libsndfile cannot write
        reject()
    data = bytearray(buffer.getvalue())
    damage = draw(st.sampled_from(["none", "truncate", "flip", "pad", "header"]))
    if damage == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif damage == "pad":
        data += draw(st.binary(min_size=1, max_size=64))
    elif damage == "header" and len(data) > 44:
        at = draw(st.integers(0, 43))
        data[at:at + 4] = draw(st.binary(min_size=4, max_size=4))
    return ext, bytes(data)


# --------------------------------------------------------------------------- checks
OUTCOMES = ("ok", "ClarityError", "other", "crash")
#: Where the input of a case that crashed the process is kept, to reproduce it.
CRASH_DIR = Path(__file__).resolve().parent / "out" / "fuzz-crashes"


@dataclass
class Report:
    """What a fuzz run saw."""

    cases: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # (target, one of OUTCOMES)
    bugs: list[tuple[str, str, str]] = field(default_factory=list)  # (target, input, traceback)

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def add(self, target: str, shown: str, kind: str, detail: str = "") -> None:
        self.cases[target] += 1
        self.outcomes[target, kind] += 1
        if kind in ("other", "crash"):
            self.bugs.append((target, shown, detail))


def _attempt(call: Any) -> tuple[str, str]:
    """``("ok" | "ClarityError" | "other", detail)`` for one check."""
    from clarity_fx.errors import ClarityError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        return "ok", ""
    except ClarityError as err:
        if "\n" in str(err):
            return "other", f"ClarityError message spans lines: {err!r}"
        return "ClarityError", ""
    except Exception:  # noqa: BLE001 - what the fuzzer is looking for
        return "other", traceback.format_exc(limit=6)


def _check_preset(text: str, overrides: list[str]) -> None:
    from clarity_fx.preset import apply_overrides, parse_preset

    spec = parse_preset(text, "<fuzz>")
    if overrides:
        apply_overrides(spec, overrides)
    spec.build()


_folder: Path | None = None


def check_audio(case: tuple[str, bytes]) -> tuple[str, str]:
    """Render one damaged file (in a child process: a native crash must not end the run)."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="clarity-fuzz-"))
    ext, data = case
    return _attempt(lambda: _check_render(_folder, ext, data))


def _check_render(folder: Path, ext: str, data: bytes) -> None:
    import pedalboard

    from clarity_fx.rendering import render

    source = folder / f"in{ext}"
    source.write_bytes(data)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    try:
        render(source, out / "out.flac", pedalboard.Gain(-1), progress=False)
    except BaseException:
        left = sorted(p.name for p in out.iterdir())
        if left:
            raise AssertionError(f"a failed render left {left}") from None
        raise


def _run_audio(report: Report, cases: list[tuple[str, str, bytes]], workers: int) -> None:
    """Render the generated files in child processes; a crash is a finding, not the end of the run."""
    from clarity_fx.isolate import ChildPool, Lost, RemoteError

    this = sys.modules[__name__]
    if __name__ == "__main__":  # children import the checks by name, never a __main__
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import fuzz as this  # type: ignore[no-redef]
    pool = ChildPool(this.check_audio, workers, timeout=120)
    for index, outcome in pool.map_unordered([(ext, data) for _, ext, data in cases]):
        target, ext, data = cases[index]
        shown = f"{ext} {len(data)} bytes {data[:48]!r}..."
        if isinstance(outcome, Lost):
            CRASH_DIR.mkdir(parents=True, exist_ok=True)
            kept = CRASH_DIR / f"{target}-{index}{ext}"
            kept.write_bytes(data)
            report.add(target, shown, "crash", f"the process {outcome.reason} (input kept as {kept})")
        elif isinstance(outcome, RemoteError):
            report.add(target, shown, "other", outcome.reason)
        else:
            report.add(target, shown, *outcome)


def run(cases: int = 10_000, seed_value: int = 0, targets: tuple[str, ...] = TARGETS,
        workers: int = 2) -> Report:
    """Run ``cases`` fuzz cases, split evenly over ``targets``; return the :class:`Report`.

    Preset cases run here; audio cases run in ``workers`` child processes,
    because a damaged file can crash a native decoder.
    """
    report = Report()
    per_target = max(1, math.ceil(cases / len(targets)))
    common = settings(max_examples=per_target, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck), print_blob=False)
    audio: list[tuple[str, str, bytes]] = []

    @seed(seed_value)
    @common
    @given(st.one_of(preset_texts(), st.text(max_size=80)))
    def preset_text(text: str) -> None:
        report.add("preset-text", repr(text[:300]), *_attempt(lambda: _check_preset(text, [])))

    @seed(seed_value)
    @common
    @given(preset_documents())
    def preset_data(case: tuple[str, list[str]]) -> None:
        text, overrides = case
        outcome = _attempt(lambda: _check_preset(text, overrides))
        report.add("preset-data", repr((text[:300], overrides)), *outcome)

    @seed(seed_value)
    @common
    @given(st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ".aiff"]), st.binary(max_size=512))
    def audio_bytes(ext: str, data: bytes) -> None:
        audio.append(("audio-bytes", ext, data))

    @seed(seed_value)
    @common
    @given(audio_files())
    def audio_mutated(case: tuple[str, bytes]) -> None:
        audio.append(("audio-mutated", *case))

    chosen = {"preset-text": preset_text, "preset-data": preset_data, "audio-bytes": audio_bytes,
              "audio-mutated": audio_mutated}
    for target in targets:
        chosen[target]()
    if audio:
        _run_audio(report, audio, workers)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="total cases (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = run(args.cases, args.seed)
    wall = time.perf_counter() - started
    print(f"cases run: {report.total} in {wall:.0f} s ({report.total / wall:.0f}/s), seed {args.seed}")
    print(f"{'target':<14} {'cases':>6} {'ok':>6} {'ClarityError':>12} {'other':>6} {'crash':>6}")
    for target in TARGETS:
        ok, clarity, other, crash = (report.outcomes[target, kind] for kind in OUTCOMES)
        print(f"{target:<14} {report.cases[target]:>6} {ok:>6} {clarity:>12} {other:>6} {crash:>6}")
    unique: dict[str, tuple[str, str, str]] = {}
    for bug in report.bugs:  # one example per kind: the last line, numbers left out
        unique.setdefault(re.sub(r"\d+", "N", bug[2].strip().splitlines()[-1]), bug)
    print(f"non-ClarityError exceptions and crashes: {len(report.bugs)} ({len(unique)} kinds)")
    for kind, (target, shown, trace) in unique.items():
        count = sum(re.sub(r"\d+", "N", b[2].strip().splitlines()[-1]) == kind for b in report.bugs)
        print(f"\n[{target}] x{count} {kind}\n  e.g. input: {shown}")
        print("\n".join("  " + line for line in trace.splitlines()))
    return 1 if report.bugs else 0


if __name__ == "__main__":
    sys.exit(main())
