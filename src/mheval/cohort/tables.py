"""Publishable cohort tables: the suppressed flow table and the balance table by population."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.cohort.balance import balance_table
from mheval.disclosure import ProtectedTables, Rule, protect

BALANCE_VARIABLES = {
    "AGE": ("Age at enrollment, years", "mean"),
    "MALE": ("Male", "percent"),
    "BLACK": ("Black", "percent"),
    "DUAL": ("Dually eligible for Medicaid", "percent"),
    "PART_D": ("Enrolled in Part D", "percent"),
    "total_cholesterol": ("Total cholesterol, mg/dL", "mean"),
    "hdl": ("HDL cholesterol, mg/dL", "mean"),
    "systolic_bp": ("Systolic blood pressure, mmHg", "mean"),
    "SMOKER": ("Current smoker", "percent"),
    "DIABETES": ("Diabetes", "percent"),
    "BP_TREATED": ("Treated for hypertension", "percent"),
    "STATIN": ("Statin use", "percent"),
    "RISK_PCT": ("10-year ASCVD risk, percent", "mean"),
    "MODIFIABLE_PCT": ("Modifiable share of risk, percent", "mean"),
    "RURAL": ("Organization is rural", "percent"),
    "HEALTH_SYSTEM": ("Organization is health-system owned", "percent"),
    "CARDIOLOGY": ("Organization type: cardiology", "percent"),
    "MULTISPECIALTY": ("Organization type: multispecialty", "percent"),
}


def publishable_flow(flow: pd.DataFrame, rule: Rule = Rule(), name: str = "cohort_flow") -> ProtectedTables:
    """A flow table with counts renamed n_*, protected by :func:`mheval.disclosure.protect` over
    its relations: ``cohort_flow`` (beneficiaries; arms sum to the total; enrolled = exclusions +
    analyzed; analyzed = high + medium) or ``organization_flow`` (organizations, from
    :func:`mheval.cohort.flow.organization_flow`; randomized = withdrawn + the rest = enrolling +
    the rest; enrolling = analyzed + the rest)."""
    t = flow.rename(columns={"intervention": "n_intervention", "control": "n_control", "total": "n_total"})
    return protect({name: t}, rule)


BASELINE_OUTCOMES = {
    "spend_ab_y0": ("Baseline year: Part A and B spending, USD", "mean"),
    "spend_cvd_y0": ("Baseline year: CVD-related spending, USD", "mean"),
    "hosp_all_y0": ("Baseline year: hospitalizations", "mean"),
    "ed_all_y0": ("Baseline year: outpatient ED visits", "mean"),
    "office_mh_y0": ("Baseline year: office visits with participating providers", "mean"),
}


def balance_for_populations(cohort: pd.DataFrame, beneficiary_year: pd.DataFrame | None = None) -> pd.DataFrame:
    """Balance table (intervention vs control) for high risk and for high + medium risk, each led by
    its number of beneficiaries per arm (statistic ``count``, the denominators of its percents).

    With the beneficiary-year file, the baseline-year claims outcomes are included too. When any
    beneficiary's dual status is unknown (DUAL missing), the dual percentage is of those with a
    known status and a "Dual status unknown" row follows it.
    """
    d = cohort.copy()
    variables = dict(BALANCE_VARIABLES)
    if beneficiary_year is not None:
        y0 = beneficiary_year.loc[beneficiary_year["YEAR"] == 0, ["BENE_ID"] + list(BASELINE_OUTCOMES)]
        d = d.merge(y0, on="BENE_ID", how="left")
        variables.update(BASELINE_OUTCOMES)
    d["MALE"] = (d["SEX"] == "male").astype(float)
    d["BLACK"] = (d["RACE"] == "black").astype(float)
    d["SMOKER"] = (d["smoking"] > 0).astype(float)
    d["DIABETES"] = (d["diabetes"] > 0).astype(float)
    d["BP_TREATED"] = (d["antihypertensive"] > 0).astype(float)
    d["STATIN"] = (d["statin"] > 0).astype(float)
    d["RISK_PCT"] = 100 * d["RISK"]
    d["MODIFIABLE_PCT"] = 100 * d["MODIFIABLE_SHARE"]
    d["CARDIOLOGY"] = (d["ORG_TYPE"] == "cardiology").astype(float)
    d["MULTISPECIALTY"] = (d["ORG_TYPE"] == "multispecialty").astype(float)
    for c in ("DUAL", "PART_D", "RURAL", "HEALTH_SYSTEM"):
        d[c] = d[c].astype(float)
    if d["DUAL"].isna().any():  # unknown dual status stays unknown: a row of its own, never "not dual"
        d["DUAL_UNKNOWN"] = d["DUAL"].isna().astype(float)
        variables = {k2: v2 for k, v in variables.items() for k2, v2 in (
            [("DUAL", ("Dually eligible for Medicaid, of those with known status", "percent")),
             ("DUAL_UNKNOWN", ("Dual status unknown", "percent"))] if k == "DUAL" else [(k, v)])}
    parts = []
    for population, sub in (("high", d[d["STRATUM"] == "high"]), ("high_medium", d)):
        n = sub.groupby("MH").size()
        parts.append(pd.DataFrame([{"population": population, "variable": "Beneficiaries", "statistic": "count",
                                    "intervention": n.get(1, 0), "control": n.get(0, 0), "std_difference": np.nan}]))
        parts.append(balance_table(sub, variables, population=population))
    return pd.concat(parts, ignore_index=True).replace({np.inf: np.nan})
