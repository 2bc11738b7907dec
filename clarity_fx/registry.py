"""Processor name → class and parameter specs: the one source for presets, CLI help and schema.

Names are the snake_case of the class name: ``spectral_subtraction`` for
:class:`~clarity_fx.SpectralSubtraction`, ``highpass_filter`` for
``pedalboard.HighpassFilter``. pedalboard built-ins keep pedalboard's own
parameter names. ``vst3`` and ``mix`` are structural and live in
:mod:`clarity_fx.preset`.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
import reprlib
import struct
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError

__all__ = [
    "PROCESSORS", "ProcessorType", "processor_types", "get_type", "snake_case", "suggest", "type_name_of",
]

#: The one list of clarity-fx processors: registry name -> (module under
#: ``clarity_fx.processors``, class name). Light on purpose (nothing is imported):
#: ``clarity_fx/__init__.py`` derives its lazy exports from it, and
#: :func:`processor_types`, the schema, presets and ``clarity plugins`` read it.
PROCESSORS: dict[str, tuple[str, str]] = {
    "spectral_subtraction": ("spectral", "SpectralSubtraction"),
    "analytic_filter": ("analytic", "AnalyticFilter"),
    "butterworth_filter": ("butterworth", "ButterworthFilter"),
    "fft_filter": ("fft_filter", "FFTFilter"),
    "hard_knee_compressor": ("compressor", "HardKneeCompressor"),
    "true_peak_limiter": ("limiter", "TruePeakLimiter"),
    "loudness_normalize": ("loudness", "LoudnessNormalize"),
    "declick": ("declick", "Declick"),
    "declip": ("declip", "Declip"),
    "dehum": ("dehum", "Dehum"),
    "leveler": ("leveler", "Leveler"),
    "match_eq": ("match_eq", "MatchEQ"),
}

#: The same list by class name: class name -> module under clarity_fx.processors.
CLARITY_PROCESSORS = {class_name: module for module, class_name in PROCESSORS.values()}


#: pedalboard classes that are containers, abstract, or need a file to construct.
_NOT_BUILTINS = {
    "Plugin", "PluginContainer", "Pedalboard", "Chain", "Mix", "ExternalPlugin", "VST3Plugin",
    "AudioUnitPlugin", "AudioProcessorParameter", "IIRFilter", "Convolution",
}


#: Ranges of pedalboard built-ins' parameters, by type: name -> (minimum, maximum, exclusive minimum).
#: pedalboard checks some of these itself (reverb's 0..1); the rest are what the
#: JUCE DSP behind it assumes (a filter's cutoff > 0, a compressor's ratio >= 1).
#: They give presets, the schema and ``clarity plugins`` the same ranges as ours.
BUILTIN_RANGES: dict[str, dict[str, tuple[float | None, float | None, bool]]] = {
    "bitcrush": {"bit_depth": (0, 32, False)},
    "brickwall_limiter": {"lookahead_ms": (0, 100, True), "release_ms": (0, None, True)},
    "chorus": {"rate_hz": (0, 100, False), "depth": (0, 1, False), "centre_delay_ms": (0, 100, False),
               "feedback": (-1, 1, False), "mix": (0, 1, False)},
    "compressor": {"ratio": (1, None, False), "attack_ms": (0, None, False), "release_ms": (0, None, False)},
    "delay": {"delay_seconds": (0, 30, False), "feedback": (0, 1, False), "mix": (0, 1, False)},
    # Gains beyond +-120 dB only overflow float32 (NaN out); a real EQ or gain needs far less.
    "gain": {"gain_db": (-120, 120, False)},
    "high_shelf_filter": {"cutoff_frequency_hz": (0, None, True), "q": (0, None, True),
                          "gain_db": (-120, 120, False)},
    "highpass_filter": {"cutoff_frequency_hz": (0, None, True)},
    "ladder_filter": {"cutoff_hz": (0, None, True), "resonance": (0, 1, False), "drive": (1, None, False)},
    "limiter": {"release_ms": (0, None, False)},
    "low_shelf_filter": {"cutoff_frequency_hz": (0, None, True), "q": (0, None, True),
                         "gain_db": (-120, 120, False)},
    "lowpass_filter": {"cutoff_frequency_hz": (0, None, True)},
    # LAME refuses V10 at the first block ("failed to set variable bit rate quality to 10").
    "mp3_compressor": {"vbr_quality": (0, 9.998046875, False)},  # 10 - 2**-9, exact in float32
    "noise_gate": {"ratio": (1, None, False), "attack_ms": (0, None, False), "release_ms": (0, None, False)},
    # JUCE's peak filter gives NaN below about -95 dB of gain (measured at -100 and -120).
    "peak_filter": {"cutoff_frequency_hz": (0, None, True), "q": (0, None, True),
                    "gain_db": (-80, 80, False)},
    "phaser": {"rate_hz": (0, 100, False), "depth": (0, 1, False), "centre_frequency_hz": (0, None, True),
               "feedback": (-1, 1, False), "mix": (0, 1, False)},
    "pitch_shift": {"semitones": (-72, 72, False)},
    # Below 1 kHz JUCE's resampler holds its tail for ever (0.001 Hz: std::bad_alloc); above
    # 1.536 MHz the work per sample explodes.
    "resample": {"target_sample_rate": (1000, 1_536_000, False)},
    "reverb": {name: (0, 1, False) for name in
               ("room_size", "damping", "wet_level", "dry_level", "width", "freeze_mode")},
}


#: pedalboard built-ins whose JUCE IIR design turns to NaN at or above Nyquist (a 30 kHz low-pass at
#: 48 kHz): these parameters are marked ``below_nyquist`` (see :mod:`clarity_fx.rates`).
BUILTIN_BELOW_NYQUIST: dict[str, tuple[str, ...]] = {
    name: ("cutoff_frequency_hz",)
    for name in ("highpass_filter", "lowpass_filter", "high_shelf_filter", "low_shelf_filter", "peak_filter")
}


def snake_case(name: str) -> str:
    """``HardKneeCompressor`` → ``hard_knee_compressor``; ``FFTFilter`` → ``fft_filter``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


