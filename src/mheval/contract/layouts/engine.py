"""Shared machinery of the layout adapters: read original files as text with DuckDB, check and
parse their values (every problem names the original file and column), write contract files.

Original files are read with every column as text (``all_varchar``), so identifiers, NDCs,
ICD codes and NPIs keep their leading zeros; values are then parsed into the contract's types,
and any non-empty value that does not parse is an error, never a silent missing value.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from mheval.contract.errors import InputError, InputValidationError
from mheval.contract.layouts.provenance import Provenance
from mheval.contract.read import input_files
from mheval.contract.spec import FILES, spec

N_EXAMPLES = 5
FILE_COL = "filename"  # DuckDB's column holding each row's source file
# date formats CMS writes: YYYYMMDD (CCW flat files, DE-SynPUF), ISO, SAS DATE9 (01JAN2017), and
# Parquet timestamps read as text
CMS_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%d%b%Y", "%Y-%m-%d %H:%M:%S")
CONTRACT_FORM_GROUPS = ("registry", "reference", "cms", "ndi")
KIND_WORDS = {"date": "is not a date", "number": "is not a number", "integer": "is not a whole number"}




def raw_view(con: duckdb.DuckDBPyConnection, files: list[Path], view: str) -> set[str]:
    """Register ``view``: the rows of ``files`` (all CSV or all Parquet) with every column as text
    and the source file in column ``filename``. Returns the upper-case column names."""
    lst = "[" + ", ".join(f"'{_quote(f)}'" for f in files) + "]"
    if str(files[0]).lower().endswith(".parquet"):
        src = f"read_parquet({lst}, union_by_name = true, filename = true)"
    else:
        src = f"read_csv({lst}, header = true, all_varchar = true, union_by_name = true, filename = true)"
    cols = [d[0] for d in con.execute(f"SELECT * FROM {src} LIMIT 0").description if d[0] != FILE_COL]
    sel = ", ".join([f'CAST("{c}" AS VARCHAR) AS "{c.upper()}"' for c in cols] + [FILE_COL])
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {sel} FROM {src}")
    return {c.upper() for c in cols}


def header(path: str | Path) -> set[str]:
    """The upper-case column names of one CSV or Parquet file (without reading its rows)."""
    if str(path).lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        return {c.upper() for c in pq.read_schema(path).names}
    with open(path, newline="") as fh:
        return {c.strip().upper() for c in next(csv.reader(fh), [])}


def text(col: str) -> str:
    """SQL: the trimmed text of raw column ``col``; empty is missing."""
    return f"NULLIF(trim(\"{col}\"), '')"


def parse(col: str, kind: str, date_formats: Iterable[str] = CMS_DATE_FORMATS) -> str:
    """SQL parsing raw text column ``col`` as ``kind`` (text, date, number, integer); a value
    that does not parse gives NULL (see :func:`check_values`)."""
    t = text(col)
    if kind == "date":
        tries = ", ".join(f"try_strptime({t}, '{f}')" for f in date_formats)
        return f"CAST(coalesce({tries}) AS DATE)" if len(list(date_formats)) > 1 else f"CAST({tries} AS DATE)"
    if kind == "number":
        return f"TRY_CAST({t} AS DOUBLE)"
    if kind == "integer":
        return f"TRY_CAST(TRY_CAST({t} AS DOUBLE) AS BIGINT)"
    return t


def check_values(con: duckdb.DuckDBPyConnection, view: str, checks: list[tuple[str, str]],
                 date_formats: Iterable[str] = CMS_DATE_FORMATS, layout: str = "") -> list[InputError]:
    """Problems with raw columns of ``view`` that must parse as a kind: one InputError per
    original file and column, with the number of rows and examples. ``checks`` lists
    (column, kind); columns absent from the view are skipped (the caller checks presence)."""
    present = set(con.execute(f"SELECT * FROM {view} LIMIT 0").df().columns)
    checks = [(c, k) for c, k in checks if c in present and k in KIND_WORDS]
    if not checks:
        return []
    date_formats = tuple(date_formats)
    bad = [f"({text(c)} IS NOT NULL AND {parse(c, k, date_formats)} IS NULL)" for c, k in checks]
    sums = ", ".join(f"count(*) FILTER (WHERE {b})" for b in bad)
    rows = con.execute(f"SELECT {FILE_COL}, {sums} FROM {view} GROUP BY {FILE_COL} ORDER BY {FILE_COL}").fetchall()
    problems = []
    for row in rows:
        for (c, k), cond, n in zip(checks, bad, row[1:]):
            if n:
                ex = [r[0] for r in con.execute(f'SELECT DISTINCT "{c}" FROM {view} WHERE {FILE_COL} = ? AND {cond} '
                                                f"LIMIT {N_EXAMPLES}", [row[0]]).fetchall()]
                what = KIND_WORDS[k] + (f" in the form {' or '.join(_fmt_words(date_formats))}" if k == "date" else "")
                problems.append(InputError(row[0], c, int(n), ex, what + (f" ({layout} layout)" if layout else "")))
    return problems


def _fmt_words(formats: Iterable[str]) -> list[str]:
    return [f.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD").replace("%b", "MON") for f in formats]


def require(present: set[str], needed: Iterable[str], file: str | Path, layout: str) -> list[InputError]:
    """A problem for every column of ``needed`` missing from ``present``."""
    return [InputError(str(file), c, None, [], f"is a required column of the {layout} layout and is missing")
            for c in needed if c not in present]


def write_yearly(con: duckdb.DuckDBPyConnection, table: str, name: str, year_col: str, staged_dir: Path,
                 prov: Provenance, exclude: tuple[str, ...] = ()) -> dict[int, int]:
    """Write temp table ``table`` (contract columns plus ``filename``) as the contract's yearly
    files of input ``name``, one per calendar year of ``year_col``; record their originals.
    Columns in ``exclude`` (helpers) are not written. Returns {year: rows}."""
    pattern = spec(name).path
    years = con.execute(f"SELECT year({year_col}) AS y, list(DISTINCT {FILE_COL} ORDER BY {FILE_COL}), count(*) "
                        f"FROM {table} WHERE {year_col} IS NOT NULL GROUP BY y ORDER BY y").fetchall()
    n_undated = con.execute(f"SELECT count(*) FROM {table} WHERE {year_col} IS NULL").fetchall()[0][0]
    if n_undated:
        ex = [r[0] for r in con.execute(f"SELECT DISTINCT {FILE_COL} FROM {table} WHERE {year_col} IS NULL "
                                        f"LIMIT {N_EXAMPLES}").fetchall()]
        raise InputError(", ".join(ex), year_col, int(n_undated), [], "is missing, so the rows cannot be filed by year")
    out = {}
    for y, originals, n in years:
        rel = pattern.replace("{year}", str(y)) + ".parquet"
        path = Path(staged_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT * EXCLUDE ({', '.join((FILE_COL, *exclude))}) FROM {table} WHERE year({year_col}) = ?) "
                    f"TO '{_quote(path)}' (FORMAT parquet, COMPRESSION zstd)", [y])
        prov.add_file(rel, originals)
        out[int(y)] = int(n)
    return out


def _quote(path: str | Path) -> str:
    return str(path).replace("'", "''")


def contract_form_files(data_dir: str | Path) -> dict[str, list[Path]]:
    """The registry, reference, CMS and National Death Index files under ``data_dir``, which keep the
    contract's form in every layout: {input name: files}."""
    return {s.name: input_files(data_dir, s.name) for s in FILES if s.group in CONTRACT_FORM_GROUPS}


