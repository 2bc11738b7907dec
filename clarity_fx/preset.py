"""YAML presets ⇄ Chains, with ``file:line`` errors a user can act on.

A preset is a mapping::

    name: vocal-clarity
    description: What it is for.
    sample_rate: 48000            # optional requirement
    chain:
      - spectral_subtraction: {noise_seconds: 1.0}
      - highpass_filter: {cutoff_frequency_hz: 80}      # pedalboard's own names
      - vst3: {path: ~/.vst3/DeEsser.vst3, parameters: {threshold_db: -20}, state: de.bin}
      - mix: [[{gain: {gain_db: -6}}], [{reverb: {}}]]  # parallel branches, each a chain
      - limiter: {threshold_db: -1}
        bypass: true                                    # item-level keys sit beside the type

Loading never executes code: a safe YAML loader, a size limit and an alias
limit (no "billion laughs").
"""

from __future__ import annotations

import math
import numbers
import os
import re
import reprlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._paths import expand_user
from .errors import ClarityError, ParameterError, PluginLoadError, PresetError
from .rates import CLAMP_FRACTION, Clamp, FrequencyClamped
from .registry import get_type, processor_types, suggest, type_name_of

__all__ = [
    "Preset", "load_preset", "parse_preset", "save_preset", "preset_to_dict", "find_preset",
    "preset_dirs", "list_presets", "apply_overrides", "build_chain", "ITEM_KEYS",
    "OBJECT_PARAMETERS", "shipped_presets", "user_preset_dir", "resolve_frequencies",
]

#: Keys that sit beside the type key of a chain item, never inside its parameters.
ITEM_KEYS = ("bypass", "wet", "listen", "automate")
#: How a preset gives a parameter of kind ``object`` (what :func:`_build_processor` does with it);
#: ``clarity plugins`` prints this.
OBJECT_PARAMETERS = (
    "a parameter of type object is given as text, a file path relative to the preset's folder (an "
    "impulse response, a noise clip, an external key recording), or as a list of chain items, a chain "
    "built exactly like the preset's own: a compressor's key chain takes processors, mix and vst3 items "
    "and the item keys, e.g. 'key: [{butterworth_filter: {kind: bandpass, low_hz: 4000, high_hz: 9000}}]'."
)
#: Largest preset file read, in bytes.
MAX_PRESET_BYTES = 256 * 1024
#: Most YAML aliases (``*ref``) a preset may use.
MAX_ALIASES = 64
#: Most values a preset may hold once its aliases are expanded (a 256 KiB file
#: written out holds far fewer; 60 nested aliases can otherwise make 10**8).
MAX_NODES = 200_000
#: Shipped presets: the repository's presets/ folder, else the copy inside the package.
def _shipped_dir() -> Path:
    """The presets shipped inside the package (``clarity_fx/presets``).

    In the source tree ``clarity_fx/presets`` is a link to the top-level
    ``presets/`` folder, the one source the wheel is built from; an installed
    package holds a copy. Read through :mod:`importlib.resources`, so a
    regular install (pip, pipx, a wheel) finds them as an editable one does.
    """
    from importlib.resources import files

    return Path(str(files("clarity_fx") / "presets"))


#: Folders of shipped presets (one: the package's own).
SHIPPED_DIRS = (_shipped_dir(),)


class _Located(dict):
    """A mapping that remembers the line it started on."""

    line = 0


class _LocatedList(list):
    line = 0


class _SafeLineLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags, no code) whose mappings and lists carry line numbers."""


# Numbers as a user means them (YAML 1.2's core schema), not YAML 1.1's: ``1e9`` and ``1e-30`` are
# numbers (1.1 wants a dot), ``-1:30`` is text, not the base-60 number -90, and ``010`` is ten.
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_SafeLineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLineLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o[0-7_]+)$"), list("-+0123456789")
)
_SafeLineLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"),
)


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML says keys are unique; PyYAML keeps the last)."""


def _construct_mapping(loader: _SafeLineLoader, node: yaml.MappingNode) -> _Located:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            is_new = key not in seen
        except TypeError:  # an unhashable key: construct_mapping refuses it below
            continue
        if not is_new:
            raise _DuplicateKey(problem=f"duplicate key {_short(key)}; keep one of them",
                                problem_mark=key_node.start_mark)
        seen.add(key)
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _SafeLineLoader, node: yaml.SequenceNode) -> _LocatedList:
    seq = _LocatedList(loader.construct_sequence(node, deep=True))
    seq.line = node.start_mark.line + 1
    return seq


_SafeLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_SafeLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


