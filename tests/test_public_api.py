"""The flat public API: everything README.md shows is importable from clarity_fx, lazily."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import clarity_fx as cfx
from clarity_fx import registry

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_names() -> set[str]:
    """Dotted ``cfx.X.Y`` chains and ``from clarity_fx import X`` names in README's python blocks
    (and in its inline code, ``cfx.analysis.analyze_file(path)``)."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    blocks += re.findall(r"`([^`\n]*cfx\.[^`\n]*)`", text)
    names: set[str] = set()
    for block in blocks:
        names.update(re.findall(r"\bcfx((?:\.[A-Za-z_]\w*)+)", block))
        for group in re.findall(r"from clarity_fx import ([\w, ()\n]+)", block):
            names.update("." + n.strip() for n in re.split(r"[,\s()]+", group) if n.strip())
    return {n[1:] for n in names}


def test_readme_names_resolve_on_clarity_fx():
    names = readme_names()
    assert {"Chain", "render", "SpectralSubtraction"} <= {n.split(".")[0] for n in names}  # the parse works
    for dotted in sorted(names):
        head, *rest = dotted.split(".")
        assert hasattr(cfx, head), f"README shows cfx.{head}, which clarity_fx does not have"
        value = getattr(cfx, head)
        # Only modules are opened further (cfx.analysis.analyze_file); methods of objects are not checked.
        while rest and type(value).__name__ == "module":
            assert hasattr(value, rest[0]), f"README shows cfx.{dotted}"
            value = getattr(value, rest.pop(0))


def test_processors_come_from_the_one_list():
    for name, (module, class_name) in registry.PROCESSORS.items():
        assert registry.snake_case(class_name) == name
        cls = getattr(cfx, class_name)
        assert cls.__module__ == f"clarity_fx.processors.{module}"
        assert class_name in cfx.__all__ and class_name in dir(cfx)
    clarity = {n for n, t in registry.processor_types().items() if t.origin == "clarity"}
    assert clarity == set(registry.PROCESSORS)


def test_new_public_names():
    assert issubclass(cfx.KeyMismatchError, cfx.ClarityError)
    assert cfx.plot.plot_file is not None and "plot" in cfx.__all__
    assert issubclass(cfx.AudioInputError, cfx.ParameterError) and issubclass(cfx.AudioInputError, TypeError)


def test_import_clarity_fx_loads_no_processor_or_plot():
    code = "import sys, clarity_fx; print(sorted(m for m in sys.modules if m.startswith('clarity_fx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['clarity_fx', 'clarity_fx.errors', 'clarity_fx.registry']"
