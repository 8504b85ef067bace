"""Code lists (config/codes/*.csv) and the SQL that applies them to claims."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

REQUIRED = ("event", "code_system", "pattern", "source")


def load_event_codes(path: str | Path) -> pd.DataFrame:
    """Read an event code list: columns event, code_system (icd9/icd10), pattern (regex), source.

    Raises ValueError naming the file and the bad rows if a column is missing, a code system is
    unknown or a pattern is not a valid regular expression.
    """
    codes = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in codes.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    bad = codes[~codes["code_system"].isin(["icd9", "icd10"])]
    if len(bad):
        raise ValueError(f"{path}: {len(bad)} row(s) with code_system not icd9/icd10, e.g. {bad['code_system'].head(3).tolist()}")
    for p in codes["pattern"]:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"{path}: invalid pattern {p!r}: {exc}") from None
    return codes


DIAGNOSIS_COLUMN = re.compile(r"^(PRNCPAL_DGNS_CD|ICD_DGNS_CD[1-9][0-9]?)$")


def claim_event_sql(codes: pd.DataFrame, dx_columns: list[str], icd10_start: str,
                    date_expr: str = "CLM_FROM_DT", prefix: str = "event") -> tuple[str, dict]:
    """SQL for the event (mi, stroke, tia or NULL) a claim carries, and the values it takes as parameters.

    The first of ``dx_columns`` (in order, principal first) whose code matches a pattern of the
    code list ``codes`` decides; within a column, the first matching pattern in the list's order.
    ICD-10 patterns apply to claims dated (``date_expr``) on or after ``icd10_start``, ICD-9
    patterns before it. Patterns, event names and the date reach DuckDB as named parameters
    (``$icd10_start``, ``$<prefix>_<era>_any``, ``$<prefix>_<era>_pattern_<i>``,
    ``$<prefix>_<era>_event_<i>``; ``prefix`` (default "event") lets two code lists apply in one
    query), never as SQL text; the diagnosis columns are identifiers and must be contract diagnosis
    columns (PRNCPAL_DGNS_CD, ICD_DGNS_CD<n>), else ValueError. Returns (sql, params).

    For speed, each era's patterns are evaluated as few regular expressions as keep that order:
    one alternation ``$<prefix>_<era>_any`` of all of them first (most diagnosis codes match none,
    and then nothing else is evaluated), then one alternation per run of consecutive patterns of
    one event (the list's order decides between events exactly as pattern by pattern would).
    """
    bad = [c for c in dx_columns if not DIAGNOSIS_COLUMN.match(c)]
    if bad or not dx_columns:
        raise ValueError(f"not diagnosis columns of the contract: {bad or dx_columns}")
    if not re.fullmatch(r"[a-z_]+", prefix):
        raise ValueError(f"parameter prefix must be lowercase letters and underscores, not {prefix!r}")
    if codes.empty:
        return "CAST(NULL AS VARCHAR)", {}
    params, eras = _era_patterns(codes, prefix)
    params["icd10_start"] = str(icd10_start)

    def case(col: str) -> str:
        return (f"CASE WHEN {date_expr} >= CAST($icd10_start AS DATE) THEN {_era_case(col, 'icd10', eras, prefix)} "
                f"ELSE {_era_case(col, 'icd9', eras, prefix)} END")

    cases = [case(c) for c in dx_columns]
    return ("coalesce(" + ", ".join(cases) + ")") if len(cases) > 1 else cases[0], params


def _era_patterns(codes: pd.DataFrame, prefix: str) -> tuple[dict, dict]:
    """The parameters of :func:`claim_event_sql`'s regular expressions (one alternation of every pattern
    of an era, then one per run of consecutive patterns of one event) and the number of runs per era."""
    params: dict = {}
    eras = {}
    for era in ("icd10", "icd9"):
        rows = codes[codes["code_system"] == era]
        if rows.empty:
            continue
        runs: list[tuple[str, list[str]]] = []  # consecutive patterns of one event, in list order
        for event, pattern in zip(rows["event"], rows["pattern"]):
            if runs and runs[-1][0] == event:
                runs[-1][1].append(pattern)
            else:
                runs.append((event, [pattern]))
        params[f"{prefix}_{era}_any"] = "|".join(f"(?:{p})" for p in rows["pattern"])
        for i, (event, patterns) in enumerate(runs):
            params[f"{prefix}_{era}_pattern_{i}"] = "|".join(f"(?:{p})" for p in patterns)
            params[f"{prefix}_{era}_event_{i}"] = event
        eras[era] = len(runs)
    return params, eras


def _era_case(col: str, era: str, eras: dict, prefix: str) -> str:
    """SQL for the event the code in column ``col`` takes under ``era``'s patterns (NULL: none)."""
    if era not in eras:
        return "NULL"
    whens = " ".join(f'WHEN regexp_matches("{col}", ${prefix}_{era}_pattern_{i}) '
                     f"THEN CAST(${prefix}_{era}_event_{i} AS VARCHAR)" for i in range(eras[era]))
    return f'CASE WHEN regexp_matches("{col}", ${prefix}_{era}_any) THEN CASE {whens} END END'


