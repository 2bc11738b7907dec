"""Fuzz the preset loader and the audio input path: only ``ClarityError`` may come out.

    python benchmarks/fuzz.py [--cases 10000] [--seed 0]

Nine targets share the cases equally:

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
  bit-flipped or padded, through ``render``;
- ``paths``: ``clarity apply`` (its entry point, in a child) on input and output
  names past 255 bytes, not UTF-8, with spaces, dashes, dots, newlines; missing
  folders, folders and symlinks as outputs, FIFOs, devices, /proc files: exit 0
  with a complete output, or exit 2 with one line and no traceback, the input
  untouched and nothing left behind;
- ``header``: WAV files whose fmt chunk claims other rates (0 to 2**32-1) and
  channel counts (0 to 65535), through ``open_audio``, ``render`` and ``analyze_file``;
- ``params``: every registered processor with parameters at their bounds, one
  float step and one unit beyond, NaN, inf, huge integers and wrong types,
  through ``parse_preset``; what validation accepts must build and render 0.2 s
  to finite samples (a ClarityError then is a finding too: validation should have said it);
- ``automation``: ``automate:`` lanes of hostile points (NaN, negative or unsorted
  times, huge values, empty, not numbers) on numeric parameters, the same way;
- ``set``: random ``--set STAGE.PARAM=VALUE`` texts against shipped presets,
  through ``load_preset_spec``, then built and rendered the same way.

A render that fails must also leave nothing in the output folder. All but the
preset cases run in child processes (``clarity_fx.isolate.ChildPool``), each within
:data:`CASE_TIMEOUT_S` (a hang is a finding), so an input that crashes a native decoder
is reported, and kept under ``benchmarks/out/fuzz-crashes/``,
instead of ending the run. Prints the cases run and every exception that is
not a ``ClarityError``, with the input that raised it; exits 1 if there was
any. The test suite runs a small version (``run(200)``).
"""

from __future__ import annotations

import argparse
import math
import os
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

TARGETS = ("preset-text", "preset-data", "audio-bytes", "audio-mutated", "paths", "header", "params",
           "automation", "set")
#: Targets whose cases run in child processes, with a time limit each.
CHILD_TARGETS = TARGETS[2:]
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
OUTCOMES = ("ok", "ClarityError", "other", "crash", "hang")
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
        if kind in ("other", "crash", "hang"):
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


def _check_render(folder: Path, ext: str, data: bytes) -> None:
    import pedalboard

    from clarity_fx.rendering import render

    source = folder / f"case{ext}"
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


def _run_children(report: Report, cases: list[tuple[str, Any]], workers: int) -> None:
    """Run cases in child processes; a crash or a case over :data:`CASE_TIMEOUT_S` is a finding."""
    from clarity_fx.isolate import ChildPool, Lost, RemoteError

    this = sys.modules[__name__]
    if __name__ == "__main__":  # children import the checks by name, never a __main__
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import fuzz as this  # type: ignore[no-redef]
    pool = ChildPool(this.check_child, workers, timeout=CASE_TIMEOUT_S)
    for index, outcome in pool.map_unordered(cases):
        target, payload = cases[index]
        if target.startswith("audio"):
            ext, data = payload
            shown = f"{ext} {len(data)} bytes {data[:48]!r}..."
        else:
            shown = repr(payload)[:400]
        if isinstance(outcome, Lost):
            kept = ""
            if target.startswith("audio"):
                CRASH_DIR.mkdir(parents=True, exist_ok=True)
                kept_path = CRASH_DIR / f"{target}-{index}{payload[0]}"
                kept_path.write_bytes(payload[1])
                kept = f" (input kept as {kept_path})"
            kind = "hang" if outcome.timed_out else "crash"
            report.add(target, shown, kind, f"the process {outcome.reason}{kept}")
        elif isinstance(outcome, RemoteError):
            report.add(target, shown, "other", outcome.reason)
        else:
            report.add(target, shown, *outcome)



