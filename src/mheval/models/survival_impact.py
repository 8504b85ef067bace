"""Hazard-ratio impact of the model on one outcome in one population (Equation 4 covariates)."""

from __future__ import annotations

import pandas as pd
from scipy import stats

from mheval.models.covariates import POPULATIONS, adjustment_covariates
from mheval.models.marginal_cox import crude_rates, fit_marginal_cox

OUTCOMES = {"event": ("T_EVENT", "EVENT", "First heart attack, stroke or TIA"),
            "death": ("T_DEATH", "DEATH", "All-cause death")}


def design_matrix(df: pd.DataFrame, population: str) -> tuple[pd.DataFrame, list[str]]:
    """MH and the adjustment covariates (:func:`mheval.models.covariates.adjustment_covariates`).
    Returns the frame and the covariate names."""
    x = adjustment_covariates(df, population)
    x.insert(0, "MH", df["MH"].astype(int))
    return x, list(x.columns)


def survival_impact(tte: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10) -> dict:
    """Fit the marginal Cox model for ``outcome`` ("event" or "death") in ``population``.

    Returns a JSON-ready dict: hazard ratio of intervention vs control with its (1 - alpha)
    interval and p-value, the Bayesian reading under a flat prior (probability HR < 1), crude
    rates per 1,000 person-years by arm, and the full coefficient table.
    """
    duration, event, label = OUTCOMES[outcome]
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    x, cov = design_matrix(df, population)
    x[duration], x[event], x["ORG_ID"] = df[duration].to_numpy(), df[event].to_numpy(), df["ORG_ID"].to_numpy()
    res = fit_marginal_cox(x, duration, event, cov, "ORG_ID", treatment="MH")
    hr = res.hazard_ratios(alpha).loc["MH"]
    b, se = float(res.params["MH"]), float(res.bse["MH"])
    return {
        "outcome": outcome, "outcome_label": label, "population": population,
        "model": "marginal Cox, Efron ties, cluster-robust SE by organization (lifelines)",
        "alpha": alpha, "n": res.n, "n_events": res.n_events, "n_organizations": res.n_clusters,
        "log_hr": b, "se": se, "hr": float(hr["hr"]), "lower": float(hr["lower"]), "upper": float(hr["upper"]),
        "p": float(hr["p"]), "prob_hr_below_1": float(stats.norm.cdf(-b / se)),
        "crude": crude_rates(df, duration, event),
        "coefficients": res.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }
