"""The library's layering: every module imports; no module imports another module's private
(``_name``) names; and neither the modules nor the packages import each other in a cycle (lazy,
function-level imports included, since they only hide a cycle)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import mheval

SRC = Path(mheval.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Every module of mheval by dotted name (a package by its __init__)."""
    out = {}
    for p in sorted(SRC.rglob("*.py")):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(modules: dict[str, Path]):
    """(importer, imported module, name or None) for every import of an mheval module, anywhere in
    the file; ``from package import submodule`` counts as an import of the submodule."""
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "mheval":
                        yield name, a.name, None
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] != "mheval":
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    yield (name, sub, None) if sub in modules else (name, base, a.name)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_every_module_imports():
    for name in _modules():
        if not name.endswith("__main__"):  # a command line: importing it runs it
            importlib.import_module(name)


def test_no_module_imports_a_private_name_of_another():
    modules = _modules()
    private = [f"{a} imports {name} from {b}" for a, b, name in _imports(modules)
               if name and name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and a != b]
    assert private == []


def test_no_import_cycles_between_modules_or_packages():
    modules = _modules()
    edges = [(a, b) for a, b, _ in _imports(modules) if a != b]
    assert {b for _, b in edges} <= set(modules), "an import of an mheval module that does not exist"
    between_modules = {}
    for a, b in edges:
        between_modules.setdefault(a, set()).add(b)
    assert _cycle(between_modules) is None, " -> ".join(_cycle(between_modules))

    def package(m):  # the top-level package (or top-level module) a module belongs to
        return ".".join(m.split(".")[:2])

    between_packages = {}
    for a, b in edges:
        if package(a) != package(b):
            between_packages.setdefault(package(a), set()).add(package(b))
    assert _cycle(between_packages) is None, " -> ".join(_cycle(between_packages))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
