"""The package's layering, read from the source (AST), not from what happens to be imported.

- A sub-package never imports the package root: ``import fgsam`` and ``from fgsam import X``
  are allowed only for X a module of the shared private layer.
- The sub-packages (and ``fgsam.cli``) import each other without cycles, counting every
  import: top level, inside functions, and modules named by string to ``import_module``.
- No sub-package ``__init__.py`` defines a module-level ``__getattr__`` (no lazy names).
"""

from __future__ import annotations

import ast
import re
from itertools import pairwise
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fgsam"

#: Modules of the shared layer: anything in the package may import these from the root.
SHARED = {"_io", "_random", "_validate", "_timing", "_version", "_distributed", "_experiment",
          "_metric_log", "typing"}

#: The nodes of the import graph.
LAYERS = {"optim", "data", "nn", "fewshot", "mol", "node", "sharpness", "bench", "cli"}

_MODULE_NAME = re.compile(r"fgsam(\.\w+)+")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, tuple[Path, ast.Module]]:
    """Every module of the package: dotted name -> (file, syntax tree)."""
    return {module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(PACKAGE.rglob("*.py"))}


def in_subpackage(path: Path) -> bool:
    return len(path.relative_to(PACKAGE).parts) > 1


def imports(name: str, path: Path, tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """Every import in the module, anywhere in it: (line, imported module, names taken from
    it). Relative imports are resolved; ``import_module("fgsam.x")``-style names count."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, target, [alias.name for alias in node.names]))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _MODULE_NAME.fullmatch(node.value)):
            found.append((node.lineno, node.value, []))
    return [(line, target, names) for line, target, names in found
            if target == "fgsam" or target.startswith("fgsam.")]


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_subpackage_imports_the_package_root() -> None:
    offences = []
    for name, (path, tree) in sources().items():
        if not in_subpackage(path):
            continue
        for line, target, names in imports(name, path, tree):
            if target != "fgsam":
                continue
            if not names:
                offences.append(f"{name}:{line}: import fgsam")
            offences += [f"{name}:{line}: from fgsam import {n}" for n in names
                         if n not in SHARED]
    assert not offences, "sub-packages import the package root:\n" + "\n".join(offences)


def import_graph() -> dict[str, dict[str, list[str]]]:
    """layer -> {imported layer: ["module:line", ...]} over every import between layers."""
    graph: dict[str, dict[str, list[str]]] = {node: {} for node in LAYERS}
    for name, (path, tree) in sources().items():
        source = layer(name)
        if source is None:
            continue
        for line, target, names in imports(name, path, tree):
            # ``from fgsam import data`` and ``from fgsam.nn import models`` name modules too
            targets = [target, *(f"{target}.{n}" for n in names)]
            for dest in {layer(t) for t in targets} - {None, source}:
                graph[source].setdefault(dest, []).append(f"{name}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle of the graph as a closed path of nodes, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_scan_sees_local_relative_and_named_imports() -> None:
    tree = ast.parse("def f():\n    from ..data import x\n    import_module('fgsam.mol.command')\n")
    found = imports("fgsam.optim.sam", PACKAGE / "optim" / "sam.py", tree)
    assert [(t, n) for _, t, n in found] == [("fgsam.data", ["x"]), ("fgsam.mol.command", [])]


def test_find_cycle_on_small_graphs() -> None:
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {}}) is None
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]


def test_subpackages_import_each_other_without_cycles() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle is not None:
        steps = [f"{a} -> {b}: {', '.join(graph[a][b][:3])}" for a, b in pairwise(cycle)]
        raise AssertionError("import cycle between sub-packages:\n" + "\n".join(steps))


def test_no_subpackage_init_defines_module_getattr() -> None:
    offences = []
    for name, (path, tree) in sources().items():
        if path.name != "__init__.py" or not in_subpackage(path):
            continue
        for node in tree.body:
            defined = (isinstance(node, ast.FunctionDef) and node.name == "__getattr__") or (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and any(isinstance(t, ast.Name) and t.id == "__getattr__"
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])))
            if defined:
                offences.append(f"{name}:{node.lineno}")
    assert not offences, "module-level __getattr__ in: " + ", ".join(offences)


def test_no_module_of_the_package_has_more_than_400_lines():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "fgsam"
    long = {str(p.relative_to(root)): n for p in root.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}, f"split these into their concepts: {long}"