def create_code_event_table(con, lists: dict[str, pd.DataFrame], source: str, dx_columns: list[str],
                            table: str = "dx_code_events") -> str:
    """The code-list rule of :func:`claim_event_sql` applied once per distinct code instead of once per claim.

    Creates (or replaces) the temporary table ``table`` on DuckDB connection ``con``: one row per
    distinct non-null code found in the columns ``dx_columns`` of the relation ``source`` (a view or
    table name), with for every code list of ``lists`` (key: a column prefix, lowercase letters and
    underscores) the event the code takes under each revision, ``<prefix>_icd10`` and ``<prefix>_icd9``
    (NULL: none), by the same first-matching-pattern rule and the same regular expressions as
    :func:`claim_event_sql`. A claim's event is then :func:`code_event_lookup_sql` over the table
    joined once per diagnosis column (a few thousand distinct codes against millions of positions).
    Patterns and event names are query parameters; ``source``, ``table`` and the columns are
    identifiers (checked). Returns ``table``.
    """
    bad = [c for c in dx_columns if not DIAGNOSIS_COLUMN.match(c)]
    if bad or not dx_columns:
        raise ValueError(f"not diagnosis columns of the contract: {bad or dx_columns}")
    for name in (source, table):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")
    for prefix in lists:
        if not re.fullmatch(r"[a-z_]+", prefix):
            raise ValueError(f"column prefix must be lowercase letters and underscores, not {prefix!r}")
    params: dict = {}
    selects = ["code"]
    for prefix, codes in lists.items():
        era_params, eras = _era_patterns(codes, prefix)
        params.update(era_params)
        selects += [f"CAST({_era_case('code', era, eras, prefix)} AS VARCHAR) AS {prefix}_{era}" for era in ("icd10", "icd9")]
    distinct = " UNION ".join(f'SELECT "{c}" AS code FROM {source}' for c in dx_columns)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                    SELECT {', '.join(selects)} FROM ({distinct}) WHERE code IS NOT NULL""", params)
    return table


def code_event_lookup_sql(prefix: str, aliases: list[str], icd10_start_param: str = "icd10_start",
                          date_expr: str = "CLM_FROM_DT") -> str:
    """SQL for a claim's event from :func:`create_code_event_table`'s table joined (LEFT JOIN ... ON
    alias.code = the diagnosis column) under ``aliases``, one per diagnosis column in order (principal
    first): the first column whose code carries an event decides, and the revision is decided by
    ``date_expr`` against ``$<icd10_start_param>`` exactly as in :func:`claim_event_sql`."""
    cases = [f"CASE WHEN {date_expr} >= CAST(${icd10_start_param} AS DATE) THEN {a}.{prefix}_icd10 "
             f"ELSE {a}.{prefix}_icd9 END" for a in aliases]
    return ("coalesce(" + ", ".join(cases) + ")") if len(cases) > 1 else cases[0]
