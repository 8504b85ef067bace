"""Validate the input files against the contract; collect every problem, then stop.

Small files (registry, CMS, reference) are checked with pandera schemas built from the
contract; claims and enrollment files, which are large, with the same rules in DuckDB SQL over
the Parquet files. Cross-file (referential) rules follow. Documented real-world mess is not an
error: it is counted in the report (see :data:`MESS_RULES`) and handled downstream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from mheval.contract.errors import InputError, InputValidationError
from mheval.contract.read import DUCK_TYPES, columns_of, input_files, read_input, register_input
from mheval.contract.ndi import DEFAULT_DEATH_DATE_TOLERANCE_DAYS, link_counts, link_ndi
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS, FILES, NPI_PATTERN, Col, FileSpec, npi_valid
from mheval.sql import BOUNDED_MEMORY, connect

if TYPE_CHECKING:
    import pandera.pandas as pa

PANDAS_GROUPS = ("registry", "cms", "reference", "ndi")
MESS_RULES = {
    "realigned_later": "beneficiary enrolled again later at another organization: the first "
                       "enrollment counts (intent to treat)",
    "implausible_clinical": "registry clinical value outside the plausible range: set to missing",
    "duplicate_claim_lines": "exact duplicate claim lines: one copy kept",
    "negative_payment_claims": "claims with a negative payment (CMS adjustments): accepted and summed as they "
                               "are (by input)",
    "processing_date_imputed": "claims without a processing date (NCH_WKLY_PROC_DT absent or empty): taken as "
                               "CLM_THRU_DT + claims.processing_lag_days (by input)",
    "esrd_from_esrd_ind_months": "MBSF beneficiary-months without MDCR_STATUS_CODE: ESRD from the yearly ESRD_IND",
    "dual_unknown_months": "MBSF beneficiary-months with unknown dual status (99, empty or absent): kept missing",
    "ndi_link": "National Death Index records against the MBSF death dates, by link class "
                "(mheval.contract.ndi): agree and within_tolerance (dates at most "
                "outcomes.death_date_tolerance_days apart) use the NDI cause with the MBSF date; date_mismatch "
                "and no_ndi_record are deaths of unknown cause; no_enrollment_death (dead in the NDI only) is not a "
                "death for the analysis",
}
NPI_RULE = "fails the NPI check digit (Luhn over 80840 + the NPI, CMS's NPI standard; config data.check_npi)"
PLAUSIBLE = {"total_cholesterol": (50, 600), "hdl": (5, 200), "ldl": (10, 500), "systolic_bp": (60, 300),
             "smoking": (0, 1), "diabetes": (0, 1), "statin": (0, 1), "antihypertensive": (0, 1),
             "aspirin": (0, 1)}
N_EXAMPLES = 5
CHUNK_ROWS = 1_000_000  # rows of a registry frame pandera checks at a time
# the columns of the registry, reference and CMS files the cross-file rules read (_cross_file): the
# rest of a file is dropped once its own rules are checked
CROSS_FILE_COLUMNS = {"organizations": ["ORG_ID"], "providers": ["ORG_ID"], "payments": ["ORG_ID"], "survey": ["ORG_ID"],
                      "alignment": ["BENE_ID", "ORG_ID", "ENROLL_DT"], "demographics": ["BENE_ID", "BIRTH_DT"],
                      "visits": ["BENE_ID", "VISIT_ID"], "clinical": ["VISIT_ID", "INDICATOR", "VALUE"]}


def _check_for(c: Col) -> list[pa.Check]:
    import pandera.pandas as pa  # here, not at the top: pandera takes half a second to import, and every
    # workflow job that reads an input (49 extraction jobs) imports this package, not only validation

    checks = []
    if c.allowed is not None:
        checks.append(pa.Check.isin(list(c.allowed), error="allowed values: " + ", ".join(map(str, c.allowed))))
    if c.pattern is not None:
        checks.append(pa.Check.str_matches(c.pattern, error=f"must match {c.pattern}"))
    if c.min is not None:
        checks.append(pa.Check.ge(c.min, error=f"must be >= {c.min}"))
    if c.max is not None:
        checks.append(pa.Check.le(c.max, error=f"must be <= {c.max}"))
    return checks


def pandera_schema(s: FileSpec) -> pa.DataFrameSchema:
    """A pandera schema enforcing file ``s``'s column rules (types are checked separately)."""
    import pandera.pandas as pa

    cols = {c.name: pa.Column(None, checks=_check_for(c), nullable=c.nullable, required=False)
            for c in s.columns}
    return pa.DataFrameSchema(cols, strict=False)


