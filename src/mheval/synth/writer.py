"""Write synthetic tables as Parquet, deterministically (same arrays -> byte-identical files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _to_arrow(values) -> pa.Array:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        days = arr.astype("datetime64[D]")
        return pa.array(days, type=pa.date32(), from_pandas=True)
    if arr.dtype == object:
        if len(arr) and all(isinstance(v, (bool, np.bool_)) for v in arr[:100]):
            return pa.array(arr.astype(bool))
        return pa.array(arr, type=pa.string(), from_pandas=True)
    if arr.dtype.kind == "U":
        return pa.array(arr.astype(object), type=pa.string())
    return pa.array(arr, from_pandas=True)


def write_parquet(table: pd.DataFrame | dict, path: Path) -> int:
    """Write a frame or dict of arrays to ``path``; dates become Parquet DATE. Returns rows."""
    cols = table.items() if isinstance(table, dict) else ((c, table[c].to_numpy()) for c in table.columns)
    arrays, names = [], []
    for name, values in cols:
        arrays.append(_to_arrow(values))
        names.append(name)
    tab = pa.Table.from_arrays(arrays, names=names)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tab, path, compression="zstd", write_statistics=True)
    return tab.num_rows


class YearlyWriter:
    """Append claims, batch by batch, to one Parquet file per claim type and calendar year.

    Memory stays bounded by the batch: each :meth:`add` writes row groups and keeps nothing.
    Files are ``{out_dir}/{name}/{name}_{year}.parquet``; rows are in batch order, then by the
    claim id within a batch, so the same batches give byte-identical files.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.writers: dict[tuple[str, int], pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def _write(self, name: str, year: int, data: dict) -> None:
        arrays = [_to_arrow(v) for v in data.values()]
        tab = pa.Table.from_arrays(arrays, names=list(data))
        key = (name, int(year))
        if key not in self.writers:
            path = self.out_dir / name / f"{name}_{year}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[key] = pq.ParquetWriter(path, tab.schema, compression="zstd")
        self.writers[key].write_table(tab)
        stem = f"{name}_{year}"
        self.rows[stem] = self.rows.get(stem, 0) + tab.num_rows

    def add(self, table: dict, name: str, date_col: str, bene_ids: np.ndarray, ids: np.ndarray,
            id_col: str = "CLM_ID", lines: dict | None = None, line_name: str | None = None,
            id_first: bool = False) -> None:
        """Write ``table`` (with ``bene`` indexing ``bene_ids``) split by year of ``date_col``.

        ``ids`` are the rows' identifiers (column ``id_col``). Optional line rows point at their
        claim through ``lines["claim"]`` and go to the claim's year; columns starting with "_"
        are internal and not written.
        """
        years = np.asarray(table[date_col]).astype("datetime64[Y]").astype(int) + 1970
        order = np.lexsort((ids, years))
        bene = np.asarray(table["bene"])
        claim = np.asarray(lines["claim"]) if lines is not None else None
        for y in np.unique(years):
            sel = order[years[order] == y]
            head = {id_col: ids[sel], "BENE_ID": bene_ids[bene[sel]]} if id_first else \
                {"BENE_ID": bene_ids[bene[sel]], id_col: ids[sel]}
            head.update({k: np.asarray(v)[sel] for k, v in table.items() if k != "bene" and not k.startswith("_")})
            self._write(name, y, head)
            if lines is not None:
                lsel = np.flatnonzero(years[claim] == y)
                lsel = lsel[np.lexsort((np.asarray(lines[_line_num_col(lines)])[lsel], ids[claim[lsel]]))]
                lt = {"BENE_ID": bene_ids[bene[claim[lsel]]], "CLM_ID": ids[claim[lsel]]}
                lt.update({k: np.asarray(v)[lsel] for k, v in lines.items() if k != "claim" and not k.startswith("_")})
                self._write(line_name, y, lt)

    def close(self) -> dict:
        """Close every file; return {file stem: rows}."""
        for w in self.writers.values():
            w.close()
        self.writers.clear()
        return dict(sorted(self.rows.items()))


def _line_num_col(lines: dict) -> str:
    return "CLM_LINE_NUM" if "CLM_LINE_NUM" in lines else "LINE_NUM"
