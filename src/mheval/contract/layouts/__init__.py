"""Input layouts: read CMS files as CMS delivers them and stage them in the data contract.

``data.layout`` names the layout of the files under ``data.dir``:

- ``contract``: the data contract itself (docs/data_contract.md); nothing is staged.
- ``ccw``: CCW research identifiable files under their CCW names (:mod:`.ccw`).
- ``desynpuf``: CMS's DE-SynPUF files under their own names (:mod:`.desynpuf`).

:func:`stage_inputs` converts the originals into contract files under a staging directory
(the workflow's ``results/inputs/``; ``data.dir`` is only read) and writes a
:class:`Provenance` record there, so that validation names the original file and column.
"""

from __future__ import annotations

from pathlib import Path

from mheval.contract.layouts import ccw, contract, desynpuf
from mheval.contract.layouts.provenance import Provenance, in_original_names

MODULES = {"contract": contract, "ccw": ccw, "desynpuf": desynpuf}
LAYOUTS = tuple(MODULES)


def _module(layout: str):
    try:
        return MODULES[layout]
    except KeyError:
        raise ValueError(f"unknown data.layout '{layout}'; known: {', '.join(LAYOUTS)}") from None


def stage_inputs(layout: str, data_dir: str | Path, out_dir: str | Path, config: dict | None = None) -> Provenance:
    """Stage the files under ``data_dir`` (in ``layout``) as the data contract under ``out_dir``.

    For ``contract`` nothing is written (validate ``data_dir`` in place); otherwise ``out_dir``
    receives the contract files and ``provenance.json``. ``config`` is the workflow config (the
    DE-SynPUF processing lag is ``claims.processing_lag_days``). Raises InputValidationError naming the
    original file and column of every value that cannot be read.
    """
    return _module(layout).stage_inputs(data_dir, out_dir, config)


def source_files(layout: str, data_dir: str | Path) -> list[Path]:
    """The original files ``layout`` reads under ``data_dir`` (the staging step's inputs)."""
    return sorted({p for ps in _module(layout).files_by_input(data_dir).values() for p in ps})


def input_finder(layout: str, data_dir: str | Path):
    """A function mapping a contract input name (e.g. ``carrier_line``) to the original files under
    ``data_dir`` it is made from in ``layout`` (empty when the layout has none)."""
    by_input = _module(layout).files_by_input(data_dir)
    return lambda name: list(by_input.get(name, []))


__all__ = ["LAYOUTS", "Provenance", "in_original_names", "input_finder", "source_files", "stage_inputs"]
