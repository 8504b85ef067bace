"""Hazard-ratio impact of the model on one outcome in one population (Equation 4).

Primary: the Cox model with a shared gamma frailty per organization (the unit of randomization),
:func:`mheval.models.frailty_cox.fit_frailty_cox`, as R's ``coxph(... + frailty(ORG_ID))``; its
hazard ratio is conditional on the organization. Sensitivity: the marginal Cox model with
cluster-robust (sandwich) standard errors by organization (:func:`fit_marginal_cox`), whose hazard
ratio is population-averaged. Both adjust for the covariates of Equation 1
(:func:`mheval.models.covariates.adjustment_covariates`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models.covariates import POPULATIONS, adjustment_covariates
from mheval.models.frailty_cox import fit_frailty_cox
from mheval.models.marginal_cox import crude_rates, fit_marginal_cox

OUTCOMES = {"event": ("T_EVENT", "EVENT", "First heart attack, stroke or TIA"),
            "death": ("T_DEATH", "DEATH", "All-cause death")}


def design_matrix(df: pd.DataFrame, population: str) -> tuple[pd.DataFrame, list[str]]:
    """MH and the adjustment covariates (:func:`mheval.models.covariates.adjustment_covariates`).
    Returns the frame and the covariate names."""
    x = adjustment_covariates(df, population)
    x.insert(0, "MH", df["MH"].astype(int))
    return x, list(x.columns)


def survival_frame(tte: pd.DataFrame, outcome: str, population: str) -> tuple[pd.DataFrame, list[str]]:
    """The population's rows with duration, event, ORG_ID, MH and the adjustment covariates (those
    with variation). Returns the frame and the covariate names (MH first)."""
    duration, event, _ = OUTCOMES[outcome]
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    x, cov = design_matrix(df, population)
    cov = [c for c in cov if c == "MH" or x[c].nunique() > 1]
    x = x[cov].copy()
    x[duration], x[event], x["ORG_ID"] = df[duration].to_numpy(), df[event].to_numpy(), df["ORG_ID"].to_numpy()
    return x, cov


def _effect(b: float, se: float, z: float) -> dict:
    return {"log_hr": b, "se": se, "hr": float(np.exp(b)), "lower": float(np.exp(b - z * se)),
            "upper": float(np.exp(b + z * se)), "p": float(2 * stats.norm.sf(abs(b / se))),
            "prob_hr_below_1": float(stats.norm.cdf(-b / se))}


def survival_impact(tte: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10) -> dict:
    """Fit Equation 4 for ``outcome`` ("event" or "death") in ``population``.

    Returns a JSON-ready dict: the frailty model's hazard ratio of intervention vs control with its
    (1 - alpha) interval, p-value and the Bayesian reading under a flat prior (probability HR < 1)
    at the top level; the frailty variance and the search's convergence; the marginal
    (cluster-robust) model under "marginal"; crude rates per 1,000 person-years by arm; and both
    coefficient tables.
    """
    duration, event, label = OUTCOMES[outcome]
    x, cov = survival_frame(tte, outcome, population)
    z = stats.norm.ppf(1 - alpha / 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fr = fit_frailty_cox(x, duration, event, cov, "ORG_ID")
    mg = fit_marginal_cox(x, duration, event, cov, "ORG_ID", treatment="MH")
    out = {
        "outcome": outcome, "outcome_label": label, "population": population,
        "model": "Cox model with a shared gamma frailty per organization (as R's coxph + frailty), Efron ties",
        "alpha": alpha, "n": fr.n, "n_events": fr.n_events, "n_organizations": fr.n_clusters,
        **_effect(float(fr.params["MH"]), float(fr.bse["MH"]), z),
        "theta": fr.theta, "converged": fr.converged, "warnings": [str(w.message) for w in caught],
        "marginal": {"model": "marginal Cox, Efron ties, cluster-robust (sandwich) SE by organization",
                     **_effect(float(mg.params["MH"]), float(mg.bse["MH"]), z)},
        "crude": crude_rates(x, duration, event),
        "coefficients": fr.summary(alpha).reset_index(names="term").to_dict(orient="records"),
        "coefficients_marginal": mg.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }
    return out