def copy_contract_form(data_dir: str | Path, staged_dir: str | Path, prov: Provenance) -> None:
    """Copy the registry, reference, CMS and NDI files (contract form) into ``staged_dir`` unchanged."""
    for name, files in contract_form_files(data_dir).items():
        for f in files:
            rel = Path(f).relative_to(data_dir).as_posix()
            dest = Path(staged_dir) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            prov.add_file(rel, [str(f)])


def run_jobs(jobs: Iterable[Callable[[], list[InputError]]], problems: list[InputError], data_dir: str | Path,
             staged_dir: str | Path, prov: Provenance) -> Provenance:
    """Run an adapter's staging jobs and collect every problem; stop with all of them at once, or
    copy the contract-form files, save the provenance record and return it."""
    for job in jobs:
        try:
            problems += job()
        except InputError as err:
            problems.append(err)
    if problems:
        raise InputValidationError(problems)
    copy_contract_form(data_dir, staged_dir, prov)
    prov.save()
    return prov


def clear_staged(staged_dir: str | Path) -> None:
    """Empty the staged directory's contract subdirectories (the adapter's own output only)."""
    for sub in ("registry", "medicare", "claims", "reference", "cms", "ndi"):
        shutil.rmtree(Path(staged_dir) / sub, ignore_errors=True)