@dataclass
class Preset:
    """A parsed preset."""

    name: str
    description: str
    chain_spec: list[Any]
    sample_rate: float | None = None
    source: str = "<preset>"
    data: dict[str, Any] = field(default_factory=dict)
    #: ``id(item)`` and ``(id(item), param)`` → the ``--set`` option that changed it: messages name
    #: it, not the file's line.
    origins: dict[Any, str] = field(default_factory=dict, repr=False)

    def build(self, sample_rate: float | None = None) -> Any:
        """A fresh :class:`~clarity_fx.Chain` for this preset.

        Parameters
        ----------
        sample_rate : float, optional
            The rate of the audio it will process. Given, frequencies the rate
            cannot hold are resolved there (:mod:`clarity_fx.rates`): clamped
            with a :class:`~clarity_fx.rates.FrequencyClamped` warning where a
            user means that (a sidechain key band, the top of a pass band),
            else refused naming the preset, stage and line.

        Raises
        ------
        PresetError
            A frequency at or above the Nyquist frequency of ``sample_rate`` that is not clamped.
        """
        items = self.chain_spec
        if sample_rate is not None:
            items, _ = resolve_frequencies(self, sample_rate)
        return build_chain(items, self.source, preset=self)

    def build_for(self, path: str | os.PathLike[str]) -> Any:
        """:meth:`check_input` then :meth:`build` at the rate of the audio file ``path``."""
        return self.build(self.check_input(path))

    def check_input(self, path: str | os.PathLike[str]) -> float:
        """The sample rate of the audio file ``path``; refuse one the preset does not take.

        Raises
        ------
        ClarityError
            The file's rate differs from the preset's optional ``sample_rate``.
        """
        from .audio_io import open_audio

        rate = open_audio(path).sample_rate
        if self.sample_rate and rate != self.sample_rate:
            raise ClarityError(
                f"{path} is {rate:g} Hz but preset {self.name} needs {self.sample_rate:g} Hz; "
                "resample it first"
            )
        return rate


def _where(source: str, node: Any) -> str:
    line = getattr(node, "line", 0)
    return f"{source}:{line}" if line else source


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text


def _short(value: Any) -> str:
    """A bounded ``repr`` for messages: a hostile preset cannot make a huge one."""
    short = reprlib.Repr()  # keyword arguments only from Python 3.12
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 4, 4, 60, 60
    return short.repr(value)


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse alias bombs ("billion laughs") and recursive aliases before building anything.

    The composed graph shares one node per anchor, so counting it with a memo
    is linear in the file; the count is what the data would hold expanded.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    aliases = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise PresetError(f"{source}: more than {MAX_ALIASES} YAML aliases; write the values out")
            return sizes[key]
        if key in in_progress:
            line = node.start_mark.line + 1
            raise PresetError(f"{source}:{line}: a YAML alias refers to itself; remove it")
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        in_progress.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise PresetError(
                f"{source}: the YAML expands to more than {MAX_NODES} values (aliases?); "
                "write a smaller preset"
            )
        return total

    size(root)


