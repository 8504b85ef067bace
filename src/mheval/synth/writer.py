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


def take(table: dict, order: np.ndarray) -> dict:
    """Rows ``order`` of a dict-of-arrays table."""
    return {k: np.asarray(v)[order] for k, v in table.items()}


def write_by_year(table: dict, out_dir: Path, name: str, date_col: str, bene_ids: np.ndarray,
                  clm_ids: np.ndarray, lines: dict | None = None, line_name: str | None = None) -> dict:
    """Split a claims table by calendar year of ``date_col`` and write one file per year.

    ``table["bene"]`` indexes ``bene_ids``; ``clm_ids`` are the claims' CLM_ID. Optional line
    table rows point at claims through ``lines["claim"]`` and go to the claim's year file.
    Returns {file stem: rows}.
    """
    written = {}
    years = np.asarray(table[date_col]).astype("datetime64[Y]").astype(int) + 1970
    claim_year = years
    order = np.lexsort((clm_ids, years))
    for y in np.unique(years):
        sel = order[years[order] == y]
        t = {k: v for k, v in take(table, sel).items() if k not in ("bene",)}
        out = {"BENE_ID": bene_ids[np.asarray(table["bene"])[sel]], "CLM_ID": clm_ids[sel]}
        out.update(t)
        written[f"{name}_{y}"] = write_parquet(out, out_dir / name / f"{name}_{y}.parquet")
        if lines is not None:
            claim = np.asarray(lines["claim"])
            lsel = np.flatnonzero(claim_year[claim] == y)
            lsel = lsel[np.lexsort((np.asarray(lines[_line_num_col(lines)])[lsel], clm_ids[claim[lsel]]))]
            lt = {k: v for k, v in take(lines, lsel).items() if k not in ("claim",) and not k.startswith("_")}
            lout = {"BENE_ID": bene_ids[np.asarray(table["bene"])[claim[lsel]]], "CLM_ID": clm_ids[claim[lsel]]}
            lout.update(lt)
            written[f"{line_name}_{y}"] = write_parquet(lout, out_dir / line_name / f"{line_name}_{y}.parquet")
    return written


def _line_num_col(lines: dict) -> str:
    return "CLM_LINE_NUM" if "CLM_LINE_NUM" in lines else "LINE_NUM"
