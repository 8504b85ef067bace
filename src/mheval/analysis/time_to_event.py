"""The time-to-event analysis file: one row per analyzed beneficiary.

Follow-up starts on the registry enrollment date and ends at the earliest of death, loss of FFS
Parts A and B (first month without them in the MBSF), and the end of follow-up: the claims runout
date minus ``claims.runout_lag_days``, never after ``study.end_date``. A claim counts only if
processed on or before the runout date.

- first MI, stroke or TIA (``EVENT``): censored at death, loss of FFS coverage or end of follow-up;
- all-cause death (``DEATH``, from the enrollment file, which records deaths whatever the
  coverage): censored at the end of follow-up only;
- the composite first MI, stroke or TIA, or coronary or cerebrovascular death (``EVENT_CVDEATH``):
  the first event, or a death whose underlying cause (National Death Index, linked by
  :func:`mheval.contract.ndi.link_ndi`) is in ``outcomes.cv_death_codes``, on the enrollment file's
  death date; a death of another or unknown cause censors, as do loss of FFS coverage (claims
  could no longer show an event before the death) and the end of follow-up. Its observation ends
  exactly when the event outcome's does, so its time is ``T_EVENT``.

Times are in years: (last day - enrollment date + 1 day) / 365.25.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mheval.cohort.enrollment import death_dates, ffs_coverage_end, register_monthly_enrollment
from mheval.contract.ndi import DEFAULT_DEATH_DATE_TOLERANCE_DAYS, link_ndi
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import event_claims
from mheval.sql import connect

YEAR = 365.25
DEFAULT_CV_DEATH_CODES = "config/codes/cv_death_icd10.csv"  # config outcomes.cv_death_codes


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


def death_causes(data_dir: str | Path, deaths: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """The underlying cause of each death of the enrollment file, from the ``ndi`` input.

    ``deaths``: ``BENE_ID``, ``DEATH_DT`` (MBSF). The NDI records are linked to them by
    :func:`mheval.contract.ndi.link_ndi` with ``outcomes.death_date_tolerance_days``; the cause of a
    linked death is classified with the code list ``outcomes.cv_death_codes`` (ICD-10 patterns,
    the first matching row decides). Returns ``BENE_ID``, ``DEATH_CAUSE`` (ICD-10, missing when
    not linked), ``DEATH_CAUSE_LINK`` (the link class) and ``CV_DEATH_TYPE`` (``coronary``,
    ``cerebrovascular`` or missing) for every beneficiary dead in either file.
    """
    from mheval.contract.read import read_input

    oc = cfg["outcomes"]
    tolerance = int(oc.get("death_date_tolerance_days", DEFAULT_DEATH_DATE_TOLERANCE_DAYS))
    linked = link_ndi(read_input(data_dir, "ndi"), deaths, tolerance)
    codes = load_event_codes(oc.get("cv_death_codes", DEFAULT_CV_DEATH_CODES))
    codes = codes[codes["code_system"] == "icd10"]  # causes of death are ICD-10 coded since 1999
    cause = linked["UCOD"].astype(object)
    kind = pd.Series(None, index=linked.index, dtype=object)
    for _, row in codes.iterrows():
        hit = kind.isna() & cause.notna() & cause.fillna("").str.contains(row["pattern"], regex=True)
        kind[hit] = row["event"]
    return pd.DataFrame({"BENE_ID": linked["BENE_ID"], "DEATH_CAUSE": cause, "DEATH_CAUSE_LINK": linked["LINK"],
                         "CV_DEATH_TYPE": kind})


def time_to_event_columns(df: pd.DataFrame, fu_end: pd.Timestamp) -> pd.DataFrame:
    """The time-to-event columns from the dates, by the rules of the module docstring.

    ``df`` holds ``ENROLL_DT``, ``EVENT_DT`` (first event on or after enrollment, or missing),
    ``EVENT_TYPE``, ``DEATH_DT`` (MBSF), ``FFS_END_DT`` (last day of FFS Parts A and B, or missing)
    and, for the composite, ``CV_DEATH_TYPE`` (coronary / cerebrovascular / missing; without the
    column the cause of death is unavailable and the composite columns are missing). Returns a
    copy with ``FU_END_DT``, ``T_EVENT``, ``EVENT``, ``EVENT_CENSOR`` (event / death / loss_of_ffs /
    end_of_follow_up), ``T_DEATH``, ``DEATH``, ``CV_DEATH`` (0/1: a coronary or cerebrovascular
    death during follow-up), ``EVENT_CVDEATH`` (0/1) and ``EVENT_CVDEATH_CENSOR`` (event /
    cv_death / other_death / loss_of_ffs / end_of_follow_up; other_death includes deaths of
    unknown cause); the composite's time is ``T_EVENT``.
    """
    df = df.copy()
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
    if "CV_DEATH_TYPE" in df.columns:
        cv = death.notna() & df["CV_DEATH_TYPE"].notna()
        died_first = ~event & (reason == "death")
        df["CV_DEATH"] = cv.astype(int)
        df["EVENT_CVDEATH"] = (event | (died_first & cv)).astype(int)
        df["EVENT_CVDEATH_CENSOR"] = np.where(event, "event", np.where(
            died_first, np.where(cv, "cv_death", "other_death"), reason))
    else:
        df["CV_DEATH"] = pd.array([pd.NA] * len(df), dtype="Int64")
        df["EVENT_CVDEATH"] = pd.array([pd.NA] * len(df), dtype="Int64")
        df["EVENT_CVDEATH_CENSOR"] = None
    return df


def build_time_to_event(data_dir: str | Path, cohort: pd.DataFrame, cfg: dict,
                        cause_of_death: bool | None = None) -> pd.DataFrame:
    """Time to first MI/stroke/TIA, to the composite with coronary or cerebrovascular death, and
    to death for the analyzed beneficiaries in ``cohort``.

    ``cause_of_death``: whether the ``ndi`` input is available (the workflow passes its
    availability, :mod:`mheval.contract.availability`); None: when an NDI file with rows is
    present under ``data_dir``. Without it the composite's columns are missing and
    ``DEATH_CAUSE_LINK`` is "unavailable".

    Returns the cohort's columns plus EVENT_DT, EVENT_TYPE, DEATH_DT, FFS_END_DT, DEATH_CAUSE,
    DEATH_CAUSE_LINK, CV_DEATH_TYPE and the columns of :func:`time_to_event_columns`.
    """
    from mheval.contract.availability import files_are_empty
    from mheval.contract.read import input_files

    con = connect()
    register_monthly_enrollment(con, data_dir, flags=("FFS_AB",))  # the only flag used here
    df = cohort.copy()
    fu_end = follow_up_end(cfg)
    deaths = death_dates(con, data_dir)
    df = df.merge(deaths, on="BENE_ID", how="left")
    df = df.merge(ffs_coverage_end(con, df, "ENROLL_DT"), on="BENE_ID", how="left")
    df = df.merge(first_events(data_dir, df, cfg, con), on="BENE_ID", how="left")
    if cause_of_death is None:
        files = input_files(data_dir, "ndi")
        cause_of_death = bool(files) and not files_are_empty(files)
    if cause_of_death:
        df = df.merge(death_causes(data_dir, deaths, cfg), on="BENE_ID", how="left")
        df["DEATH_CAUSE_LINK"] = df["DEATH_CAUSE_LINK"].where(df["DEATH_DT"].notna(), "")
    else:
        df["DEATH_CAUSE"] = None
        df["DEATH_CAUSE_LINK"] = "unavailable"
    df = time_to_event_columns(df, fu_end)
    if not cause_of_death:
        df = df.drop(columns=["CV_DEATH_TYPE"], errors="ignore")
        df["CV_DEATH_TYPE"] = None
    bad = df["T_EVENT"] <= 0
    if bad.any():
        raise ValueError(f"{int(bad.sum())} beneficiaries enrolled after the end of follow-up "
                         f"({fu_end.date()}); check claims.runout_date and study.end_date")
    return df