def _type_ok(series: pd.Series, typ: str) -> bool:
    kind = series.dtype.kind
    return {"string": kind in "OSU" or str(series.dtype) in ("string", "str"),
            "id": kind in "iuOSU" or str(series.dtype) in ("string", "str"),
            "date": kind == "M",
            "integer": kind in "iu" or (kind == "f" and bool((series.dropna() % 1 == 0).all())),
            "number": kind in "iuf",
            "boolean": kind == "b" or str(series.dtype) == "boolean"}[typ]


def _frame_problems(df: pd.DataFrame, s: FileSpec, where: str, check_npi: bool = True) -> list[InputError]:
    problems = []
    if len(df) == 0:
        return [InputError(where, None, 0, [], "is empty")]
    missing = [c.name for c in s.columns if c.required and c.name not in df.columns]
    for m in missing:
        problems.append(InputError(where, m, None, [], "is a required column and is missing"))
    for c in s.columns:
        if c.name in df.columns and not _type_ok(df[c.name], c.type):
            problems.append(InputError(where, c.name, len(df), df[c.name].head(3).tolist(),
                                       f"has type {df[c.name].dtype}, expected {c.type}"))
    if problems:
        return problems
    problems += _pandera_problems(df, s, where)
    if check_npi:
        for c in s.columns:
            if c.npi and c.name in df.columns:
                v = df[c.name].dropna().astype(str)
                bad = v[v.str.fullmatch(NPI_PATTERN) & ~v.map(npi_valid)]
                if len(bad):
                    problems.append(InputError(where, c.name, len(bad), sorted(bad.unique())[:N_EXAMPLES], NPI_RULE))
    key = list(s.key)
    dup = df.duplicated(key, keep=False)
    if dup.any() and s.name == "organizations" and "ARM" in df.columns:
        arms = df[dup].groupby("ORG_ID")["ARM"].nunique()
        both = arms[arms > 1].index
        if len(both):
            problems.append(InputError(where, "ARM", int(df["ORG_ID"].isin(both).sum()), both[:N_EXAMPLES].tolist(),
                                       "organizations are assigned to both arms (each must be in exactly one)"))
            dup &= ~df["ORG_ID"].isin(both)
    if dup.any():
        ex = df.loc[dup, key].drop_duplicates().head(N_EXAMPLES).astype(str).agg("/".join, axis=1).tolist()
        problems.append(InputError(where, "+".join(key), int(dup.sum()), ex, "duplicate key: rows share the same key"))
    return problems


def _pandera_problems(df: pd.DataFrame, s: FileSpec, where: str) -> list[InputError]:
    """File ``s``'s column rules (:func:`pandera_schema`) on ``df``, checked :data:`CHUNK_ROWS` rows
    at a time (pandera's working copies stay small at any size); the failures of every chunk are
    counted together, in row order, as if the frame had been checked at once."""
    import pandera.pandas as pa

    schema, failures = pandera_schema(s), []
    for start in range(0, len(df), CHUNK_ROWS):
        try:
            schema.validate(df.iloc[start:start + CHUNK_ROWS], lazy=True)
        except pa.errors.SchemaErrors as err:
            failures.append(err.failure_cases)
    if not failures:
        return []
    fc = pd.concat(failures, ignore_index=True)
    problems = []
    for (col, check), grp in fc.groupby(["column", "check"], dropna=False, sort=True):
        rule = "has missing values" if "not_nullable" in str(check) else f"fails the rule: {check}"
        problems.append(InputError(where, str(col), len(grp), grp["failure_case"].head(N_EXAMPLES).tolist(), rule))
    return problems


