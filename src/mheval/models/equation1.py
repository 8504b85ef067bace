"""Equation 1 impacts for a continuous repeated outcome (evaluation design report, section V.A).

y_ipt = sum_tau 1(t = tau)(alpha_tau + delta_tau MH_p) + beta x_i + phi y_i0 + theta z_p + gamma_p + lambda_i + e_ipt,
fitted by :func:`mheval.models.nested_lmm.fit_nested_lmm` on follow-up years 1-5 with the share of
the year observed as precision weight and REML. Reported: each year's impact delta_t and their
average, standard errors, (1 - alpha) intervals, p-values, regression-adjusted control and
intervention means, the impact in percent of the control mean, and the flat-prior Bayesian reading
(P(impact < 0) and P(reduction of at least ``size`` percent of the control mean)).

The average is, by default, the design report's (section V.A): "We can also compute average
impacts across the follow up years (delta-bar = 1/T sum_{tau=1}^{T} delta_tau)", the simple mean
of the T yearly impacts (``average="simple"``; config ``models.average_weighting``). The option
``average="beneficiary_years"`` weights each year's impact by that year's beneficiary-years (the
sum of ``WEIGHT``, the share of the year observed). Either way the average is the contrast c'beta
with c_t = w_t / sum(w) on the yearly terms ``C(YEAR)[t]:MH`` (w_t = 1 for the simple mean), so
its SE is sqrt(c' V c) from the joint covariance V of the yearly coefficients (model-based, or CR2
with its Satterthwaite df); the average control mean uses the same weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

from mheval.models.covariates import POPULATIONS, adjustment_covariates, independent_covariates
from mheval.models.estimability import Limits, check_estimable, check_standard_error, estimate_or_note
from mheval.models.nested_lmm import fit_nested_lmm
from mheval.models.wald import reference, wald_interval


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
AVERAGE_WEIGHTINGS = ("simple", "beneficiary_years")


def check_average_weighting(average: str) -> str:
    """``average`` if it is one of :data:`AVERAGE_WEIGHTINGS`, else one clear ValueError."""
    if average not in AVERAGE_WEIGHTINGS:
        raise ValueError(f"average weighting '{average}' is not one of {list(AVERAGE_WEIGHTINGS)} "
                         "(config models.average_weighting)")
    return average


def equation1_impact(by: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                     size_percent: float = 5.0, cov_type: str = "model", n_perm: int = 0, strata=None,
                     seed: int = 0, limits: Limits | None = None, average: str = "simple") -> dict:
    """Fit Equation 1 and return the impacts as a JSON-ready dict (see module docstring), or a
    not-estimable result (:mod:`mheval.models.estimability`) with its reason.

    ``cov_type``: "model" (model-based SEs, normal reference) or "CR2" (cluster-robust by
    organization with Satterthwaite df per contrast, :mod:`mheval.models.cluster_robust`); with
    CR2 every impact row also keeps the model-based ``se_model`` and ``p_model``. ``n_perm`` > 0
    adds a randomization test of the average impact (organizations re-randomized within
    ``strata``: None, or a Series of randomization strata indexed by ORG_ID; the statistic is the
    average impact by GLS at the fitted variance components) as ``p_randomization`` of the
    average row and "randomization" (:func:`mheval.models.randomization_test.randomization_test`).
    ``average``: "simple" (the design's mean of the yearly impacts, default) or "beneficiary_years"
    (years weighted by their beneficiary-years); recorded as ``average_weighting`` with the
    ``year_weights`` used (see the module docstring).
    """
    check_average_weighting(average)
    return estimate_or_note(lambda: _equation1(by, outcome, population, alpha, size_percent, cov_type, n_perm,
                                               strata, seed, limits, average),
                            outcome=outcome, population=population, model=MODEL, alpha=alpha,
                            size_percent=size_percent, average_weighting=average)


def _equation1(by, outcome, population, alpha, size_percent, cov_type, n_perm, strata, seed, limits, weighting) -> dict:
    d = model_frame(by, outcome, population)
    check_estimable(d[outcome], d["MH"], d["ORG_ID"], "continuous", limits)
    covs = [c for c in model_covariates(d, population) if d[c].nunique() > 1]
    covs, collinear = independent_covariates(d, covs)
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH + " + " + ".join(covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", reml=True, cov_type=cov_type)
    names = list(fit.params.index)
    beta = fit.params.to_numpy()
    years = sorted(d["YEAR"].unique())
    # regression-adjusted control means by year: predictions with MH = 0 averaged over that year's rows
    design = patsy.dmatrix(formula.split("~", 1)[1], d.assign(MH=0), return_type="dataframe")
    design = design[names]
    rows, contrast, py = [], np.zeros(len(names)), []
    for t in years:
        term = f"C(YEAR)[{t}]:MH"
        c = np.zeros(len(names))
        c[names.index(term)] = 1.0
        w = 1.0 if weighting == "simple" else float(d.loc[d["YEAR"] == t, "WEIGHT"].sum())
        py.append(w)
        contrast += w * c
        control_mean = float(design[d["YEAR"] == t].to_numpy().mean(axis=0) @ beta)
        rows.append(_impact_row(f"year {t}", c, fit, control_mean, alpha, size_percent))
    contrast /= sum(py)  # weights summing to 1: 1/K on each of the K yearly terms for the simple mean
    control_avg = float(np.average([r["control_mean"] for r in rows], weights=py))
    average = _impact_row("average", contrast, fit, control_avg, alpha, size_percent)
    out = {
        "outcome": outcome, "population": population, "model": MODEL,
        "alpha": alpha, "size_percent": size_percent, "cov_type": fit.cov_type, "n_obs": fit.nobs,
        "average_weighting": weighting, "year_weights": {f"year {t}": w / sum(py) for t, w in zip(years, py)},
        "n_beneficiaries": fit.n_groups["bene"],
        "n_organizations": fit.n_groups["org"], "converged": fit.converged, "llf": fit.llf,
        "variance_components": fit.variance_components, "average": average, "by_year": rows,
        "dropped_collinear_covariates": collinear,
        "coefficients": fit.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }
    if n_perm > 0:
        from mheval.models.cluster_robust import fixed_variance_gls
        from mheval.models.randomization_test import randomization_test

        rhs = formula.split("~", 1)[1]
        g_o, g_b = fit.theta[0] ** 2, fit.theta[1] ** 2

        def average_impact(x: pd.DataFrame) -> float:
            X = patsy.dmatrix(rhs, x, return_type="dataframe")[names].to_numpy()
            return float(contrast @ fixed_variance_gls(X, x[outcome], x["ORG_ID"], w=x["WEIGHT"], bene=x["BENE_ID"],
                                                        g_org=g_o, g_bene=g_b))
        out["randomization"] = randomization_test(average_impact, d, "MH", "ORG_ID", strata=strata, n_perm=n_perm,
                                                  seed=seed)
        average["p_randomization"] = out["randomization"]["p"]
    return out


def _impact_row(label, c, fit, control_mean, alpha, size_percent) -> dict:
    """One impact c'beta: estimate, SE and df of the fit's cov_type (t(df) with CR2, else normal)
    with interval, p-value and flat-prior probabilities; with CR2 also the model-based SE and p.
    A zero or non-finite SE is not estimable (:func:`check_standard_error`)."""
    est = float(c @ fit.params.to_numpy())
    if fit.cov_type == "CR2":
        var, df = fit.robust.contrast(c)
    else:
        var, df = float(c @ fit.cov_params().to_numpy() @ c), None
    se = float(np.sqrt(var)) if var >= 0 else float("nan")
    check_standard_error(se, f"the impact in {label}")
    lower, upper, p = wald_interval(est, se, alpha, df)
    ref = reference(df)
    threshold = -abs(size_percent) / 100 * abs(control_mean)
    row = {"period": label, "impact": est, "se": se, "df": df, "lower": lower, "upper": upper,
           "p": p, "control_mean": control_mean,
           "intervention_mean": control_mean + est,
           "impact_percent": 100 * est / control_mean if control_mean else float("nan"),
           "prob_below_0": float(ref.cdf(-est / se)),
           "prob_reduction_at_least_size": float(ref.cdf((threshold - est) / se))}
    if fit.cov_type == "CR2":
        # model-based covariance sigma^2 (X' V^-1 X)^-1 = sigma^2 M of the CR2 computation
        se_model = float(np.sqrt(c @ fit.robust.M @ c * fit.variance_components["residual"]))
        row |= {"se_model": se_model, "p_model": wald_interval(est, se_model)[2]}
    return row


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
