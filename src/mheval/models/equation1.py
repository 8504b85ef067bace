"""Equation 1 impacts for a continuous repeated outcome (evaluation design report, section V.A).

y_ipt = sum_tau 1(t = tau)(alpha_tau + delta_tau MH_p) + beta x_i + phi y_i0 + theta z_p + gamma_p + lambda_i + e_ipt,
fitted by :func:`mheval.models.nested_lmm.fit_nested_lmm` on follow-up years 1-5 with the share of
the year observed as precision weight and REML. Reported: each year's impact delta_t and their
average (weighted by the beneficiary-years observed in each year), standard errors, (1 - alpha)
intervals, p-values, regression-adjusted control and intervention means, the impact in percent
of the control mean, and the flat-prior Bayesian reading (P(impact < 0) and P(reduction of at
least ``size`` percent of the control mean)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from mheval.models.covariates import POPULATIONS, adjustment_covariates
from mheval.models.estimability import Limits, check_estimable, check_standard_error, estimate_or_note
from mheval.models.nested_lmm import fit_nested_lmm


def model_frame(by: pd.DataFrame, outcome: str, population: str) -> pd.DataFrame:
    """Follow-up rows (years 1-5, weight > 0) of ``population`` with Equation 1's covariates."""
    d = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0) & by["STRATUM"].isin(POPULATIONS[population])].copy()
    d = d[d[outcome].notna()]
    d = d.reset_index(drop=True)
    cov = adjustment_covariates(d, population)
    d = d.drop(columns=list(cov.columns), errors="ignore").join(cov)
    base = f"{outcome}_y0"
    d["Y0"] = d[base].fillna(d[base].mean())  # missing baseline (no FFS months): the mean
    d["Y0_MISSING"] = d[base].isna().astype(float)
    return d


def model_covariates(d: pd.DataFrame, population: str) -> list[str]:
    """The covariates of Equation 1 in a :func:`model_frame`: the adjustment covariates, the
    baseline outcome ``Y0`` and its missing flag (every one, varying or not)."""
    return list(adjustment_covariates(d.head(1), population).columns) + ["Y0", "Y0_MISSING"]


MODEL = "Equation 1: nested LMM, REML, precision weights"


def equation1_impact(by: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                     size_percent: float = 5.0, limits: Limits | None = None) -> dict:
    """Fit Equation 1 and return the impacts as a JSON-ready dict (see module docstring), or a
    not-estimable result (:mod:`mheval.models.estimability`) with its reason."""
    return estimate_or_note(lambda: _equation1(by, outcome, population, alpha, size_percent, limits),
                            outcome=outcome, population=population, model=MODEL, alpha=alpha,
                            size_percent=size_percent)


def _equation1(by, outcome, population, alpha, size_percent, limits) -> dict:
    d = model_frame(by, outcome, population)
    check_estimable(d[outcome], d["MH"], d["ORG_ID"], "continuous", limits)
    covs = [c for c in model_covariates(d, population) if d[c].nunique() > 1]
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH + " + " + ".join(covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", reml=True)
    names = list(fit.params.index)
    cov = fit.cov_params().to_numpy()
    beta = fit.params.to_numpy()
    years = sorted(d["YEAR"].unique())
    # regression-adjusted control means by year: predictions with MH = 0 averaged over that year's rows
    design = patsy.dmatrix(formula.split("~", 1)[1], d.assign(MH=0), return_type="dataframe")
    design = design[names]
    z = stats.norm.ppf(1 - alpha / 2)
    rows, contrast, py = [], np.zeros(len(names)), []
    for t in years:
        term = f"C(YEAR)[{t}]:MH"
        c = np.zeros(len(names))
        c[names.index(term)] = 1.0
        w = d.loc[d["YEAR"] == t, "WEIGHT"].sum()
        py.append(w)
        contrast += w * c
        control_mean = float(design[d["YEAR"] == t].to_numpy().mean(axis=0) @ beta)
        rows.append(_impact_row(f"year {t}", c, beta, cov, control_mean, z, size_percent))
    contrast /= sum(py)
    control_avg = float(np.average([r["control_mean"] for r in rows], weights=py))
    average = _impact_row("average", contrast, beta, cov, control_avg, z, size_percent)
    return {
        "outcome": outcome, "population": population, "model": MODEL,
        "alpha": alpha, "size_percent": size_percent, "n_obs": fit.n_obs, "n_beneficiaries": fit.n_groups["bene"],
        "n_organizations": fit.n_groups["org"], "converged": fit.converged, "llf": fit.llf,
        "variance_components": fit.variance_components, "average": average, "by_year": rows,
        "coefficients": fit.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }


def _impact_row(label, c, beta, cov, control_mean, z, size_percent) -> dict:
    est = float(c @ beta)
    se = float(np.sqrt(c @ cov @ c))
    check_standard_error(se, f"the impact in {label}")
    threshold = -abs(size_percent) / 100 * abs(control_mean)
    return {"period": label, "impact": est, "se": se, "lower": est - z * se, "upper": est + z * se,
            "p": float(2 * stats.norm.sf(abs(est / se))), "control_mean": control_mean,
            "intervention_mean": control_mean + est,
            "impact_percent": 100 * est / control_mean if control_mean else float("nan"),
            "prob_below_0": float(stats.norm.cdf(-est / se)),
            "prob_reduction_at_least_size": float(stats.norm.cdf((threshold - est) / se))}


def predicted_risk_frame(visits: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Shape the predicted-risk visits (results/analysis/predicted_risk.parquet) for Equation 1:
    outcome ``risk_pct`` (10-year risk in percentage points) by follow-up year, baseline risk as
    ``risk_pct_y0``, weight 1 per visit, and the cohort's covariates."""
    v = visits[visits["FU_YEAR"] > 0].dropna(subset=["RISK"])
    v = v.sort_values(["BENE_ID", "FU_YEAR", "VISIT_DT"]).drop_duplicates(["BENE_ID", "FU_YEAR"])
    cols = ["BENE_ID", "AGE", "SEX", "RACE", "DUAL", "RISK", "smoking", "diabetes", "antihypertensive", "RURAL",
            "HEALTH_SYSTEM", "ORG_TYPE"]
    d = v[["BENE_ID", "ORG_ID", "MH", "STRATUM", "FU_YEAR", "RISK", "BASELINE_RISK"]].rename(
        columns={"FU_YEAR": "YEAR", "RISK": "VISIT_RISK"}).merge(cohort[cols], on="BENE_ID", how="left")
    d["risk_pct"] = 100 * d.pop("VISIT_RISK")
    d["risk_pct_y0"] = 100 * d.pop("BASELINE_RISK")
    d["WEIGHT"] = 1.0
    d["ORG_N_ENROLLED"] = d["ORG_ID"].map(cohort.groupby("ORG_ID").size())
    return d
