"""JSON Schema (draft 2020-12) of preset files, generated from the registry.

Editors that speak JSON Schema (VS Code's YAML extension, JetBrains IDEs)
complete and check presets with it::

    clarity presets schema > ~/.config/clarity-fx/preset.schema.json

and, at the top of a preset::

    # yaml-language-server: $schema=~/.config/clarity-fx/preset.schema.json

The schema follows :mod:`clarity_fx.preset` exactly: a preset is a mapping
with ``name``, ``description``, an optional ``sample_rate`` and a ``chain``;
each chain item is a mapping with exactly one type key (a processor from
:func:`clarity_fx.registry.processor_types`, ``vst3`` or ``mix``) and the
optional item-level key ``bypass`` beside it. A processor's parameters carry
their type, range, choices, default and unit, so the schema is the same one
source as ``clarity plugins``.

The schema cannot know a VST3 plugin's own parameters (that needs the plugin
loaded): ``vst3.parameters`` accepts any names, and ``clarity plugins --vst3
PATH`` lists them.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SCHEMA_DIALECT", "preset_schema", "parameter_schema"]

#: The JSON Schema dialect of :func:`preset_schema`.
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_JSON_TYPES = {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}


def _jsonable(value: Any) -> bool:
    """Whether ``value`` can be written as a JSON default."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    return False


def parameter_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The schema of one parameter, from its registry spec.

    Parameters
    ----------
    spec : dict
        A parameter spec from :func:`clarity_fx.registry.processor_types`
        (``type``, ``unit``, ``minimum``, ``maximum``, ``choices``,
        ``default``, ``nullable``, ``help`` and, optionally,
        ``exclusive_minimum``).

    Returns
    -------
    dict
        ``type`` (absent for Python-object parameters such as an impulse
        response, which a preset gives as a file path or a list), ``enum`` for
        choices, ``minimum``/``exclusiveMinimum``/``maximum``, ``default`` and
        a ``description`` that names the unit.
    """
    schema: dict[str, Any] = {}
    json_type = _JSON_TYPES.get(spec["type"])
    if json_type is not None:
        schema["type"] = [json_type, "null"] if spec.get("nullable") else json_type
    if spec.get("choices"):
        schema["enum"] = list(spec["choices"]) + ([None] if spec.get("nullable") else [])
    if spec["type"] in ("float", "int"):
        if spec.get("minimum") is not None:
            key = "exclusiveMinimum" if spec.get("exclusive_minimum") else "minimum"
            schema[key] = spec["minimum"]
        if spec.get("maximum") is not None:
            schema["maximum"] = spec["maximum"]
    default = spec.get("default")
    if _jsonable(default) and (default is not None or spec.get("nullable")):
        schema["default"] = default
    words = [spec.get("help") or ""]
    if spec.get("unit"):
        words.append(f"Unit: {spec['unit']}.")
    description = " ".join(w for w in words if w).strip()
    if description:
        schema["description"] = description
    return schema


def _processor_schema(kind: Any) -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "description": kind.doc or kind.name,
        "properties": {name: parameter_schema(spec) for name, spec in kind.params.items()},
        "additionalProperties": False,
    }


def _item(type_key: str, ref: str) -> dict[str, Any]:
    """A chain item: exactly this type key, plus the item-level keys."""
    return {
        "type": "object",
        "properties": {
            type_key: {"$ref": ref},
            **{key: {"$ref": f"#/$defs/{key}"} for key in ("bypass", "wet", "listen", "automate")},
        },
        "required": [type_key],
        "additionalProperties": False,
    }


def preset_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a preset file.

    Returns
    -------
    dict
        A schema whose ``$defs`` hold one entry per processor type (its
        parameters), ``vst3``, ``mix``, ``bypass``, ``item`` (one chain item:
        ``oneOf`` the types) and ``chain`` (a list of items).

    See Also
    --------
    clarity_fx.registry.processor_types : where the types and parameters come from.
    clarity_fx.preset.parse_preset : the loader this schema describes.

    Examples
    --------
    >>> from clarity_fx.schema import preset_schema
    >>> schema = preset_schema()
    >>> schema["$defs"]["highpass_filter"]["properties"]["cutoff_frequency_hz"]["type"]
    'number'
    """
    from .registry import processor_types

    types = processor_types()
    defs: dict[str, Any] = {name: _processor_schema(kind) for name, kind in types.items()}
    defs["vst3"] = {
        "type": "object",
        "description": "An external VST3 plugin, its parameters set by name in real units.",
        "properties": {
            "path": {"type": "string", "description": "The .vst3 bundle; relative to the preset's folder."},
            "parameters": {
                "type": ["object", "null"],
                "description": "The plugin's parameters by name (see 'clarity plugins --vst3 PATH').",
                "additionalProperties": {"type": ["number", "string", "boolean"]},
            },
            "state": {
                "type": ["string", "null"],
                "description": "A .vststate file (the plugin's full state), restored before 'parameters'.",
            },
            "plugin_name": {
                "type": ["string", "null"],
                "description": "Which plugin of a bundle that holds several.",
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    defs["mix"] = {
        "type": "array",
        "description": "Parallel branches summed at unity gain, latency aligned; each branch is a chain.",
        "minItems": 1,
        # The loader also takes a single item as a one-item branch.
        "items": {"anyOf": [{"$ref": "#/$defs/chain"}, {"$ref": "#/$defs/item"}]},
    }
    defs["bypass"] = {
        "type": "boolean",
        "description": "Skip this item (it is still validated).",
        "default": False,
    }
    defs["wet"] = {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 1,
        "description": "Wet/dry blend of this item with its latency-aligned input (0 dry, 1 processed).",
    }
    defs["listen"] = {
        "enum": ["processed", "removed"],
        "default": "processed",
        "description": "'removed' outputs input minus processed: what this item took away.",
    }
    lane_points = {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "array",
            "prefixItems": [{"type": "number", "minimum": 0}, {"type": "number"}],
            "minItems": 2,
            "maxItems": 2,
        },
    }
    defs["automate"] = {
        "type": "object",
        "description": "Parameter name -> [[seconds, value], ...] breakpoints (or {points, interpolation}).",
        "additionalProperties": {
            "anyOf": [
                lane_points,
                {
                    "type": "object",
                    "required": ["points"],
                    "additionalProperties": False,
                    "properties": {"points": lane_points, "interpolation": {"enum": ["linear", "log"]}},
                },
            ]
        },
    }
    item_types = [*types, "vst3", "mix"]
    defs["item"] = {
        "description": (
            "One processor: a mapping with exactly one type key, "
            "and optionally 'bypass', 'wet', 'listen' and 'automate'."
        ),
        "oneOf": [_item(name, f"#/$defs/{name}") for name in item_types],
    }
    defs["chain"] = {"type": "array", "items": {"$ref": "#/$defs/item"}}
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "clarity-fx preset",
        "description": "A named chain of processors, applied with 'clarity apply PRESET IN -o OUT'.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The preset's name (default: the file's stem)."},
            "description": {"type": "string", "description": "What the preset is for, in one sentence."},
            "sample_rate": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "The sample rate the preset requires (optional). Unit: Hz.",
            },
            "chain": {"$ref": "#/$defs/chain"},
        },
        "required": ["chain"],
        "additionalProperties": False,
        "$defs": defs,
    }
