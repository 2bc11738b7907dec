"""The manual that ``clarity plugins`` prints, derived from the registry, the schema and the docstrings.

Nothing here is a second copy of the documentation: a processor's page is its
class docstring (summary, Parameters, Notes, References) merged with its
:class:`~clarity_fx.plugin.Param` metadata (type, unit, range, default), and
the chain-item rules come from :func:`clarity_fx.schema.preset_schema` and
:mod:`clarity_fx.preset`. The docstrings are numpydoc with reStructuredText
and LaTeX math; :func:`plain_text` turns them into what a terminal shows.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from decimal import Decimal
from typing import Any

from .errors import ParameterError

__all__ = [
    "chain_items_text", "format_number", "overview", "plain_text", "processor_manual", "range_text",
    "summary", "tex_text",
]

#: Width the manual wraps its own paragraphs to (docstrings keep their line breaks).
WIDTH = 100

# --------------------------------------------------------------------------- numbers


def format_number(value: Any) -> str:
    """A number as a person writes it: no exponent, no trailing zeros.

    Examples
    --------
    >>> [format_number(v) for v in (1 << 20, 1e-05, -18.0, 9.998046875, 0.95)]
    ['1048576', '0.00001', '-18', '9.998046875', '0.95']
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    text = repr(value)
    if len(text.lstrip("-0.").replace(".", "").split("e")[0]) > 12:
        text = _float32_text(value)  # pedalboard keeps float32: 0.7071067690849304 is 0.70710677
    text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _float32_text(value: float) -> str:
    """The shortest decimal that is the same float32 as ``value`` (``value`` itself if none is)."""
    import struct

    try:
        stored = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return repr(value)
    if stored != value:
        return repr(value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == stored:
            return text
    return repr(value)


def range_text(spec: dict[str, Any]) -> str:
    """The allowed values of a parameter spec in words (``"-120 to 24"``, ``"above 0"``)."""
    if spec.get("choices"):
        return "one of " + ", ".join(spec["choices"])
    if spec["type"] not in ("float", "int"):
        return ""
    low, high = spec.get("minimum"), spec.get("maximum")
    exclusive = spec.get("exclusive_minimum")
    if low is not None and high is not None:
        return f"above {format_number(low)}, up to {format_number(high)}" if exclusive else (
            f"{format_number(low)} to {format_number(high)}")
    if low is not None:
        return f"above {format_number(low)}" if exclusive else f"at least {format_number(low)}"
    if high is not None:
        return f"at most {format_number(high)}"
    return "any number"


_TYPE_WORDS = {"float": "number", "int": "whole number", "bool": "true or false", "str": "text",
               "object": "object (in a preset: a file path or a list of chain items)"}


def _value_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_number(value)


# --------------------------------------------------------------------------- LaTeX -> text
_TEX_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "epsilon": "ε", "varepsilon": "ε",
    "eta": "η", "theta": "θ", "Theta": "Θ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "Sigma": "Σ", "tau": "τ", "phi": "φ", "varphi": "φ", "Phi": "Φ", "chi": "χ",
    "psi": "ψ", "omega": "ω", "Omega": "Ω", "ell": "ℓ", "sum": "Σ", "prod": "Π", "int": "∫",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈", "sim": "∼",
    "cdot": "·", "times": "×", "pm": "±", "infty": "∞", "in": "∈", "to": "→", "rightarrow": "→",
    "leftarrow": "←", "partial": "∂", "nabla": "∇", "lvert": "|", "rvert": "|", "mid": "|",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "ldots": "…", "cdots": "⋯", "dots": "…",
}
_TEX_SPACES = {"qquad": "    ", "quad": "  "}
_TEX_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0304",
                "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307", "vec": "\u20d7"}
_TEX_TEXT = {"text", "mathrm", "mathit", "mathbf", "mathsf", "mathtt", "operatorname", "textrm", "mbox"}
_TEX_SIZES = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl",
              "biggr", "displaystyle", "limits", "nolimits"}


