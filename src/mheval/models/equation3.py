"""Equation 3: organization-level provider-survey outcomes (evaluation design report, section V.A).

y_pt = sum_tau 1(t = tau) (alpha_tau + delta_tau MH_p) + beta x_p + theta z_p + gamma_p + e_pt, in
calendar time (survey waves), estimated as designed:

- **one impact per wave** (delta_tau): each wave is fitted on its own, so the organization term
  gamma_p has one observation per organization and drops out of each fit;
- **x_p, organization-level averages of beneficiary covariates** (age, sex, race, dual status, log
  baseline risk, smoking, diabetes, treated blood pressure, high risk) over the organization's
  analyzed beneficiaries, next to **z_p, the organization part of the one covariate
  specification** (config ``models.covariates``, :mod:`mheval.models.covariates`: randomization
  stratum, region, log self-reported FFS size, type, rural, health system, other CMS models). An organization that enrolled no one (it can
  still answer the survey) gets the mean of the organizations that did and an indicator
  ``NO_ENROLLEES`` (dropped when constant);
- **nonresponse weights from every randomized organization**: the frame is the organizations file
  (every randomized organization, including those that enrolled no one or withdrew); per wave, a
  logistic response model on arm and z_p (known for the whole frame before randomization) gives
  each organization's response probability p, and respondents get weight 1/p (the response model
  keeps its own organization characteristics, ``ORG_COVARIATES``);
- **design-based estimation**: the weights are sampling weights, not precision weights: weighted
  least squares point estimates with the CR2 cluster-robust covariance (clusters: organizations)
  and Bell-McCaffrey Satterthwaite degrees of freedom, as clubSandwich's ``vcovCR(lm(...,
  weights = w), type = "CR2")`` (:func:`mheval.models.cluster_robust.cr2_weighted_ls`; checked
  against R in tests/test_equation3.py).

A wave's response model that cannot be fitted (too few organizations, complete separation) falls
back to weighting cells by arm (the inverse of the arm's response rate in the wave), recorded in
the result's ``response.models``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from mheval.models.covariates import (
    adjustment_covariates,
    check_no_post_randomization,
    check_spec,
    independent_covariates,
    limit_organization_terms,
)
from mheval.models.estimability import NotEstimable, check_estimable, check_standard_error, estimate_or_note
from mheval.models.wald import wald_interval

ORG_COVARIATES = ["LOG_PRACTITIONERS", "HEALTH_SYSTEM", "RURAL", "TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY"]
#: the beneficiary covariates (models.covariates names) averaged per organization, and their terms
AVERAGED = ["age", "sex", "race", "dual", "cvd_risk_factors", "high_risk"]
BENEFICIARY_COVARIATES = ["AGE10", "MALE", "BLACK", "DUAL", "LOG_RISK", "SMOKER", "DIABETES", "BP_TREATED", "HIGH_RISK"]
MODEL = ("Equation 3 by wave: weighted least squares with nonresponse (sampling) weights, CR2 cluster-robust SE "
         "with Satterthwaite df")


def organization_covariates(orgs: pd.DataFrame, covariates: dict | None = None) -> pd.DataFrame:
    """Organization columns of the survey models: the response model's :data:`ORG_COVARIATES` (log
    practitioners, health-system owned, rural, organization type) and z_p of the covariate
    specification (``covariates``, config ``models.covariates``; the registry file's STRATUM is the
    randomization stratum), whose term names are listed in ``attrs["z"]``."""
    orgs = orgs.reset_index(drop=True)
    z = pd.DataFrame({"ORG_ID": orgs["ORG_ID"].to_numpy(), "MH": (orgs["ARM"] == "intervention").astype(float).to_numpy()})
    z["LOG_PRACTITIONERS"] = np.log(orgs["N_PRACTITIONERS"].astype(float)).to_numpy()
    z["HEALTH_SYSTEM"] = orgs["HEALTH_SYSTEM"].astype(float).to_numpy()
    z["RURAL"] = orgs["RURAL"].astype(float).to_numpy()
    z["TYPE_CARDIOLOGY"] = (orgs["ORG_TYPE"] == "cardiology").astype(float).to_numpy()
    z["TYPE_MULTISPECIALTY"] = (orgs["ORG_TYPE"] == "multispecialty").astype(float).to_numpy()
    spec = check_spec(covariates)
    zp = adjustment_covariates(orgs.rename(columns={"STRATUM": "RAND_STRATUM"}), "high",
                               {"beneficiary": [], "organization": spec.get("organization", [])})
    z = pd.concat([z, zp[[c for c in zp.columns if c not in z.columns]]], axis=1)
    z.attrs["z"] = check_no_post_randomization(list(zp.columns))
    z.attrs["covariate_spec"] = spec  # the organization-term limit of the impact model (limit_organization_terms)
    return z


def beneficiary_averages(cohort: pd.DataFrame, org_ids) -> pd.DataFrame:
    """x_p: the mean of each beneficiary covariate (:data:`BENEFICIARY_COVARIATES`, as
    :func:`mheval.models.covariates.adjustment_covariates` codes them) over each organization's
    analyzed beneficiaries (``cohort``: one row per beneficiary with ORG_ID), columns ``AVG_<name>``,
    one row per organization in ``org_ids``. Organizations without beneficiaries get the mean over
    the organizations with them and ``NO_ENROLLEES`` = 1."""
    x = adjustment_covariates(cohort, "high_medium", {"beneficiary": AVERAGED, "organization": []})
    x = x[[c for c in BENEFICIARY_COVARIATES if c in x.columns]].add_prefix("AVG_")
    avg = x.groupby(cohort["ORG_ID"].to_numpy()).mean()
    out = pd.DataFrame({"ORG_ID": pd.Index(org_ids).unique()})
    out = out.merge(avg, left_on="ORG_ID", right_index=True, how="left")
    cols = list(avg.columns)
    out["NO_ENROLLEES"] = out[cols[0]].isna().astype(float) if cols else 1.0
    fill = avg.mean() if len(avg) else pd.Series(0.0, index=cols)
    out[cols] = out[cols].fillna(fill)
    return out


def _response_probability(g: pd.DataFrame) -> tuple[np.ndarray, str]:
    """P(respond) of each organization of one wave: logit on arm and z_p, or arm cells when the
    logit cannot be fitted (recorded as the second element)."""
    covs = [c for c in ["MH"] + ORG_COVARIATES if g[c].nunique() > 1]
    X = sm.add_constant(g[covs], has_constant="add")
    y = g["RESPONDED"].to_numpy()
    reason = ""
    if 0 < y.sum() < len(y) and len(y) > 2 * X.shape[1]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # convergence and separation warnings: fall back
                fit = sm.Logit(y, X).fit(disp=0, maxiter=100)
            p = np.asarray(fit.predict(X))
            if np.isfinite(p).all() and p.min() > 1e-6 and p.max() < 1 - 1e-9:
                return p, "logit on arm and organization characteristics"
            reason = "fitted probabilities at 0 or 1"
        except Exception as e:  # noqa: BLE001 (any failure of the logit: documented fallback)
            reason = f"{type(e).__name__}"
    else:
        reason = "too few organizations or no variation in response"
    rate = g.groupby("MH")["RESPONDED"].transform("mean").to_numpy()
    return rate, f"response rate by arm (logit not fitted: {reason})"


def nonresponse_weights(frame: pd.DataFrame, survey: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Response indicators for every organization in ``frame`` (every randomized organization: its
    ORG_ID, MH and :data:`ORG_COVARIATES`) and wave, the response probability from a logistic
    model fitted per wave, and the sampling weight 1/p of respondents (0 for nonrespondents).

    Returns (one row per organization and wave with RESPONDED, P_RESPOND, NR_WEIGHT; summary with
    the frame size, response rates overall and by arm, and each wave's response model)."""
    waves = sorted(int(w) for w in survey["WAVE"].unique())
    grid = frame.merge(pd.DataFrame({"WAVE": waves}), how="cross")
    responded = survey[["ORG_ID", "WAVE"]].drop_duplicates().assign(RESPONDED=1.0)
    grid = grid.merge(responded, on=["ORG_ID", "WAVE"], how="left").fillna({"RESPONDED": 0.0})
    grid["P_RESPOND"] = np.nan
    models = {}
    for w, idx in grid.groupby("WAVE").groups.items():
        p, how = _response_probability(grid.loc[idx])
        grid.loc[idx, "P_RESPOND"] = p
        models[f"wave {int(w)}"] = how
    grid["NR_WEIGHT"] = np.where(grid["RESPONDED"] == 1, 1 / grid["P_RESPOND"], 0.0)
    summary = {"organizations": int(frame["ORG_ID"].nunique()), "waves": waves,
               "response_rate": float(grid["RESPONDED"].mean()),
               "response_rate_by_arm": {a: float(grid.loc[grid["MH"] == m, "RESPONDED"].mean())
                                        for m, a in ((1.0, "intervention"), (0.0, "control"))},
               "response_rate_by_wave": {f"wave {int(w)}": float(r) for w, r in grid.groupby("WAVE")["RESPONDED"].mean().items()},
               "models": models}
    grid.attrs["z"] = frame.attrs.get("z", ORG_COVARIATES)  # z_p of the impact model (organization_covariates)
    grid.attrs["covariate_spec"] = frame.attrs.get("covariate_spec")
    return grid, summary


