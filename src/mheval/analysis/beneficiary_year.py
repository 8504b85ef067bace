"""The beneficiary-year analysis file: outcomes per follow-up year since enrollment.

Year 0 is the 12 months before enrollment (the baseline), year k >= 1 the k-th 365.25-day year
after it. A row's weight is the share of the year the beneficiary was observable: alive and in FFS
Parts A and B (baseline: months in FFS A and B among the 12 before the enrollment month; follow-up:
days until the earliest of death, loss of FFS coverage and the end of follow-up). Outcomes are
sums over claims starting in the observed part of the year, processed on or before the runout,
divided by the weight (annualized). Rows with weight 0 are kept with missing outcomes, so every
beneficiary has years 0-5 and nothing disappears without a trace.

Outcomes (evaluation design report, Table IV.1):
- ``spend_ab``: Medicare Part A and B payments (inpatient, outpatient, carrier, SNF, home health, hospice);
- ``spend_ab_mh``: the same plus CMS model payments allocated to the beneficiary
  (:func:`allocate_model_payments`);
- ``spend_cvd``: CVD-event spending as published (the event plus 90 days of follow-up care): every
  Part A and B claim (inpatient, outpatient, carrier, SNF, home health, hospice) starting from the
  first day of an MI/stroke/TIA hospital stay or outpatient ED visit through
  ``outcomes.cvd_spending_window_days`` days after its last day (the discharge; the ED visit's through
  date): day 0 is the last day, days 1 to N are included, day N + 1 is not; a claim in overlapping
  windows counts once, in the year it starts;
- ``hosp_all``, ``hosp_cvd``, ``hosp_cvd_event``: hospital stays (inpatient claims combined into
  stays by :mod:`mheval.outcomes.stays`: interim bills, overlapping claims and transfers count
  once), all, for any cardiovascular disease (MI/stroke/TIA in the positions of
  ``outcomes.event_positions``, or other cardiovascular disease of ``outcomes.other_cvd_codes`` in
  the positions of ``outcomes.other_cvd_positions``; any claim of the stay) and for MI/stroke/TIA
  only, in the year the stay's first claim starts;
- ``ed_all``, ``ed_cvd``, ``ed_cvd_event``: outpatient ED visits (not followed by an admission that
  day or the next), all, for any cardiovascular disease, and for MI/stroke/TIA only;
- ``office_mh``: office E&M visits with an NPI participating with the beneficiary's organization
  on the visit date (registry providers file);
- ``med_statin``, ``med_antihypertensive`` (0/1 per year, not annualized; Part D enrollees at
  enrollment only, missing otherwise): initiation or intensification in the observed part of the
  year. A statin fill is an initiation when no statin was filled in the 365 days before it and an
  intensification when its intensity exceeds every statin filled in those days; an
  antihypertensive fill initiates or intensifies when its class was not filled in the 365 days
  before it (a new drug or an added class).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mheval.cohort.enrollment import register_monthly_enrollment
from mheval.outcomes.extract import EMPTY_CLAIMS_SQL, EMPTY_OFFICE_SQL, register_claims
from mheval.outcomes.stays import register_stay_claims
from mheval.sql import BOUNDED_MEMORY, connect

YEAR = 365.25
OUTCOMES = ["spend_ab", "spend_ab_mh", "spend_cvd", "hosp_all", "hosp_cvd", "hosp_cvd_event", "ed_all", "ed_cvd",
            "ed_cvd_event", "office_mh"]
MAX_YEAR = 5


def year_windows(tte: pd.DataFrame, max_year: int = MAX_YEAR) -> pd.DataFrame:
    """One row per beneficiary and year 0..max_year with START, END (inclusive) and follow-up
    exposure end OBS_END (the earliest of death, loss of FFS and end of follow-up)."""
    n = len(tte)
    k = np.tile(np.arange(max_year + 1), n)
    idx = np.repeat(np.arange(n), max_year + 1)
    enroll = tte["ENROLL_DT"].to_numpy()[idx]
    start_days = np.where(k == 0, -365, np.round((k - 1) * YEAR)).astype("int64")
    end_days = np.where(k == 0, -1, np.round(k * YEAR) - 1).astype("int64")
    obs_end = tte[["DEATH_DT", "FFS_END_DT", "FU_END_DT"]].min(axis=1).to_numpy()[idx]
    return pd.DataFrame({"BENE_ID": tte["BENE_ID"].to_numpy()[idx], "YEAR": k,
                         "START": enroll + start_days.astype("timedelta64[D]"),
                         "END": enroll + end_days.astype("timedelta64[D]"), "OBS_END": obs_end})


def baseline_ffs_share(con: duckdb.DuckDBPyConnection, tte: pd.DataFrame) -> pd.Series:
    """Share of the 12 months before the enrollment month in FFS Parts A and B (MBSF)."""
    con.register("_enr", tte[["BENE_ID", "ENROLL_DT"]])
    months = con.execute("""SELECT e.BENE_ID, count(*) FILTER (WHERE m.FFS_AB) / 12.0 AS share FROM _enr e
        LEFT JOIN enroll_month m ON m.BENE_ID = e.BENE_ID
         AND m.MONTH >= date_trunc('month', e.ENROLL_DT) - INTERVAL 12 MONTH
         AND m.MONTH < date_trunc('month', e.ENROLL_DT)
        GROUP BY e.BENE_ID""").df()
    con.unregister("_enr")
    return tte[["BENE_ID"]].merge(months, on="BENE_ID", how="left")["share"].fillna(0.0)


def _assign(claims: pd.DataFrame, win: pd.DataFrame, date_col: str) -> pd.DataFrame:
    """Attach each claim to its beneficiary-year window by date; drop claims outside observation."""
    con = connect()
    con.register("c", claims.rename(columns={date_col: "_ASSIGN_DT"}))
    con.register("w", win[["BENE_ID", "YEAR", "START", "END", "OBS_END"]])
    out = con.execute("""SELECT c.*, w.YEAR FROM c JOIN w ON c.BENE_ID = w.BENE_ID
        AND c._ASSIGN_DT BETWEEN w.START AND w.END
        AND (w.YEAR = 0 OR c._ASSIGN_DT <= w.OBS_END)""").df()
    return out.rename(columns={"_ASSIGN_DT": date_col})


def allocate_model_payments(payments: pd.DataFrame, tte: pd.DataFrame, high_threshold: float = 0.30) -> pd.DataFrame:
    """Allocate CMS model payments (organization x half-year x type) to analyzed beneficiaries.

    Each payment row is split equally over the beneficiaries it covers (AMOUNT / N_BENEFICIARIES
    each), following the request for applications: CVD_RA to intervention beneficiaries enrolled
    in that half-year; CVD_CM to high-risk intervention beneficiaries observed (alive, in FFS) in
    that half-year; CONTROL_DATA to control beneficiaries observed in that half-year. The payment
    is dated at the half-year's midpoint. Returns BENE_ID, PAY_DT, AMOUNT.
    """
    p = payments.copy()
    year = p["PERIOD"].str[:4].astype(int)
    half = p["PERIOD"].str[-1].astype(int)
    p["P_START"] = pd.to_datetime(dict(year=year, month=np.where(half == 1, 1, 7), day=1))
    p["P_END"] = p["P_START"] + pd.DateOffset(months=6) - pd.Timedelta(days=1)
    p["PAY_DT"] = p["P_START"] + pd.Timedelta(days=90)
    p["PER_BENE"] = p["AMOUNT"] / p["N_BENEFICIARIES"].where(p["N_BENEFICIARIES"] > 0)
    b = tte[["BENE_ID", "ORG_ID", "MH", "RISK", "ENROLL_DT"]].copy()
    b["OBS_END"] = tte[["DEATH_DT", "FFS_END_DT", "FU_END_DT"]].min(axis=1)
    con = connect()
    con.register("p", p[["ORG_ID", "PAYMENT_TYPE", "P_START", "P_END", "PAY_DT", "PER_BENE"]])
    con.register("b", b)
    return con.execute("""SELECT b.BENE_ID, p.PAY_DT, p.PER_BENE AS AMOUNT FROM p JOIN b ON b.ORG_ID = p.ORG_ID
        WHERE p.PER_BENE IS NOT NULL AND (
          (p.PAYMENT_TYPE = 'CVD_RA' AND b.MH = 1 AND b.ENROLL_DT BETWEEN p.P_START AND p.P_END)
          OR (p.PAYMENT_TYPE = 'CVD_CM' AND b.MH = 1 AND b.RISK >= $high_threshold
              AND b.ENROLL_DT <= p.P_END AND b.OBS_END >= p.P_START)
          OR (p.PAYMENT_TYPE = 'CONTROL_DATA' AND b.MH = 0 AND b.ENROLL_DT <= p.P_END AND b.OBS_END >= p.P_START))
        ORDER BY 1, 2""", {"high_threshold": float(high_threshold)}).df()


def medication_changes(fills, runout: pd.Timestamp) -> pd.DataFrame:
    """Dates of statin and antihypertensive initiation or intensification (rules in the module
    docstring), from fills paid on or before ``runout``: BENE_ID, CHANGE_DT, DRUG. ``fills``: the
    outputs of :func:`mheval.outcomes.extract.extract_fills`, as a DataFrame or as a list of their
    Parquet files (read by DuckDB: at scale 1.0 the fills are 1.3 GB as a pandas frame)."""
    con = connect(BOUNDED_MEMORY)
    if isinstance(fills, pd.DataFrame):
        con.register("fills_in", fills)
    else:
        con.read_parquet([str(p) for p in fills], union_by_name=True).create_view("fills_in")
    return con.execute("""
        WITH f AS (SELECT BENE_ID, SRVC_DT, DRUG_CLASS, INTENSITY FROM fills_in
                   WHERE CAST(PROC_DT AS TIMESTAMP) <= $runout),
        s AS (
            SELECT BENE_ID, CAST(SRVC_DT AS DATE) AS SRVC_DT, INTENSITY,
                   count(*) OVER w AS prior_n, max(INTENSITY) OVER w AS prior_max
            FROM f WHERE DRUG_CLASS = 'statin'
            WINDOW w AS (PARTITION BY BENE_ID ORDER BY CAST(SRVC_DT AS DATE)
                         RANGE BETWEEN INTERVAL 365 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING)),
        a AS (
            SELECT BENE_ID, CAST(SRVC_DT AS DATE) AS SRVC_DT,
                   count(*) OVER w AS prior_n
            FROM f WHERE DRUG_CLASS <> 'statin'
            WINDOW w AS (PARTITION BY BENE_ID, DRUG_CLASS ORDER BY CAST(SRVC_DT AS DATE)
                         RANGE BETWEEN INTERVAL 365 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING))
        SELECT DISTINCT BENE_ID, CAST(SRVC_DT AS TIMESTAMP) AS CHANGE_DT, 'statin' AS DRUG FROM s
            WHERE prior_n = 0 OR INTENSITY > prior_max
        UNION
        SELECT DISTINCT BENE_ID, CAST(SRVC_DT AS TIMESTAMP), 'antihypertensive' FROM a WHERE prior_n = 0
        ORDER BY 1, 2, 3""", {"runout": pd.Timestamp(runout).to_pydatetime()}).df()


def build_beneficiary_year(tte: pd.DataFrame, claims, office,
                           providers: pd.DataFrame, data_dir: str | Path, cfg: dict,
                           fills: pd.DataFrame | None = None, payments: pd.DataFrame | None = None,
                           changes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Build the beneficiary-year file.

    Parameters
    ----------
    tte : the time-to-event file (analyzed beneficiaries with ENROLL_DT, DEATH_DT, FFS_END_DT,
        FU_END_DT, ORG_ID and covariates).
    claims, office : the outputs of :func:`mheval.outcomes.extract.extract_claims`, as DataFrames or
        as lists of their Parquet files (read by DuckDB, so memory stays bounded at full scale).
    providers : the registry providers file (NPI, ORG_ID, START_DT, END_DT).
    fills : Part D statin and antihypertensive fills (:func:`mheval.outcomes.extract.extract_fills`), as a
        DataFrame or a list of its Parquet files; without them the medication outcomes are missing.
    payments : the CMS payments input; without it ``spend_ab_mh`` equals ``spend_ab``.
    changes : the medication changes already derived from the fills (:func:`medication_changes` with
        this ``cfg``'s runout, as the workflow's medication_changes rule writes them); given, ``fills``
        is not read.
    data_dir : inputs (for MBSF enrollment in the baseline year).
    cfg : config (uses ``claims.runout_date`` and ``outcomes.cvd_spending_window_days``).
    """
    runout = pd.Timestamp(cfg["claims"]["runout_date"])
    win = year_windows(tte)
    con = connect(BOUNDED_MEMORY)
    register_monthly_enrollment(con, data_dir, flags=("FFS_AB",))  # the only flag used here
    base_share = baseline_ffs_share(con, tte)
    # weights: baseline from MBSF months; follow-up from observed days
    days = (np.minimum(win["END"], win["OBS_END"]) - win["START"]).dt.days + 1
    fu_weight = np.clip(days.to_numpy(), 0, None) / (win["END"] - win["START"]).dt.days.add(1).to_numpy()
    base = np.repeat(base_share.to_numpy(), MAX_YEAR + 1)
    win["WEIGHT"] = np.where(win["YEAR"] == 0, base, fu_weight)

    con.register("win", win[["BENE_ID", "YEAR", "START", "END", "OBS_END"]])
    if isinstance(claims, pd.DataFrame):
        _register(con, "claims_in", claims, EMPTY_CLAIMS_SQL)
    else:  # written extractions: each file's claim type and left-out columns restored
        register_claims(con, "claims_in", list(claims))
    _register(con, "office_in", office, EMPTY_OFFICE_SQL)
    sums = _claim_sums(con, runout, int(cfg["outcomes"]["cvd_spending_window_days"]))
    if payments is not None and len(payments):
        alloc = allocate_model_payments(payments, tte, cfg.get("cohort", {}).get("risk_high", 0.30))
        paid = _assign(alloc, win, "PAY_DT").groupby(["BENE_ID", "YEAR"])["AMOUNT"].sum().rename("_paid")
        sums = sums.join(paid, how="outer")
        sums["spend_ab_mh"] = sums["spend_ab_mh"].fillna(0.0) + sums.pop("_paid").fillna(0.0)
    con.register("prov", providers[["NPI", "ORG_ID", "START_DT", "END_DT"]])
    con.register("bene_org", tte[["BENE_ID", "ORG_ID"]])
    off = con.execute("""
        WITH v AS (SELECT DISTINCT o.BENE_ID, CAST(o.CLM_ID AS VARCHAR) AS CLM_ID, CAST(o.VISIT_DT AS DATE) AS VISIT_DT
                   FROM office_in o JOIN bene_org b USING (BENE_ID)
                   JOIN prov pr ON pr.NPI = o.NPI AND pr.ORG_ID = b.ORG_ID
                    AND CAST(o.VISIT_DT AS DATE) >= CAST(pr.START_DT AS DATE)
                    AND (pr.END_DT IS NULL OR CAST(o.VISIT_DT AS DATE) <= CAST(pr.END_DT AS DATE))
                   WHERE CAST(o.PROC_DT AS DATE) <= $runout)
        SELECT w.BENE_ID, w.YEAR, count(*) AS office_mh FROM v JOIN win w ON v.BENE_ID = w.BENE_ID
          AND v.VISIT_DT BETWEEN CAST(w.START AS DATE) AND CAST(w.END AS DATE)
          AND (w.YEAR = 0 OR v.VISIT_DT <= CAST(w.OBS_END AS DATE))
        GROUP BY ALL""", {"runout": runout.date()}).df().set_index(["BENE_ID", "YEAR"])
    out = win.merge(sums, left_on=["BENE_ID", "YEAR"], right_index=True, how="left")
    out = out.merge(off, left_on=["BENE_ID", "YEAR"], right_index=True, how="left")
    observed = out["WEIGHT"] > 0
    for c in OUTCOMES:
        raw = out[c].fillna(0.0)
        out[f"{c}_raw"] = np.where(observed, raw, np.nan)
        out[c] = np.where(observed, raw / out["WEIGHT"].where(observed, 1.0), np.nan)
    out = out.drop(columns=[f"{c}_raw" for c in OUTCOMES])
    part_d = out["BENE_ID"].map(tte.set_index("BENE_ID")["PART_D"]) if "PART_D" in tte.columns else None
    if part_d is None:
        changes = None
    elif changes is None and fills is not None:
        changes = medication_changes(fills, runout)
    for drug in ("statin", "antihypertensive"):
        col = f"med_{drug}"
        if changes is None:
            out[col] = np.nan
            continue
        ch = changes
        hit = _assign(ch[ch["DRUG"] == drug], win, "CHANGE_DT")[["BENE_ID", "YEAR"]].drop_duplicates()
        hit[col] = 1.0
        out = out.merge(hit, on=["BENE_ID", "YEAR"], how="left")
        out[col] = np.where(observed & part_d.astype(bool).to_numpy(), out[col].fillna(0.0), np.nan)
    # beneficiary (x_i) and organization (z_p) covariates, and baseline (year 0) outcomes
    cov = ["BENE_ID", "ORG_ID", "MH", "ARM", "STRATUM", "RISK", "MODIFIABLE_SHARE", "ENROLL_DT", "AGE", "SEX",
           "RACE", "DUAL", "PART_D", "smoking", "diabetes", "antihypertensive", "statin", "REGION", "RURAL",
           "ORG_TYPE", "HEALTH_SYSTEM", "N_PRACTITIONERS", "OTHER_CMS_MODELS", "SELF_REPORTED_FFS_BENES",
           "RAND_STRATUM", "HCC_SCORE"]
    out = out.merge(tte[[c for c in cov if c in tte.columns]], on="BENE_ID", how="left")
    y0 = out.loc[out["YEAR"] == 0, ["BENE_ID"] + OUTCOMES].rename(columns={c: f"{c}_y0" for c in OUTCOMES})
    out = out.merge(y0, on="BENE_ID", how="left")
    return out.sort_values(["BENE_ID", "YEAR"]).reset_index(drop=True)


