"""Event claims (MI, stroke, TIA) found by DuckDB SQL over the claims Parquet files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from mheval.contract.read import input_files, present_columns, register_input
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS, diagnosis_positions
from mheval.outcomes.codes import claim_event_sql


def diagnosis_columns(files: list[Path], positions: str) -> list[str]:
    """Diagnosis columns to search in ``files``: the principal only, or every position present
    (ICD_DGNS_CD1..N, any N: real files carry 8, 10, 12 or 25)."""
    if positions == "principal":
        return ["PRNCPAL_DGNS_CD"]
    if positions != "any":
        raise ValueError(f"outcomes.event_positions must be 'any' or 'principal', not {positions!r}")
    present = present_columns(files)
    return [c for c in ["PRNCPAL_DGNS_CD"] if c in present] + diagnosis_positions(present)


def event_claims(con: duckdb.DuckDBPyConnection, data_dir: str | Path, codes: pd.DataFrame,
                 claim_types: list[str], positions: str, icd10_start: str,
                 runout_date: str | None = None, date_from: str | None = None,
                 processing_lag_days: int = DEFAULT_PROCESSING_LAG_DAYS) -> pd.DataFrame:
    """Every (beneficiary, claim) carrying an event code: BENE_ID, CLM_ID, CLAIM_TYPE, EVENT_DT, EVENT.

    A claim counts if any searched diagnosis position matches; its date is CLM_FROM_DT and the
    revision (ICD-9 or ICD-10) is decided by that date. With ``runout_date``, only claims
    processed (NCH_WKLY_PROC_DT; when missing, CLM_THRU_DT + ``processing_lag_days``) on or
    before it count. When a claim carries codes of several events, the first matching position
    decides (principal first). Dates, codes and claim types are query parameters; each claim
    type's files are a registered view (no values in SQL text).
    """
    parts, params = [], {}
    for k, ct in enumerate(claim_types):
        files = input_files(data_dir, ct)
        if not files:
            continue
        ev, ev_params = claim_event_sql(codes, diagnosis_columns(files, positions), icd10_start)
        params.update(ev_params)
        params[f"claim_type_{k}"] = ct
        where = ["TRUE"]
        if runout_date:
            where.append("NCH_WKLY_PROC_DT <= CAST($runout_date AS DATE)")
            params["runout_date"] = str(runout_date)
        if date_from:
            where.append("CLM_FROM_DT >= CAST($date_from AS DATE)")
            params["date_from"] = str(date_from)
        view = register_input(con, ct, files, processing_lag_days=processing_lag_days)
        parts.append(f"""SELECT BENE_ID, CAST(CLM_ID AS VARCHAR) AS CLM_ID, CAST($claim_type_{k} AS VARCHAR) AS CLAIM_TYPE,
                                CAST(CLM_FROM_DT AS DATE) AS EVENT_DT, {ev} AS EVENT
                         FROM {view} WHERE {' AND '.join(where)}""")
    if not parts:
        return pd.DataFrame(columns=["BENE_ID", "CLM_ID", "CLAIM_TYPE", "EVENT_DT", "EVENT"])
    sql = " UNION ALL ".join(parts)
    return con.execute(f"SELECT * FROM ({sql}) WHERE EVENT IS NOT NULL ORDER BY BENE_ID, EVENT_DT, CLM_ID", params).df()
