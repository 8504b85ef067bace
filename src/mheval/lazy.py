"""Packages whose public names are imported from their submodules on first use (PEP 562).

Why: every workflow job is a fresh Python process, and a package ``__init__`` that imports all its
submodules makes ``from mheval.models.equation1 import ...`` pay for every model's libraries
(statsmodels, lifelines, scipy.stats ...), about a second of CPU per job at the demo's scale
(benchmarks/results/demo_overhead.md). With :func:`lazy_exports` a package keeps its public names
(``from mheval.models import fit_cox`` works as before) but imports a submodule only when one of its
names is first asked for; importing one submodule directly imports only that submodule.

Typical use, in a package's ``__init__.py``::

    from mheval.lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "cox_engine": ["CoxFit", "fit_cox"],
        "wald": ["wald_interval"],
    })

A public name must differ from every submodule's name: once a submodule is imported, Python binds
it on the package under its own name, which would then shadow a public name of the same spelling
(``ValueError`` here when a name equals one of the listed submodules).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable, Callable, list[str]]:
    """The module-level ``__getattr__``, ``__dir__`` and ``__all__`` of package ``package`` whose public
    names are ``exports`` ({submodule: [names defined there]}), each imported from its submodule when
    first accessed and then kept on the package (later accesses are plain attribute look-ups)."""
    where = {name: sub for sub, names in exports.items() for name in names}
    if len(where) != sum(len(names) for names in exports.values()):
        raise ValueError(f"{package}: a public name is listed under two submodules")
    if clash := sorted(set(where) & set(exports)):
        raise ValueError(f"{package}: public names equal to submodule names: {clash}")

    def __getattr__(name: str):
        sub = where.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sub}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