# --------------------------------------------------------------------------- new targets: strategies
#: Edge values every parameter is tried with, whatever its type.
HOSTILE = [math.nan, math.inf, -math.inf, 10**30, -10**30, 2**63, -2**63 - 1, 1e308, -1e308, 5e-324,
           True, False,
           None, "", "1", "nan", "x", [], [1], {}, {"a": 1}, 1.5, 0, -1]


def _edges(spec: dict[str, Any]) -> list[Any]:
    """A parameter's boundaries, one float step and one unit beyond them, and its choices misspelt."""
    values: list[Any] = []
    if spec["choices"]:
        values += list(spec["choices"]) + [str(spec["choices"][0]).upper(), "bogus", 1]
    for bound, away in ((spec["minimum"], -math.inf), (spec["maximum"], math.inf)):
        if bound is not None:
            values += [bound, math.nextafter(float(bound), away), math.nextafter(float(bound), -away),
                       bound + (-1 if away < 0 else 1), float(bound)]
    if spec["type"] == "int":
        values += [2**31, 2**31 - 1, 2**53 + 1, 7]
    return values


@st.composite
def param_cases(draw: Any) -> dict[str, Any]:
    """One processor with one to three parameters at or beyond their ranges."""
    from clarity_fx.registry import processor_types

    types = processor_types()
    name = draw(st.sampled_from(sorted(types)))
    specs = types[name].params
    params: dict[str, Any] = {}
    keys = draw(st.lists(st.sampled_from(sorted(specs)), unique=True, min_size=1, max_size=3) if specs
                else st.just([]))
    for key in keys:
        edges = _edges(specs[key]) or HOSTILE
        params[key] = draw(st.sampled_from(edges) | st.sampled_from(HOSTILE) | _typed_value(specs[key]))
    return {"chain": [{name: params}]}


def _numeric(spec: dict[str, Any]) -> bool:
    return spec["type"] in ("int", "float") and not spec["choices"]


@st.composite
def automation_cases(draw: Any) -> dict[str, Any]:
    """A processor with ``automate:`` lanes of hostile points on its numeric parameters."""
    from clarity_fx.registry import processor_types

    types = processor_types()
    name = draw(st.sampled_from(sorted(types)))
    numeric = sorted(k for k, v in types[name].params.items() if _numeric(v)) or ["bogus"]
    number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                       st.sampled_from([0, -1, 0.1, 0.2, 1e300, -1e-300]))
    value = number | st.sampled_from(["x", None, True, [1], {}])
    point = st.one_of(st.tuples(number, number).map(list), st.tuples(value, value).map(list),
                      st.lists(value, max_size=3), value)
    points = st.lists(point, max_size=5) | value
    lane = points | st.fixed_dictionaries({"points": points}, optional={"interpolation": st.sampled_from(
        ["linear", "log", "step", "bogus", 1])})
    lanes = draw(st.dictionaries(st.sampled_from(numeric + ["bogus"]), lane, min_size=1, max_size=2) | value)
    item: dict[str, Any] = {name: {}, "automate": lanes}
    return {"chain": [item]}


@st.composite
def set_cases(draw: Any) -> tuple[str, str]:
    """A shipped preset and one ``--set STAGE.PARAM=VALUE`` text."""
    from clarity_fx.preset import list_presets
    from clarity_fx.registry import processor_types

    names = sorted(list_presets())
    preset = draw(st.sampled_from(names))
    kinds = sorted(processor_types())
    params = sorted({p for t in processor_types().values() for p in t.params})
    stage = (st.sampled_from(["0", "1", "2", "-1", "99", "", "0.0", "mix", "vst3"] + kinds) |
             st.text(max_size=6))
    param = st.sampled_from(params + ["", "bypass", "wet", "automate", "listen"]) | st.text(max_size=6)
    value = st.one_of(st.sampled_from(["1", "-3", "0", "nan", ".nan", "-.inf", "1e309", "[1, 2]", "{a: 1}",
                                       "'x'",
                                       ":", "", "true", "null", "~", "!!python/object:os.system", "&a [*a]",
                                       "9" * 400, "0x10", "1_000"]),
                      st.floats().map(repr), st.integers().map(str), st.text(max_size=10))
    text = draw(st.one_of(st.builds(lambda s, p, v: f"{s}.{p}={v}", stage, param, value),
                          st.builds(lambda s, p, v: f"{s}.{p}{v}", stage, param, value),
                          st.text(max_size=30)))
    return preset, text