@dataclass
class ProcessorType:
    """A processor a preset can name."""

    name: str
    cls: type
    origin: str  # "clarity" or "pedalboard"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    doc: str = ""

    def build(self, params: dict[str, Any]) -> Any:
        """Instantiate with validated ``params``; raise ParameterError with a suggestion."""
        for key in params:
            if key not in self.params:
                raise ParameterError(f"{self.name} has no parameter {key!r}{suggest(str(key), self.params)}")
        if self.origin == "clarity":
            try:
                return self.cls(**params)
            except ParameterError as err:
                # Param messages start with the parameter ("ratio=0.5 is out of range"): name the type.
                text = str(err)
                head = re.split(r"[=\s]", text, maxsplit=1)[0]
                message = f"{self.name}.{text}" if head in self.params else f"{self.name}: {text}"
                raise ParameterError(message) from None
        params = dict(params)
        for key, value in params.items():
            spec = self.params[key]
            _check_builtin_value(self.name, spec, value)
            if spec["choices"] is not None:
                if value not in spec["choices"]:
                    raise ParameterError(
                        f"{self.name}.{key}={value!r} is not known: use one of {', '.join(spec['choices'])}"
                    )
                params[key] = _ENUMS[self.cls][key].__members__[value]
        try:
            return self.cls(**params)
        except (TypeError, ValueError) as err:
            raise ParameterError(f"{self.name}: {str(err).splitlines()[0]}") from None


def _check_builtin_value(type_name: str, spec: dict[str, Any], value: Any) -> None:
    kind = spec["type"]
    name = spec["name"]
    if kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{type_name}.{name} must be a number, not {_short(value)}")
        if not math.isfinite(value):
            raise ParameterError(f"{type_name}.{name} must be a finite number, not {value!r}")
        unit = f" {spec['unit']}" if spec["unit"] else ""
        lo, hi = spec["minimum"], spec["maximum"]
        where = f"{type_name}.{name}={value:g}{unit} is out of range"
        try:  # pedalboard keeps a float32: 1e-50 is 0 and 1e300 is infinite
            stored = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            stored = math.inf
        if not math.isfinite(stored):
            raise ParameterError(f"{type_name}.{name}={value:g} is too large for the plugin")
        if lo is not None and (value < lo or (spec.get("exclusive_minimum") and stored <= lo)):
            sign = ">" if spec.get("exclusive_minimum") else "at least"
            raise ParameterError(f"{where}: use {sign} {lo:g}{unit}")
        if hi is not None and value > hi:
            raise ParameterError(f"{where}: use at most {hi:g}{unit}")
    elif kind == "bool" and not isinstance(value, bool):
        raise ParameterError(f"{type_name}.{name} must be true or false, not {_short(value)}")
    elif kind == "str" and not isinstance(value, str):
        raise ParameterError(f"{type_name}.{name} must be text, not {_short(value)}")


def _short(value: Any) -> str:
    """A bounded ``repr`` for messages."""
    short = reprlib.Repr()  # keyword arguments only from Python 3.12
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 60, 60
    return short.repr(value)


def suggest(word: str, known: Any) -> str:
    """``"; did you mean 'x'?"`` or the list of known names."""
    from difflib import get_close_matches

    known = list(known)
    hit = get_close_matches(word, known, n=1, cutoff=0.6)
    if hit:
        return f"; did you mean {hit[0]!r}?"
    return f"; known: {', '.join(sorted(known))}" if len(known) <= 30 else ""


