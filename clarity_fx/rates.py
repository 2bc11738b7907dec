"""A preset's frequencies resolved at the sample rate it is rendered at.

A preset is written once and run on 8 kHz phone calls as on 96 kHz masters. A
frequency that a filter's design needs below the Nyquist frequency (a
:class:`~clarity_fx.plugin.Param` with ``below_nyquist``: a Butterworth edge,
pedalboard's IIR corners) may not fit a low rate: a de-esser's 4–9 kHz key band
does not exist in 16 kHz audio. The one rule, for every processor:

- **inside a sidechain key chain** every such frequency at or above Nyquist is
  clamped to :data:`CLAMP_FRACTION` of Nyquist (the key listens to the top of
  what the rate holds). A band whose lower edge reaches that limit too keeps
  its width in octaves below it (4–9 kHz at 8 kHz becomes 1.6–3.6 kHz);
- **in the audio path** only the top of a pass band is clamped (a low-pass
  cutoff, a band-pass's ``high_hz``): "keep everything up to 20 kHz" means
  "keep everything" at 16 kHz. Any other frequency at or above Nyquist (a
  high-pass, a shelf, a peak) is refused, naming the preset, stage and line;
- **a preset that declares its** ``sample_rate`` was written for that rate: it
  is checked there, strictly, and nothing is clamped (``clarity presets
  validate`` does the same).

Each clamp is a :class:`FrequencyClamped` warning, one line naming the preset,
the stage (as ``--set`` names it: ``2.key.0``), the file and line, and the value
used; the CLI prints it as ``clarity: warning: ...``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from .errors import PresetError

__all__ = ["CLAMP_FRACTION", "Clamp", "FrequencyClamped", "resolve_frequencies"]

#: Where a clamped frequency lands, as a fraction of Nyquist: 7.2 kHz at 16 kHz, 3.6 kHz at 8 kHz.
#: Far enough below Nyquist for a stable, well-shaped Butterworth design.
CLAMP_FRACTION = 0.9


class FrequencyClamped(UserWarning):
    """A preset's frequency was lowered to fit the audio's sample rate."""


@dataclass(frozen=True)
class Clamp:
    """One frequency a render uses in place of the preset's.

    Attributes
    ----------
    stage : str
        The stage's path as ``--set`` names it (``"2.key.0"``).
    kind : str
        Its processor type (``"butterworth_filter"``).
    name : str
        The parameter (``"high_hz"``).
    value, used : float
        The preset's value and the one used, Hz.
    """

    stage: str
    kind: str
    name: str
    value: float
    used: float


def resolve_frequencies(preset: Any, sample_rate: float, strict: bool | None = None,
                        notify: bool = True) -> tuple[list[Any], list[Clamp]]:
    """The preset's chain with every ``below_nyquist`` frequency resolved at ``sample_rate``.

    Parameters
    ----------
    preset : Preset
        A parsed preset (its chain is not modified).
    sample_rate : float
        The rate of the audio it will process, Hz.
    strict : bool, optional
        Refuse instead of clamping. Default: whether the preset declares a ``sample_rate``.
    notify : bool, optional
        Issue a :class:`FrequencyClamped` warning for each clamp.

    Returns
    -------
    chain : list
        A copy of ``preset.chain_spec`` (line numbers kept) with clamped values.
    clamps : list of Clamp
        What was clamped.

    Raises
    ------
    PresetError
        A frequency at or above Nyquist that is not clamped, naming preset, stage and line.
    """
    if strict is None:
        strict = preset.sample_rate is not None
    resolver = _Resolver(preset, float(sample_rate), bool(strict))
    chain = resolver.items(preset.chain_spec, "", in_key=False)
    if notify:
        stages = dict.fromkeys(clamp.stage for clamp in resolver.clamps)
        for stage in stages:  # one line per stage, a moved band included
            clamps = [c for c in resolver.clamps if c.stage == stage]
            clamps.sort(key=lambda c: c.name != "low_hz")  # a band reads low to high
            warnings.warn(FrequencyClamped(resolver.notice(clamps)), stacklevel=2)
    return chain, resolver.clamps


class _Resolver:
    def __init__(self, preset: Any, sample_rate: float, strict: bool) -> None:
        self.preset = preset
        self.rate = sample_rate
        self.nyquist = sample_rate / 2
        self.limit = CLAMP_FRACTION * self.nyquist
        self.strict = strict
        self.clamps: list[Clamp] = []
        self.lines: dict[str, int] = {}  # stage -> its line in the file
        self.origins: dict[tuple[str, str], str] = {}  # (stage, param) -> the --set option that set it

    # ------------------------------------------------------------------ messages
    def where(self, stage: str, kind: str, names: tuple[str, ...]) -> str:
        """``PRESET: stage STAGE (KIND, FILE:LINE)``, or the ``--set`` option that set one of ``names``."""
        from .preset import _where

        place = next((self.origins[stage, n] for n in names if (stage, n) in self.origins), None)
        place = place or _where(self.preset.source, _Line(self.lines.get(stage, 0)))
        return f"{self.preset.name}: stage {stage} ({kind}, {place})"

    def notice(self, clamps: list[Clamp]) -> str:
        """One line for the clamps of one stage."""
        given = ", ".join(f"{c.name}={c.value:g} Hz" for c in clamps)
        used = ", ".join(f"{c.name}={c.used:.5g} Hz" for c in clamps)
        kept = " (the band's width in octaves kept)" if len(clamps) > 1 else ""
        where = self.where(clamps[0].stage, clamps[0].kind, tuple(c.name for c in clamps))
        return (f"{where}: {given} does not fit below Nyquist "
                f"({self.nyquist:g} Hz at {self.rate:g} Hz); using {used}{kept}")

    def refuse(self, stage: str, kind: str, name: str, value: float, why: str = "") -> PresetError:
        fix = (f"the preset declares sample_rate {self.preset.sample_rate:g}; lower it below "
               f"{self.nyquist:g} Hz" if self.strict else
               f"lower it below {self.nyquist:g} Hz or resample the audio")
        return PresetError(
            f"{self.where(stage, kind, (name,))}: {name}={value:g} Hz is at or above Nyquist "
            f"({self.nyquist:g} Hz at {self.rate:g} Hz){why}; {fix}"
        )

    # ------------------------------------------------------------------ the walk
    def items(self, items: list[Any], prefix: str, in_key: bool) -> list[Any]:
        from .preset import _Located, _LocatedList, _mix_branches, _split_item

        out = _LocatedList()
        out.line = getattr(items, "line", 0)
        for index, item in enumerate(items):
            stage = f"{prefix}{index}"
            kind, params, extras = _split_item(item, self.preset.source)
            self.lines[stage] = getattr(item, "line", 0)
            origins = getattr(self.preset, "origins", {})
            for (key, name), origin in ((k, v) for k, v in origins.items() if isinstance(k, tuple)):
                if key == id(item):
                    self.origins[stage, name] = origin
            if kind == "mix":
                new_params: Any = [self.items(branch, f"{stage}.{b}.", in_key)
                                   for b, branch in enumerate(_mix_branches(params, stage))]
            elif kind == "vst3" or not isinstance(params, dict):
                new_params = params  # a VST3's parameters are its own business
            else:
                new_params = self.processor(kind, params, stage, in_key)
            copy = _Located({k: (new_params if k == kind else v) for k, v in item.items()})
            copy.line = getattr(item, "line", 0)
            out.append(copy)
        return out

    def processor(self, kind: str, params: dict[str, Any], stage: str, in_key: bool) -> dict[str, Any]:
        from .errors import ParameterError
        from .preset import _Located
        from .registry import get_type

        try:
            specs = get_type(kind).params
        except ParameterError:
            return params  # validation says what is wrong
        out = _Located(params)
        out.line = getattr(params, "line", 0)
        for name, value in params.items():
            spec = specs.get(name)
            if (spec is not None and spec["type"] == "object" and isinstance(value, list) and value
                    and all(isinstance(v, dict) for v in value)):
                out[name] = self.items(value, f"{stage}.{name}.", in_key=True)  # a sidechain key chain
        high = [n for n, spec in specs.items()
                if spec.get("below_nyquist") and _too_high(params.get(n), self.nyquist)]
        if not high:
            return out
        mode = params.get("kind", specs["kind"]["default"] if "kind" in specs else None)
        band = "high_hz" in high and isinstance(params.get("low_hz"), (int, float))
        for name in high:
            if band and name == "low_hz":
                continue  # moved with its band below
            value = float(params[name])
            top = (kind == "lowpass_filter" or (mode == "lowpass" and name == "cutoff_hz")
                   or (mode == "bandpass" and name == "high_hz"))
            if self.strict or not (in_key or top):
                raise self.refuse(stage, kind, name, value)
            out[name] = self.limit
            self.clamps.append(Clamp(stage, kind, name, value, self.limit))
        low = params.get("low_hz")
        if band and low >= self.limit:
            if not in_key:  # the pass band would be empty
                raise self.refuse(stage, kind, "high_hz", float(params["high_hz"]),
                                  why=f", and low_hz={low:g} Hz leaves no band below {self.limit:g} Hz")
            used = self.limit * float(low) / float(params["high_hz"])  # the band's width in octaves, kept
            out["low_hz"] = used
            self.clamps.append(Clamp(stage, kind, "low_hz", float(low), used))
        return out


class _Line:
    """Something with a ``line`` for :func:`clarity_fx.preset._where`."""

    def __init__(self, line: int) -> None:
        self.line = line


def _too_high(value: Any, nyquist: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value >= nyquist)
