"""Impact tables built from the model result files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.models.estimability import is_estimable
from mheval.report.bayesian_reading import probability_phrase  # noqa: F401 (re-exported)

POPULATION_LABELS = {"high": "High risk", "medium": "Medium risk", "high_medium": "High + medium risk"}


def not_estimable_note(result: dict) -> str:
    """The ``note`` cell of a result's table row: "" for an estimate, "not estimable: <reason>"
    otherwise (:mod:`mheval.models.estimability`)."""
    return "" if is_estimable(result) else f"not estimable: {result['reason']}"


def left_out_results(left_out: dict[str, str], populations, **fields) -> list[dict]:
    """Not-estimable results for outcomes left out of the run for want of an input
    (:func:`mheval.contract.availability.restrict_config`), one per population, for the tables."""
    from mheval.models.estimability import not_estimable

    return [not_estimable(reason, outcome=o, outcome_label=outcome_label(o), population=p, **fields)
            for o, reason in left_out.items() for p in populations]


def hazard_ratio_table(results: list[dict]) -> pd.DataFrame:
    """Rows per outcome and population: events, person-years and rate per 1,000 person-years by
    arm, hazard ratio with its interval and p-value, and P(HR < 1) (shaped like the trial's
    published Table 3); from the frailty model, with its frailty variance and the marginal
    (cluster-robust) model's hazard ratio and interval as the sensitivity analysis. A not-estimable
    result is a row with empty cells and the reason in ``note``. Not suppressed: publish it through
    :func:`mheval.disclosure.protect` (table name ``hazard_ratios``)."""
    rows = []
    for r in results:
        row = {"outcome": r["outcome_label"], "population": POPULATION_LABELS.get(r["population"], r["population"])}
        if not is_estimable(r):
            rows.append({**row, "note": not_estimable_note(r)})
            continue
        for arm in ("intervention", "control"):
            c = r["crude"][arm]
            row[f"n_events_{arm}"] = c["events"]
            row[f"person_years_{arm}"] = c["person_years"]  # unrounded: the rate beside it is computed from it
            row[f"rate_per_1000py_{arm}"] = c["rate_per_1000py"]
        pct = int(round(100 * (1 - r["alpha"])))
        row["hazard_ratio"] = r["hr"]
        row[f"ci{pct}_lower"] = r["lower"]
        row[f"ci{pct}_upper"] = r["upper"]
        row["p_value"] = r["p"]
        row["prob_reduction"] = r["prob_hr_below_1"]
        if "theta" in r:
            row["frailty_variance"] = r["theta"]
            row["frailty_variance_at_boundary"] = bool(r.get("theta_at_boundary", False))  # for the table note
        if "marginal" in r:
            m = r["marginal"]
            row["hazard_ratio_marginal"] = m["hr"]
            row[f"ci{pct}_lower_marginal"] = m["lower"]
            row[f"ci{pct}_upper_marginal"] = m["upper"]
        rows.append({**row, "note": ""})
    out = pd.DataFrame(rows)
    out = out[[c for c in out.columns if c != "note"] + ["note"]]
    for c in out.columns:
        if c.startswith("n_events_"):
            out[c] = out[c].astype("Int64")
    return out


OUTCOME_LABELS = {
    "spend_ab": "Part A and B spending per year, USD",
    "spend_ab_mh": "Part A and B spending with model payments per year, USD",
    "spend_cvd": "CVD-related spending per year, USD",
    "spend_ab_pbpm": "Part A and B spending per beneficiary per month, USD",
    "spend_ab_mh_pbpm": "Part A and B spending with model payments per beneficiary per month, USD",
    "spend_cvd_pbpm": "CVD-event spending (event and 90 days after) per beneficiary per month, USD",
    "hosp_cvd_event": "Heart attack, stroke or TIA hospitalizations per year",
    "ed_cvd_event": "Heart attack, stroke or TIA outpatient ED visits per year",
    "hosp_all": "Hospitalizations per year",
    "hosp_cvd": "CVD hospitalizations (heart attack, stroke, TIA, other CVD) per year",
    "ed_all": "Outpatient ED visits per year",
    "ed_cvd": "CVD outpatient ED visits (heart attack, stroke, TIA, other CVD) per year",
    "office_mh": "Office visits with participating providers per year",
    "risk_pct": "Predicted 10-year ASCVD risk at follow-up visits, percentage points",
    "any_hosp": "Any hospitalization in the year, percent (impact in percentage points)",
    "med_statin": "Statin initiation or intensification in the year, percent (impact in pp)",
    "med_antihypertensive": "Antihypertensive initiation or added class in the year, percent (impact in pp)",
    "event_within_window": "First heart attack, stroke or TIA within the fixed window, percent (impact in pp)",
    "sbp": "Systolic blood pressure at follow-up visits, mmHg (impact: adjusted change from baseline)",
    "ldl": "LDL cholesterol at follow-up visits, mg/dL (impact: adjusted change from baseline)",
}


def outcome_label(outcome: str) -> str:
    """The table label of any outcome: Equation 1 and 2 outcomes, and the time-to-event outcomes
    (labels of :data:`mheval.models.equation4.OUTCOMES`)."""
    from mheval.models.equation4 import OUTCOMES

    from mheval.models.equation2 import medication_outcome_label

    if outcome in OUTCOME_LABELS:
        return OUTCOME_LABELS[outcome]
    if outcome.startswith("med_") and outcome.count("_") == 2:
        try:
            return f"{medication_outcome_label(outcome)}, percent (impact in pp)"
        except ValueError:
            return outcome
    return OUTCOMES[outcome][2] if outcome in OUTCOMES else outcome


def continuous_impact_table(results: list[dict], directions: dict | None = None,
                            default_direction: str = "decrease") -> pd.DataFrame:
    """One row per outcome and population from Equation 1 results: control mean, intervention
    regression-adjusted mean, average impact with its interval, percent, p-value, the outcome's
    desired direction and the probability of any improvement and of an improvement of at least
    the configured size in that direction (:mod:`mheval.report.bayesian_reading`). A
    not-estimable result is a row with empty cells and the reason in ``note``."""
    from mheval.report.bayesian_reading import improvement_probabilities, outcome_direction

    rows = []
    for r in results:
        label = {"outcome": outcome_label(r["outcome"]),
                 "population": POPULATION_LABELS.get(r["population"], r["population"])}
        if not is_estimable(r):
            rows.append({**label, "note": not_estimable_note(r)})
            continue
        a = r["average"]
        pct = int(round(100 * (1 - r["alpha"])))
        rows.append({**label, "control_mean": a["control_mean"], "intervention_mean": a["intervention_mean"],
                     "impact": a["impact"], f"ci{pct}_lower": a["lower"], f"ci{pct}_upper": a["upper"],
                     "impact_percent": a["impact_percent"], "p_value": a["p"]})
        direction = outcome_direction(r["outcome"], directions, default_direction)
        p_size, p_any = improvement_probabilities(a, direction, r["size_percent"])
        rows[-1] |= {"desired_direction": direction, "prob_any_improvement": p_any,
                     f"prob_improvement_{r['size_percent']:g}pct": p_size, "note": ""}
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "note"] + ["note"]]


# noun phrases for sentences (OUTCOME_LABELS carry units and are for table rows)
OUTCOME_NOUNS = {
    "spend_ab": "Part A and B spending", "spend_ab_mh": "Part A and B spending including model payments",
    "spend_cvd": "CVD-related spending", "hosp_all": "hospitalizations", "hosp_cvd": "CVD hospitalizations",
    "spend_ab_pbpm": "Part A and B spending per beneficiary per month",
    "spend_ab_mh_pbpm": "Part A and B spending including model payments per beneficiary per month",
    "spend_cvd_pbpm": "CVD-related spending per beneficiary per month",
    "hosp_cvd_event": "heart attack, stroke and TIA hospitalizations",
    "ed_cvd_event": "heart attack, stroke and TIA outpatient ED visits",
    "ed_all": "outpatient ED visits", "ed_cvd": "CVD outpatient ED visits",
    "office_mh": "office visits with participating providers", "risk_pct": "predicted 10-year ASCVD risk",
    "any_hosp": "the share with any hospitalization", "med_statin": "statin initiation or intensification",
    "med_antihypertensive": "antihypertensive initiation or intensification",
    "event_within_window": "first heart attacks, strokes and TIAs within the fixed window",
    "sbp": "systolic blood pressure", "ldl": "LDL cholesterol",
}


def outcome_noun(outcome: str) -> str:
    """The noun phrase of an outcome for sentences (:data:`OUTCOME_NOUNS`; a medication window
    outcome ``med_<drug>_<months>m`` from its label, e.g. "statin initiation or intensification
    within 6 months of enrollment")."""
    from mheval.models.equation2 import medication_outcome_label

    if outcome in OUTCOME_NOUNS:
        return OUTCOME_NOUNS[outcome]
    try:
        label = medication_outcome_label(outcome)
    except ValueError:
        return outcome
    return label[0].lower() + label[1:]


def bayesian_readings(results: list[dict], directions: dict | None = None, default_direction: str = "decrease") -> list[str]:
    """The flat-prior Bayesian reading of each Equation 1 impact, average and by year, in the
    outcome's desired direction (:func:`mheval.report.bayesian_reading.bayesian_readings`)."""
    from mheval.report import bayesian_reading

    nouns = {r["outcome"]: outcome_noun(r["outcome"]) for r in results}
    return bayesian_reading.bayesian_readings(results, nouns, POPULATION_LABELS, directions, default_direction)


def probability_of_size_curves(mixed: list[dict], survival: list[dict], sizes=None) -> pd.DataFrame:
    """P(reduction of at least s percent) for s over ``sizes`` (default 0-20 percent), for every
    Equation 1 average impact (s percent of the regression-adjusted control mean) and every hazard
    ratio (HR <= 1 - s/100), reading each estimate as a flat-prior posterior: estimate + SE x the
    estimate's reference distribution (normal, or t(df) when the row has ``df``, as its interval and its
    ``prob_reduction_at_least_size``; on the log scale for hazard ratios). Columns: label, outcome,
    population, size, probability."""
    from mheval.models.wald import reference

    sizes = np.arange(0, 20.5, 0.5) if sizes is None else np.asarray(sizes, float)
    rows = []
    for r in (r for r in mixed if is_estimable(r)):
        a = r["average"]
        p = reference(a.get("df")).cdf((-sizes / 100 * abs(a["control_mean"]) - a["impact"]) / a["se"])
        noun = OUTCOME_NOUNS.get(r["outcome"], r["outcome"])
        label = noun[0].upper() + noun[1:]
        rows.append(pd.DataFrame({"label": label, "outcome": r["outcome"], "population": r["population"],
                                  "size": sizes, "probability": p}))
    for r in (r for r in survival if is_estimable(r)):
        p = reference(r.get("df")).cdf((np.log(1 - sizes / 100) - r["log_hr"]) / r["se"])
        text = r["outcome_label"]
        label = f"Hazard of {text[0].lower() + text[1:]}"
        rows.append(pd.DataFrame({"label": label, "outcome": r["outcome"], "population": r["population"],
                                  "size": sizes, "probability": p}))
    if not rows:
        return pd.DataFrame(columns=["label", "outcome", "population", "size", "probability"])
    return pd.concat(rows, ignore_index=True)


def ph_test_table(results: list[dict]) -> pd.DataFrame:
    """Scaled Schoenfeld residual tests (as R's cox.zph, KM transform) of the treatment term and
    globally, per outcome and population, and whether the hazard ratio by follow-up year is reported.
    A not-estimable outcome is a row with empty cells and the reason in ``note``."""
    rows = []
    for r in results:
        label = {"outcome": r["outcome_label"], "population": POPULATION_LABELS.get(r["population"], r["population"])}
        if not is_estimable(r):
            rows.append({**label, "note": not_estimable_note(r)})
            continue
        ph = r["ph_test"]
        rows.append({**label, "treatment_chisq": ph["treatment"]["chisq"], "treatment_p": ph["treatment"]["p"],
                     "global_chisq": ph["global"]["chisq"], "global_df": int(ph["global"]["df"]),
                     "global_p": ph["global"]["p"], "level": ph["alpha"],
                     "rejects": ("yes: hazard ratio by year reported" if not r.get("by_year_note")
                                 else f"yes: hazard ratio by year {r['by_year_note']}") if ph["rejects"] else "no",
                     "note": ""})
    out = pd.DataFrame(rows)
    if "global_df" in out:
        out["global_df"] = out["global_df"].astype("Int64")
    return out


def by_year_table(results: list[dict]) -> pd.DataFrame:
    """Hazard ratio by follow-up year (episode splitting) for the outcomes and populations whose
    proportional-hazards test rejected; event counts are not published here."""
    rows = []
    for r in results:
        pct = int(round(100 * (1 - r["alpha"])))
        for y in r.get("by_year", []):
            rows.append({"outcome": r["outcome_label"], "population": POPULATION_LABELS.get(r["population"], r["population"]),
                         "follow_up_year": int(y["year"]), "hazard_ratio": y["hr"], f"ci{pct}_lower": y["lower"],
                         f"ci{pct}_upper": y["upper"], "p_value": y["p"], "note": y.get("note", "")})
    if not rows:
        return pd.DataFrame({"note": ["The proportional-hazards test rejected for no outcome and population; "
                                      "no hazard ratios by follow-up year are reported."]})
    return pd.DataFrame(rows)


INCIDENCE_METHODS = {
    "standardized": "Aalen-Johansen, standardized (cause-specific Cox models; death a competing risk)",
    "unadjusted": "Aalen-Johansen, unadjusted (death a competing risk)",
    "one_minus_s": "Sensitivity: 1 - S, standardized (Cox model; deaths censored)",
}
INCIDENCE_NOTE = ("Cumulative incidence counts a death without the event as ending the chance of an event "
                  "(death a competing risk, Aalen-Johansen); 1 - S, which treats those deaths as censored and "
                  "overstates the incidence, is shown only as a sensitivity analysis. All-cause death has no "
                  "competing risk (its Aalen-Johansen estimate is 1 - Kaplan-Meier).")


def incidence_method_label(method: str, outcome: str) -> str:
    """The label of a cumulative-incidence method (:data:`INCIDENCE_METHODS`) for ``outcome``: for
    all-cause death, which has no competing risk, the competing-risk methods say so."""
    if outcome == "death":
        if method == "one_minus_s":
            return "Sensitivity: 1 - S, standardized (Cox model with the arm as a covariate)"
        return INCIDENCE_METHODS[method].split(" (")[0] + " (all-cause death: no competing risk)"
    return INCIDENCE_METHODS.get(method, method)


def adjusted_incidence_table(tables: list[pd.DataFrame], alpha: float = 0.10) -> pd.DataFrame:
    """Cumulative incidence (percent) by follow-up year: intervention, control and the difference
    (percentage points) with (1 - alpha) cluster-bootstrap intervals, one row per outcome,
    population, method and year. ``tables`` are the per-fit tables (columns year, method, arm,
    estimate, lower, upper, note, outcome, population; method "standardized" and "unadjusted":
    Aalen-Johansen with death a competing risk, "one_minus_s": 1 - S with deaths censored, the
    sensitivity; a table without ``method`` is 1 - S). A year with too few at risk or events is not
    estimable, with the reason in ``note``. Columns ``method`` (machine) and ``method_label``."""
    pct = int(round(100 * (1 - alpha)))
    rows = []
    for t in tables:
        t = t if "method" in t.columns else t.assign(method="one_minus_s")
        outcome = t["outcome"].iloc[0]
        for method in [m for m in INCIDENCE_METHODS if m in set(t["method"])]:
            for year, g in t[t["method"] == method].groupby("year", sort=True):
                a = g.set_index("arm")
                row = {"outcome": outcome_label(outcome),
                       "population": POPULATION_LABELS.get(t["population"].iloc[0], t["population"].iloc[0]),
                       "method": method, "method_label": incidence_method_label(method, outcome),
                       "follow_up_year": int(year)}
                for arm in ("intervention", "control", "difference"):
                    row[f"{arm}"] = a.loc[arm, "estimate"]
                    row[f"{arm}_ci{pct}_lower"] = a.loc[arm, "lower"]
                    row[f"{arm}_ci{pct}_upper"] = a.loc[arm, "upper"]
                given = a.loc["difference", "note"] if "note" in a.columns else np.nan
                row["note"] = (given if isinstance(given, str) and given else
                               "" if np.isfinite(a.loc["difference", "estimate"]) else "not estimable: too few at risk")
                rows.append(row)
    return pd.DataFrame(rows)


def subgroup_table(results: list[dict]) -> pd.DataFrame:
    """Subgroup impacts per outcome, population, dimension and level: the unpooled estimate from
    the interaction model with its interval, the partially pooled posterior mean with its credible
    interval, P(impact < 0) and P(impact beyond the configured size) under the hierarchical model,
    and the heterogeneity test's p-value, with the level's beneficiaries per arm. Cox outcomes are
    shown as hazard ratios, Equation 1 outcomes in their units. A fit that was not estimable (listed
    in the result's ``skipped``) is a row with empty cells and the reason in ``note``. Not
    suppressed: publish it through :func:`mheval.disclosure.protect` (table name ``subgroups``: the
    estimates of a level with an arm of fewer than ``min_cell`` beneficiaries are suppressed, and the
    levels sum to the population)."""
    rows = []
    for r in results:
        pct = int(round(100 * (1 - r["alpha"])))
        for s in r.get("skipped", []):
            rows.append({"outcome": outcome_label(s["outcome"]), "scale": "hazard ratio" if s["model"] == "cox" else "impact",
                         "population": POPULATION_LABELS.get(s["population"], s["population"]),
                         "dimension": s["dimension"], "note": f"not estimable: {s['reason']}"})
        for i in r["impacts"]:
            cox = i["model"] == "cox"
            f = np.exp if cox else (lambda v: v)
            rows.append({"outcome": outcome_label(i["outcome"]), "scale": "hazard ratio" if cox else "impact",
                         "population": POPULATION_LABELS.get(i["population"], i["population"]),
                         "dimension": i["dimension"], "level": i["level"],
                         **{f"n_beneficiaries_{a}": i[f"n_beneficiaries_{a}"] for a in ("intervention", "control")
                            if f"n_beneficiaries_{a}" in i},
                         "unpooled": f(i["estimate"]), f"unpooled_ci{pct}_lower": f(i["lower"]),
                         f"unpooled_ci{pct}_upper": f(i["upper"]),
                         "pooled": f(i["post_mean"]), f"pooled_cri{pct}_lower": f(i["cred_lower"]),
                         f"pooled_cri{pct}_upper": f(i["cred_upper"]),
                         "prob_reduction": i["prob_below_0"], "prob_beyond_size": i["prob_beyond_size"],
                         "heterogeneity_p": i["heterogeneity_p"], "note": ""})
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "note"] + ["note"]] if "note" in out else out