@st.composite
def header_cases(draw: Any) -> dict[str, Any]:
    """A real WAV whose fmt chunk is patched to another sample rate and/or channel count."""
    rate = draw(st.sampled_from([0, 1, 7999, 8000, 768000, 768001, 2**31 - 1, 2**32 - 1]) |
                st.integers(0, 2**32 - 1))
    channels = draw(st.sampled_from([0, 1, 2, 8, 64, 65535]) | st.integers(0, 65535))
    return {"rate": rate if draw(st.integers(0, 3)) else None, "channels": channels if draw(st.integers(0, 3))
            else None, "consistent": draw(st.booleans()), "frames": draw(st.sampled_from([0, 1, 100, 4000])),
            "subtype": draw(st.sampled_from(["PCM_16", "FLOAT", "PCM_24"]))}


_NAME_PIECES = st.sampled_from(["a", "take", " ", "-", "--", ".", "..", "é", "\u200b", "*", "?", "~", "$HOME",
                                "\\", "'", '"', "\n", "\t", "%s", "{}", "0", "日本"])


@st.composite
def _names(draw: Any) -> bytes:
    """A file name as bytes: short or past 255 bytes, UTF-8 or not, with dashes, spaces and dots."""
    how = draw(st.sampled_from(["pieces", "text", "bytes", "long", "long-utf8", "latin1"]))
    if how == "pieces":
        stem = "".join(draw(st.lists(_NAME_PIECES, min_size=1, max_size=5))).encode()
    elif how == "text":
        stem = draw(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"),
                            min_size=1, max_size=12)).encode()
    elif how == "bytes":
        stem = draw(st.binary(min_size=1, max_size=12)).replace(b"/", b"_").replace(b"\x00", b"_")
    elif how == "latin1":
        stem = "café-ñ".encode("latin-1")
    else:
        unit = "é".encode() if how == "long-utf8" else b"a"
        stem = unit * (draw(st.integers(240, 300)) // len(unit))
    ext = draw(st.sampled_from([".wav", ".flac", ".WAV", ".wav.", "", ".txt", ".mp3", ".ogg", ".aiff",
                                ".part.wav"]))
    return stem + ext.encode()


@st.composite
def path_cases(draw: Any) -> dict[str, Any]:
    """Input and output names and kinds for ``clarity apply``."""
    return {
        "input": draw(st.sampled_from(["file", "file", "file", "missing", "folder", "symlink", "dangling",
                                       "in-missing-folder", "/dev/zero", "/dev/null", "/proc/self/status",
                                       "/proc/self/mem", "/dev/stdin", "fifo"])),
        "in_name": draw(_names()),
        "output": draw(st.sampled_from(["name", "name", "name", "missing-folder", "existing-folder", "input",
                                        "symlink-to-input", "symlink-to-folder", "dangling-symlink",
                                        "char-device", "/proc/x.wav", "/proc/self/status", "/dev/full",
                                        "/dev/nowhere/x.wav", "existing-file"])),
        "out_name": draw(_names()),
        "dot_slash": draw(st.booleans()),
        "absolute": draw(st.booleans()),
    }


# --------------------------------------------------------------------------- new targets: child checks
#: Seconds any case may take in its child before it is killed and reported as a hang.
CASE_TIMEOUT_S = 10.0
_child_state: dict[str, Any] = {}


def _child_setup() -> Path:
    """Once per child: a work folder, a 0.2 s input, and a memory cap (a huge allocation is a finding)."""
    if "folder" not in _child_state:
        import resource

        import soundfile as sf

        folder = Path(tempfile.mkdtemp(prefix="clarity-fuzz-"))
        rng = np.random.default_rng(0)
        sf.write(folder / "in.wav", 0.1 * rng.standard_normal((9600, 2)), 48000, subtype="FLOAT")
        (folder / "gain.yaml").write_text("name: g\ndescription: one gain\nchain:\n  - gain: {gain_db: -1}\n")
        limit = 6 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        _child_state["folder"] = folder
    return _child_state["folder"]


def check_child(case: tuple[str, Any]) -> tuple[str, str]:
    """Run one child case: ``(target, payload)`` -> ``(outcome, detail)``."""
    target, payload = case
    folder = _child_setup()
    if target in ("audio-bytes", "audio-mutated"):
        ext, data = payload
        return _attempt(lambda: _check_render(folder, ext, data))
    if target == "paths":
        return _check_paths(folder, payload)
    if target == "header":
        return _attempt(lambda: _check_header(folder, payload))
    if target in ("params", "automation"):
        return _check_built(folder, lambda: _spec_of(payload))
    if target == "set":
        return _check_built(folder, lambda: _set_spec(*payload))
    raise ValueError(f"unknown target {target}")


def _spec_of(document: dict[str, Any]) -> Any:
    from clarity_fx.preset import parse_preset

    return parse_preset(yaml.safe_dump({"name": "fuzz", "description": "", **document}), "<fuzz>")


def _set_spec(preset: str, text: str) -> Any:
    from clarity_fx.preset import load_preset_spec

    return load_preset_spec(preset, [text])


def _check_built(folder: Path, make: Any) -> tuple[str, str]:
    """Validation may refuse (ClarityError); what it accepts must build and render 0.2 s to finite samples."""
    spec: list[Any] = []
    outcome = _attempt(lambda: spec.append(make()))
    if outcome[0] != "ok":
        return outcome
    return _attempt(lambda: _render_finite(folder, spec[0]))


class AcceptedButFailed(AssertionError):
    """Validation accepted a value that building or rendering then refused."""


def _render_finite(folder: Path, spec: Any) -> None:
    import soundfile as sf

    from clarity_fx.errors import ClarityError
    from clarity_fx.rendering import render

    out = folder / "out"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    try:
        chain = spec.build()
        spec.check_input(folder / "in.wav")
        render(folder / "in.wav", out / "out.wav", chain, progress=False, bit_depth=32)
    except ClarityError as err:
        left = sorted(p.name for p in out.iterdir())
        if left:
            raise AssertionError(f"a failed render left {left}") from None
        if "Nyquist" in str(err):
            return  # a corner valid at some rate, not at this one: only the render knows the rate
        raise AcceptedButFailed(f"validation accepted it, then: {type(err).__name__}: {err}") from None
    audio, _ = sf.read(out / "out.wav")
    if not np.isfinite(audio).all():
        raise AssertionError("non-finite output samples")


def _check_header(folder: Path, case: dict[str, Any]) -> None:
    import io
    import struct

    import soundfile as sf

    from clarity_fx.analysis import analyze_file
    from clarity_fx.audio_io import open_audio

    buffer = io.BytesIO()
    audio = 0.1 * np.random.default_rng(1).standard_normal((case["frames"], 2))
    sf.write(buffer, audio, 8000, format="WAV", subtype=case["subtype"])
    data = bytearray(buffer.getvalue())
    at = data.index(b"fmt ") + 8
    channels, rate = struct.unpack_from("<HI", data, at + 2)
    bits = struct.unpack_from("<H", data, at + 14)[0]
    channels = channels if case["channels"] is None else case["channels"]
    rate = rate if case["rate"] is None else case["rate"]
    struct.pack_into("<HI", data, at + 2, channels, rate)
    if case["consistent"]:
        align = channels * bits // 8
        struct.pack_into("<IH", data, at + 8, (rate * align) % 2**32, align % 2**16)
    source = folder / "case.wav"
    source.write_bytes(bytes(data))
    open_audio(source)
    _check_render(folder, ".wav", bytes(data))
    analyze_file(source)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``root``: relative name (bytes, escaped) -> (size, mtime_ns); links not followed."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(base) / name
            st_ = path.lstat()
            found[repr(os.fsencode(path.relative_to(root)))] = (st_.st_size, st_.st_mtime_ns)
    return found


def _make_paths(work: Path, case: dict[str, Any]) -> tuple[str, str, Path | None]:
    """Create what the case names; return (input argument, output argument, the real input file or None)."""
    import shutil

    source_file = work / "source.wav"
    shutil.copy(_child_state["folder"] / "in.wav", source_file)
    in_name, out_name = os.fsdecode(case["in_name"]), os.fsdecode(case["out_name"])
    real: Path | None = None
    kind = case["input"]
    inp: str = in_name
    if kind.startswith("/"):
        inp = kind
    else:
        path = work / in_name
        try:
            if kind == "file":
                os.replace(source_file, path)
                real = path
            elif kind == "folder":
                path.mkdir()
            elif kind == "symlink":
                path.symlink_to(source_file)
                real = source_file
            elif kind == "dangling":
                path.symlink_to(work / "nothing.wav")
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "in-missing-folder":
                inp = str(Path("missing") / in_name)
        except OSError:  # the name is too long (or otherwise impossible) to create: then it is missing
            pass
    kind = case["output"]
    out = out_name
    if kind.startswith("/"):
        out = kind
    elif kind == "missing-folder":
        out = str(Path("missing") / out_name)
    elif kind == "existing-folder":
        (work / "folder").mkdir()
        out = "folder"
    elif kind == "input":
        out = inp
    else:
        try:
            if kind == "symlink-to-input":
                (work / out_name).symlink_to(real or source_file)
            elif kind == "symlink-to-folder":
                (work / "folder").mkdir()
                (work / out_name).symlink_to(work / "folder")
            elif kind == "dangling-symlink":
                (work / out_name).symlink_to(work / "nowhere" / "x.wav")
            elif kind == "char-device":  # /dev/null's own device number, made here, never the real one
                os.mknod(work / out_name, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3))
            elif kind == "existing-file":
                (work / out_name).write_bytes(b"old contents")
        except OSError:
            pass
    if case["absolute"]:
        inp = inp if inp.startswith("/") else str(work / inp)
        out = out if out.startswith("/") else str(work / out)
    elif case["dot_slash"]:
        inp = inp if inp.startswith("/") else "./" + inp
        out = out if out.startswith("/") else "./" + out
    return inp, out, real


