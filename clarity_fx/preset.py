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

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ClarityError, ParameterError, PluginLoadError, PresetError
from .registry import get_type, processor_types, suggest, type_name_of

__all__ = [
    "Preset", "load_preset", "parse_preset", "save_preset", "preset_to_dict", "find_preset",
    "preset_dirs", "list_presets", "apply_overrides", "build_chain", "ITEM_KEYS",
]

#: Keys that sit beside the type key of a chain item, never inside its parameters.
ITEM_KEYS = ("bypass",)
#: Largest preset file read, in bytes.
MAX_PRESET_BYTES = 256 * 1024
#: Most YAML aliases (``*ref``) a preset may use.
MAX_ALIASES = 64
#: Shipped presets: the repository's presets/ folder, else the copy inside the package.
SHIPPED_DIRS = (Path(__file__).resolve().parent.parent / "presets", Path(__file__).resolve().parent / "presets")


class _Located(dict):
    """A mapping that remembers the line it started on."""

    line = 0


class _LocatedList(list):
    line = 0


class _SafeLineLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags, no code) whose mappings and lists carry line numbers."""


def _construct_mapping(loader: _SafeLineLoader, node: yaml.MappingNode) -> _Located:
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

    def build(self) -> Any:
        """A fresh :class:`~clarity_fx.Chain` for this preset."""
        return build_chain(self.chain_spec, self.source)


def _where(source: str, node: Any) -> str:
    line = getattr(node, "line", 0)
    return f"{source}:{line}" if line else source


def _safe_load(text: str, source: str) -> Any:
    if len(text.encode("utf-8", "replace")) > MAX_PRESET_BYTES:
        raise PresetError(f"{source}: preset is larger than {MAX_PRESET_BYTES // 1024} KiB; is it a preset?")
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_ALIASES:
            raise PresetError(f"{source}: {aliases} YAML aliases (limit {MAX_ALIASES}); write the values out")
        return yaml.load(text, Loader=_SafeLineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise PresetError(f"{source}{line}: YAML syntax error: {err.problem or err.context}; fix the line") from None
    except yaml.YAMLError as err:
        raise PresetError(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise PresetError(f"{source}: the YAML nests too deeply; flatten it") from None


def _kind(data: Any) -> str:
    return {list: "a list", str: "text"}.get(type(data).__mro__[-2], type(data).__name__) if data else "nothing"


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
                f"{_where(source, data)}: unknown preset key {key!r}"
                f"{suggest(str(key), ['name', 'description', 'sample_rate', 'chain'])}"
            )
    if "chain" not in data:
        raise PresetError(f"{_where(source, data)}: preset has no 'chain'; add a list of processors")
    chain = data["chain"]
    if not isinstance(chain, list):
        raise PresetError(f"{_where(source, data)}: 'chain' must be a list of processors")
    rate = data.get("sample_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        raise PresetError(f"{_where(source, data)}: sample_rate must be a positive number of Hz")
    name = data.get("name", Path(source).stem)
    preset = Preset(str(name), str(data.get("description", "")), chain, rate, source, data)
    _validate_items(chain, source)
    return preset


def _split_item(item: Any, source: str) -> tuple[str, Any, dict[str, Any]]:
    if not isinstance(item, dict):
        raise PresetError(
            f"{_where(source, item)}: each chain item is a mapping like '- gain: {{gain_db: -3}}', "
            f"not {item!r}"
        )
    types = [k for k in item if k not in ITEM_KEYS]
    extras = {k: item[k] for k in item if k in ITEM_KEYS}
    if len(types) != 1:
        what = "no processor type" if not types else f"{len(types)} processor types ({', '.join(map(str, types))})"
        raise PresetError(f"{_where(source, item)}: item has {what}; give exactly one, e.g. '- gain: {{}}'")
    kind = str(types[0])
    params = item[types[0]]
    if params is None:
        params = {}
    if "bypass" in extras and not isinstance(extras["bypass"], bool):
        raise PresetError(f"{_where(source, item)}: bypass must be true or false")
    return kind, params, extras


def _validate_items(items: list[Any], source: str) -> None:
    """Build each item once to validate it (VST3 files are checked to exist, not loaded)."""
    for item in items:
        kind, params, _ = _split_item(item, source)
        where = _where(source, item)
        if kind == "mix":
            for branch in _mix_branches(params, where):
                _validate_items(branch, source)
            continue
        if kind == "vst3":
            _vst3_args(params, where, load=False)
            continue
        if not isinstance(params, dict):
            raise PresetError(f"{where}: parameters of {kind} must be a mapping, e.g. '{{name: value}}'")
        try:
            get_type(kind).build(dict(params))
        except (ParameterError, TypeError, ValueError) as err:
            raise PresetError(f"{where}: {str(err).splitlines()[0]}") from None


def _mix_branches(params: Any, where: str) -> list[list[Any]]:
    if not isinstance(params, list) or not params:
        raise PresetError(f"{where}: mix takes a list of branches, each a list of processors")
    return [branch if isinstance(branch, list) else [branch] for branch in params]


def _vst3_args(params: Any, where: str, load: bool) -> Any:
    if not isinstance(params, dict) or "path" not in params:
        raise PresetError(f"{where}: vst3 needs a path, e.g. 'vst3: {{path: ~/.vst3/Plugin.vst3}}'")
    unknown = [k for k in params if k not in ("path", "parameters", "state", "plugin_name")]
    if unknown:
        raise PresetError(f"{where}: vst3 has no key {unknown[0]!r}{suggest(unknown[0], ['path', 'parameters', 'state', 'plugin_name'])}")
    path = Path(os.path.expandvars(os.path.expanduser(str(params["path"]))))
    if not path.exists():
        raise PresetError(f"{where}: VST3 plugin not found at {path}; install it or fix the path")
    state = params.get("state")
    state_path = Path(os.path.expandvars(os.path.expanduser(str(state)))) if state else None
    if state_path is not None and not state_path.is_file():
        raise PresetError(f"{where}: VST3 state file not found at {state_path}; fix the path")
    parameters = params.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise PresetError(f"{where}: vst3 parameters must be a mapping of the plugin's parameter names")
    if not load:
        return None
    return load_vst3(path, parameters, state_path, params.get("plugin_name"), where)


def load_vst3(path: Path, parameters: dict[str, Any], state: Path | None = None,
              plugin_name: str | None = None, where: str = "") -> Any:
    """Load a VST3 plugin, restore its state, set parameters by name in real units.

    Raises
    ------
    PluginLoadError
        The file is not a loadable plugin, or a parameter is unknown or out of range.
    """
    import pedalboard

    prefix = f"{where}: " if where else ""
    try:
        plugin = pedalboard.load_plugin(str(path), plugin_name=plugin_name)
    except (ImportError, ValueError, RuntimeError) as err:
        raise PluginLoadError(f"{prefix}cannot load VST3 {path} ({str(err).splitlines()[0]}); "
                              "check it is a VST3 bundle built for this machine") from None
    if state is not None:
        plugin.raw_state = state.read_bytes()
    known = list(plugin.parameters)
    for key, value in parameters.items():
        if key not in known:
            raise PluginLoadError(f"{prefix}{path.name} has no parameter {key!r}{suggest(key, known)}")
        try:
            setattr(plugin, key, value)
        except (ValueError, TypeError) as err:
            raise PluginLoadError(f"{prefix}{path.name}.{key}={value!r}: {str(err).splitlines()[0]}") from None
    return plugin


def build_chain(items: list[Any], source: str = "<preset>") -> Any:
    """Build a :class:`~clarity_fx.Chain` from a validated list of chain items."""
    from .chain import Chain, Mix

    plugins: list[Any] = []
    for item in items:
        kind, params, extras = _split_item(item, source)
        if extras.get("bypass"):
            continue
        where = _where(source, item)
        if kind == "mix":
            plugins.append(Mix([build_chain(branch, source) for branch in _mix_branches(params, where)]))
        elif kind == "vst3":
            plugins.append(_vst3_args(params, where, load=True))
        else:
            try:
                plugins.append(get_type(kind).build(dict(params)))
            except ParameterError as err:
                raise PresetError(f"{where}: {err}") from None
    return Chain(plugins)


# --------------------------------------------------------------------------- finding presets
def preset_dirs() -> list[Path]:
    """Where named presets are looked up: the user's folder first, then the shipped ones."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [config / "clarity-fx" / "presets", *[d for d in SHIPPED_DIRS if d.is_dir()]]


