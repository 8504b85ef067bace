"""The time-to-event analysis file: one row per analyzed beneficiary.

Follow-up starts on the registry enrollment date and ends at the earliest of death, loss of FFS
Parts A and B (first month without them in the MBSF), and the end of follow-up: the claims runout
date minus ``claims.runout_lag_days``, never after ``study.end_date``. A claim counts only if
processed on or before the runout date.

- first MI, stroke or TIA (``EVENT``): censored at death, loss of FFS coverage or end of follow-up;
- all-cause death (``DEATH``, from the enrollment file, which records deaths whatever the
  coverage): censored at the end of follow-up only.

Times are in years: (last day - enrollment date + 1 day) / 365.25.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mheval.cohort.enrollment import death_dates, ffs_coverage_end, register_monthly_enrollment
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import event_claims
from mheval.sql import connect

YEAR = 365.25


def follow_up_end(cfg: dict) -> pd.Timestamp:
    """Last day of follow-up: runout date minus the lag, capped at the study end date."""
    runout = pd.Timestamp(cfg["claims"]["runout_date"])
    end = runout - pd.Timedelta(days=int(cfg["claims"]["runout_lag_days"]))
    return min(end, pd.Timestamp(cfg["study"]["end_date"]))


def first_events(data_dir: str | Path, people: pd.DataFrame, cfg: dict,
                 con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """First MI, stroke or TIA claim on or after enrollment: BENE_ID, EVENT_DT, EVENT_TYPE."""
    con = con or connect()
    oc = cfg["outcomes"]
    ev = event_claims(con, data_dir, load_event_codes(oc["codes"]), oc["event_claim_types"], oc["event_positions"],
                      oc.get("icd10_start", "2015-10-01"), runout_date=str(cfg["claims"]["runout_date"]),
                      date_from=str(people["ENROLL_DT"].min().date()),
                      processing_lag_days=cfg["claims"].get("processing_lag_days", DEFAULT_PROCESSING_LAG_DAYS))
    ev = ev.merge(people[["BENE_ID", "ENROLL_DT"]], on="BENE_ID")
    ev = ev[ev["EVENT_DT"] >= ev["ENROLL_DT"]].sort_values(["BENE_ID", "EVENT_DT", "CLAIM_TYPE", "CLM_ID"])
    first = ev.drop_duplicates("BENE_ID")
    return first[["BENE_ID", "EVENT_DT", "EVENT"]].rename(columns={"EVENT": "EVENT_TYPE"})


def build_time_to_event(data_dir: str | Path, cohort: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Time to first MI/stroke/TIA and to death for the analyzed beneficiaries in ``cohort``.

    Returns the cohort's columns plus EVENT_DT, EVENT_TYPE, DEATH_DT, FFS_END_DT, FU_END_DT,
    T_EVENT, EVENT (0/1), EVENT_CENSOR (event / death / loss_of_ffs / end_of_follow_up),
    T_DEATH, DEATH (0/1).
    """
    con = connect()
    register_monthly_enrollment(con, data_dir)
    df = cohort.copy()
    fu_end = follow_up_end(cfg)
    df = df.merge(death_dates(con, data_dir), on="BENE_ID", how="left")
    df = df.merge(ffs_coverage_end(con, df, "ENROLL_DT"), on="BENE_ID", how="left")
    df = df.merge(first_events(data_dir, df, cfg, con), on="BENE_ID", how="left")
    for c in ("DEATH_DT", "FFS_END_DT", "EVENT_DT"):
        df[c] = pd.to_datetime(df[c])
    df["FU_END_DT"] = fu_end
    death = df["DEATH_DT"].where(df["DEATH_DT"] <= fu_end)
    ffs_end = df["FFS_END_DT"].where(df["FFS_END_DT"] <= fu_end)
    # end of observation for the event outcome, and why
    candidates = pd.DataFrame({"death": death, "loss_of_ffs": ffs_end,
                               "end_of_follow_up": pd.Series(fu_end, index=df.index)})
    obs_end = candidates.min(axis=1)
    reason = candidates.idxmin(axis=1)
    event = df["EVENT_DT"].notna() & (df["EVENT_DT"] <= obs_end)
    end_event = df["EVENT_DT"].where(event, obs_end)
    df["EVENT"] = event.astype(int)
    df["EVENT_CENSOR"] = np.where(event, "event", reason)
    df["T_EVENT"] = ((end_event - df["ENROLL_DT"]).dt.days + 1) / YEAR
    df["DEATH"] = death.notna().astype(int)
    df["T_DEATH"] = ((death.fillna(fu_end) - df["ENROLL_DT"]).dt.days + 1) / YEAR
    df.loc[~event, "EVENT_TYPE"] = None
    bad = df["T_EVENT"] <= 0
    if bad.any():
        raise ValueError(f"{int(bad.sum())} beneficiaries enrolled after the end of follow-up "
                         f"({fu_end.date()}); check claims.runout_date and study.end_date")
    return df