def _builtin_params(cls: type) -> dict[str, dict[str, Any]]:
    """Parameters of a pedalboard built-in: its properties with plain values."""
    instance = cls()
    ranges = BUILTIN_RANGES.get(snake_case(cls.__name__), {})
    below_nyquist = BUILTIN_BELOW_NYQUIST.get(snake_case(cls.__name__), ())
    found: dict[str, dict[str, Any]] = {}
    enums: dict[str, Any] = {}
    for name in dir(cls):
        attr = getattr(cls, name, None)
        if name.startswith("_") or not isinstance(attr, property) or attr.fset is None:
            continue
        try:
            value = getattr(instance, name)
        except Exception:  # noqa: BLE001 - some properties need a prepared plugin
            continue
        if isinstance(value, bool):
            kind = "bool"
        elif isinstance(value, (int, float)):
            kind = "float"
        elif isinstance(value, str):
            kind = "str"
        elif hasattr(value, "name") and hasattr(type(value), "__members__"):  # pybind11 enum
            enums[name] = type(value)
            kind, value = "str", value.name
        else:
            continue
        unit = next((u for s, u in _UNITS.items() if name.endswith(s)), "")
        lo, hi, exclusive = ranges.get(name, (None, None, False))
        found[name] = {
            "name": name, "type": kind, "unit": unit, "minimum": lo, "maximum": hi,
            "choices": list(enums[name].__members__) if name in enums else None,
            "default": float(value) if kind == "float" else value, "nullable": False, "help": "",
            "exclusive_minimum": exclusive, "below_nyquist": name in below_nyquist,
        }
    _ENUMS[cls] = enums
    return found


#: Units of pedalboard built-ins' parameters, from the suffix of their names.
_UNITS = {"_hz": "Hz", "_db": "dB", "_ms": "ms", "_seconds": "s", "semitones": "semitones"}

#: pedalboard enum-valued parameters (``Resample.quality``), by class; presets name members.
_ENUMS: dict[type, dict[str, Any]] = {}


@functools.lru_cache(maxsize=1)
def processor_types() -> dict[str, ProcessorType]:
    """Every named processor: clarity-fx's, then pedalboard's built-ins."""
    import pedalboard

    types: dict[str, ProcessorType] = {}
    for class_name in CLARITY_PROCESSORS:
        found = _clarity_type(class_name)
        if found is not None:
            types[found.name] = found
    for class_name in sorted(dir(pedalboard)):
        found = _builtin_type(class_name)
        if found is not None:
            types.setdefault(found.name, found)
    return types


@functools.cache
def _clarity_type(class_name: str) -> ProcessorType | None:
    """The type of one clarity-fx processor, importing only its module (None: not built yet)."""
    module = CLARITY_PROCESSORS[class_name]
    try:
        mod = importlib.import_module(f"clarity_fx.processors.{module}")
    except ModuleNotFoundError as err:
        if err.name != f"clarity_fx.processors.{module}":
            raise
        return None
    cls = getattr(mod, class_name)
    params = {
        name: {**p.spec(), "exclusive_minimum": p.exclusive_minimum} for name, p in cls.params().items()
    }
    return ProcessorType(snake_case(class_name), cls, "clarity", params, _summary(cls))


@functools.cache
def _builtin_type(class_name: str) -> ProcessorType | None:
    """The type of one pedalboard built-in (None: not a built-in a preset can name)."""
    import pedalboard

    cls = getattr(pedalboard, class_name, None)
    if (
        not isinstance(cls, type)
        or not issubclass(cls, pedalboard.Plugin)
        or class_name in _NOT_BUILTINS
        or class_name.startswith("_")
    ):
        return None
    try:
        params = _builtin_params(cls)
    except TypeError:
        return None  # needs constructor arguments
    name = snake_case(class_name)
    return ProcessorType(name, cls, "pedalboard", params, _summary(cls))


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def get_type(name: str) -> ProcessorType:
    """The processor called ``name``.

    Raises
    ------
    ParameterError
        Unknown name, with a "did you mean" suggestion.
    """
    # One type is built alone: building them all imports every processor module (scipy.fft,
    # numba) and instantiates every pedalboard built-in, 0.3 s of a 'clarity apply'.
    if name in PROCESSORS:
        found = _clarity_type(PROCESSORS[name][1])
        if found is not None:
            return found
    import pedalboard

    for class_name in dir(pedalboard):
        if snake_case(class_name) == name:
            found = _builtin_type(class_name)
            if found is not None:
                return found
    types = processor_types()
    if name not in types:
        raise ParameterError(f"unknown processor type {name!r}{suggest(name, list(types) + ['vst3', 'mix'])}")
    return types[name]


def type_name_of(plugin: Any) -> str:
    """The registry name of a plugin instance (``vst3`` for external plugins)."""
    import pedalboard

    if isinstance(plugin, pedalboard.ExternalPlugin):
        return "vst3"
    return snake_case(type(plugin).__name__)