def list_presets() -> dict[str, Path]:
    """Preset name → file, user presets shadowing shipped ones."""
    found: dict[str, Path] = {}
    for folder in reversed(preset_dirs()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def find_preset(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a preset name or path to a file.

    Raises
    ------
    PresetError
        Neither a file nor a known name, with a suggestion.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in text:
        if path.is_file():
            return path
        raise PresetError(f"{path}: no such preset file; check the path or use a name from 'clarity presets list'")
    presets = list_presets()
    if text in presets:
        return presets[text]
    raise PresetError(f"unknown preset {text!r}{suggest(text, presets)}")


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: preset is larger than {MAX_PRESET_BYTES // 1024} KiB; is it a preset?")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not a text file; a preset is UTF-8 YAML") from None


def load_preset_spec(name_or_path: str | os.PathLike[str], overrides: list[str] | None = None) -> Preset:
    """Find, read, parse and apply ``--set`` overrides, without building."""
    path = find_preset(name_or_path)
    preset = parse_preset(_read_text(path), str(path))
    if overrides:
        apply_overrides(preset, overrides)
    return preset


def load_preset(name_or_path: str | os.PathLike[str], overrides: list[str] | None = None) -> Any:
    """Load a preset by name or path into a ready :class:`~clarity_fx.Chain`.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A shipped or user preset name (``"vocal-clarity"``) or a YAML path.
    overrides : list of str, optional
        ``"compressor.ratio=4"`` or ``"0.noise_seconds=2"``: validated like the file.

    Returns
    -------
    Chain

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> chain = cfx.load_preset("telephone-band")  # doctest: +SKIP
    """
    return load_preset_spec(name_or_path, overrides).build()


def apply_overrides(preset: Preset, overrides: list[str]) -> None:
    """Apply ``SELECTOR.PARAM=VALUE`` overrides in place, then re-validate.

    ``SELECTOR`` is an item's index, its type (``hard_knee_compressor``) or a
    unique ``_``-separated tail of it (``compressor``).
    """
    for text in overrides:
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise PresetError(f"--set {text!r}: write STAGE.PARAM=VALUE, e.g. --set compressor.ratio=4")
        lhs, raw = text.split("=", 1)
        selector, param = lhs.rsplit(".", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise PresetError(f"--set {text!r}: cannot read the value {raw!r}") from None
        item = _select(preset, selector, text)
        kind, params, _ = _split_item(item, preset.source)
        if kind in ("mix",):
            raise PresetError(f"--set {text!r}: mix has no parameters; set a stage inside it in the file")
        if params is None or not isinstance(params, dict):
            params = {}
        if kind == "vst3":
            params.setdefault("parameters", {})[param] = value
        else:
            params[param] = value
        item[kind] = params
    _validate_items(preset.chain_spec, preset.source)


def _select(preset: Preset, selector: str, text: str) -> dict[str, Any]:
    items = preset.chain_spec
    if selector.lstrip("-").isdigit():
        index = int(selector)
        if not -len(items) <= index < len(items):
            raise PresetError(f"--set {text!r}: the chain has {len(items)} items (0..{len(items) - 1})")
        return items[index]
    kinds = [_split_item(item, preset.source)[0] for item in items]
    matches = [i for i, k in enumerate(kinds) if k == selector]
    if not matches:
        matches = [i for i, k in enumerate(kinds) if k.endswith("_" + selector)]
    if len(matches) == 1:
        return items[matches[0]]
    if not matches:
        raise PresetError(f"--set {text!r}: no stage {selector!r} in {preset.name}{suggest(selector, kinds)}")
    raise PresetError(f"--set {text!r}: {selector!r} matches items {matches}; use the index instead")


# --------------------------------------------------------------------------- Chain -> YAML
def _plain(value: Any) -> Any:
    if hasattr(value, "name") and hasattr(type(value), "__members__"):
        return value.name
    if isinstance(value, float) and value.is_integer():
        return value
    return value


def _item_to_dict(plugin: Any, state_dir: Path | None) -> dict[str, Any]:
    import pedalboard

    from .chain import Chain, Mix
    from .plugin import Plugin

    if isinstance(plugin, Mix) or isinstance(plugin, pedalboard.Mix):
        return {"mix": [_chain_to_list(b if isinstance(b, (Chain, pedalboard.Pedalboard)) else [b], state_dir)
                        for b in plugin]}
    if isinstance(plugin, pedalboard.ExternalPlugin):
        entry: dict[str, Any] = {"path": str(getattr(plugin, "path_to_plugin_file", ""))}
        entry["parameters"] = {name: _plain(getattr(plugin, name)) for name in plugin.parameters}
        if state_dir is not None:
            state = state_dir / f"{Path(entry['path']).stem}-{id(plugin):x}.vststate"
            state.write_bytes(plugin.raw_state)
            entry["state"] = str(state)
        return {"vst3": entry}
    kind = type_name_of(plugin)
    spec = processor_types().get(kind)
    if spec is None:
        raise ClarityError(f"{type(plugin).__name__} cannot be saved in a preset; build that stage in Python")
    if isinstance(plugin, Plugin):
        params = plugin.get_params()
        bad = [k for k, v in params.items() if v is not None and not isinstance(v, (int, float, str, bool))]
        if bad:
            raise ClarityError(f"{kind}.{bad[0]} holds a Python object; it cannot be saved in a preset")
        params = {k: v for k, v in params.items() if v is not None}
    else:
        params = {name: _plain(getattr(plugin, name)) for name in spec.params}
    return {kind: params}


def _chain_to_list(chain: Any, state_dir: Path | None) -> list[dict[str, Any]]:
    import pedalboard

    from .chain import Chain

    out = []
    for plugin in chain:
        if plugin is None:
            continue
        if isinstance(plugin, (Chain, pedalboard.Pedalboard)) and not isinstance(plugin, pedalboard.Mix) \
                and type(plugin).__name__ in ("Chain", "Pedalboard"):
            out.extend(_chain_to_list(plugin, state_dir))  # a nested series is the same series
        else:
            out.append(_item_to_dict(plugin, state_dir))
    return out


def preset_to_dict(chain: Any, name: str = "custom", description: str = "",
                   state_dir: Path | None = None) -> dict[str, Any]:
    """Describe a Chain as preset data (the inverse of :func:`build_chain`)."""
    return {"name": name, "description": description, "chain": _chain_to_list(chain, state_dir)}


def save_preset(chain: Any, path: str | os.PathLike[str], name: str | None = None,
                description: str = "") -> Path:
    """Write ``chain`` as a YAML preset; loading it gives a chain with identical output.

    VST3 plugins keep their full state in a ``.vststate`` file beside the
    preset. pedalboard boards cannot be pickled or saved (pedalboard #96, #187).

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
    from .render import atomic_output

    target = Path(path).expanduser()
    data = preset_to_dict(chain, name or target.stem, description, state_dir=target.parent)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
