"""Every third-party package the library or the workflow's scripts import is declared in pyproject.toml
(a dependency, or an optional extra for an import that only an optional feature makes): an undeclared
import works in the developer's environment and fails in a fresh install."""

from __future__ import annotations

import ast
import functools
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "src", ROOT / "workflow" / "scripts")


@functools.cache
def imported_modules(paths: tuple[Path, ...]) -> dict[str, set[str]]:
    """Top-level module names imported (absolute imports, at any depth of the file) -> files importing them."""
    found: dict[str, set[str]] = {}
    for base in paths:
        for path in sorted(base.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def third_party(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: f for m, f in modules.items() if m not in sys.stdlib_module_names and m not in ("mheval", "__future__")}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project.get("optional-dependencies", {}).values() for r in extra]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def test_the_walk_finds_known_imports():
    # the walker sees imports at module level and inside functions, plain and from-imports
    found = third_party(imported_modules(SOURCES))
    assert {"numpy", "pandas", "duckdb", "scipy", "yaml"} <= set(found)
    assert "os" not in found and "mheval" not in found


def test_every_imported_package_is_declared():
    dists = packages_distributions()
    names = declared()
    missing = {}
    for module, files in sorted(third_party(imported_modules(SOURCES)).items()):
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        assert providers, f"{module} (imported in {sorted(files)[:3]}) is not installed: declare and install it"
        if not providers & names:
            missing[module] = (sorted(providers), sorted(files)[:3])
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