def equation3_impact(survey: pd.DataFrame, weights: pd.DataFrame, covariates: pd.DataFrame, item: str, wave: int,
                     alpha: float = 0.10, limits=None) -> dict:
    """Equation 3 for one survey ``item`` in one ``wave``: the impact delta_wave as a JSON-ready
    dict (estimate, CR2 SE, Satterthwaite df, t interval and p; the weighted control mean; the
    coefficients ``params``, ``bse`` and ``cov``), or a not-estimable result with its reason.
    ``weights``: :func:`nonresponse_weights`; ``covariates``: :func:`beneficiary_averages` (one
    row per organization)."""
    return estimate_or_note(lambda: _equation3(survey, weights, covariates, item, wave, alpha, limits),
                            item=item, wave=int(wave), alpha=alpha, model=MODEL)


def equation3_frame(survey, weights, covariates, item, wave) -> pd.DataFrame:
    """The respondents of ``wave`` with a value of ``item``: VALUE, MH, z_p, x_p and NR_WEIGHT."""
    s = survey[(survey["ITEM"] == item) & (survey["WAVE"] == wave)].dropna(subset=["VALUE"])
    d = s[["ORG_ID", "WAVE", "VALUE"]].merge(weights[weights["RESPONDED"] == 1], on=["ORG_ID", "WAVE"])
    return d.merge(covariates, on="ORG_ID", how="left")