DUCK_EXPECTED = {"string": ("VARCHAR",), "id": ("VARCHAR", "BIGINT", "INTEGER", "HUGEINT", "UBIGINT"),
                 "date": ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"),
                 "integer": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"),
                 "number": ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL"), "boolean": ("BOOLEAN",)}


def _examples(con, src: str, col: str, cond: str, params: dict | None = None) -> list:
    """Up to N_EXAMPLES distinct values of ``col`` in the rows of view ``src`` meeting ``cond``
    (``params``: values of the parameters ``cond`` names; the others are left out)."""
    named = set(re.findall(r"\$(\w+)", cond))
    used = {k: v for k, v in (params or {}).items() if k in named}
    return [r[0] for r in con.execute(f'SELECT DISTINCT "{col}" FROM {src} WHERE {cond} LIMIT {N_EXAMPLES}',
                                      used or None).fetchall()]


def _type_problems(con, f: Path, raw: str, cols: tuple[Col, ...], types: dict[str, str]) -> list[InputError]:
    """Columns of one file not of the contract's type: the rows whose values do not convert, in words."""
    problems = []
    for c in cols:
        t = types[c.name]
        if any(t.startswith(e) for e in DUCK_EXPECTED[c.type]) or t.strip('"') == "NULL":
            continue  # of its type, or a Parquet column with no values at all (null type)
        q = f'"{c.name}"'
        if t == "VARCHAR" and c.type in DUCK_TYPES:
            cond = f"{q} IS NOT NULL AND TRY_CAST({q} AS {DUCK_TYPES[c.type]}) IS NULL"
            bad = con.execute(f"SELECT count(*) FROM {raw} WHERE {cond}").fetchall()[0][0]
            if bad:
                problems.append(InputError(str(f), c.name, int(bad), _examples(con, raw, c.name, cond),
                                           f"is not of type {c.type}" + ("" if f.suffix == ".csv" else " (stored as text)")))
            elif f.suffix != ".csv":  # every value would convert, but Parquet must store the type itself
                k = con.execute(f"SELECT count({q}) FROM {raw}").fetchall()[0][0]
                problems.append(InputError(str(f), c.name, int(k), _examples(con, raw, c.name, f"{q} IS NOT NULL"),
                                           f"is stored as text, expected {c.type}: write the column as {c.type}"))
        else:
            k = con.execute(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
            problems.append(InputError(str(f), c.name, int(k), _examples(con, raw, c.name, "TRUE"),
                                       f"has type {t}, expected {c.type}"))
    return problems


def _rule_conditions(cols: tuple[Col, ...], present: set[str]) -> tuple[list[tuple[str, str, str]], dict]:
    """(column, SQL condition of a failing row, rule in words) for the column rules of a file, and
    the query parameters the conditions name (allowed sets and patterns travel as values)."""
    conds, params = [], {}
    for i, c in enumerate(cols):
        q = f'"{c.name}"'
        if not c.nullable:
            conds.append((c.name, f"{q} IS NULL", "has missing values"))
        if c.allowed is not None:
            params[f"allowed_{i}"] = [str(a) for a in c.allowed]
            conds.append((c.name, f"{q} IS NOT NULL AND NOT list_contains($allowed_{i}, CAST({q} AS VARCHAR))",
                          "has values outside the allowed set: " + ", ".join(map(str, c.allowed))))
        if c.pattern is not None:
            params[f"pattern_{i}"] = c.pattern
            conds.append((c.name, f"{q} IS NOT NULL AND NOT regexp_full_match({q}, $pattern_{i})",
                          f"has malformed values (pattern {c.pattern})"))
        if c.min is not None:
            conds.append((c.name, f"{q} < {c.min}", f"has values below {c.min}"))
        if c.max is not None:
            conds.append((c.name, f"{q} > {c.max}", f"has values above {c.max}"))
    if {"CLM_FROM_DT", "CLM_THRU_DT"} <= present:
        conds.append(("CLM_THRU_DT", "CLM_THRU_DT < CLM_FROM_DT", "is before CLM_FROM_DT"))
    if {"NCH_WKLY_PROC_DT", "CLM_THRU_DT"} <= present:
        conds.append(("NCH_WKLY_PROC_DT", "NCH_WKLY_PROC_DT < CLM_THRU_DT", "is before CLM_THRU_DT"))
    return conds, params


def _npi_problems(con, src: str, cols: tuple[Col, ...]) -> list[InputError]:
    """NPIs of the right shape whose check digit is wrong (:func:`mheval.contract.spec.npi_valid`),
    by file (``src`` has a ``filename`` column)."""
    problems = []
    for c in cols:
        if not c.npi:
            continue
        q = f'"{c.name}"'
        vals = con.execute(f"SELECT filename, {q} AS v, count(*) AS k FROM {src} WHERE {q} IS NOT NULL AND "
                           f"regexp_full_match({q}, $npi) GROUP BY ALL ORDER BY 1, 2", {"npi": NPI_PATTERN}).df()
        bad = vals[~vals["v"].map(npi_valid).astype(bool)]  # astype: an empty result is still a row mask
        for fname, grp in bad.groupby("filename", sort=True):
            problems.append(InputError(str(fname), c.name, int(grp["k"].sum()), grp["v"].head(N_EXAMPLES).tolist(), NPI_RULE))
    return problems


def _count_sql(s: FileSpec, present: set[str]) -> dict[str, str]:
    """SQL aggregates counting the documented real-data handling in one file (:data:`MESS_RULES`)."""
    out = {}
    if "CLM_PMT_AMT" in present:
        out["negative_payment_claims"] = "count(*) FILTER (WHERE CLM_PMT_AMT < 0)"
    if "NCH_WKLY_PROC_DT" in {c.name for c in s.columns}:
        out["processing_date_imputed"] = ("count(*) FILTER (WHERE NCH_WKLY_PROC_DT IS NULL)"
                                          if "NCH_WKLY_PROC_DT" in present else "count(*)")
    if s.name == "mbsf":
        for key, prefix, unknown in (("esrd_from_esrd_ind_months", "MDCR_STATUS_CODE", ""),
                                     ("dual_unknown_months", "DUAL_STUS_CD", "99")):
            terms = []
            for m in range(1, 13):
                c = f"{prefix}_{m:02d}"
                terms.append(f"count(*) FILTER (WHERE {c} IS NULL OR trim({c}) IN ('', '{unknown}'))"
                             if c in present else "count(*)")
            out[key] = " + ".join(terms)
    return out


def _file_type_problems(con, f: Path, s: FileSpec) -> tuple[list[InputError], list[str]]:
    """Required columns and column types of one file: (problems, its column names)."""
    names = columns_of(f)  # raises a clear InputError on a truncated file
    missing = [c.name for c in s.columns if c.required and c.name not in names]
    if missing:
        return [InputError(str(f), m, None, [], "is a required column and is missing") for m in missing], names
    cols = tuple(c for c in s.columns_for(names) if c.name in names)
    raw = register_input(con, s.name, [f], raw=True)
    types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()}
    return _type_problems(con, f, raw, cols, types), names


def _rule_problems(con, files: list[Path], names: list[str], s: FileSpec, check_npi: bool
                   ) -> tuple[list[InputError], dict[str, int], dict[str, dict]]:
    """The column rules of files sharing the same columns, counted file by file in one query:
    (problems naming their file, rows by file, counted mess {count: {file: n}})."""
    cols = tuple(c for c in s.columns_for(names) if c.name in names)
    src = register_input(con, s.name, files, processing_lag_days=None, filename=True)
    conds, params = _rule_conditions(cols, set(names))
    counts = _count_sql(s, set(names))
    aggs = ["count(*)"] + [f"count(*) FILTER (WHERE {cond})" for _, cond, _ in conds] + list(counts.values())
    problems, rows, mess = [], {}, {}
    for fname, n, *got in con.execute(f"SELECT filename, {', '.join(aggs)} FROM {src} GROUP BY 1 ORDER BY 1",
                                      params or None).fetchall():
        rows[fname] = int(n)
        for (col, cond, rule), k in zip(conds, got[:len(conds)]):
            if k:
                where = f"filename = $fname AND {cond}"
                problems.append(InputError(fname, col, int(k), _examples(con, src, col, where, {**params, "fname": fname}),
                                           rule))
        for key, k in zip(counts, got[len(conds):]):
            mess.setdefault(key, {})[Path(fname).name] = int(k)
    if check_npi:
        problems += _npi_problems(con, src, cols)
    return problems, rows, mess


def _duck_problems(con: duckdb.DuckDBPyConnection, data_dir: Path, s: FileSpec, check_npi: bool = True
                   ) -> tuple[list[InputError], int, dict, int | None]:
    """The column rules for a large (yearly) input, each file checked on its own (so every message
    names the file holding the rows), then its key across files: (problems, rows, counted mess,
    distinct rows of a line file: see :func:`_key_problems`)."""
    files = input_files(data_dir, s.name)
    problems, by_columns = [], {}
    for f in files:
        found, names = _file_type_problems(con, f, s)
        problems += found
        by_columns.setdefault(tuple(names), []).append(f)
    if problems:
        return problems, 0, {}, None
    n, mess = 0, {}
    for names, group in by_columns.items():
        found, rows, counts = _rule_problems(con, group, list(names), s, check_npi)
        problems += found
        n += sum(rows.values())
        for key, by_file in counts.items():
            mess.setdefault(key, {}).update(by_file)
    if problems:
        return problems, n, mess, None
    if n == 0:
        where = str(files[0].parent / (Path(s.path).name.replace("{year}", "*") + files[0].suffix))
        return [InputError(where, None, 0, [], "is empty")], 0, mess, None
    found, distinct = _key_problems(con, files, s)
    return problems + found, n, mess, distinct


def _key_problems(con: duckdb.DuckDBPyConnection, files: list[Path], s: FileSpec) -> tuple[list[InputError], int]:
    """Keys of a large input shared by different rows, across its files: (problems by file, number of
    distinct keys). Exact duplicate lines of a line file (claim lines, revenue lines) are documented
    mess, not errors: on valid input its distinct keys are its distinct rows.

    One aggregate over the key columns finds the offending keys (for a line file, a key whose rows
    differ: their hashes over every column and the file name differ); only their rows are then
    read again to name files, rows and examples. The aggregate reads the key columns (a line file:
    every column, hashed), never holding whole rows, and spills to disk past DuckDB's memory
    limit. Two different rows with the same 64-bit hash under one key would pass: about 1 in 10^19
    per pair."""
    raw = register_input(con, s.name, files, raw=True, filename=True)
    key = ", ".join(f'"{k}"' for k in s.key)
    lines = s.name.endswith("_line") or s.name.endswith("_revenue")
    if lines:
        every = ", ".join(f'"{r[0]}"' for r in con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall())
        differ = f"min(hash({every})) <> max(hash({every}))"
    else:
        differ = "count(*) > 1"
    n_keys, bad = con.execute(f"""SELECT count(*), list(struct_pack({key})) FILTER (WHERE bad) FROM (
        SELECT {key}, {differ} AS bad FROM {raw} GROUP BY {key})""").fetchall()[0]
    if not bad:
        return [], int(n_keys)
    con.register("_bad_keys", pd.DataFrame(bad))
    src = f"(SELECT * RENAME (filename AS _file) FROM {raw} SEMI JOIN _bad_keys USING ({key}))"
    # exact duplicate lines are documented mess; a key shared by different rows is an error
    inner = f"SELECT DISTINCT * FROM {src}" if lines else f"SELECT * FROM {src}"
    dup = con.execute(f"""SELECT _file, {key}, k FROM (SELECT *, count(*) OVER (PARTITION BY {key}) AS k
                          FROM ({inner})) WHERE k > 1""").df()
    con.unregister("_bad_keys")
    problems = []
    for fname, grp in dup.groupby("_file", sort=True):
        ex = grp[list(s.key)].drop_duplicates().head(N_EXAMPLES).astype(str).agg("/".join, axis=1).tolist()
        problems.append(InputError(str(fname), "+".join(s.key), len(grp), ex,
                                   "duplicate key: different rows share the same key"))
    return problems, int(n_keys)


def _ref(problems, where, col, values: pd.Series, known: pd.Series | set, what: str):
    known_set = set(known)
    bad = ~values.isin(known_set)
    if bad.any():
        problems.append(InputError(where, col, int(bad.sum()), values[bad].drop_duplicates().head(N_EXAMPLES).tolist(),
                                   f"refers to {what} not found"))


def validate_inputs(data_dir: str | Path, *, optional: tuple[str, ...] = (),
                    plausible: dict | None = None, check_npi: bool = True,
                    processing_lag_days: int = DEFAULT_PROCESSING_LAG_DAYS,
                    provenance: Mapping | None = None, unavailable: tuple[str, ...] = (),
                    death_date_tolerance_days: int = DEFAULT_DEATH_DATE_TOLERANCE_DAYS, threads: int = 1) -> dict:
    """Check every input file under ``data_dir`` against the contract.

    Returns a report (dict: per-file row counts, the counted mess and ``warnings`` in words) when
    the inputs pass; raises :class:`InputValidationError` listing every problem (file, column,
    rows, examples) otherwise. Each yearly file is checked on its own, so a problem names the file
    holding the rows. Files whose spec is not required, or named in ``optional``, may be absent.
    ``plausible`` maps clinical indicators to (low, high) ranges (default :data:`PLAUSIBLE`);
    values outside are documented mess, counted, not errors. ``check_npi`` (config
    ``data.check_npi``): verify NPI check digits. ``processing_lag_days`` (config
    ``claims.processing_lag_days``): the lag used for claims without a processing date, for the
    warning. ``provenance``: original names of staged files and columns, used in the messages
    (see :meth:`InputError.with_provenance`). Optional inputs
    (:data:`mheval.contract.availability.OPTIONAL_INPUTS`) named in ``unavailable``, or whose
    files have no rows, are unavailable: not checked, and listed in the report's "unavailable";
    an empty required file is an error. ``death_date_tolerance_days`` (config
    ``outcomes.death_date_tolerance_days``): the National Death Index link rule
    (:func:`mheval.contract.ndi.link_ndi`), whose classes are counted under ``mess["ndi_link"]``.
    ``threads``: DuckDB threads for the claim files' checks (counts, so the report does not depend on
    them; the workflow runs this step alone, before any other can start, so it may use every core).
    """
    from mheval.contract.availability import OPTIONAL_INPUTS, files_are_empty

    data_dir = Path(data_dir)
    problems: list[InputError] = []
    frames: dict[str, pd.DataFrame] = {}
    rows: dict[str, int] = {}
    file_mess: dict[str, dict] = {}
    distinct: dict[str, int | None] = {}  # distinct rows of the line files (exact duplicates are mess)
    skipped: dict[str, str] = {}
    con = connect(BOUNDED_MEMORY, threads=threads)
    for s in FILES:
        if s.name in unavailable:
            skipped[s.name] = "unavailable"
            continue
        files = input_files(data_dir, s.name)
        if files and s.name in OPTIONAL_INPUTS and files_are_empty(files):
            skipped[s.name] = "empty file (no rows)"
            continue
        if not files:
            if s.required and s.name not in optional:
                problems.append(InputError(str(data_dir / (s.path.replace("{year}", "YYYY") + ".parquet")),
                                           None, None, [], "is missing (required input)"))
            continue
        try:
            if s.group in PANDAS_GROUPS:
                df = read_input(data_dir, s.name, categories=tuple(c.name for c in s.columns
                                                                   if c.type == "string" and c.allowed is not None))
                found = _frame_problems(df, s, str(files[0]), check_npi)
                keep = [c for c in CROSS_FILE_COLUMNS.get(s.name, df.columns) if c in df.columns]
                frames[s.name] = df[keep] if len(keep) < df.shape[1] else df
                rows[s.name] = len(df)
                del df
            else:
                found, rows[s.name], file_mess[s.name], distinct[s.name] = _duck_problems(con, data_dir, s, check_npi)
        except InputError as err:
            found = [err]
        except duckdb.Error as err:  # not expected after the checks above; still one clear line
            found = [InputError(str(files[0]), None, None, [], f"cannot be read ({type(err).__name__}: "
                                f"{str(err).splitlines()[0]})")]
        problems += found
    if not problems:
        mess = _cross_file(con, data_dir, frames, problems, plausible or PLAUSIBLE, set(unavailable) | set(skipped),
                           death_date_tolerance_days)
        mess["duplicate_claim_lines"] = {name: rows[name] - distinct[name] for name in ("outpatient_revenue", "carrier_line")
                                         if distinct.get(name) is not None}
    if problems:
        raise InputValidationError([p.with_provenance(provenance) for p in problems])
    mess.update(_totals(file_mess))
    return {"data_dir": str(data_dir), "rows": rows, "mess": mess, "mess_rules": MESS_RULES,
            "by_file": file_mess, "warnings": _warnings(mess, processing_lag_days, death_date_tolerance_days),
            "unavailable": skipped}


def _totals(file_mess: dict[str, dict]) -> dict:
    """Per-input totals of the per-file counts: {count name: {input: total}}."""
    out: dict[str, dict] = {}
    for name, counts in file_mess.items():
        for key, by_file in counts.items():
            out.setdefault(key, {})[name] = int(sum(by_file.values()))
    return out


def _warnings(mess: dict, lag: int, tolerance: int = DEFAULT_DEATH_DATE_TOLERANCE_DAYS) -> list[str]:
    """Sentences for the QC report about documented real-data handling that applied."""
    out = []
    for name, k in mess.get("processing_date_imputed", {}).items():
        if k:
            out.append(f"{name}: {k:,} claims have no processing date (NCH_WKLY_PROC_DT); each is taken as "
                       f"processed {lag} days after its through date (claims.processing_lag_days)")
    for name, k in mess.get("negative_payment_claims", {}).items():
        if k:
            out.append(f"{name}: {k:,} claims have a negative payment (CMS adjustments); summed as they are")
    k = mess.get("esrd_from_esrd_ind_months", {}).get("mbsf", 0)
    if k:
        out.append(f"mbsf: {k:,} beneficiary-months have no Medicare status code (MDCR_STATUS_CODE); ESRD is "
                   f"taken from the yearly ESRD_IND for them")
    k = mess.get("dual_unknown_months", {}).get("mbsf", 0)
    if k:
        out.append(f"mbsf: {k:,} beneficiary-months have an unknown dual status (DUAL_STUS_CD 99, empty or "
                   f"absent); it stays unknown (missing), never 'not dual'")
    link_words = {
        "within_tolerance": f"deaths have an NDI date 1 to {tolerance} days from the MBSF date; the MBSF date is "
                            f"used with the NDI cause",
        "date_mismatch": f"deaths have an NDI date more than {tolerance} days from the MBSF date "
                         f"(outcomes.death_date_tolerance_days); their cause is not used (unknown cause)",
        "no_enrollment_death": "NDI deaths have no death date in the MBSF; not deaths for the analysis, their cause "
                               "is not used",
        "no_ndi_record": "MBSF deaths have no NDI record; deaths of unknown cause (never coronary or "
                         "cerebrovascular deaths)"}
    for key, words in link_words.items():
        k = mess.get("ndi_link", {}).get(key, 0)
        if k:
            out.append(f"ndi: {k:,} {words}")
    return out


def _cross_file(con, data_dir: Path, f: dict[str, pd.DataFrame], problems: list[InputError],
                plausible: dict, unavailable: set = frozenset(),
                death_date_tolerance_days: int = DEFAULT_DEATH_DATE_TOLERANCE_DAYS) -> dict:
    """Referential integrity and cross-file rules; returns the counts of documented mess."""
    path = lambda name: str(input_files(data_dir, name)[0])
    orgs, align, demo = f["organizations"], f["alignment"], f["demographics"]

    _ref(problems, path("alignment"), "ORG_ID", align["ORG_ID"], orgs["ORG_ID"], "organizations")
    _ref(problems, path("alignment"), "BENE_ID", align["BENE_ID"], demo["BENE_ID"], "beneficiaries in demographics")
    _ref(problems, path("providers"), "ORG_ID", f["providers"]["ORG_ID"], orgs["ORG_ID"], "organizations")
    if "payments" in f:
        _ref(problems, path("payments"), "ORG_ID", f["payments"]["ORG_ID"], orgs["ORG_ID"], "organizations")
    _ref(problems, path("visits"), "BENE_ID", f["visits"]["BENE_ID"], demo["BENE_ID"], "beneficiaries in demographics")
    _ref(problems, path("clinical"), "VISIT_ID", f["clinical"]["VISIT_ID"], f["visits"]["VISIT_ID"], "visits")
    if "survey" in f:
        _ref(problems, path("survey"), "ORG_ID", f["survey"]["ORG_ID"], orgs["ORG_ID"], "organizations")
    # a beneficiary enrolled at two organizations on the same first date: assignment is ambiguous
    first_dt = align.groupby("BENE_ID")["ENROLL_DT"].transform("min")
    at_first = align.loc[align["ENROLL_DT"] == first_dt]
    n_orgs = at_first.groupby("BENE_ID")["ORG_ID"].nunique()
    clash = n_orgs[n_orgs > 1]
    if len(clash):
        problems.append(InputError(path("alignment"), "ORG_ID", len(clash), clash.index[:N_EXAMPLES].tolist(),
                                   "beneficiaries enrolled at two organizations on the same enrollment date"))
    realigned = int(align["BENE_ID"].duplicated().sum())
    # plausible dates: born before the registry enrollment
    enroll = align.groupby("BENE_ID", as_index=False)["ENROLL_DT"].min()
    born = demo[["BENE_ID", "BIRTH_DT"]].merge(enroll, on="BENE_ID")
    late = born[born["BIRTH_DT"] >= born["ENROLL_DT"]]
    if len(late):
        problems.append(InputError(path("demographics"), "BIRTH_DT", len(late), _date_examples(late, "BIRTH_DT", "ENROLL_DT"),
                                   "birth date on or after the registry enrollment date (ENROLL_DT in alignment)"))
    # every aligned beneficiary has Medicare enrollment; nobody died before enrolling or was born after
    mbsf_files = input_files(data_dir, "mbsf")
    con.register("align_df", enroll)
    con.register("demo_df", demo[["BENE_ID", "BIRTH_DT"]])
    no_mbsf = con.execute(f"""SELECT DISTINCT a.BENE_ID FROM align_df a
                         ANTI JOIN (SELECT DISTINCT BENE_ID FROM {register_input(con, 'mbsf', mbsf_files)}) m USING (BENE_ID)""").df()
    if len(no_mbsf):
        problems.append(InputError(path("alignment"), "BENE_ID", len(no_mbsf), no_mbsf["BENE_ID"].head(N_EXAMPLES).tolist(),
                                   "beneficiaries have no Medicare enrollment (MBSF) record"))
    m = register_input(con, "mbsf", mbsf_files, view="mbsf_by_file", filename=True)
    for sql, col, rule in (
            (f"""SELECT m.filename, m.BENE_ID, m.BENE_DEATH_DT, a.ENROLL_DT FROM {m} m JOIN align_df a USING (BENE_ID)
                 WHERE m.BENE_DEATH_DT < a.ENROLL_DT""", "BENE_DEATH_DT", "death date before the registry enrollment date"),
            (f"""SELECT m.filename, m.BENE_ID, m.BENE_BIRTH_DT, a.ENROLL_DT FROM {m} m JOIN align_df a USING (BENE_ID)
                 WHERE m.BENE_BIRTH_DT >= a.ENROLL_DT""", "BENE_BIRTH_DT",
             "birth date on or after the registry enrollment date (ENROLL_DT in alignment)"),
            (f"""SELECT filename, BENE_ID, BENE_DEATH_DT, BENE_BIRTH_DT FROM {m} WHERE BENE_DEATH_DT < BENE_BIRTH_DT""",
             "BENE_DEATH_DT", "death date before the birth date (BENE_BIRTH_DT)")):
        bad = con.execute(sql + " ORDER BY 1, 2").df()
        for fname, grp in bad.groupby("filename", sort=True):
            problems.append(InputError(str(fname), col, len(grp), _date_examples(grp, grp.columns[2], grp.columns[3]), rule))
    # claims must reference known beneficiaries, born before the service; lines must reference their claims
    for name, dt in (("inpatient", "CLM_FROM_DT"), ("outpatient", "CLM_FROM_DT"), ("carrier", "CLM_FROM_DT"),
                     ("snf", "CLM_FROM_DT"), ("hha", "CLM_FROM_DT"), ("hospice", "CLM_FROM_DT"), ("pde", "SRVC_DT")):
        if not input_files(data_dir, name) or name in unavailable:
            continue
        src = register_input(con, name, input_files(data_dir, name), processing_lag_days=None, filename=True)
        unknown = con.execute(f"""SELECT filename, BENE_ID, count(*) AS k FROM {src}
                              ANTI JOIN demo_df USING (BENE_ID) GROUP BY ALL ORDER BY 1, 2""").df()
        for fname, grp in unknown.groupby("filename", sort=True):
            problems.append(InputError(str(fname), "BENE_ID", int(grp["k"].sum()), grp["BENE_ID"].head(N_EXAMPLES).tolist(),
                                       "claims refer to beneficiaries not in the registry"))
        early = con.execute(f"""SELECT c.filename, c.BENE_ID, CAST(c.{dt} AS DATE) AS {dt}, d.BIRTH_DT FROM {src} c
                            JOIN demo_df d USING (BENE_ID) WHERE CAST(c.{dt} AS DATE) < d.BIRTH_DT
                            ORDER BY 1, 2, 3""").df()
        for fname, grp in early.groupby("filename", sort=True):
            problems.append(InputError(str(fname), dt, len(grp), _date_examples(grp, dt, "BIRTH_DT"),
                                       "service date before the beneficiary's birth date (BIRTH_DT in demographics)"))
    for lines, parent in (("outpatient_revenue", "outpatient"), ("carrier_line", "carrier")):
        if not input_files(data_dir, lines) or not input_files(data_dir, parent) or unavailable & {lines, parent}:
            continue
        orphans = con.execute(f"""SELECT filename, CLM_ID, count(*) AS k
                              FROM {register_input(con, lines, input_files(data_dir, lines), filename=True)}
                              ANTI JOIN (SELECT CLM_ID FROM {register_input(con, parent, data_dir=data_dir,
                                                                            processing_lag_days=None)})
                              USING (CLM_ID) GROUP BY ALL ORDER BY 1, 2""").df()
        for fname, grp in orphans.groupby("filename", sort=True):
            problems.append(InputError(str(fname), "CLM_ID", int(grp["k"].sum()), grp["CLM_ID"].head(N_EXAMPLES).tolist(),
                                       f"lines refer to claims not in {parent}"))
    clin = f["clinical"]
    implausible = 0
    for ind, (lo, hi) in plausible.items():
        v = clin.loc[clin["INDICATOR"] == ind, "VALUE"]
        implausible += int(((v < lo) | (v > hi)).sum())
    out = {"realigned_later": realigned, "implausible_clinical": implausible}
    if "ndi" in f:
        ndi = f["ndi"]
        _ref(problems, path("ndi"), "BENE_ID", ndi["BENE_ID"], demo["BENE_ID"], "beneficiaries in demographics")
        early = ndi[["BENE_ID", "NDI_DEATH_DT"]].merge(demo[["BENE_ID", "BIRTH_DT"]], on="BENE_ID")
        early = early[early["NDI_DEATH_DT"] < early["BIRTH_DT"]]
        if len(early):
            problems.append(InputError(path("ndi"), "NDI_DEATH_DT", len(early),
                                       _date_examples(early, "NDI_DEATH_DT", "BIRTH_DT"),
                                       "death date before the beneficiary's birth date (BIRTH_DT in demographics)"))
        deaths = con.execute(f"SELECT BENE_ID, max(BENE_DEATH_DT) AS DEATH_DT FROM {m} GROUP BY BENE_ID").df()
        out["ndi_link"] = link_counts(link_ndi(ndi, deaths, death_date_tolerance_days))
    return out


def _date_examples(df: pd.DataFrame, date_col: str, other_col: str) -> list[str]:
    """Examples as 'BENE_ID: COLUMN date vs OTHER date'."""
    d = lambda v: str(pd.Timestamp(v).date()) if pd.notna(v) else "missing"
    return [f"{r.BENE_ID}: {date_col} {d(getattr(r, date_col))}, {other_col} {d(getattr(r, other_col))}"
            for r in df.head(N_EXAMPLES).itertuples()]


def write_report(report: dict, path: str | Path) -> None:
    """Write the validation report as JSON (counts only: no identifiers)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