def subgroup_tests_table(results: list[dict]) -> pd.DataFrame:
    """Per outcome, population and dimension: the Wald test that every level has the same impact,
    and for organization size the direct test of the size x impact interaction (the impact's change
    per doubling of the organization's analyzed beneficiaries, on the model's scale: log hazard ratio
    or outcome units)."""
    rows = []
    for r in results:
        for t in r["tests"]:
            size = t.get("size_interaction") or {}
            rows.append({"outcome": outcome_label(t["outcome"]),
                         "population": POPULATION_LABELS.get(t["population"], t["population"]),
                         "dimension": t["dimension"], "heterogeneity_chisq": t["heterogeneity"]["chi2"],
                         "heterogeneity_df": int(t["heterogeneity"]["df"]), "heterogeneity_p": t["heterogeneity"]["p"],
                         "size_interaction_per_doubling": size.get("coef_per_doubling", np.nan),
                         "size_interaction_p": size.get("p", np.nan)})
    return pd.DataFrame(rows)


def spending_per_beneficiary_month(impacts: pd.DataFrame) -> pd.DataFrame:
    """The spending rows of the impact table (:func:`continuous_impact_table`, read back from its CSV)
    per beneficiary per month (PBPM), the trial's published unit: the table's own ``*_pbpm``
    columns when it has them, otherwise the annual means, impact and interval divided by 12 (the
    percent impact and the probabilities are the same in either unit). Columns: outcome,
    population, control_mean_pbpm, intervention_mean_pbpm, impact_pbpm with its interval, and the
    percent, p-value, probability and note columns as in the impact table."""
    rows = impacts[impacts["outcome"].astype(str).str.contains("spending", case=False)].reset_index(drop=True)
    ci = [c for c in rows.columns if str(c).startswith("ci") and str(c).endswith(("_lower", "_upper"))]
    annual = ["control_mean", "intervention_mean", "impact"] + ci
    out = rows[["outcome", "population"]].copy()
    out["outcome"] = out["outcome"].str.replace(r" per year(, USD)?$", "", regex=True)
    for c in annual:
        given = f"{c}_pbpm"
        if given in rows:
            out[given] = rows[given]
        elif c in rows:
            out[given] = rows[c] / 12
    for c in rows.columns:
        if c in ("impact_percent", "p_value", "note") or str(c).startswith("prob_"):
            out[c] = rows[c]
    return out
