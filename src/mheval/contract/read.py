"""Find and read input files: Parquet first, CSV too, typed by the contract."""

from __future__ import annotations

import datetime
import glob
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
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
    if pd.api.types.infer_dtype(present, skipna=True) in ("date", "datetime", "datetime64", "empty"):
        return pd.to_datetime(values)  # Parquet DATE columns arrive as datetime.date objects: typed, no row loop
    ok = present.map(lambda v: isinstance(v, (datetime.date, pd.Timestamp)))
    if not ok.all():
        raise InputError(str(path), column, int((~ok).sum()), present[~ok].head(5).tolist(),
                         f"has type {type(present[~ok].iloc[0]).__name__}, expected date")
    return pd.to_datetime(values)


def read_input(data_dir: str | Path, name: str, columns: list[str] | None = None,
               categories: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read input ``name`` (all its files) into pandas, typed by the contract.

    For the registry, reference and CMS files, and for tests; claims are read with DuckDB.
    Dates come back as datetime64. Text columns named in ``categories`` come back as pandas
    categoricals (a Parquet text column is decoded as a dictionary, never as one Python string per
    row: 9 million clinical rows hold 0.6 GB less); a column of another type is left as it is.
    Raises InputError if the file is missing or unreadable.
    """
    s = spec(name)
    files = input_files(data_dir, name)
    if not files:
        raise InputError(str(Path(data_dir) / (s.path + ".parquet")), None, None, [], "is missing")
    frames = []
    for path in files:
        try:
            if path.suffix == ".parquet":
                schema = pq.read_schema(path)
                text = [c for c in categories if c in schema.names and pa.types.is_string(schema.field(c).type)]
                df = pd.read_parquet(path, columns=columns, read_dictionary=text or None)
            else:
                df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], usecols=columns)
                df = _typed(df, s, path)
                for c in categories:
                    if c in df.columns and df[c].dtype == object:
                        df[c] = df[c].astype("category")
        except InputError:
            raise
        except Exception as exc:
            raise InputError(str(path), None, None, [], f"cannot be read ({type(exc).__name__}: {exc})") from None
        for c in s.columns:
            if c.name in df.columns and c.type == "date":
                df[c.name] = _as_dates(df[c.name], path, c.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def present_columns(files: list[Path]) -> list[str]:
    """The union of the column names of ``files``, in first-seen order."""
    seen: dict[str, None] = {}
    for f in files:
        seen.update(dict.fromkeys(columns_of(Path(f))))
    return list(seen)


def register_input(con: duckdb.DuckDBPyConnection, name: str, files: list[Path] | None = None,
                   data_dir: str | Path | None = None, view: str | None = None, *,
                   processing_lag_days: int | None = DEFAULT_PROCESSING_LAG_DAYS, raw: bool = False,
                   filename: bool = False) -> str:
    """Create (or replace) a temporary view over input ``name`` on ``con`` and return the view's name.

    The files are ``files`` (all Parquet or all CSV), or else every file of ``name`` under
    ``data_dir`` (an InputError if there is none). Their paths reach DuckDB as values, through its
    relation API, never as SQL text, so a quote in a path neither breaks nor alters a query.

    - CSV columns get the contract's types (only the columns present: optional columns and any
      number of diagnosis positions may be absent); with ``raw``, CSV stays text (every column
      VARCHAR) and Parquet as written, for validation.
    - For base claims (not ``raw``), a missing processing date (NCH_WKLY_PROC_DT absent, or null)
      becomes CLM_THRU_DT + ``processing_lag_days`` days (config ``claims.processing_lag_days``;
      None leaves it as it is). The lag is checked to be an integer.
    - With ``filename``, a column ``filename`` names each row's file.

    The view is ``view`` or ``input_<name>`` (``raw_<name>`` with ``raw``); ``name`` must be a
    contract input and the view name a plain identifier (both checked), since it is written into SQL.
    """
    s = spec(name)  # KeyError for anything outside the contract
    view = view or f"{'raw' if raw else 'input'}_{name}"
    if not _IDENTIFIER.match(view):
        raise ValueError(f"view name {view!r} is not a plain SQL identifier")
    if files is None:
        files = input_files(data_dir, name)
        if not files:
            raise InputError(str(Path(data_dir) / (s.path + ".parquet")), None, None, [], "is missing")
    paths = [str(p) for p in files]
    if Path(paths[0]).suffix == ".parquet":
        rel = con.read_parquet(paths, union_by_name=True, filename=filename)
    elif raw:
        rel = con.read_csv(paths, header=True, union_by_name=True, all_varchar=True, filename=filename)
    else:
        present = present_columns(files)
        types = {c.name: DUCK_TYPES.get(c.type, "VARCHAR") for c in s.columns_for(present)
                 if c.type != "id" and c.name in present}
        rel = con.read_csv(paths, header=True, union_by_name=True, dtype=types, filename=filename)
    columns = set(rel.columns)
    if (not raw and processing_lag_days is not None and "CLM_THRU_DT" in columns
            and "NCH_WKLY_PROC_DT" in {c.name for c in s.columns}):
        if isinstance(processing_lag_days, bool) or int(processing_lag_days) != processing_lag_days:
            raise ValueError(f"processing_lag_days must be a whole number of days, not {processing_lag_days!r}")
        fallback = f"CAST(CLM_THRU_DT AS DATE) + {int(processing_lag_days)}"
        rel = rel.project(f"* REPLACE (coalesce(CAST(NCH_WKLY_PROC_DT AS DATE), {fallback}) AS NCH_WKLY_PROC_DT)"
                          if "NCH_WKLY_PROC_DT" in columns else f"*, {fallback} AS NCH_WKLY_PROC_DT")
    rel.create_view(view, replace=True)
    return view

