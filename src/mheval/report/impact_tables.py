"""Impact tables built from the model result files."""

from __future__ import annotations

import numpy as np
import pandas as pd

POPULATION_LABELS = {"high": "High risk", "medium": "Medium risk", "high_medium": "High + medium risk"}


def hazard_ratio_table(results: list[dict], min_cell: int = 11) -> pd.DataFrame:
    """Rows per outcome and population: events, person-years and rate per 1,000 person-years by
    arm, hazard ratio with its interval and p-value, and P(HR < 1) (shaped like the trial's
    published Table 3). Event counts from 1 to ``min_cell - 1`` are suppressed together with the
    rate that would reveal them."""
    rows = []
    for r in results:
        row = {"outcome": r["outcome_label"], "population": POPULATION_LABELS.get(r["population"], r["population"])}
        for arm in ("intervention", "control"):
            c = r["crude"][arm]
            small = 0 < c["events"] < min_cell
            row[f"n_events_{arm}"] = np.nan if small else c["events"]
            row[f"person_years_{arm}"] = round(c["person_years"])
            row[f"rate_per_1000py_{arm}"] = np.nan if small else c["rate_per_1000py"]
        pct = int(round(100 * (1 - r["alpha"])))
        row["hazard_ratio"] = r["hr"]
        row[f"ci{pct}_lower"] = r["lower"]
        row[f"ci{pct}_upper"] = r["upper"]
        row["p_value"] = r["p"]
        row["prob_reduction"] = r["prob_hr_below_1"]
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in out.columns:
        if c.startswith("n_events_"):
            out[c] = out[c].astype("Int64")
    return out


OUTCOME_LABELS = {
    "spend_ab": "Part A and B spending per year, USD",
    "spend_ab_mh": "Part A and B spending with model payments per year, USD",
    "spend_cvd": "CVD-related spending per year, USD",
    "hosp_all": "Hospitalizations per year",
    "hosp_cvd": "CVD hospitalizations per year",
    "ed_all": "Outpatient ED visits per year",
    "ed_cvd": "CVD outpatient ED visits per year",
    "office_mh": "Office visits with participating providers per year",
    "risk_pct": "Predicted 10-year ASCVD risk at follow-up visits, percentage points",
}


def continuous_impact_table(results: list[dict]) -> pd.DataFrame:
    """One row per outcome and population from Equation 1 results: control mean, intervention
    regression-adjusted mean, average impact with its interval, percent, p-value, probability of
    any reduction and of a reduction of at least the configured size."""
    rows = []
    for r in results:
        a = r["average"]
        pct = int(round(100 * (1 - r["alpha"])))
        rows.append({"outcome": OUTCOME_LABELS.get(r["outcome"], r["outcome"]),
                     "population": POPULATION_LABELS.get(r["population"], r["population"]),
                     "control_mean": a["control_mean"], "intervention_mean": a["intervention_mean"],
                     "impact": a["impact"], f"ci{pct}_lower": a["lower"], f"ci{pct}_upper": a["upper"],
                     "impact_percent": a["impact_percent"], "p_value": a["p"], "prob_any_reduction": a["prob_below_0"],
                     f"prob_reduction_{r['size_percent']:g}pct": a["prob_reduction_at_least_size"]})
    return pd.DataFrame(rows)