def _group(text: str, i: int) -> tuple[str, int]:
    """The brace group (or single token) starting at ``text[i]``, and the index after it."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return "", i
    if text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1 : j], j + 1
            j += 1
        return text[i + 1 :], len(text)
    command = re.match(r"\\([A-Za-z]+|.)", text[i:])
    if command:
        return command.group(0), i + command.end()
    return text[i], i + 1


def _paren(text: str) -> str:
    return text if re.fullmatch(r"[\w.′]+", text) else f"({text})"


def tex_text(tex: str) -> str:
    r"""LaTeX math as plain Unicode text a terminal can show.

    Examples
    --------
    >>> tex_text(r"G = L_{target} − L, \qquad y = \mathrm{TPL}_{C}(10^{G/20} · x)")
    'G = L_target − L,    y = TPL_C(10^(G/20) · x)'
    >>> tex_text(r"q_j = \min\left(1, \frac{C}{P_j}\right)")
    'q_j = min(1, C/P_j)'
    """
    out: list[str] = []
    i = 0
    while i < len(tex):
        char = tex[i]
        if char == "\\":
            match = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            assert match is not None
            name = match.group(1)
            i += match.end()
            if name in ("frac", "dfrac", "tfrac"):
                top, i = _group(tex, i)
                bottom, i = _group(tex, i)
                out.append(f"{_paren(tex_text(top))}/{_paren(tex_text(bottom))}")
            elif name == "sqrt":
                inner, i = _group(tex, i)
                out.append("√" + _paren(tex_text(inner)))
            elif name in _TEX_ACCENTS:
                inner, i = _group(tex, i)
                out.append(tex_text(inner) + _TEX_ACCENTS[name])
            elif name in _TEX_TEXT:
                inner, i = _group(tex, i)
                out.append(inner)
            elif name in ("begin", "end"):
                _, i = _group(tex, i)
                out.append("\n")
            elif name in _TEX_SIZES or name == "!":
                pass
            elif name == "\\":
                out.append("\n")
            elif name in _TEX_SPACES:  # exactly this much space, whatever surrounds it
                while out and out[-1].endswith(" "):
                    out[-1] = out[-1][:-1]
                out.append(_TEX_SPACES[name])
                while i < len(tex) and tex[i] == " ":
                    i += 1
            elif name in (",", ";", ":", " "):
                out.append(" ")
            elif name in ("{", "}", "_", "%", "&", "#", "$"):
                out.append(name)
            elif name == "|":
                out.append("‖")
            else:
                word = _TEX_SYMBOLS.get(name, name)
                if word.isalpha() and word.isascii() and out and re.search(r"[\w)]$", out[-1]):
                    word = " " + word  # \max_{c}\max( -> "max_c max("
                out.append(word)
        elif char in "_^":
            inner, i = _group(tex, i + 1)
            inner = tex_text(inner)
            out.append(char + _paren(inner))
        elif char == "{":
            inner, i = _group(tex, i)
            out.append(tex_text(inner))
        elif char == "}":
            i += 1
        elif char == "&":  # a case's condition
            while out and out[-1].endswith(" "):
                out[-1] = out[-1][:-1]
            out.append("   if ")
            i += 1
            while i < len(tex) and tex[i] == " ":
                i += 1
        else:
            out.append(char)
            i += 1
    text = re.sub(r"if\s+otherwise", "otherwise", "".join(out))
    lines = [re.sub(r"(?<=\S)  (?=\S)", " ", line) for line in text.split("\n")]  # "\, x" is one space
    return "\n".join(line.strip() for line in lines if line.strip())


# --------------------------------------------------------------------------- reST -> text
_ADMONITIONS = {"note", "warning", "tip", "important", "caution", "attention", "hint", "seealso", "danger"}


def _inline(text: str) -> str:
    """reStructuredText inline markup as plain text."""
    # pedalboard's docstrings escape their backslashes twice (":math:`\\\\frac{1}{\\\\sqrt{2}}`").
    text = re.sub(r":math:`([^`]*)`",
                  lambda m: tex_text(re.sub(r"\\\\(?=[A-Za-z])", r"\\", m.group(1))), text)
    # Roles: :class:`~a.b.C` -> C, :func:`title <target>` -> title, :func:`f` -> f.
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`~?[.\w]*?\.?(\w+)`",
                  lambda m: m.group(1) if "~" in m.group(0) else m.group(0).split("`")[1].lstrip("."), text)
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`([^`<]*?)\s*(?:<[^>]*>)?`", r"\1", text)
    text = re.sub(r"``(.+?)``", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<([^>]+)>_?`_{0,2}", r"\1 (\2)", text)  # links
    text = re.sub(r"`([^`]+)`_{0,2}", r"\1", text)
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])", r"\1", text)
    text = re.sub(r"\[(\w+)\]_", r"[\1]", text)
    text = re.sub(r"\s*::$", ":", text) if text.rstrip().endswith("::") else text
    return text


def plain_text(rst: str) -> str:
    """A docstring's reStructuredText (and its LaTeX math) as plain text, line breaks kept.

    Inline literals lose their backticks, roles keep their target's name,
    links show their address, ``.. math::`` blocks become indented Unicode
    formulas and ``.. [1]`` references become ``[1]``.

    Examples
    --------
    >>> plain_text("Every ``R`` dB in become 1 dB out (:func:`static_curve_db`, [1]_).")
    'Every R dB in become 1 dB out (static_curve_db, [1]).'
    """
    lines = rst.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        math = re.match(r"^(\s*)\.\. math::\s*(.*)$", line)
        if math:
            indent = len(math.group(1))
            body = [math.group(2)] if math.group(2).strip() else []
            i += 1
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            formula = tex_text(" ".join(b for b in body if b))
            pad = " " * (indent + 4)
            rows = formula.split("\n")
            if out and out[-1].strip():
                out.append("")
            out.extend(pad + ("" if n == 0 else "    ") + row for n, row in enumerate(rows))
            out.append("")
            continue
        directive = re.match(r"^(\s*)\.\. ([\w-]+)::?\s*(.*)$", line)
        if directive and directive.group(2) in _ADMONITIONS:
            line = f"{directive.group(1)}{directive.group(2).capitalize()}: {directive.group(3)}".rstrip()
        elif directive:  # code-block, highlight, ...: the indented content stays, the directive goes
            i += 1
            continue
        if re.fullmatch(r"\s*=+( +=+)+\s*", line):  # a simple table's borders
            line = line.replace("=", "-")
        reference = re.match(r"^(\s*)\.\. \[(\w+)\]\s*(.*)$", line)
        if reference:
            line = f"{reference.group(1)}[{reference.group(2)}] {reference.group(3)}"
        out.append(_inline(line))
        i += 1
    text = re.sub(r"``(.+?)``", r"\1", "\n".join(out), flags=re.S)  # a literal broken across lines
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --------------------------------------------------------------------------- numpydoc
def _sections(doc: str) -> dict[str, str]:
    """A numpydoc docstring by section: ``""`` (the summary and text before any section), ``"Notes"``..."""
    lines = inspect.cleandoc(doc or "").splitlines()
    sections: dict[str, list[str]] = {"": []}
    current = ""
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip()) \
                and not lines[i].startswith(" "):
            current = lines[i].strip()
            sections[current] = []
            i += 2
            continue
        sections[current].append(lines[i])
        i += 1
    return {name: "\n".join(body).strip("\n") for name, body in sections.items()}


def _parameter_entries(section: str) -> dict[str, str]:
    """``name -> description`` from a numpydoc Parameters section (``a, b : float`` names both)."""
    entries: dict[str, str] = {}
    names: list[str] = []
    body: list[str] = []

    def close() -> None:
        text = textwrap.dedent("\n".join(body)).strip()
        for name in names:
            entries[name] = text

    for line in section.splitlines():
        if line and not line.startswith(" "):
            close()
            names = [n.strip() for n in line.split(":")[0].split(",") if n.strip()]
            body = []
        else:
            body.append(line)
    close()
    return entries


def summary(doc: str) -> str:
    """The first paragraph of a docstring, as one line of plain text.

    Examples
    --------
    >>> summary("Cascaded ``order``\\ntimes.\\n\\nMore.")
    'Cascaded order times.'
    """
    first = _sections(doc)[""].split("\n\n")[0]
    return " ".join(plain_text(first).split())


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


# --------------------------------------------------------------------------- pages
def _parameter_help(kind: Any, name: str, spec: dict[str, Any]) -> str:
    """A parameter's description: the docstring's Parameters entry, else the Param's or property's help."""
    entry = _parameter_entries(_sections(kind.cls.__doc__ or "").get("Parameters", "")).get(name)
    if entry:
        return plain_text(entry)
    if spec.get("help"):
        return plain_text(spec["help"])
    prop = getattr(kind.cls, name, None)
    return plain_text(inspect.cleandoc(getattr(prop, "__doc__", None) or ""))


def _parameter_line(spec: dict[str, Any]) -> str:
    words = [_TYPE_WORDS.get(spec["type"], spec["type"])]
    if spec.get("unit"):
        words.append(spec["unit"])
    allowed = range_text(spec)
    if allowed:
        words.append(allowed)
    if spec.get("nullable") and spec["type"] != "object":
        words.append("or none")
    words.append(f"default {_value_text(spec.get('default'))}")
    return ", ".join(words)


def processor_manual(name: str) -> str:
    """The full manual page of one processor type, or of ``mix`` / ``vst3``.

    Parameters
    ----------
    name : str
        A registry name (``hard_knee_compressor``, ``highpass_filter``), ``mix`` or ``vst3``.

    Returns
    -------
    str
        Its summary and description, every parameter with its type, unit,
        range, default and meaning, then its Notes (the formula) and
        References, all in plain text.

    Raises
    ------
    ParameterError
        Unknown name, with a suggestion.
    """
    from .registry import get_type

    if name in ("mix", "vst3"):
        return _structural_page(name)
    try:
        kind = get_type(name)
    except ParameterError as err:
        hint = "" if "did you mean" in str(err) else "; 'clarity plugins' lists every type"
        raise ParameterError(f"{err}{hint}") from None
    sections = _sections(kind.cls.__doc__ or "")
    where = ("clarity_fx." if kind.origin == "clarity" else "pedalboard.") + kind.cls.__name__
    lines = [f"{kind.name}  ({where})", ""]
    lines.append(plain_text(sections[""]) or "(no description)")
    lines += ["", "Parameters (in a preset: '- " + kind.name + ": {name: value, ...}')", ""]
    if not kind.params:
        lines.append("    (none)")
    for pname, spec in kind.params.items():
        lines.append(f"  {pname}: {_parameter_line(spec)}")
        described = _parameter_help(kind, pname, spec)
        if described:
            lines.extend("      " + row if row else "" for row in described.splitlines())
        lines.append("")
    if any(spec["type"] == "object" for spec in kind.params.values()):
        lines += ["Object parameters", "", _wrap(_object_rule(), "  "), ""]
    for section in ("Notes", "References"):
        if sections.get(section):
            lines += [section, "", textwrap.indent(plain_text(sections[section]), "  "), ""]
    lines.append(_wrap("Every chain item also takes the item keys bypass, wet, listen and automate beside "
                       "its type; 'clarity plugins' lists them.", ""))
    return "\n".join(_fit(line) for line in "\n".join(lines).split("\n")).rstrip() + "\n"


def _fit(line: str) -> str:
    """A line longer than the manual's width, wrapped at its own indentation (pedalboard's are long)."""
    if len(line) <= WIDTH:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line.strip(), WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _object_rule() -> str:
    from .preset import OBJECT_PARAMETERS

    return OBJECT_PARAMETERS[:1].upper() + OBJECT_PARAMETERS[1:]


def _schema_defs() -> dict[str, Any]:
    from .schema import preset_schema

    return preset_schema()["$defs"]


def _schema_value_text(schema: dict[str, Any]) -> str:
    words = []
    if "enum" in schema:
        words.append("one of " + ", ".join(map(str, schema["enum"])))
    elif schema.get("type") == "boolean":
        words.append("true or false")
    elif schema.get("type") == "number":
        words.append(range_text({"type": "float", "minimum": schema.get("minimum"),
                                 "maximum": schema.get("maximum")}))
    elif schema.get("type") == "object":
        words.append("a mapping")
    if "default" in schema:
        words.append(f"default {_value_text(schema['default'])}")
    return ", ".join(words)


def _structural_page(name: str) -> str:
    defs = _schema_defs()
    schema = defs[name]
    lines = [f"{name}  (a chain item of clarity-fx presets)", "", _wrap(schema["description"], "")]
    if name == "vst3":
        lines += ["", "Keys", ""]
        for key, prop in schema["properties"].items():
            required = " (required)" if key in schema.get("required", []) else ""
            lines.append(f"  {key}{required}")
            lines.append(_wrap(prop.get("description", ""), "      "))
    else:
        lines += ["", _wrap("In a preset: '- mix: [[...], [...]]', a list of branches, each a list of chain "
                            "items like the preset's own chain.", "")]
    return "\n".join(lines).rstrip() + "\n"


def chain_items_text() -> str:
    """The chain-item rules, as the overview prints them.

    Returns
    -------
    str
        The item keys (from the preset schema's ``$defs``, in
        :data:`~clarity_fx.preset.ITEM_KEYS` order), ``mix`` and ``vst3``,
        how object parameters and key chains are given
        (:data:`~clarity_fx.preset.OBJECT_PARAMETERS`) and the ``--set``
        selector rules (:func:`~clarity_fx.preset.apply_overrides`).
    """
    from .preset import ITEM_KEYS, OBJECT_PARAMETERS, apply_overrides

    defs = _schema_defs()
    lines = ["Chain items", "", _wrap(defs["item"]["description"] + " For example:", ""), "",
             "    - hard_knee_compressor: {threshold_db: -18, ratio: 3}", "      wet: 0.5", "",
             "Item keys (beside the type, not inside its parameters)", ""]
    for key in ITEM_KEYS:
        lines.append(f"  {key}: {_schema_value_text(defs[key])}")
        lines.append(_wrap(defs[key]["description"], "      "))
    lines += ["", "Structural items", ""]
    for key in ("mix", "vst3"):
        lines.append(f"  {key}  (clarity plugins {key})")
        lines.append(_wrap(defs[key]["description"], "      "))
    rule = OBJECT_PARAMETERS[:1].upper() + OBJECT_PARAMETERS[1:]
    lines += ["", "Key chains and other object parameters", "", _wrap(rule, "  "), "",
              "Overrides (--set PATH.PARAM=VALUE on apply, batch, master, response, presets export)",
              ""]
    # apply_overrides' docstring says what a selector is; its first line is for programmers.
    # Its numpydoc sections (Raises, ...) are for programmers too.
    rules = inspect.cleandoc(apply_overrides.__doc__ or "").partition("\n\n")[2]
    rules = re.split(r"\n\n\w[\w ]*\n-{3,}\n", rules)[0]
    lines.append(textwrap.indent(plain_text(rules), "  "))
    return "\n".join(lines)


def overview() -> str:
    """Every processor type with its full summary and parameters, then the chain-item rules.

    Returns
    -------
    str
        Plain text: numbers without exponents, sentences never cut.
    """
    from .registry import processor_types

    lines = ["Processor types (clarity plugins NAME prints one in full: parameters, units, formula)", ""]
    for name, kind in processor_types().items():
        lines.append(f"{name}  [{kind.origin}]")
        lines.append(_wrap(summary(kind.cls.__doc__ or "") or "(no description)", "    "))
        for pname, spec in kind.params.items():
            lines.append(textwrap.fill(f"{pname:<24} {_parameter_line(spec)}", WIDTH, initial_indent="      ",
                                       subsequent_indent=" " * 31, break_long_words=False,
                                       break_on_hyphens=False))
        lines.append("")
    lines.append(chain_items_text())
    return "\n".join(lines).rstrip() + "\n"