def _safe_load(text: str, source: str) -> Any:
    if len(text.encode("utf-8", "replace")) > MAX_PRESET_BYTES:
        raise PresetError(f"{source}: preset is larger than {MAX_PRESET_BYTES // 1024} KiB; is it a preset?")
    loader = None
    try:
        loader = _SafeLineLoader(text)  # the reader already refuses control characters
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source)
        return loader.construct_document(node)
    except _DuplicateKey as err:
        raise PresetError(f"{source}:{err.problem_mark.line + 1}: {err.problem}") from None
    except yaml.constructor.ConstructorError as err:
        # e.g. !!python/object/apply: the safe loader refuses every tag that is not plain data.
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise PresetError(
            f"{source}{line}: {err.problem}; a preset holds plain values only (numbers, text, lists, "
            "mappings): remove the '!!' tag"
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = err.problem or err.context
        if err.context and problem.startswith("but "):  # "expected a single document ..., but found another"
            problem = f"{err.context}, {problem}"
        raise PresetError(f"{source}{line}: YAML syntax error: {problem}; fix the line") from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise PresetError(f"{source}: not valid YAML ({first}); a preset is UTF-8 text") from None
    except RecursionError:
        raise PresetError(f"{source}: the YAML nests too deeply; flatten it") from None
    except ValueError as err:  # Python's limit on digits in an int ("Exceeds the limit (4300 digits)")
        raise PresetError(f"{source}: a value cannot be read ({_one_line(str(err))}); "
                          "write a shorter number") from None
    finally:
        if loader is not None:
            loader.dispose()


def _kind(data: Any) -> str:
    if not data:
        return "nothing"
    if isinstance(data, bool):
        return "true/false"
    if isinstance(data, (int, float)):
        return "a number"
    return {list: "a list", str: "text"}.get(type(data).__mro__[-2], type(data).__name__)


def parse_preset(text: str, source: str = "<preset>") -> Preset:
    """Parse and validate preset text (builds nothing).

    Parameters
    ----------
    text : str
        YAML.
    source : str, optional
        File name for messages.

    Returns
    -------
    Preset

    Raises
    ------
    PresetError
        With ``file:line`` and the fix.
    """
    data = _safe_load(text, source)
    if not isinstance(data, dict):
        raise PresetError(
            f"{_where(source, data)}: a preset must be a mapping with 'name', 'description' and 'chain'; "
            f"got {_kind(data)}"
        )
    for key in data:
        if key not in ("name", "description", "sample_rate", "chain"):
            raise PresetError(
                f"{_where(source, data)}: unknown preset key {_short(key)}"
                f"{suggest(str(key), ['name', 'description', 'sample_rate', 'chain'])}"
            )
    if "chain" not in data:
        raise PresetError(f"{_where(source, data)}: preset has no 'chain'; add a list of processors")
    chain = data["chain"]
    if not isinstance(chain, list):
        raise PresetError(f"{_where(source, data)}: 'chain' must be a list of processors")
    rate = data.get("sample_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not math.isfinite(rate) or rate <= 0):
        raise PresetError(f"{_where(source, data)}: sample_rate must be a positive number of Hz (finite)")
    name = data.get("name", Path(source).stem)
    preset = Preset(str(name), str(data.get("description", "")), chain, rate, source, data)
    _validate_items(chain, source)
    _check_declared_rate(preset)
    return preset


def _check_declared_rate(preset: Preset) -> None:
    """A preset that declares its ``sample_rate`` has every frequency below that rate's Nyquist."""
    if preset.sample_rate:
        resolve_frequencies(preset, preset.sample_rate, strict=True, notify=False)


def _split_item(item: Any, source: str) -> tuple[str, Any, dict[str, Any]]:
    if not isinstance(item, dict):
        raise PresetError(
            f"{_where(source, item)}: each chain item is a mapping like '- gain: {{gain_db: -3}}', "
            f"not {_short(item)}"
        )
    types = [k for k in item if k not in ITEM_KEYS]
    extras = {k: item[k] for k in item if k in ITEM_KEYS}
    if len(types) != 1:
        names = ", ".join(_short(t) for t in types)
        what = f"{len(types)} processor types ({names})" if types else "no processor type"
        raise PresetError(f"{_where(source, item)}: item has {what}; give exactly one, e.g. '- gain: {{}}'")
    kind = str(types[0])
    params = item[types[0]]
    if params is None:
        params = {}
    where = _where(source, item)
    if "bypass" in extras and not isinstance(extras["bypass"], bool):
        raise PresetError(f"{where}: bypass must be true or false")
    wet = extras.get("wet")
    if wet is not None and (isinstance(wet, bool) or not isinstance(wet, (int, float)) or not 0 <= wet <= 1):
        raise PresetError(f"{where}: wet must be a number from 0 (dry) to 1 (fully processed)")
    if extras.get("listen", "processed") not in ("processed", "removed"):
        raise PresetError(f"{where}: listen must be 'processed' or 'removed'")
    lanes = extras.get("automate")
    if lanes is not None and not isinstance(lanes, dict):
        raise PresetError(f"{where}: automate maps parameter names to [[seconds, value], ...] lists")
    return kind, params, extras


def _wrap(plugin: Any, extras: dict[str, Any], where: str) -> Any:
    """Apply the item-level keys: ``automate`` inside, ``wet``/``listen`` outside."""
    from .wrappers import Automate, Blend

    if extras.get("automate"):
        try:
            plugin = Automate(plugin, dict(extras["automate"]))
        except ParameterError as err:
            raise PresetError(f"{where}: automate: {err}") from None
    if extras.get("wet", 1.0) != 1.0 or extras.get("listen", "processed") != "processed":
        plugin = Blend(plugin, wet=float(extras.get("wet", 1.0)), listen=extras.get("listen", "processed"))
    return plugin


def _validate_items(items: list[Any], source: str) -> None:
    """Build each item once to validate it (VST3 files are checked to exist, not loaded)."""
    for item in items:
        kind, params, extras = _split_item(item, source)
        where = _where(source, item)
        if kind == "mix":
            for branch in _mix_branches(params, where):
                _validate_items(branch, source)
            continue
        if kind == "vst3":
            _vst3_args(params, where, load=False, source=source)
            continue
        _wrap(_build_processor(kind, params, where, source, load=False), extras, where)


def _build_processor(kind: str, params: Any, where: str, source: str, load: bool = True,
                     preset: Preset | None = None, stage: str = "") -> Any:
    """Build one processor. With ``load=False`` (validation) a key chain is validated, not built.

    Each nested chain is visited once, validated or built, never both: validation stays linear
    in the preset's size however deep ``key:`` chains nest.
    """
    try:
        processor_type = get_type(kind)
    except ParameterError as err:
        raise PresetError(f"{where}: {err}") from None
    if not isinstance(params, dict):
        raise PresetError(f"{where}: parameters of {kind} must be a mapping, e.g. '{{name: value}}'")
    params = dict(params)
    for name, value in params.items():
        spec = processor_type.params.get(name)
        if spec is not None and spec["type"] == "object" and isinstance(value, str):
            params[name] = str(_resolve_path(value, source))  # e.g. an impulse response file
        elif (spec is not None and spec["type"] == "object" and isinstance(value, list) and value
              and all(isinstance(v, dict) for v in value)):
            if load:
                # e.g. a compressor's sidechain key
                params[name] = build_chain(value, source, preset=preset, prefix=f"{stage}.{name}.")
            else:
                _validate_items(value, source)
                params[name] = build_chain([], source)  # its items were checked just above
    try:
        return processor_type.build(params)
    except (ParameterError, TypeError, ValueError) as err:
        raise PresetError(f"{where}: {str(err).splitlines()[0]}") from None


def _resolve_path(text: str, source: str) -> Path:
    """A path from a preset: ``~`` and ``$VAR`` expanded; relative to the preset's folder.

    A relative path that does not exist beside the preset is read from the
    current folder, as before presets could be moved with their files.
    """
    path = Path(os.path.expandvars(os.path.expanduser(text)))
    if path.is_absolute() or source.startswith("<"):
        return path
    beside = Path(source).parent / path
    return beside if beside.exists() or not path.exists() else path


def _mix_branches(params: Any, where: str) -> list[list[Any]]:
    if not isinstance(params, list) or not params:
        raise PresetError(f"{where}: mix takes a list of branches, each a list of processors")
    return [branch if isinstance(branch, list) else [branch] for branch in params]


#: The keys of a ``vst3`` item.
VST3_KEYS = ("path", "parameters", "state", "plugin_name")


def _vst3_args(params: Any, where: str, load: bool, source: str = "<preset>") -> Any:
    if not isinstance(params, dict) or "path" not in params:
        raise PresetError(f"{where}: vst3 needs a path, e.g. 'vst3: {{path: ~/.vst3/Plugin.vst3}}'")
    unknown = [k for k in params if k not in VST3_KEYS]
    if unknown:
        hint = suggest(str(unknown[0]), VST3_KEYS)
        raise PresetError(f"{where}: vst3 has no key {_short(unknown[0])}{hint}")
    path = _resolve_path(str(params["path"]), source)
    if not path.exists():
        raise PresetError(f"{where}: VST3 plugin not found at {path}; install it or fix the path")
    state = params.get("state")
    state_path = _resolve_path(str(state), source) if state else None
    if state_path is not None and not state_path.is_file():
        raise PresetError(f"{where}: VST3 state file not found at {state_path}; fix the path")
    parameters = params.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise PresetError(f"{where}: vst3 parameters must be a mapping of the plugin's parameter names")
    plugin_name = params.get("plugin_name")
    if plugin_name is not None and not isinstance(plugin_name, str):
        raise PresetError(f"{where}: vst3 plugin_name must be text (one of the names inside the bundle)")
    if not load:
        return None
    return load_vst3(path, parameters, state_path, plugin_name, where)


def _load_error(err: BaseException) -> str:
    """The informative line of pedalboard's multi-line "Failed to load plugin" message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("Failed to load plugin")]
    useful = useful or lines or [type(err).__name__]
    return useful[-1].removeprefix("VST3Plugin: ")


def load_vst3(path: Path, parameters: dict[str, Any], state: Path | None = None,
              plugin_name: str | None = None, where: str = "") -> Any:
    """Load a VST3 plugin, restore its state, set parameters by name in real units.

    The plugin remembers where it came from, so :func:`save_preset` can write
    it back.

    Raises
    ------
    PluginLoadError
        The file is not a loadable plugin, or a parameter is unknown or out of range.
    """
    import pedalboard

    prefix = f"{where}: " if where else ""
    path = Path(path)
    try:
        plugin = pedalboard.load_plugin(str(path), plugin_name=plugin_name)
    except (ImportError, ValueError, RuntimeError, OSError) as err:
        raise PluginLoadError(f"{prefix}cannot load VST3 {path} ({_load_error(err)}); "
                              "check it is a VST3 bundle built for this machine") from None
    plugin._clarity_path = str(path.resolve())
    plugin._clarity_plugin_name = plugin_name
    if state is not None:
        try:
            plugin.raw_state = Path(state).read_bytes()
        except (ValueError, RuntimeError, OSError) as err:
            raise PluginLoadError(f"{prefix}cannot restore {path.name} from {state} ({_load_error(err)}); "
                                  "save the state again or drop 'state'") from None
    known = list(plugin.parameters)
    for key, value in parameters.items():
        if key not in known:
            hint = suggest(str(key), known)
            raise PluginLoadError(f"{prefix}{path.name} has no parameter {_short(key)}{hint}")
        try:
            setattr(plugin, key, value)
        except (ValueError, TypeError) as err:
            first = str(err).splitlines()[0]
            raise PluginLoadError(f"{prefix}{path.name}.{key}={_short(value)}: {first}") from None
    return plugin


def build_chain(items: list[Any], source: str = "<preset>", *, preset: Preset | None = None,
                prefix: str = "") -> Any:
    """Build a :class:`~clarity_fx.Chain` from a validated list of chain items.

    Parameters
    ----------
    items : list
        Chain items, as in a preset's ``chain``.
    source : str, optional
        The file they come from (messages; relative paths are read beside it).
    preset : Preset, optional
        The preset they belong to: each clarity-fx processor remembers its
        preset, stage and line, and names them in the errors it raises while
        processing (a frequency the audio's rate cannot hold).
    prefix : str, optional
        The stage path of the list (``"2.key."`` for a key chain).
    """
    from .chain import Chain, Mix
    from .plugin import Plugin

    plugins: list[Any] = []
    origins: dict[int, str] = {}
    for index, item in enumerate(items):
        kind, params, extras = _split_item(item, source)
        if extras.get("bypass"):
            continue
        where = _where(source, item)
        stage = f"{prefix}{index}"
        if kind == "mix":
            plugin = Mix([build_chain(branch, source, preset=preset, prefix=f"{stage}.{b}.")
                          for b, branch in enumerate(_mix_branches(params, where))])
        elif kind == "vst3":
            plugin = _vst3_args(params, where, load=True, source=source)
        else:
            plugin = _build_processor(kind, params, where, source, preset=preset, stage=stage)
        if preset is not None:
            origin = f"{preset.name}: stage {stage} ({kind}, {preset.origins.get(id(item)) or where})"
            if isinstance(plugin, Plugin):
                plugin._clarity_origin = origin
            else:
                origins[id(plugin)] = origin  # a native cannot hold it: its Chain does
        plugins.append(_wrap(plugin, extras, where))
    chain = Chain(plugins)
    chain.origins.update(origins)
    return chain


# --------------------------------------------------------------------------- frequencies at a rate
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


# --------------------------------------------------------------------------- finding presets
def preset_dirs() -> list[Path]:
    """Where named presets are looked up: the user's folder first, then the shipped ones."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [config / "clarity-fx" / "presets", *[d for d in SHIPPED_DIRS if d.is_dir()]]


def list_presets() -> dict[str, Path]:
    """Preset name → file, user presets shadowing shipped ones."""
    found: dict[str, Path] = {}
    for folder in reversed(preset_dirs()):
        found.update(_presets_in(folder))
    return dict(sorted(found.items()))


def _presets_in(folder: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def user_preset_dir() -> Path:
    """The user's preset folder (``$XDG_CONFIG_HOME/clarity-fx/presets``); it may not exist yet."""
    return preset_dirs()[0]


def shipped_presets() -> dict[str, Path]:
    """Name → file of the presets that ship with clarity-fx, whether or not a user preset shadows them."""
    found: dict[str, Path] = {}
    for folder in reversed(preset_dirs()[1:]):
        found.update(_presets_in(folder))
    return dict(sorted(found.items()))


def find_preset(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a preset name or path to a file.

    Raises
    ------
    PresetError
        Neither a file nor a known name, with a suggestion.
    """
    text = str(name_or_path)
    path = expand_user(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text:
        if path.exists() or path.is_symlink():
            return path  # read_preset_text says what is wrong with a folder, a FIFO or a loop
        raise PresetError(
            f"{path}: no such preset file; check the path or use a name from 'clarity presets list'"
        )
    presets = list_presets()
    if text in presets:
        return presets[text]
    raise PresetError(f"unknown preset {text!r}{suggest(text, presets)}")


def read_preset_text(path: Path) -> str:
    """The text of a preset file, vetted before it is opened.

    A folder, a FIFO or a device is refused without opening it (a FIFO would
    block), a file over ``MAX_PRESET_BYTES`` without reading it.

    Raises
    ------
    PresetError
        Not a regular file, too large, unreadable or not UTF-8.
    """
    import stat

    try:
        info = path.stat()
    except OSError as err:
        import errno

        what = "a symlink loop" if err.errno == errno.ELOOP else (err.strerror or "cannot read it").lower()
        raise PresetError(f"{path}: {what}; check the preset's path") from None
    if stat.S_ISDIR(info.st_mode):
        raise PresetError(f"{path} is a folder, not a preset file; give a .yaml file")
    if not stat.S_ISREG(info.st_mode):
        raise PresetError(
            f"{path} is a special file (a FIFO, socket or device), not a preset; give a .yaml file"
        )
    if info.st_size > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: preset is larger than {MAX_PRESET_BYTES // 1024} KiB; is it a preset?")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PRESET_BYTES + 1)
    except OSError as err:
        raise PresetError(f"{path}: cannot read it ({err.strerror}); check its permissions") from None
    if len(data) > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: preset is larger than {MAX_PRESET_BYTES // 1024} KiB; is it a preset?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not a text file; a preset is UTF-8 YAML") from None


def load_preset_spec(name_or_path: str | os.PathLike[str], overrides: list[str] | None = None) -> Preset:
    """Find, read, parse and apply ``--set`` overrides, without building."""
    path = find_preset(name_or_path)
    preset = parse_preset(read_preset_text(path), str(path))
    if overrides:
        apply_overrides(preset, overrides)
    return preset


def load_preset(name_or_path: str | os.PathLike[str], overrides: list[str] | None = None,
                sample_rate: float | None = None) -> Any:
    """Load a preset by name or path into a ready :class:`~clarity_fx.Chain`.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A shipped or user preset name (``"vocal-clarity"``) or a YAML path.
    overrides : list of str, optional
        ``"compressor.ratio=4"``, ``"0.noise_seconds=2"``, ``"2.key.0.high_hz=7500"`` or
        ``"limiter.bypass=true"``: validated like the file.
    sample_rate : float, optional
        The rate of the audio the chain will process: frequencies it cannot
        hold are resolved there (see :meth:`Preset.build`).

    Returns
    -------
    Chain

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> chain = cfx.load_preset("telephone-band")  # doctest: +SKIP
    """
    return load_preset_spec(name_or_path, overrides).build(sample_rate)


def apply_overrides(preset: Preset, overrides: list[str]) -> None:
    """Apply ``PATH.PARAM=VALUE`` overrides in place, validating each as the file is.

    ``PATH`` picks an item: its index, its type (``hard_knee_compressor``) or
    a unique ``_``-separated tail of it (``compressor``); then, inside it, a
    key chain's parameter and an item of that chain (``2.key.0``), or a mix's
    branch and an item of that branch (``3.1.0``). ``PARAM`` is a parameter
    of that item or one of its item-level keys (``bypass``, ``wet``,
    ``listen``, ``automate``); for a ``vst3`` item, one of the plugin's
    parameters. An error names the ``--set`` option, not the file's line.

    Raises
    ------
    PresetError
        Naming the ``--set`` option and the fix.
    """
    for text in overrides:
        label = f"--set {text!r}"
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise PresetError(f"{label}: write STAGE.PARAM=VALUE, e.g. --set compressor.ratio=4")
        lhs, raw = text.split("=", 1)
        *path, param = lhs.split(".")
        value = _plain_data(_safe_load(raw, label))  # numbers read as in a preset file
        item = _select_path(preset, path, label)
        kind, params, _ = _split_item(item, preset.source)
        if param in ITEM_KEYS:
            item[param] = value
        elif kind == "mix":
            raise PresetError(f"{label}: mix has no parameters; set a stage inside it: "
                              f"--set {'.'.join(path)}.BRANCH.ITEM.{param}=...")
        else:
            if params is None or not isinstance(params, dict):
                params = {}
            if kind == "vst3":
                if not isinstance(params.get("parameters"), dict):
                    params["parameters"] = {}
                params["parameters"][param] = value
            else:
                params[param] = value
            item[kind] = params
        preset.origins[id(item)] = preset.origins[(id(item), param)] = label
        try:
            _validate_items([item], preset.source)
        except PresetError as err:
            raise PresetError(f"{label}: {_without_place(str(err), preset.source)}") from None
    _validate_items(preset.chain_spec, preset.source)
    _check_declared_rate(preset)


def _plain_data(value: Any) -> Any:
    """A ``--set`` value without the line numbers of its own one-line text (they are not the file's)."""
    if isinstance(value, dict):
        return {k: _plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    return value


def _without_place(message: str, source: str) -> str:
    """``message`` without its leading ``FILE:LINE: ``."""
    return re.sub(rf"^{re.escape(source)}(?::[0-9]+)?: ", "", message)


def _select_path(preset: Preset, path: list[str], text: str) -> dict[str, Any]:
    """The item a ``--set`` path names: ``2``, ``compressor``, ``2.key.0``, ``3.1.0`` (mix branch, item)."""
    item = _select_in(preset.chain_spec, path[0], text, preset.name)
    rest = path[1:]
    while rest:
        kind, params, _ = _split_item(item, preset.source)
        if kind == "mix":
            branches = _mix_branches(params, _where(preset.source, item))
            if not re.fullmatch(r"[0-9]+", rest[0]) or int(rest[0]) >= len(branches):
                raise PresetError(f"{text}: the mix has {len(branches)} branches (0..{len(branches) - 1})")
            items, what = branches[int(rest[0])], f"branch {rest[0]} of the mix"
        elif isinstance(params, dict) and isinstance(params.get(rest[0]), list):
            items, what = params[rest[0]], f"{kind}.{rest[0]}"
        else:
            raise PresetError(f"{text}: {kind} holds no chain {rest[0]!r}; a path goes into a key chain "
                              "('2.key.0.high_hz') or a mix branch ('3.0.1.gain_db')")
        if len(rest) < 2:
            raise PresetError(f"{text}: name an item of {what}, e.g. {'.'.join(path)}.0.PARAM")
        item = _select_in(items, rest[1], text, what)
        rest = rest[2:]
    return item


def listen_removed(preset: Preset, selector: str) -> None:
    """Make ``preset`` output what one stage removes: that stage gets ``listen: removed``
    and the stages after it are dropped (they would process the removed signal)."""
    item = _select_in(preset.chain_spec, selector, f"--listen-removed {selector}", preset.name)
    index = next(i for i, it in enumerate(preset.chain_spec) if it is item)
    if item.get("bypass"):
        raise PresetError(f"--listen-removed {selector}: that stage is bypassed in {preset.name}")
    item["listen"] = "removed"
    del preset.chain_spec[index + 1 :]


def _select_in(items: list[Any], selector: str, text: str, name: str) -> dict[str, Any]:
    """The item of ``items`` that ``selector`` names: an index, a type or a unique tail of one."""
    if re.fullmatch(r"-?[0-9]+", selector):  # not str.isdigit: "¹" and "--1" are digits to it
        index = int(selector)
        if not -len(items) <= index < len(items):
            raise PresetError(f"{text}: the chain has {len(items)} items (0..{len(items) - 1})")
        return items[index]
    kinds = [_split_item(item, "<preset>")[0] for item in items]
    matches = [i for i, k in enumerate(kinds) if k == selector]
    if not matches:
        matches = [i for i, k in enumerate(kinds) if k.endswith("_" + selector)]
    if len(matches) == 1:
        return items[matches[0]]
    if not matches:
        raise PresetError(f"{text}: no stage {selector!r} in {name}{suggest(selector, kinds)}")
    raise PresetError(f"{text}: {selector!r} matches items {matches}; use the index instead")


# --------------------------------------------------------------------------- Chain -> YAML
def _plain(value: Any) -> Any:
    """A value YAML can write: enum members by name, pedalboard's wrapped floats as floats."""
    if hasattr(value, "name") and hasattr(type(value), "__members__"):
        return value.name
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


@dataclass
class _Saver:
    """Where the files a preset refers to (VST3 states, impulse responses) are written."""

    folder: Path | None
    stem: str = "preset"
    relative: bool = False
    count: int = 0

    def file(self, what: str, suffix: str) -> tuple[Path, str]:
        """A new file beside the preset, and how the preset names it."""
        if self.folder is None:
            raise ClarityError(f"{what} needs a file beside the preset; give state_dir (save_preset does)")
        self.count += 1
        path = self.folder / f"{self.stem}.{self.count}{suffix}"
        return path, path.name if self.relative else str(path)


def _is_series(plugin: Any) -> bool:
    import pedalboard

    from .chain import Chain

    return type(plugin) in (Chain, pedalboard.Pedalboard)


def _flush_parameters(plugin: Any) -> None:
    """A VST3 parameter change reaches ``raw_state`` only after the next process() call."""
    import numpy as np

    for channels in (2, 1):
        try:
            plugin.process(np.zeros((channels, 32), np.float32), 48000.0, reset=True)
            return
        except (ValueError, RuntimeError):
            continue


def _vst3_to_dict(plugin: Any, saver: _Saver) -> dict[str, Any]:
    path = getattr(plugin, "path_to_plugin_file", None) or getattr(plugin, "_clarity_path", None)
    if not path:
        raise ClarityError(
            f"{plugin.name}: its file is unknown, so it cannot be saved in a preset; "
            "load it with clarity_fx.preset.load_vst3 (or from a preset) instead of pedalboard.load_plugin"
        )
    entry: dict[str, Any] = {"path": str(path)}
    plugin_name = getattr(plugin, "_clarity_plugin_name", None)
    if plugin_name:
        entry["plugin_name"] = plugin_name
    entry["parameters"] = {name: _plain(getattr(plugin, name)) for name in plugin.parameters}
    if saver.folder is not None:
        _flush_parameters(plugin)
        state, name = saver.file(f"{plugin.name}'s state", ".vststate")
        state.write_bytes(plugin.raw_state)
        entry["state"] = name
    return {"vst3": entry}


def _array_to_file(kind: str, name: str, value: Any, plugin: Any, saver: _Saver) -> str:
    """Write an array parameter (an impulse response) as a float64 WAV beside the preset."""
    import numpy as np
    import soundfile

    rate_param = f"{name}_sample_rate"
    rate = 48000.0  # not read back: only a ``<name>_sample_rate`` parameter gives the array a rate
    if rate_param in plugin.params():
        rate = getattr(plugin, rate_param)
        if rate is None:
            raise ClarityError(f"{kind}.{name} is an array without a rate; set {rate_param} to save it")
    data = np.asarray(value, dtype=np.float64)
    path, ref = saver.file(f"{kind}.{name}", ".wav")
    soundfile.write(str(path), data.T if data.ndim == 2 else data, int(round(rate)), subtype="DOUBLE")
    return ref


def _item_to_dict(plugin: Any, saver: _Saver) -> dict[str, Any]:
    import numpy as np
    import pedalboard

    from .chain import Mix, children_of
    from .keys import KeySource
    from .plugin import Plugin
    from .wrappers import Automate, Blend

    # The shape of the entry depends on the kind of container; what is inside comes from children_of.
    if isinstance(plugin, Blend):
        entry = _item_to_dict(*children_of(plugin), saver)
        if plugin.wet != 1.0:
            entry["wet"] = plugin.wet
        if plugin.listen != "processed":
            entry["listen"] = plugin.listen
        return entry
    if isinstance(plugin, Automate):
        entry = _item_to_dict(*children_of(plugin), saver)
        entry["automate"] = {name: {"points": lane.points(), "interpolation": lane.interpolation}
                             for name, lane in plugin.lanes.items()}
        return entry

    if isinstance(plugin, (Mix, pedalboard.Mix)):
        return {"mix": [_chain_to_list(b if _is_series(b) else [b], saver) for b in children_of(plugin)]}
    if isinstance(plugin, pedalboard.ExternalPlugin):
        return _vst3_to_dict(plugin, saver)
    kind = type_name_of(plugin)
    spec = processor_types().get(kind)
    if spec is None or not isinstance(plugin, spec.cls):
        raise ClarityError(f"{type(plugin).__name__} cannot be saved in a preset; build that stage in Python")
    if isinstance(plugin, Plugin):
        params = {}
        for name, value in plugin.get_params().items():
            if value is None:
                continue
            if isinstance(value, np.ndarray):
                value = _array_to_file(kind, name, value, plugin, saver)
            elif _is_series(value):
                params[name] = _chain_to_list(value, saver)  # a sidechain key chain
                continue
            elif isinstance(value, KeySource):
                continue  # an external key belongs to the render, not the preset (keyed: true)
            elif not isinstance(value, (int, float, str, bool)):
                raise ClarityError(f"{kind}.{name} holds a Python object; it cannot be saved in a preset")
            params[name] = _plain(value)
    else:
        params = {name: _plain(getattr(plugin, name)) for name in spec.params}
    return {kind: params}


def _chain_to_list(chain: Any, saver: _Saver) -> list[dict[str, Any]]:
    from .chain import children_of

    out = []
    items = [p for p in chain if p is not None] if isinstance(chain, (list, tuple)) else children_of(chain)
    for plugin in items:
        if _is_series(plugin):
            out.extend(_chain_to_list(plugin, saver))  # a nested series is the same series
        else:
            out.append(_item_to_dict(plugin, saver))
    return out


def preset_to_dict(chain: Any, name: str = "custom", description: str = "",
                   state_dir: Path | None = None) -> dict[str, Any]:
    """Describe a Chain as preset data (the inverse of :func:`build_chain`).

    VST3 states and array parameters (impulse responses) are written as files
    in ``state_dir`` and named by absolute path; without ``state_dir`` a VST3
    is described by its parameters only.
    """
    saver = _Saver(Path(state_dir) if state_dir is not None else None, _slug(name))
    return {"name": name, "description": description, "chain": _chain_to_list(chain, saver)}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "preset"


def save_preset(chain: Any, path: str | os.PathLike[str], name: str | None = None,
                description: str = "") -> Path:
    """Write ``chain`` as a YAML preset; loading it gives a chain with identical output.

    VST3 plugins keep their full state in a ``.vststate`` file beside the
    preset (``NAME.1.vststate``), array parameters such as an impulse response
    a float64 ``NAME.2.wav``; the preset names them relative to itself, and
    relative paths in a preset are read from the preset's folder. Saving runs
    a few samples of silence through each VST3 (with ``reset=True``), because
    a parameter change reaches the plugin's state only at its next process().
    pedalboard boards cannot be pickled or saved (pedalboard #96, #187).

    Parameters
    ----------
    chain : Chain or list
        What to save.
    path : str or os.PathLike
        The ``.yaml`` file to write.
    name, description : str, optional
        Preset metadata (name defaults to the file's stem).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from .audio_io import atomic_output

    target = expand_user(path)
    if not target.parent.is_dir():
        raise ClarityError(f"{target.parent}: folder does not exist; create it first")
    # Files sit beside the preset and are named relative to it, so the folder can move.
    saver = _Saver(target.parent, target.stem, relative=True)
    data = {"name": name or target.stem, "description": description, "chain": _chain_to_list(chain, saver)}
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
