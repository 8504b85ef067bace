"""The ``contract`` layout: the files are already in the data contract (docs/data_contract.md),
so nothing is staged; validation reads them where they are."""

from __future__ import annotations

from pathlib import Path

from mheval.contract.layouts.provenance import Provenance
from mheval.contract.read import input_files
from mheval.contract.spec import FILES

LAYOUT = "contract"
RULES = ["The files are the data contract itself: nothing is converted or copied."]


def files_by_input(data_dir: str | Path) -> dict[str, list[Path]]:
    """{contract input: its files under ``data_dir``}."""
    return {s.name: input_files(data_dir, s.name) for s in FILES}



def stage_inputs(data_dir: str | Path, out_dir: str | Path | None = None, config: dict | None = None) -> Provenance:
    """Nothing to convert: the record maps every file to itself (and is not written, since
    ``data.dir`` is never written to)."""
    prov = Provenance(LAYOUT, str(data_dir), str(data_dir), rules=list(RULES))
    for p in (p for ps in files_by_input(data_dir).values() for p in ps):
        prov.add_file(Path(p).relative_to(data_dir).as_posix(), [str(p)])
    return prov
