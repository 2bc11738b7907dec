"""The layers of clarity_fx, read from its source: no import cycles, leaves stay leaves, light imports.

Every module under ``clarity_fx`` is parsed with ``ast``; every import in it, at
module level or inside a function, is an edge of the module import graph (a
cycle hidden by a function-level import is still a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "clarity_fx"

#: Reporting and orchestration: the top of the stack.
UPPER = {
    "analysis", "plot", "response", "rendering", "cli",
    "batching", "mastering", "preset", "isolate", "schema", "manual", "report", "webpage", "listening",
}
#: Modules at the bottom, beside the DSP of clarity_fx.processors (those present are checked).
LEAVES = {"errors", "_paths", "bs1770", "validate", "plugin", "keys", "audio_io"}
#: Imported by nothing that ``import clarity_fx`` or ``clarity --help`` loads, at module level.
HEAVY = ("numba", "matplotlib", "scipy.signal")



def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)  # "" is the package itself


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def resolve(current: str, is_package: bool, level: int, target: str | None) -> str | None:
    """The clarity_fx module an import names (relative to ``current``), or None if outside."""
    if level == 0:
        if target is None or not (target == "clarity_fx" or target.startswith("clarity_fx.")):
            return None
        return target[len("clarity_fx") + 1 :]
    base = current.split(".") if current else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([target] if target else [])])


def imports_of(name: str, path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import of a clarity_fx module (or of anything, raw)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level includes if/try blocks, not function or class bodies
        stack, nodes = list(tree.body), []
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try)):
                stack.extend(ast.iter_child_nodes(node))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.module or "", node.lineno))
                for alias in node.names:
                    found.append((f"{node.module}.{alias.name}", node.lineno))
                continue
            module = resolve(name, is_package, node.level, node.module)
            found.append((f"clarity_fx.{module}" if module else "clarity_fx", node.lineno))
            for alias in node.names:  # ``from . import spectral`` imports a submodule
                sub = f"{module}.{alias.name}" if module else alias.name
                if sub in MODULES:
                    found.append((f"clarity_fx.{sub}", node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    """clarity_fx module -> the clarity_fx modules it imports (the package itself left out)."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for imported, _ in imports_of(name, path):
            inner = resolve("", True, 0, imported)
            if inner and inner in MODULES and inner != name:
                targets.add(inner)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every module ``start`` imports, directly or not, with one path to it."""
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop()
        for w in sorted(edges.get(v, ())):
            if w not in paths:
                paths[w] = [*paths[v], w]
                todo.append(w)
    return paths


# --------------------------------------------------------------------------- the graph itself
def test_the_graph_is_read_from_both_levels_of_import():
    edges = graph()
    # module level, relative
    assert "bs1770" in edges["processors.dynamics"]
    # function level, relative, a submodule named in ``from . import``
    assert "processors._spectral_kernels" in edges["processors.spectral"]
    assert "processors._dynamics_kernels" in edges["processors.dynamics"]
    # function level, two dots
    assert "meters" in edges["processors.loudness"]
    # a cycle made of a function-level import is found
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles():
    assert cycles(graph()) == []


# --------------------------------------------------------------------------- leaves stay leaves
BOTTOM = sorted(
    name for name in MODULES if name.startswith("processors") or name in LEAVES
)


@pytest.mark.parametrize("name", BOTTOM)
def test_dsp_and_leaves_import_nothing_from_the_top(name):
    edges = graph()
    upward = {m: path for m, path in reachable(edges, name).items() if m in UPPER}
    paths = "; ".join(" -> ".join(p) for p in upward.values())
    assert not upward, f"{name} imports the reporting layer: {paths}"


def test_leaves_import_only_leaves():
    edges = graph()
    for name in sorted(LEAVES & set(MODULES)):
        assert edges[name] <= LEAVES, f"{name} imports {sorted(edges[name] - LEAVES)}"


# --------------------------------------------------------------------------- light imports
def loaded_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


HELP = (
    "import sys\nfrom clarity_fx.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
)
PRINT = "print(' '.join(sorted(sys.modules)))"


@pytest.mark.parametrize(
    "code", ["import sys, clarity_fx\n" + PRINT, HELP + PRINT], ids=["import clarity_fx", "clarity --help"]
)
def test_light_entry_points_import_nothing_heavy_at_module_level(code):
    loaded = loaded_modules(code)
    heavy_loaded = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert not heavy_loaded
    ours = sorted(resolve("", True, 0, m) for m in loaded if m.startswith("clarity_fx"))
    assert "" in ours  # the package itself
    for name in ours:
        for imported, line in imports_of(name, MODULES[name], top_level_only=True):
            heavy = [h for h in HEAVY if imported == h or imported.startswith(h + ".")]
            assert not heavy, f"clarity_fx.{name}, line {line}, imports {imported} at module level"