def _equation3(survey, weights, covariates, item, wave, alpha, limits) -> dict:
    from mheval.models.cluster_robust import cr2_weighted_ls

    d = equation3_frame(survey, weights, covariates, item, wave)
    check_estimable(d["VALUE"], d["MH"], d["ORG_ID"], "continuous", limits)
    z = weights.attrs.get("z", ORG_COVARIATES)
    averages = [c for c in covariates.columns if c != "ORG_ID"]  # x_p
    candidates = check_no_post_randomization(list(z) + averages)
    kept, dropped = independent_covariates(d.assign(YEAR=1), candidates)
    n_org = int(d["ORG_ID"].nunique())
    # every term of this regression over organizations is organization-level: z_p (the spec's organization
    # covariates), then x_p (the beneficiary averages, in their order) share the budget of the wave's
    # responding organizations
    kept, limited = limit_organization_terms(kept, n_org, weights.attrs.get("covariate_spec"), averages)
    names = ["Intercept", "MH"] + kept
    if n_org - len(names) < 2:
        raise NotEstimable(f"too few responding organizations ({n_org}) for {len(names)} coefficients")
    X = np.column_stack([np.ones(len(d)), d["MH"].to_numpy(float)] + [d[c].to_numpy(float) for c in kept])
    fit = cr2_weighted_ls(X, d["VALUE"].to_numpy(float), d["ORG_ID"].to_numpy(), d["NR_WEIGHT"].to_numpy(float))
    c = np.zeros(len(names))
    c[1] = 1.0
    var, df = fit.contrast(c)
    b, se = float(fit.params[1]), float(np.sqrt(var))
    check_standard_error(se, f"the impact in wave {wave}")
    lower, upper, p = wald_interval(b, se, alpha, df)
    ctl = d["MH"] == 0
    bse = np.sqrt(np.diag(fit.vcov))
    return {"item": item, "wave": int(wave), "model": MODEL, "alpha": alpha, "cov_type": "CR2",
            "n_responses": int(len(d)), "n_organizations": n_org, "impact": b, "se": se, "df": df,
            "lower": lower, "upper": upper, "p": p,
            "control_mean_weighted": float(np.average(d.loc[ctl, "VALUE"], weights=d.loc[ctl, "NR_WEIGHT"])),
            "covariates": kept, "dropped_collinear_covariates": dropped, "organization_terms_limited": limited,
            "params": dict(zip(names, map(float, fit.params))), "bse": dict(zip(names, map(float, bse))),
            "cov": {a: dict(zip(names, map(float, row))) for a, row in zip(names, fit.vcov)}}


def survey_impacts(data_dir, cohort: pd.DataFrame, alpha: float = 0.10, limits=None,
                   covariates: dict | None = None) -> dict:
    """Equation 3 for every survey item and wave. The response frame is every randomized
    organization (the organizations file); ``cohort`` (results/analysis/cohort.parquet: the
    analyzed beneficiaries with ORG_ID and baseline covariates) gives x_p; z_p is the organization
    part of ``covariates`` (config ``models.covariates``)."""
    from mheval.contract.read import read_input

    orgs = read_input(data_dir, "organizations")
    frame = organization_covariates(orgs, covariates)
    survey = read_input(data_dir, "survey")
    unknown = sorted(set(survey["ORG_ID"]) - set(frame["ORG_ID"]))
    if unknown:
        raise ValueError(f"survey: column ORG_ID: {len(unknown)} organizations not in the organizations file "
                         f"(the frame), e.g. {unknown[:5]}")
    weights, summary = nonresponse_weights(frame, survey)
    averages = beneficiary_averages(cohort, frame["ORG_ID"])
    items = [equation3_impact(survey, weights, averages, item, wave, alpha, limits)
             for item in sorted(survey["ITEM"].unique()) for wave in summary["waves"]]
    return {"response": summary, "items": items}
