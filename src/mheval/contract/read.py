"""Find and read input files: Parquet first, CSV too, typed by the contract."""

from __future__ import annotations

import datetime
import glob
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mheval.contract.errors import InputError
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS, FileSpec, spec

DUCK_TYPES = {"string": "VARCHAR", "date": "DATE", "integer": "BIGINT", "number": "DOUBLE",
              "boolean": "BOOLEAN"}


def input_files(data_dir: str | Path, name: str) -> list[Path]:
    """Files holding input ``name`` under ``data_dir``: Parquet if any, else CSV; sorted.

    Yearly files (claims, MBSF) match ``*_{year}``; others are a single file.
    """
    s = spec(name)
    base = Path(data_dir) / s.path.replace("{year}", "*")
    for ext in (".parquet", ".csv"):
        found = sorted(Path(p) for p in glob.glob(str(base) + ext))
        if found:
            return found
    return []


def columns_of(path: Path) -> list[str]:
    """Column names of a Parquet or CSV file (a clear InputError if unreadable)."""
    try:
        if path.suffix == ".parquet":
            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except Exception as exc:  # truncated or not a Parquet/CSV file
        raise InputError(str(path), None, None, [], f"cannot be read ({type(exc).__name__}: {exc})") from None


def _typed(df: pd.DataFrame, s: FileSpec, path: Path) -> pd.DataFrame:
    """Convert CSV strings to the contract's types; unparsable values raise InputError."""
    for c in s.columns_for(df.columns):
        if c.name not in df.columns:
            continue
        raw = df[c.name]
        if c.type == "date":
            conv = pd.to_datetime(raw, errors="coerce", format="mixed")
        elif c.type in ("integer", "number"):
            conv = pd.to_numeric(raw, errors="coerce")
        elif c.type == "boolean":
            conv = raw.map({"true": True, "True": True, "1": True, "false": False, "False": False, "0": False})
        else:
            continue
        bad = raw.notna() & (raw.astype(str) != "") & conv.isna()
        if bad.any():
            raise InputError(str(path), c.name, int(bad.sum()), raw[bad].head(5).tolist(),
                             f"is not of type {c.type}")
        df[c.name] = conv
    return df


def _as_dates(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Parquet DATE/TIMESTAMP columns as datetime64; anything else (e.g. text) is an InputError."""
    if values.dtype.kind == "M":
        return values
    present = values.dropna()
    ok = present.map(lambda v: isinstance(v, (datetime.date, pd.Timestamp)))
    if not ok.all():
        raise InputError(str(path), column, int((~ok).sum()), present[~ok].head(5).tolist(),
                         f"has type {type(present[~ok].iloc[0]).__name__}, expected date")
    return pd.to_datetime(values)


def read_input(data_dir: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read input ``name`` (all its files) into pandas, typed by the contract.

    For the registry, reference and CMS files, and for tests; claims are read with DuckDB.
    Dates come back as datetime64. Raises InputError if the file is missing or unreadable.
    """
    s = spec(name)
    files = input_files(data_dir, name)
    if not files:
        raise InputError(str(Path(data_dir) / (s.path + ".parquet")), None, None, [], "is missing")
    frames = []
    for path in files:
        try:
            if path.suffix == ".parquet":
                df = pd.read_parquet(path, columns=columns)
            else:
                df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], usecols=columns)
                df = _typed(df, s, path)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(str(path), None, None, [], f"cannot be read ({type(exc).__name__}: {exc})") from None
        for c in s.columns:
            if c.name in df.columns and c.type == "date":
                df[c.name] = _as_dates(df[c.name], path, c.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def duckdb_source(data_dir: str | Path, name: str,
                  processing_lag_days: int | None = DEFAULT_PROCESSING_LAG_DAYS) -> str:
    """A DuckDB table expression reading every file of input ``name`` (Parquet or typed CSV).

    See :func:`duckdb_files_source` for the processing-date fallback.
    """
    s = spec(name)
    files = input_files(data_dir, name)
    if not files:
        raise InputError(str(Path(data_dir) / (s.path + ".parquet")), None, None, [], "is missing")
    return duckdb_files_source(files, name, processing_lag_days)


def _sql_list(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"


def present_columns(files: list[Path]) -> list[str]:
    """The union of the column names of ``files``, in first-seen order."""
    seen: dict[str, None] = {}
    for f in files:
        seen.update(dict.fromkeys(columns_of(Path(f))))
    return list(seen)


def duckdb_raw_source(files: list[Path], name: str, filename: bool = False) -> str:
    """The files as stored, for validation: Parquet as written, CSV as text (every column VARCHAR);
    with ``filename``, a column ``filename`` names each row's file."""
    fn = ", filename = true" if filename else ""
    if Path(files[0]).suffix == ".parquet":
        return f"read_parquet({_sql_list(files)}, union_by_name = true{fn})"
    return f"read_csv({_sql_list(files)}, header = true, union_by_name = true, all_varchar = true{fn})"


def duckdb_files_source(files: list[Path], name: str,
                        processing_lag_days: int | None = DEFAULT_PROCESSING_LAG_DAYS, filename: bool = False) -> str:
    """A DuckDB table expression over the given files of input ``name`` (all Parquet or all CSV).

    CSV columns get the contract's types (only the columns present: optional columns and any
    number of diagnosis positions may be absent). For base claims, a missing processing date
    (NCH_WKLY_PROC_DT absent, or null) becomes CLM_THRU_DT + ``processing_lag_days`` (config
    ``claims.processing_lag_days``; None: leave it as it is). With ``filename``, a column
    ``filename`` names each row's file.
    """
    s = spec(name)
    present = present_columns(files)
    fn = ", filename = true" if filename else ""
    if Path(files[0]).suffix == ".parquet":
        src = f"read_parquet({_sql_list(files)}, union_by_name = true{fn})"
    else:
        types = ", ".join(f"'{c.name}': '{DUCK_TYPES.get(c.type, 'VARCHAR')}'" for c in s.columns_for(present)
                          if c.type != "id" and c.name in present)
        src = f"read_csv({_sql_list(files)}, header = true, union_by_name = true, types = {{{types}}}{fn})"
    if processing_lag_days is None or "CLM_THRU_DT" not in present or "NCH_WKLY_PROC_DT" not in {c.name for c in s.columns}:
        return src
    fallback = f"CAST(CLM_THRU_DT AS DATE) + {int(processing_lag_days)}"
    if "NCH_WKLY_PROC_DT" in present:
        return f"(SELECT * REPLACE (coalesce(CAST(NCH_WKLY_PROC_DT AS DATE), {fallback}) AS NCH_WKLY_PROC_DT) FROM {src})"
    return f"(SELECT *, {fallback} AS NCH_WKLY_PROC_DT FROM {src})"
