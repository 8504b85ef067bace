"""Validate the input files against the contract; collect every problem, then stop.

Small files (registry, CMS, reference) are checked with pandera schemas built from the
contract; claims and enrollment files, which are large, with the same rules in DuckDB SQL over
the Parquet files. Cross-file (referential) rules follow. Documented real-world mess is not an
error: it is counted in the report (see :data:`MESS_RULES`) and handled downstream.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa

from mheval.contract.errors import InputError, InputValidationError
from mheval.contract.read import columns_of, duckdb_source, input_files, read_input
from mheval.contract.spec import FILES, Col, FileSpec

PANDAS_GROUPS = ("registry", "cms", "reference")
MESS_RULES = {
    "realigned_later": "beneficiary enrolled again later at another organization: the first "
                       "enrollment counts (intent to treat)",
    "implausible_clinical": "registry clinical value outside the plausible range: set to missing",
    "duplicate_claim_lines": "exact duplicate claim lines: one copy kept",
}
PLAUSIBLE = {"total_cholesterol": (50, 600), "hdl": (5, 200), "ldl": (10, 500), "systolic_bp": (60, 300),
             "smoking": (0, 1), "diabetes": (0, 1), "statin": (0, 1), "antihypertensive": (0, 1),
             "aspirin": (0, 1)}
N_EXAMPLES = 5


def _check_for(c: Col) -> list[pa.Check]:
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


def _frame_problems(df: pd.DataFrame, s: FileSpec, where: str) -> list[InputError]:
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
    try:
        pandera_schema(s).validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for (col, check), grp in fc.groupby(["column", "check"], dropna=False, sort=True):
            rule = "has missing values" if "not_nullable" in str(check) else f"fails the rule: {check}"
            problems.append(InputError(where, str(col), len(grp), grp["failure_case"].head(N_EXAMPLES).tolist(), rule))
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


def _sql_str(x: str) -> str:
    return "'" + x.replace("'", "''") + "'"


def _duck_problems(con: duckdb.DuckDBPyConnection, data_dir: Path, s: FileSpec) -> list[InputError]:
    """The same column rules for a large (yearly) file, in DuckDB SQL."""
    files = input_files(data_dir, s.name)
    where = str(files[0].parent / (Path(s.path).name.replace("{year}", "*") + files[0].suffix))
    problems = []
    for f in files:
        cols = columns_of(f)  # raises a clear InputError on a truncated file
        missing = [c.name for c in s.columns if c.required and c.name not in cols]
        problems += [InputError(str(f), m, None, [], "is a required column and is missing") for m in missing]
    if problems:
        return problems
    src = duckdb_source(data_dir, s.name)
    described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
    types = {row[0]: str(row[1]) for row in described}
    present = set(types)
    n = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]
    if n == 0:
        return [InputError(where, None, 0, [], "is empty")]
    expected = {"string": ("VARCHAR",), "id": ("VARCHAR", "BIGINT", "INTEGER", "HUGEINT", "UBIGINT"),
                "date": ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"),
                "integer": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"),
                "number": ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL"), "boolean": ("BOOLEAN",)}
    conds = []
    for c in s.columns:
        if c.name not in present:
            continue
        t = types[c.name]
        if not any(t.startswith(e) for e in expected[c.type]):
            problems.append(InputError(where, c.name, n, [], f"has type {t}, expected {c.type}"))
            continue
        q = f'"{c.name}"'
        if not c.nullable:
            conds.append((c.name, f"{q} IS NULL", "has missing values"))
        if c.allowed is not None:
            conds.append((c.name, f"{q} IS NOT NULL AND {q} NOT IN ({', '.join(_sql_str(str(a)) for a in c.allowed)})",
                          "has values outside the allowed set: " + ", ".join(map(str, c.allowed))))
        if c.pattern is not None:
            conds.append((c.name, f"{q} IS NOT NULL AND NOT regexp_full_match({q}, {_sql_str(c.pattern)})",
                          f"has malformed values (pattern {c.pattern})"))
        if c.min is not None:
            conds.append((c.name, f"{q} < {c.min}", f"has values below {c.min}"))
        if c.max is not None:
            conds.append((c.name, f"{q} > {c.max}", f"has values above {c.max}"))
    if {"CLM_FROM_DT", "CLM_THRU_DT"} <= present:
        conds.append(("CLM_THRU_DT", "CLM_THRU_DT < CLM_FROM_DT", "is before CLM_FROM_DT"))
    if {"NCH_WKLY_PROC_DT", "CLM_THRU_DT"} <= present:
        conds.append(("NCH_WKLY_PROC_DT", "NCH_WKLY_PROC_DT < CLM_THRU_DT", "is before CLM_THRU_DT"))
    if conds:
        sums = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _ in conds)
        counts = con.execute(f"SELECT {sums} FROM {src}").fetchall()[0]
        for (col, cond, rule), k in zip(conds, counts):
            if k:
                ex = [r[0] for r in con.execute(f'SELECT DISTINCT "{col}" FROM {src} WHERE {cond} LIMIT {N_EXAMPLES}').fetchall()]
                problems.append(InputError(where, col, int(k), ex, rule))
    key = ", ".join(f'"{k}"' for k in s.key)
    if all(k in present for k in s.key):
        lines = s.name.endswith("_line") or s.name.endswith("_revenue")
        # exact duplicate lines are documented mess; a key shared by different rows is an error
        inner = f"SELECT DISTINCT * FROM {src}" if lines else f"SELECT * FROM {src}"
        dup = con.execute(f"SELECT {key}, count(*) AS k FROM ({inner}) GROUP BY ALL HAVING k > 1").df()
        if len(dup):
            ex = dup[list(s.key)].head(N_EXAMPLES).astype(str).agg("/".join, axis=1).tolist()
            problems.append(InputError(where, "+".join(s.key), int(dup["k"].sum()), ex,
                                       "duplicate key: different rows share the same key"))
    return problems


def _ref(problems, where, col, values: pd.Series, known: pd.Series | set, what: str):
    known_set = set(known)
    bad = ~values.isin(known_set)
    if bad.any():
        problems.append(InputError(where, col, int(bad.sum()), values[bad].drop_duplicates().head(N_EXAMPLES).tolist(),
                                   f"refers to {what} not found"))


def validate_inputs(data_dir: str | Path, *, optional: tuple[str, ...] = (),
                    plausible: dict | None = None) -> dict:
    """Check every input file under ``data_dir`` against the contract.

    Returns a report (dict: per-file row counts and the counted mess) when the inputs pass;
    raises :class:`InputValidationError` listing every problem (file, column, rows, examples)
    otherwise. Files whose spec is not required, or named in ``optional``, may be absent.
    ``plausible`` maps clinical indicators to (low, high) ranges (default :data:`PLAUSIBLE`);
    values outside are documented mess, counted, not errors.
    """
    data_dir = Path(data_dir)
    problems: list[InputError] = []
    frames: dict[str, pd.DataFrame] = {}
    rows: dict[str, int] = {}
    con = duckdb.connect()
    for s in FILES:
        files = input_files(data_dir, s.name)
        if not files:
            if s.required and s.name not in optional:
                problems.append(InputError(str(data_dir / (s.path.replace("{year}", "YYYY") + ".parquet")),
                                           None, None, [], "is missing (required input)"))
            continue
        try:
            if s.group in PANDAS_GROUPS:
                df = read_input(data_dir, s.name)
                found = _frame_problems(df, s, str(files[0]))
                frames[s.name] = df
                rows[s.name] = len(df)
            else:
                found = _duck_problems(con, data_dir, s)
                if not found:
                    rows[s.name] = con.execute(f"SELECT count(*) FROM {duckdb_source(data_dir, s.name)}").fetchall()[0][0]
        except InputError as err:
            found = [err]
        except duckdb.Error as err:
            found = [InputError(str(files[0]), None, None, [], f"cannot be read by DuckDB ({err})")]
        problems += found
    if problems:
        raise InputValidationError(problems)
    mess = _cross_file(con, data_dir, frames, problems, plausible or PLAUSIBLE)
    if problems:
        raise InputValidationError(problems)
    return {"data_dir": str(data_dir), "rows": rows, "mess": mess, "mess_rules": MESS_RULES}


def _cross_file(con, data_dir: Path, f: dict[str, pd.DataFrame], problems: list[InputError],
                plausible: dict) -> dict:
    """Referential integrity and cross-file rules; returns the counts of documented mess."""
    path = lambda name: str(input_files(data_dir, name)[0])
    orgs, align, demo = f["organizations"], f["alignment"], f["demographics"]

    _ref(problems, path("alignment"), "ORG_ID", align["ORG_ID"], orgs["ORG_ID"], "organizations")
    _ref(problems, path("alignment"), "BENE_ID", align["BENE_ID"], demo["BENE_ID"], "beneficiaries in demographics")
    _ref(problems, path("providers"), "ORG_ID", f["providers"]["ORG_ID"], orgs["ORG_ID"], "organizations")
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
    # every aligned beneficiary has Medicare enrollment; nobody died before enrolling
    mbsf = duckdb_source(data_dir, "mbsf")
    con.register("align_df", align[["BENE_ID", "ENROLL_DT"]])
    no_mbsf = con.execute(f"""SELECT DISTINCT a.BENE_ID FROM align_df a
                         ANTI JOIN (SELECT DISTINCT BENE_ID FROM {mbsf}) m USING (BENE_ID)""").df()
    if len(no_mbsf):
        problems.append(InputError(path("alignment"), "BENE_ID", len(no_mbsf), no_mbsf["BENE_ID"].head(N_EXAMPLES).tolist(),
                                   "beneficiaries have no Medicare enrollment (MBSF) record"))
    dead = con.execute(f"""SELECT a.BENE_ID, min(a.ENROLL_DT) AS enroll, max(m.BENE_DEATH_DT) AS death
                       FROM align_df a JOIN {mbsf} m USING (BENE_ID) GROUP BY a.BENE_ID
                       HAVING max(m.BENE_DEATH_DT) < min(a.ENROLL_DT)""").df()
    if len(dead):
        problems.append(InputError(input_files(data_dir, "mbsf")[0].parent.as_posix() + "/mbsf_*", "BENE_DEATH_DT",
                                   len(dead), dead["BENE_ID"].head(N_EXAMPLES).tolist(),
                                   "death date before the registry enrollment date"))
    # claims must reference known beneficiaries; lines must reference their claims
    con.register("demo_df", demo[["BENE_ID"]])
    for name in ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice", "pde"):
        if not input_files(data_dir, name):
            continue
        unknown = con.execute(f"""SELECT BENE_ID, count(*) AS k FROM {duckdb_source(data_dir, name)}
                              ANTI JOIN demo_df USING (BENE_ID) GROUP BY BENE_ID""").df()
        if len(unknown):
            problems.append(InputError(str(input_files(data_dir, name)[0].parent) + f"/{name}_*", "BENE_ID",
                                       int(unknown["k"].sum()), unknown["BENE_ID"].head(N_EXAMPLES).tolist(),
                                       "claims refer to beneficiaries not in the registry"))
    for lines, parent in (("outpatient_revenue", "outpatient"), ("carrier_line", "carrier")):
        if not input_files(data_dir, lines):
            continue
        orphans = con.execute(f"""SELECT CLM_ID, count(*) AS k FROM {duckdb_source(data_dir, lines)}
                              ANTI JOIN (SELECT CLM_ID FROM {duckdb_source(data_dir, parent)}) USING (CLM_ID)
                              GROUP BY CLM_ID""").df()
        if len(orphans):
            problems.append(InputError(str(input_files(data_dir, lines)[0].parent) + f"/{lines}_*", "CLM_ID",
                                       int(orphans["k"].sum()), orphans["CLM_ID"].head(N_EXAMPLES).tolist(),
                                       f"lines refer to claims not in {parent}"))
    dups = {}
    for lines in ("outpatient_revenue", "carrier_line"):
        if input_files(data_dir, lines):
            src = duckdb_source(data_dir, lines)
            dups[lines] = int(con.execute(f"SELECT (SELECT count(*) FROM {src}) - (SELECT count(*) FROM (SELECT DISTINCT * FROM {src}))").fetchall()[0][0])
    clin = f["clinical"]
    implausible = 0
    for ind, (lo, hi) in plausible.items():
        v = clin.loc[clin["INDICATOR"] == ind, "VALUE"]
        implausible += int(((v < lo) | (v > hi)).sum())
    return {"realigned_later": realigned, "implausible_clinical": implausible, "duplicate_claim_lines": dups}


def write_report(report: dict, path: str | Path) -> None:
    """Write the validation report as JSON (counts only: no identifiers)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
