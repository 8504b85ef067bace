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
    params: dict = {"icd10_start": str(icd10_start)}
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

    def era_case(col: str, era: str) -> str:
        if era not in eras:
            return "NULL"
        whens = " ".join(f'WHEN regexp_matches("{col}", ${prefix}_{era}_pattern_{i}) '
                         f"THEN CAST(${prefix}_{era}_event_{i} AS VARCHAR)" for i in range(eras[era]))
        return f'CASE WHEN regexp_matches("{col}", ${prefix}_{era}_any) THEN CASE {whens} END END'

    def case(col: str) -> str:
        return (f"CASE WHEN {date_expr} >= CAST($icd10_start AS DATE) THEN {era_case(col, 'icd10')} "
                f"ELSE {era_case(col, 'icd9')} END")

    cases = [case(c) for c in dx_columns]
    return ("coalesce(" + ", ".join(cases) + ")") if len(cases) > 1 else cases[0], params