def _check_paths(folder: Path, case: dict[str, Any]) -> tuple[str, str]:
    """``clarity apply`` on the case's names: exit 0 and a complete output, or exit 2 and one line."""
    import shutil

    import soundfile as sf

    work = Path(tempfile.mkdtemp(dir=folder, prefix="paths-"))
    here = os.getcwd()
    try:
        inp, out, real = _make_paths(work, case)
        watched = [Path(p) for p in (inp, out) if p.startswith("/dev/")]  # /proc's listing changes by itself
        outside = {p.parent: sorted(os.listdir(p.parent)) for p in watched if p.parent.is_dir()}
        before = _tree(work)
        original = real.read_bytes() if real is not None else None
        argv = ["apply", str(folder / "gain.yaml"), inp, "-o", out, "--no-progress"]
        os.chdir(work)
        code, err_text = _run_cli(argv)
        os.chdir(here)
        shown = f"argv {argv[2:]!r}"
        problems = []
        if "Traceback" in err_text:
            problems.append("a traceback on stderr")
        after = _tree(work)
        new = sorted(set(after) - set(before))
        changed = sorted(k for k in before if k in after and after[k] != before[k])
        if real is not None and real.exists() and real.read_bytes() != original:
            problems.append("the input file changed")
        for parent, names in outside.items():
            if sorted(os.listdir(parent)) != names:
                problems.append(f"{parent} changed: {sorted(set(os.listdir(parent)) - set(names))}")
        if code == 2:
            lines = err_text.strip().splitlines()
            if len(lines) != 1:
                problems.append(f"exit 2 with {len(lines)} lines on stderr: {err_text[-300:]!r}")
            if new:
                problems.append(f"a failed run left {new}")
            if changed:
                problems.append(f"a failed run changed {changed}")
            kind = "ClarityError"
        elif code == 0:
            written = new + changed
            target = Path(out) if Path(out).is_absolute() else work / out
            if target.is_dir():  # -o FOLDER writes FOLDER/<the input's name>
                target = target / Path(inp).name
            try:
                frames = -1
                if target.is_file():  # read through an ASCII link: libsndfile takes str names only
                    link = work / f"check-link{target.suffix.encode('ascii', 'replace').decode()}"
                    link.symlink_to(target)
                    frames = sf.info(str(link)).frames
            except Exception as error:  # noqa: BLE001
                frames = -1
                problems.append(f"exit 0 but the output does not read: {error}")
            if frames != 9600:
                problems.append(f"exit 0 but the output {out!r} has {frames} frames, not 9600 ({written})")
            kind = "ok"
        else:
            problems.append(f"exit {code}: {err_text[-300:]!r}")
            kind = "other"
        if problems:
            return "other", f"{shown}\n{err_text[-400:]}\n" + "\n".join(problems)
        return kind, ""
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)