def _register(con: duckdb.DuckDBPyConnection, name: str, source, empty_sql: str) -> None:
    """Make ``name`` (an internal, fixed view name) a view over a DataFrame or a list of Parquet files
    (the file names go to DuckDB as values, never as SQL text); no files (the input is unavailable)
    give the typed empty relation ``empty_sql``."""
    if isinstance(source, pd.DataFrame):
        con.register(name, source)
    elif not list(source):
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {empty_sql}")
    else:
        con.read_parquet([str(p) for p in source], union_by_name=True).create_view(name, replace=True)


def _claim_sums(con: duckdb.DuckDBPyConnection, runout: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """Per beneficiary-year sums of the claim outcomes, all in DuckDB (bounded memory).

    Claims count if processed on or before the runout and starting in the observed part of a
    year. Hospitalizations are hospital stays (:mod:`mheval.outcomes.stays`: interim bills,
    overlapping claims and transfers combined), counted in the year their first claim starts; a
    stay is CVD if any of its claims is. Spending sums every claim. CVD spending: every claim (any
    type) starting from the first day of an MI/stroke/TIA stay or outpatient ED visit through
    ``window_days`` days after its last day, once. An outpatient ED visit followed by an admission
    that day or the next belongs with the stay (not an ED visit; its claim still opens a CVD
    spending window when it carries an MI/stroke/TIA code).
    """
    # extraction outputs written before ADMSN_DT or OTHER_CVD were extracted: stays from dates
    # alone, no other cardiovascular disease
    present = [r[0] for r in con.execute("DESCRIBE claims_in").fetchall()]
    admsn = "CAST(c.ADMSN_DT AS DATE)" if "ADMSN_DT" in present else "CAST(NULL AS DATE)"
    other = "CAST(c.OTHER_CVD AS VARCHAR)" if "OTHER_CVD" in present else "CAST(NULL AS VARCHAR)"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE c AS
        SELECT c.BENE_ID, CAST(c.CLM_ID AS VARCHAR) AS CLM_ID, c.CLAIM_TYPE, CAST(c.FROM_DT AS DATE) AS FROM_DT,
               CAST(c.THRU_DT AS DATE) AS THRU_DT, {admsn} AS ADMSN_DT, c.PMT, c.CVD_EVENT,
               CAST(c.ED AS BOOLEAN) AS ED, {other} AS OTHER_CVD
        FROM claims_in c SEMI JOIN (SELECT DISTINCT BENE_ID FROM win) USING (BENE_ID)
        WHERE CAST(c.PROC_DT AS DATE) <= $runout""", {"runout": runout.date()})
    con.execute("CREATE OR REPLACE TEMP VIEW inpatient_claims AS SELECT * FROM c WHERE CLAIM_TYPE = 'inpatient'")
    register_stay_claims(con)
    con.execute("CREATE OR REPLACE TEMP TABLE stay_map AS SELECT * FROM stay_claims")
    return con.execute("""
        WITH stays AS (SELECT DISTINCT BENE_ID, STAY_NUM, STAY_FROM_DT, STAY_THRU_DT, STAY_CVD, STAY_ANY_CVD FROM stay_map),
        adm AS (SELECT DISTINCT BENE_ID, STAY_FROM_DT AS D FROM stays
                UNION SELECT DISTINCT BENE_ID, STAY_FROM_DT - 1 FROM stays),
        anchors AS (SELECT BENE_ID, STAY_FROM_DT AS A_START, STAY_THRU_DT AS A_END FROM stays WHERE STAY_CVD
                    UNION ALL
                    SELECT BENE_ID, FROM_DT, greatest(THRU_DT, FROM_DT) FROM c
                    WHERE CLAIM_TYPE = 'outpatient' AND ED AND CVD_EVENT IS NOT NULL),
        window_claims AS (SELECT DISTINCT p.CLM_ID, p.CLAIM_TYPE FROM c p JOIN anchors a ON p.BENE_ID = a.BENE_ID
                AND p.FROM_DT BETWEEN a.A_START AND a.A_END + $window_days),
        flagged AS (
            SELECT c.*, (c.ED AND c.CLAIM_TYPE = 'outpatient' AND a.BENE_ID IS NULL) AS ED_VISIT,
                   (wc.CLM_ID IS NOT NULL) AS IN_CVD_WINDOW, coalesce(m.STAY_CVD, FALSE) AS IN_CVD_STAY
            FROM c LEFT JOIN adm a ON a.BENE_ID = c.BENE_ID AND a.D = c.FROM_DT
            LEFT JOIN window_claims wc ON wc.CLM_ID = c.CLM_ID AND wc.CLAIM_TYPE = c.CLAIM_TYPE
            LEFT JOIN stay_map m ON c.CLAIM_TYPE = 'inpatient' AND m.BENE_ID = c.BENE_ID AND m.CLM_ID = c.CLM_ID),
        spend AS (
            SELECT w.BENE_ID, w.YEAR, sum(f.PMT) AS spend_ab, sum(f.PMT) AS spend_ab_mh,
                sum(CASE WHEN f.IN_CVD_STAY OR f.IN_CVD_WINDOW THEN f.PMT ELSE 0 END) AS spend_cvd,
                count(*) FILTER (WHERE f.ED_VISIT) AS ed_all,
                count(*) FILTER (WHERE f.ED_VISIT AND (f.CVD_EVENT IS NOT NULL OR f.OTHER_CVD IS NOT NULL)) AS ed_cvd,
                count(*) FILTER (WHERE f.ED_VISIT AND f.CVD_EVENT IS NOT NULL) AS ed_cvd_event
            FROM flagged f JOIN win w ON f.BENE_ID = w.BENE_ID
              AND f.FROM_DT BETWEEN CAST(w.START AS DATE) AND CAST(w.END AS DATE)
              AND (w.YEAR = 0 OR f.FROM_DT <= CAST(w.OBS_END AS DATE))
            GROUP BY ALL),
        hosp AS (
            SELECT w.BENE_ID, w.YEAR, count(*) AS hosp_all, count(*) FILTER (WHERE s.STAY_ANY_CVD) AS hosp_cvd,
                   count(*) FILTER (WHERE s.STAY_CVD) AS hosp_cvd_event
            FROM stays s JOIN win w ON s.BENE_ID = w.BENE_ID
              AND s.STAY_FROM_DT BETWEEN CAST(w.START AS DATE) AND CAST(w.END AS DATE)
              AND (w.YEAR = 0 OR s.STAY_FROM_DT <= CAST(w.OBS_END AS DATE))
            GROUP BY ALL)
        SELECT BENE_ID, YEAR, coalesce(spend.spend_ab, 0) AS spend_ab, coalesce(spend.spend_ab_mh, 0) AS spend_ab_mh,
               coalesce(spend.spend_cvd, 0) AS spend_cvd, coalesce(hosp.hosp_all, 0) AS hosp_all,
               coalesce(hosp.hosp_cvd, 0) AS hosp_cvd, coalesce(hosp.hosp_cvd_event, 0) AS hosp_cvd_event,
               coalesce(spend.ed_all, 0) AS ed_all, coalesce(spend.ed_cvd, 0) AS ed_cvd,
               coalesce(spend.ed_cvd_event, 0) AS ed_cvd_event
        FROM spend FULL OUTER JOIN hosp USING (BENE_ID, YEAR)""",
                       {"window_days": int(window_days)}).df().set_index(["BENE_ID", "YEAR"]).astype(float)
