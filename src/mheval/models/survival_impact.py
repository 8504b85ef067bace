"""Hazard-ratio impact of the model on one outcome in one population (Equation 4 covariates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models.marginal_cox import crude_rates, fit_marginal_cox

POPULATIONS = {"high": ("high",), "medium": ("medium",), "high_medium": ("high", "medium")}
OUTCOMES = {"event": ("T_EVENT", "EVENT", "First heart attack, stroke or TIA"),
            "death": ("T_DEATH", "DEATH", "All-cause death")}


def design_matrix(df: pd.DataFrame, population: str) -> tuple[pd.DataFrame, list[str]]:
    """Adjustment covariates of Equation 1 available at enrollment (beneficiary x_i and
    organization z_p): age, sex, Black race, dual status, log baseline risk, smoking, diabetes,
    treated blood pressure, risk stratum (in pooled populations), rural, health-system owned and
    organization type. Returns the frame with dummy columns and the covariate names."""
    x = pd.DataFrame(index=df.index)
    x["MH"] = df["MH"].astype(int)
    x["AGE10"] = (df["AGE"] - 70) / 10
    x["MALE"] = (df["SEX"] == "male").astype(int)
    x["BLACK"] = (df["RACE"] == "black").astype(int)
    x["DUAL"] = df["DUAL"].astype(int)
    x["LOG_RISK"] = np.log(df["RISK"])
    x["SMOKER"] = (df["smoking"] > 0).astype(int)
    x["DIABETES"] = (df["diabetes"] > 0).astype(int)
    x["BP_TREATED"] = (df["antihypertensive"] > 0).astype(int)
    if len(POPULATIONS[population]) > 1:
        x["HIGH_RISK"] = (df["STRATUM"] == "high").astype(int)
    x["RURAL"] = df["RURAL"].astype(int)
    x["HEALTH_SYSTEM"] = df["HEALTH_SYSTEM"].astype(int)
    for t in ("cardiology", "multispecialty"):
        x[f"TYPE_{t.upper()}"] = (df["ORG_TYPE"] == t).astype(int)
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