def _run_cli(argv: list[str]) -> tuple[int, str]:
    """``clarity`` with ``argv`` in this process, stderr captured at its file descriptor."""
    from clarity_fx.cli import main

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            try:
                main(argv)
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 1
            except BaseException:  # noqa: BLE001 - main must not let anything out
                sys.stderr.write(traceback.format_exc())
                code = 99
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return code, captured.read().decode("utf-8", "replace")


def _warm_kernels() -> None:
    """Render every processor once with its defaults here, so compiled kernels are cached on disk
    before the children start: a first compile (seconds) must not count as a hang."""
    from clarity_fx.registry import processor_types

    for name in processor_types():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _spec_of({"chain": [{name: {}}]}).build()(np.zeros((2, 9600), np.float32), 48000)
            except Exception:  # noqa: BLE001 - a processor that needs more than defaults
                pass


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
    children: list[tuple[str, Any]] = []

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
        children.append(("audio-bytes", (ext, data)))

    @seed(seed_value)
    @common
    @given(audio_files())
    def audio_mutated(case: tuple[str, bytes]) -> None:
        children.append(("audio-mutated", case))

    def later(target: str, strategy: st.SearchStrategy[Any]) -> Any:
        @seed(seed_value)
        @common
        @given(strategy)
        def collect(payload: Any) -> None:
            children.append((target, payload))

        return collect

    chosen = {"preset-text": preset_text, "preset-data": preset_data, "audio-bytes": audio_bytes,
              "audio-mutated": audio_mutated, "paths": later("paths", path_cases()),
              "header": later("header", header_cases()), "params": later("params", param_cases()),
              "automation": later("automation", automation_cases()), "set": later("set", set_cases())}
    for target in targets:
        chosen[target]()
    if children:
        _warm_kernels()
        _run_children(report, children, workers)
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
    print(f"{'target':<14} {'cases':>6} {'ok':>6} {'ClarityError':>12} {'other':>6} {'crash':>6} {'hang':>6}")
    for target in TARGETS:
        ok, clarity, other, crash, hang = (report.outcomes[target, kind] for kind in OUTCOMES)
        print(f"{target:<14} {report.cases[target]:>6} {ok:>6} {clarity:>12} {other:>6} {crash:>6} {hang:>6}")
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
