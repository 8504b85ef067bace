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


def _sql_str(x: str) -> str:
    return "'" + x.replace("'", "''") + "'"


def event_case_sql(codes: pd.DataFrame, code_expr: str, date_expr: str, icd10_start: str) -> str:
    """A SQL CASE giving the event type a code denotes (NULL if none).

    ICD-10 patterns apply to claims dated on or after ``icd10_start``, ICD-9 before it.
    """
    whens = []
    for _, r in codes.iterrows():
        era = f"{date_expr} >= DATE {_sql_str(icd10_start)}" if r["code_system"] == "icd10" \
            else f"{date_expr} < DATE {_sql_str(icd10_start)}"
        whens.append(f"WHEN {era} AND regexp_matches({code_expr}, {_sql_str(r['pattern'])}) THEN {_sql_str(r['event'])}")
    return "CASE " + " ".join(whens) + " END"
