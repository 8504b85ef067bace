"""Where each staged contract file and column came from, so that messages name the originals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mheval.contract.errors import InputError, InputValidationError

FILE_NAME = "provenance.json"


@dataclass
class Provenance:
    """The record an adapter writes next to the contract files it staged.

    ``files`` maps each staged contract file (path relative to the staged directory, e.g.
    ``claims/inpatient/inpatient_2009.parquet``) to the original file(s) its rows came from;
    ``columns`` maps each contract input name (e.g. ``inpatient``) to {contract column: original
    column or rule}; ``rules`` lists the documented rules applied and ``counts`` what they did
    (e.g. segments merged). For the ``contract`` layout nothing is staged and both maps are empty.
    """

    layout: str
    data_dir: str
    staged_dir: str
    files: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add_file(self, staged_rel: str, originals: list[str | Path]) -> None:
        known = self.files.setdefault(staged_rel, [])
        for o in originals:
            if str(o) not in known:
                known.append(str(o))

    def save(self, path: str | Path | None = None) -> Path:
        """Write the record as JSON (default: ``staged_dir/provenance.json``)."""
        path = Path(path) if path else Path(self.staged_dir) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Provenance:
        return cls(**json.loads(Path(path).read_text()))

    @classmethod
    def of(cls, staged_dir: str | Path) -> Provenance | None:
        """The record in ``staged_dir`` if an adapter wrote one there, else None."""
        path = Path(staged_dir) / FILE_NAME
        return cls.load(path) if path.is_file() else None

    def _input_name(self, staged_file: str) -> tuple[str | None, list[str]]:
        """(contract input name, original files) of a staged path as a message names it: one
        file, a ``name_*`` pattern over the yearly files, or a directory."""
        try:
            rel = Path(staged_file).resolve().relative_to(Path(self.staged_dir).resolve()).as_posix()
        except ValueError:
            rel = Path(staged_file).as_posix()
        if rel in self.files:
            return Path(rel).stem.rsplit("_", 1)[0] if _yearly(rel) else Path(rel).stem, self.files[rel]
        stem = Path(rel).name.split(".")[0].replace("*", "").replace("YYYY", "").rstrip("_")
        found = [orig for k, v in sorted(self.files.items()) for orig in v
                 if Path(k).parent.as_posix() == Path(rel).parent.as_posix()
                 and Path(k).stem.startswith(stem)]
        return stem, list(dict.fromkeys(found))

    def translate(self, err: InputError) -> InputError:
        """The same problem, naming the original file(s) and column (the staged contract file and
        column follow in brackets). Problems in files the adapter did not stage pass unchanged."""
        name, originals = self._input_name(err.file)
        if not originals:
            return err
        rel = Path(err.file).name
        files = ", ".join(originals[:3]) + (f" and {len(originals) - 3} more" if len(originals) > 3 else "")
        where = f"{files} (staged as contract file {rel})"
        column = err.column
        if column is not None and name in self.columns:
            parts = [self.columns[name].get(c, c) for c in column.split("+")]
            orig = "+".join(parts)
            column = orig if orig == column else f"{orig} (contract column {column})"
        return InputError(where, column, err.n_rows, err.examples, err.rule)


    def mapping(self) -> dict:
        """The record as ``{staged file: original file(s)}`` and ``{(staged file, contract column):
        original column}`` (staged files relative to the staged directory), the form
        ``InputError.with_provenance`` / ``validate_inputs(provenance=...)`` take."""
        out: dict = {}
        for rel, originals in self.files.items():
            out[rel] = ", ".join(originals)
            name = Path(rel).stem.rsplit("_", 1)[0] if _yearly(rel) else Path(rel).stem
            for col, orig in self.columns.get(name, {}).items():
                if orig != col:
                    out[(rel, col)] = orig
        return out


def in_original_names(err: InputValidationError, staged_dir: str | Path) -> InputValidationError:
    """``err`` with every problem naming the original file and column, when ``staged_dir`` was
    staged by a layout adapter (it holds a provenance record); else ``err`` itself."""
    prov = Provenance.of(staged_dir)
    return InputValidationError([prov.translate(p) for p in err.problems]) if prov else err


def _yearly(rel: str) -> bool:
    tail = Path(rel).stem.rsplit("_", 1)
    return len(tail) == 2 and tail[1].isdigit() and len(tail[1]) == 4
