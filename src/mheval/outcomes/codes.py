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
    code list ``codes`` decides. ICD-10 patterns apply to claims dated (``date_expr``) on or after
    ``icd10_start``, ICD-9 patterns before it. Patterns, event names and the date reach DuckDB as
    named parameters (``$event_pattern_<i>``, ``$event_name_<i>``, ``$icd10_start``; ``prefix``
    replaces ``event`` so that two code lists can apply in one query), never as SQL
    text; the diagnosis columns are identifiers and must be contract diagnosis columns
    (PRNCPAL_DGNS_CD, ICD_DGNS_CD<n>), else ValueError. Returns (sql, params).
    """
    bad = [c for c in dx_columns if not DIAGNOSIS_COLUMN.match(c)]
    if bad or not dx_columns:
        raise ValueError(f"not diagnosis columns of the contract: {bad or dx_columns}")
    if not re.fullmatch(r"[a-z_]+", prefix):
        raise ValueError(f"parameter prefix must be lowercase letters and underscores, not {prefix!r}")
    params = {"icd10_start": str(icd10_start)}
    for i, (_, r) in enumerate(codes.iterrows()):
        params[f"{prefix}_pattern_{i}"] = r["pattern"]
        params[f"{prefix}_name_{i}"] = r["event"]
    eras = [">=" if system == "icd10" else "<" for system in codes["code_system"]]

    def case(col: str) -> str:
        whens = [f'WHEN {date_expr} {op} CAST($icd10_start AS DATE) AND regexp_matches("{col}", ${prefix}_pattern_{i}) '
                 f"THEN CAST(${prefix}_name_{i} AS VARCHAR)" for i, op in enumerate(eras)]
        return "CASE " + " ".join(whens) + " END"

    if codes.empty:
        return "CAST(NULL AS VARCHAR)", {}
    cases = [case(c) for c in dx_columns]
    return ("coalesce(" + ", ".join(cases) + ")") if len(cases) > 1 else cases[0], params
