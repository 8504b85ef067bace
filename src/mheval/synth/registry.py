"""The trial's data registry: demographics, alignment, visits and clinical indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.risk import pooled_cohort_risk
from mheval.synth.timeline import observation_end

DAY = np.timedelta64(1, "D")
INDICATORS = ["total_cholesterol", "hdl", "ldl", "systolic_bp", "smoking", "diabetes",
              "statin", "antihypertensive", "aspirin"]
FOLLOW_UP_YEARS = (1, 2, 3, 5)  # the request for applications' data collection years


def demographics(b: pd.DataFrame) -> pd.DataFrame:
    """One row per beneficiary: BENE_ID, BIRTH_DT, SEX, RACE, ETHNICITY."""
    race = b["race"].to_numpy()
    return pd.DataFrame({
        "BENE_ID": b["BENE_ID"].to_numpy(),
        "BIRTH_DT": b["birth_dt"].to_numpy().astype("datetime64[D]"),
        "SEX": np.where(b["male"].to_numpy(), "male", "female"),
        "RACE": race,
        "ETHNICITY": np.where(race == "hispanic", "hispanic", np.where(race == "unknown", "unknown", "non-hispanic")),
    })


def alignment(rng: np.random.Generator, b: pd.DataFrame, orgs: pd.DataFrame, params: dict):
    """Registry alignment of beneficiaries to organizations, with the planted realignments.

    A small share of analyzed beneficiaries appears a second time at another organization with
    a later date; by intent to treat the pipeline keeps the first. Returns (table, n_realigned).
    """
    n = len(b)
    org_ids = orgs["ORG_ID"].to_numpy()
    base = pd.DataFrame({
        "BENE_ID": b["BENE_ID"].to_numpy(),
        "ORG_ID": org_ids[b["org"].to_numpy()],
        "ENROLL_DT": b["enroll_dt"].to_numpy().astype("datetime64[D]"),
        "ELIGIBLE_FLAG": np.ones(n, dtype=bool),
        "COMPLETE_BASELINE": (b["planted"].to_numpy() != "incomplete_baseline"),
    })
    analyzed = np.flatnonzero(b["planted"].to_numpy() == "")
    k = int(round(params["mess"]["realigned_later"] * len(analyzed)))
    movers = rng.choice(analyzed, size=k, replace=False) if k else np.array([], dtype=int)
    active = np.flatnonzero(orgs["size_weight"].to_numpy() > 0)
    new_org = active[rng.integers(0, len(active), len(movers))]
    same = new_org == b["org"].to_numpy()[movers]
    new_org = np.where(same, active[(np.searchsorted(active, new_org) + 1) % len(active)], new_org)
    later = base.iloc[movers].copy()
    later["ORG_ID"] = org_ids[new_org]
    later["ENROLL_DT"] = later["ENROLL_DT"].to_numpy() + rng.integers(120, 700, len(movers)) * DAY
    table = pd.concat([base, later], ignore_index=True)
    table = table.sort_values(["BENE_ID", "ENROLL_DT"], kind="stable").reset_index(drop=True)
    return table, len(movers)


def visits_and_clinical(rng: np.random.Generator, b: pd.DataFrame, params: dict,
                        med_change: dict[str, np.ndarray]):
    """Baseline and follow-up visits with clinical indicators (long format) and reported risk.

    Follow-up visits (years 1, 2, 3, 5 after enrollment while alive and in FFS) are recorded for
    analyzed beneficiaries. The intervention lowers systolic BP and total cholesterol among
    high- and medium-risk beneficiaries (effects.*); the realized change in predicted risk is
    returned in the truth. Intervention organizations report the risk score they computed
    (with a few calculator errors); control organizations report none.
    Returns (visits, clinical, truth dict).
    """
    eff = params["effects"]
    n = len(b)
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    obs_end = observation_end(b, params["study_end"])
    analyzed = b["planted"].to_numpy() == ""
    mh = b["mh"].to_numpy()
    stratum = b["stratum"].to_numpy()
    visit_rows = [(np.arange(n), np.zeros(n, dtype=int))]
    for yr in FOLLOW_UP_YEARS:
        when = enroll + int(round(yr * 365.25)) * DAY
        ok = analyzed & (when <= obs_end)
        visit_rows.append((np.flatnonzero(ok), np.full(ok.sum(), yr)))
    idx = np.concatenate([v[0] for v in visit_rows])
    year = np.concatenate([v[1] for v in visit_rows])
    order = np.lexsort((year, idx))
    idx, year = idx[order], year[order]
    jitter = np.where(year == 0, 0, rng.integers(-30, 31, len(idx)))
    vdate = enroll[idx] + (np.round(year * 365.25).astype(int) + jitter) * DAY
    nv = len(idx)
    # indicator values: baseline as drawn; follow-up drifts plus the intervention's effect
    shift_sbp = np.where(stratum == "high", eff["sbp_change_high"], np.where(stratum == "medium", eff["sbp_change_medium"], 0.0))
    shift_tc = np.where(stratum == "high", eff["tc_change_high"], np.where(stratum == "medium", eff["tc_change_medium"], 0.0))
    fu = year > 0
    treat = (mh[idx] == 1) & fu
    sbp = b["sbp"].to_numpy()[idx] + np.where(fu, rng.normal(0, 9, nv), 0) + treat * shift_sbp[idx]
    tc = b["tc"].to_numpy()[idx] + np.where(fu, rng.normal(0, 15, nv), 0) + treat * shift_tc[idx]
    hdl = b["hdl"].to_numpy()[idx] + np.where(fu, rng.normal(0, 5, nv), 0)
    sbp, tc, hdl = np.round(np.clip(sbp, 80, 240)), np.round(np.clip(tc, 90, 400)), np.round(np.clip(hdl, 15, 130))
    ldl = np.round(np.clip(tc - hdl - rng.normal(28, 8, nv), 30, 300))
    smoker = b["smoker"].to_numpy()[idx] & ~(fu & (rng.random(nv) < 0.08 * year))
    diabetes = b["diabetes"].to_numpy()[idx]
    statin = b["statin0"].to_numpy()[idx] | (fu & (med_change["statin"][idx] <= vdate))
    bp_tx = b["bp_treated"].to_numpy()[idx] | (fu & (med_change["antihypertensive"][idx] <= vdate))
    aspirin = b["aspirin0"].to_numpy()[idx]
    age = b["age_enroll"].to_numpy()[idx] + year
    sex = np.where(b["male"].to_numpy()[idx], "male", "female")
    risk = pooled_cohort_risk(np.clip(age, 40, 79), sex, b["race"].to_numpy()[idx], tc, hdl, sbp,
                              bp_tx, smoker, diabetes, out_of_range="clip")
    risk0 = b["risk"].to_numpy()
    risk = np.where(year == 0, risk0[idx], risk)  # baseline risk as drawn (same inputs)
    reported = np.where(mh[idx] == 1, np.round(risk, 3), np.nan)
    wrong = (mh[idx] == 1) & (rng.random(nv) < 0.03)
    reported = np.where(wrong, np.round(np.clip(risk * rng.uniform(0.5, 0.8, nv), 0, 1), 3), reported)
    visits = pd.DataFrame({
        "VISIT_ID": np.arange(1, nv + 1, dtype="int64"),
        "BENE_ID": b["BENE_ID"].to_numpy()[idx],
        "ORG_ID": b["ORG_ID"].to_numpy()[idx],
        "VISIT_DT": vdate.astype("datetime64[D]"),
        "VISIT_TYPE": np.where(year == 0, "baseline", "follow-up"),
        "REPORTED_RISK": reported,
    })
    values = np.column_stack([tc, hdl, ldl, sbp, smoker, diabetes, statin, bp_tx, aspirin]).astype(float)
    # planted mess: implausible LDL values (documented rule: set to missing, counted)
    n_bad = int(round(params["mess"]["implausible_ldl"] * analyzed.sum()))
    bad_rows = rng.choice(np.flatnonzero(analyzed[idx]), size=n_bad, replace=False) if n_bad else np.array([], int)
    values[bad_rows, 2] = rng.choice([0.0, 1500.0, 9999.0], size=len(bad_rows))
    clinical = pd.DataFrame({
        "VISIT_ID": np.repeat(visits["VISIT_ID"].to_numpy(), len(INDICATORS)),
        "INDICATOR": np.tile(np.array(INDICATORS), nv),
        "VALUE": values.ravel(),
        "MEASURE_DT": np.repeat(vdate, len(INDICATORS)).astype("datetime64[D]"),
    })
    # planted incomplete baseline: the baseline HDL is missing
    incomplete = b["planted"].to_numpy()[idx] == "incomplete_baseline"
    drop = np.repeat(incomplete & (year == 0), len(INDICATORS)) & (clinical["INDICATOR"].to_numpy() == "hdl")
    clinical = clinical[~drop].reset_index(drop=True)
    truth = {"n_visits": int(nv), "n_reported_risk_errors": int(wrong.sum()),
             "n_implausible_ldl": len(bad_rows), "risk_change": {}}
    for s in ("high", "medium"):
        for yr in FOLLOW_UP_YEARS:
            m = (year == yr) & (stratum[idx] == s)
            if m.any():
                d = risk[m] - risk0[idx][m]
                arm = mh[idx][m]
                if (arm == 1).any() and (arm == 0).any():
                    truth["risk_change"][f"{s}_year{yr}"] = float(d[arm == 1].mean() - d[arm == 0].mean())
    return visits, clinical, truth
