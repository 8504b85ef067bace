"""Equation 3: organization-level provider-survey outcomes (evaluation design report, section V.A).

y_pt = sum_tau 1(t = tau) alpha_tau + delta MH_p + theta z_p + gamma_p + e_pt, in calendar time
(survey waves), with an organization random intercept across waves and nonresponse weights: the
inverse of each organization's probability of responding to the wave, from a logistic response
model on organization characteristics, normalized to mean 1 among respondents of the wave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from mheval.models.estimability import check_estimable, check_standard_error, estimate_or_note
from mheval.models.nested_lmm import fit_nested_lmm
from mheval.models.wald import wald_interval

ORG_COVARIATES = ["LOG_PRACTITIONERS", "HEALTH_SYSTEM", "RURAL", "TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY"]


def organization_covariates(orgs: pd.DataFrame) -> pd.DataFrame:
    """z_p for the survey models: log practitioners, health-system owned, rural, organization type."""
    z = pd.DataFrame({"ORG_ID": orgs["ORG_ID"], "MH": (orgs["ARM"] == "intervention").astype(float)})
    z["LOG_PRACTITIONERS"] = np.log(orgs["N_PRACTITIONERS"].astype(float))
    z["HEALTH_SYSTEM"] = orgs["HEALTH_SYSTEM"].astype(float)
    z["RURAL"] = orgs["RURAL"].astype(float)
    z["TYPE_CARDIOLOGY"] = (orgs["ORG_TYPE"] == "cardiology").astype(float)
    z["TYPE_MULTISPECIALTY"] = (orgs["ORG_TYPE"] == "multispecialty").astype(float)
    return z


def nonresponse_weights(frame: pd.DataFrame, survey: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Response indicators for every organization in ``frame`` and wave, the fitted response
    probability (logit on arm, wave and z_p) and the weight 1/p for respondents.

    Returns (one row per organization and wave, summary with response rates)."""
    waves = sorted(survey["WAVE"].unique())
    grid = frame.merge(pd.DataFrame({"WAVE": waves}), how="cross")
    responded = survey[["ORG_ID", "WAVE"]].drop_duplicates().assign(RESPONDED=1.0)
    grid = grid.merge(responded, on=["ORG_ID", "WAVE"], how="left").fillna({"RESPONDED": 0.0})
    X = pd.get_dummies(grid["WAVE"], prefix="WAVE", drop_first=True, dtype=float)
    X = sm.add_constant(pd.concat([X, grid[["MH"] + ORG_COVARIATES]], axis=1))
    model = sm.Logit(grid["RESPONDED"], X).fit(disp=0)
    grid["P_RESPOND"] = model.predict(X)
    grid["NR_WEIGHT"] = np.where(grid["RESPONDED"] == 1, 1 / grid["P_RESPOND"], 0.0)
    resp = grid["RESPONDED"] == 1
    grid.loc[resp, "NR_WEIGHT"] /= grid[resp].groupby("WAVE")["NR_WEIGHT"].transform("mean")
    summary = {"organizations": int(frame["ORG_ID"].nunique()), "waves": [int(w) for w in waves],
               "response_rate": float(grid["RESPONDED"].mean()),
               "response_rate_by_arm": {a: float(grid.loc[grid["MH"] == m, "RESPONDED"].mean())
                                        for m, a in ((1.0, "intervention"), (0.0, "control"))}}
    return grid, summary


def equation3_impact(survey: pd.DataFrame, weights: pd.DataFrame, item: str, alpha: float = 0.10,
                     cov_type: str = "model", limits=None) -> dict:
    """Fit Equation 3 for one survey ``item`` and return the impact (delta) as a JSON-ready dict, or
    a not-estimable result (:mod:`mheval.models.estimability`) with its reason. ``cov_type`` "CR2":
    cluster-robust SE by organization with its Satterthwaite df (t reference;
    :mod:`mheval.models.cluster_robust`), the model-based ``se_model`` and ``p_model`` kept."""
    return estimate_or_note(lambda: _equation3(survey, weights, item, alpha, cov_type, limits), item=item, alpha=alpha)


def _equation3(survey, weights, item, alpha, cov_type, limits) -> dict:
    d = survey[survey["ITEM"] == item].merge(weights[weights["RESPONDED"] == 1], on=["ORG_ID", "WAVE"])
    d = d.dropna(subset=["VALUE"])
    check_estimable(d["VALUE"], d["MH"], d["ORG_ID"], "continuous", limits)
    covs = [c for c in ORG_COVARIATES if d[c].nunique() > 1]
    fit = fit_nested_lmm(d, "VALUE ~ 0 + C(WAVE) + MH + " + " + ".join(covs), org="ORG_ID", bene=None,
                         weights="NR_WEIGHT", cov_type=cov_type)
    b, se = float(fit.params["MH"]), float(fit.bse["MH"])
    check_standard_error(se)
    df = None if fit.df is None else float(fit.df["MH"])
    (lower, upper), p = fit.conf_int(alpha).loc["MH"], float(fit.pvalues["MH"])
    control = d.loc[d["MH"] == 0, "VALUE"]
    out = {"item": item, "model": "Equation 3: organization intercept, nonresponse-weighted, REML", "alpha": alpha,
           "cov_type": cov_type, "n_responses": fit.nobs, "n_organizations": fit.n_groups["org"], "impact": b,
           "se": se, "df": df, "lower": float(lower), "upper": float(upper), "p": p,
           "control_mean_unadjusted": float(np.average(control, weights=d.loc[d["MH"] == 0, "NR_WEIGHT"])),
           "variance_components": fit.variance_components}
    if fit.bse_model is not None:
        se_m = float(fit.bse_model["MH"])
        out |= {"se_model": se_m, "p_model": wald_interval(b, se_m)[2]}
    return out


def survey_impacts(data_dir, alpha: float = 0.10, cov_type: str = "model") -> dict:
    """Equation 3 for every survey item: the frame is the organizations that enrolled anyone."""
    from mheval.contract.read import read_input

    orgs = read_input(data_dir, "organizations")
    enrolling = set(read_input(data_dir, "alignment", columns=["ORG_ID"])["ORG_ID"])
    frame = organization_covariates(orgs[orgs["ORG_ID"].isin(enrolling)])
    survey = read_input(data_dir, "survey")
    weights, summary = nonresponse_weights(frame, survey)
    items = [equation3_impact(survey, weights, item, alpha, cov_type) for item in sorted(survey["ITEM"].unique())]
    return {"response": summary, "items": items}
