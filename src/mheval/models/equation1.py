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

from mheval.models.covariates import (
    NEEDS,
    POPULATIONS,
    adjustment_covariates,
    check_no_post_randomization,
    check_spec,
    independent_covariates,
    limit_organization_terms,
    varying,
)
from mheval.models.estimability import Limits, check_estimable, check_standard_error, estimate_or_note
from mheval.models.nested_lmm import fit_nested_lmm
from mheval.models.wald import reference, wald_interval
from mheval.models.cox_replicates import reuse_freed_memory


def model_frame(by: pd.DataFrame, outcome: str, population: str, covariates: dict | None = None) -> pd.DataFrame:
    """Follow-up rows (years 1-5, weight > 0) of ``population`` with Equation 1's covariates
    (``covariates``: config ``models.covariates``, default :data:`mheval.models.covariates.DEFAULT_COVARIATES`)."""
    # one selection (boolean indexing copies) and no further copy of the whole frame: at scale 1.0
    # each copy of the wide frame cost about 0.3 CPU s
    keep = (by["YEAR"] > 0) & (by["WEIGHT"] > 0) & by["STRATUM"].isin(POPULATIONS[population]) & by[outcome].notna()
    d = by.take(np.flatnonzero(keep.to_numpy()))  # a new frame (not a view of ``by``)
    d.index = pd.RangeIndex(len(d))
    cov = adjustment_covariates(d, population, covariates)
    # the covariates replace any input column of the same name and follow the others, in their order; set
    # column by column (deleting and appending blocks) rather than dropped and concatenated, which copied
    # and consolidated the whole frame twice (about 1.5 CPU s at scale 1.0)
    for c in cov.columns:
        if c in d.columns:
            del d[c]
    for c in cov.columns:
        d[c] = cov[c].to_numpy()
    base = f"{outcome}_y0"
    d["Y0"] = d[base].fillna(d[base].mean())  # missing baseline (no FFS months): the mean
    d["Y0_MISSING"] = d[base].isna().astype(float)
    return d


def model_columns(outcome: str, covariates: dict | None = None, strata_column: str | None = None) -> list[str]:
    """The analysis-file columns :func:`equation1_impact` reads for ``outcome`` under the covariate
    specification ``covariates`` (and the randomization strata column): a caller holding a large
    file reads only these (at scale 1.0 the whole beneficiary-year file is 1.45 GB in memory,
    these columns about a third of it)."""
    spec = check_spec(covariates)
    needs = [c for part in ("beneficiary", "organization") for n in spec.get(part, []) for c in NEEDS[n]]
    keys = ["BENE_ID", "ORG_ID", "YEAR", "MH", "WEIGHT", "STRATUM", outcome, f"{outcome}_y0"]
    return list(dict.fromkeys(keys + needs + ([strata_column] if strata_column else [])))


def read_model_rows(path, columns, population: str, follow_up: bool = True) -> pd.DataFrame:
    """The columns ``columns`` (those the file has, in that order) of the beneficiary-year file at
    ``path``, only for the rows of ``population`` (``STRATUM``) and, with ``follow_up``, only the
    follow-up rows :func:`model_frame` keeps (``YEAR`` > 0 and ``WEIGHT`` > 0): the filter runs while
    reading, so the other rows are never converted (a "high" job reads a third of the file's rows).
    ``follow_up=False`` keeps the baseline year too (the binary outcomes' baseline values come from
    it). :func:`model_frame` of the result equals that of the whole file."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    keep = ds.field("STRATUM").isin(list(POPULATIONS[population]))
    if follow_up:
        keep = keep & (ds.field("YEAR") > 0) & (ds.field("WEIGHT") > 0)
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(columns) if c in present], filters=keep)


def fit_frame(d: pd.DataFrame, outcome: str, covs: list[str]) -> pd.DataFrame:
    """The columns a fit of Equations 1 (continuous or binary) uses, copied out of a
    :func:`model_frame` (which keeps every analysis-file column: later copies of it, such as the
    randomization refits, would copy them all, 1.3 GB at scale 1.0), with YEAR as a pandas
    categorical (patsy's ``C()`` reads its codes instead of sniffing every row)."""
    d = d[list(dict.fromkeys([outcome, "YEAR", "MH", "WEIGHT", "ORG_ID", "BENE_ID", *covs]))].copy()
    d["YEAR"] = pd.Categorical(d["YEAR"])
    return d


def model_covariates(d: pd.DataFrame, population: str, covariates: dict | None = None) -> list[str]:
    """The covariates of Equation 1 in a :func:`model_frame`: the adjustment covariates of the
    specification and, when it lists ``baseline_outcome``, the baseline outcome ``Y0`` and its
    missing flag (every one, varying or not)."""
    spec = check_spec(covariates)
    y0 = ["Y0", "Y0_MISSING"] if "baseline_outcome" in spec.get("beneficiary", []) else []
    # the terms depend on the data only through the randomization strata present: one row of each
    rows = d.drop_duplicates("RAND_STRATUM") if "RAND_STRATUM" in d else d
    return check_no_post_randomization(list(adjustment_covariates(rows, population, spec).columns) + y0)


def model_terms(d: pd.DataFrame, population: str, covariates: dict | None = None) -> tuple[list[str], list[str], dict]:
    """The covariate terms an Equation 1 fit (continuous or binary) of the :func:`model_frame` ``d`` uses:
    :func:`model_covariates` that vary, less the collinear ones (:func:`independent_covariates`), within the
    organization-term limit (:func:`limit_organization_terms`). Returns (terms, dropped collinear, limited)."""
    covs = varying(d, model_covariates(d, population, covariates))
    covs, collinear = independent_covariates(d, covs)
    covs, limited = limit_organization_terms(covs, d["ORG_ID"].nunique(), covariates)
    return covs, collinear, limited


MODEL = "Equation 1: nested LMM, REML, precision weights"
AVERAGE_WEIGHTINGS = ("simple", "beneficiary_years")


def check_average_weighting(average: str) -> str:
    """``average`` if it is one of :data:`AVERAGE_WEIGHTINGS`, else one clear ValueError."""
    if average not in AVERAGE_WEIGHTINGS:
        raise ValueError(f"average weighting '{average}' is not one of {list(AVERAGE_WEIGHTINGS)} "
                         "(config models.average_weighting)")
    return average


@reuse_freed_memory()
def equation1_impact(by: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                     size_percent: float = 5.0, cov_type: str = "model", n_perm: int = 0, strata=None,
                     seed: int = 0, limits: Limits | None = None, average: str = "simple",
                     covariates: dict | None = None) -> dict:
    """Fit Equation 1 and return the impacts as a JSON-ready dict (see module docstring), or a
    not-estimable result (:mod:`mheval.models.estimability`) with its reason.

    ``cov_type``: "model" (model-based SEs, normal reference), "CR2" (cluster-robust by
    organization with Satterthwaite df per contrast, :mod:`mheval.models.cluster_robust`) or "CR3"
    (the jackknife-type cluster-robust variance with t(G - 1) references; config default, chosen by
    calibration: docs/small_sample_inference.md); with either every impact row also keeps the
    model-based ``se_model`` and ``p_model``, and with CR3 the CR2 ``se_cr2``, ``df_cr2`` and ``p_cr2``. ``n_perm`` > 0
    adds a randomization test of the average impact (organizations re-randomized within
    ``strata``: None, or a Series of randomization strata indexed by ORG_ID; the statistic is the
    average impact by GLS at the fitted variance components) as ``p_randomization`` of the
    average row and "randomization" (:func:`mheval.models.randomization_test.randomization_test`).
    ``average``: "simple" (the design's mean of the yearly impacts, default) or "beneficiary_years"
    (years weighted by their beneficiary-years); recorded as ``average_weighting`` with the
    ``year_weights`` used (see the module docstring). ``covariates``: the covariate specification
    (config ``models.covariates``; None: :data:`mheval.models.covariates.DEFAULT_COVARIATES`).
    """
    check_average_weighting(average)
    return estimate_or_note(lambda: _equation1(by, outcome, population, alpha, size_percent, cov_type, n_perm,
                                               strata, seed, limits, average, covariates),
                            outcome=outcome, population=population, model=MODEL, alpha=alpha,
                            size_percent=size_percent, average_weighting=average)


def _equation1(by, outcome, population, alpha, size_percent, cov_type, n_perm, strata, seed, limits, weighting,
               covariates=None) -> dict:
    d = model_frame(by, outcome, population, covariates)
    check_estimable(d[outcome], d["MH"], d["ORG_ID"], "continuous", limits)
    covs, collinear, limited = model_terms(d, population, covariates)
    d = fit_frame(d, outcome, covs)
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH" + "".join(f" + {c}" for c in covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", reml=True, cov_type=cov_type)
    names = list(fit.params.index)
    years = sorted(d["YEAR"].unique())
    # regression-adjusted control means by year: predictions with MH = 0 averaged over that year's
    # rows, i.e. the year's term plus the covariates' means in that year times their coefficients
    # (the model's rows: complete in every covariate, as patsy keeps them; no second design matrix)
    used = d[d[covs].notna().all(axis=1)] if covs else d
    cov_means = used.groupby("YEAR", observed=True)[covs].mean() if covs else None
    rows, contrast, py = [], np.zeros(len(names)), []
    for t in years:
        term = f"C(YEAR)[{t}]:MH"
        c = np.zeros(len(names))
        c[names.index(term)] = 1.0
        w = 1.0 if weighting == "simple" else float(d.loc[d["YEAR"] == t, "WEIGHT"].sum())
        py.append(w)
        contrast += w * c
        control_mean = float(fit.params[f"C(YEAR)[{t}]"]
                             + (cov_means.loc[t].to_numpy() @ fit.params[covs].to_numpy() if covs else 0.0))
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
        "dropped_collinear_covariates": collinear, "organization_terms_limited": limited,
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
    """One impact c'beta: estimate, SE and df of the fit's cov_type (t(df) with CR2 or CR3, else
    normal) with interval, p-value and flat-prior probabilities; with CR2 or CR3 also the model-based
    SE and p, and with CR3 the CR2 SE, Satterthwaite df and p (for comparison). A zero or non-finite
    SE is not estimable (:func:`check_standard_error`)."""
    est = float(c @ fit.params.to_numpy())
    if fit.robust is not None:
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
    if fit.robust is not None:
        # model-based covariance sigma^2 (X' V^-1 X)^-1 = sigma^2 M of the cluster-robust computation
        se_model = float(np.sqrt(c @ fit.robust.M @ c * fit.variance_components["residual"]))
        row |= {"se_model": se_model, "p_model": wald_interval(est, se_model)[2]}
    if fit.robust_cr2 is not None:
        var2, df2 = fit.robust_cr2.contrast(c)
        se2 = float(np.sqrt(var2)) if var2 >= 0 else float("nan")
        row |= {"se_cr2": se2, "df_cr2": df2, "p_cr2": wald_interval(est, se2, alpha, df2)[2]}
    return row


SPENDING_OUTCOMES = ("spend_ab", "spend_ab_mh", "spend_cvd")
DOLLAR_FIELDS = ("impact", "se", "se_model", "lower", "upper", "control_mean", "intervention_mean")


def per_beneficiary_month(result: dict) -> dict:
    """An Equation 1 spending result (USD per beneficiary-year, :data:`SPENDING_OUTCOMES`) in the
    published unit, USD per beneficiary per month: the annual impacts divided by 12.

    Every dollar field (:data:`DOLLAR_FIELDS`: impact, SEs, interval bounds, control and intervention
    means) of the average and of each year is divided by 12; the interval is the annual interval
    scaled (a linear map of the same estimate), so percent, p-values, df and the Bayesian
    probabilities are unchanged. The outcome becomes ``<outcome>_pbpm``; the annual-scale
    coefficients and variance components are left out. A not-estimable result keeps its reason.
    """
    skip = ("coefficients", "variance_components", "randomization")
    out = {k: v for k, v in result.items() if k not in skip}
    out["outcome"] = f"{result['outcome']}_pbpm"
    out["unit"] = "USD per beneficiary per month (annual Equation 1 impact / 12)"
    if "outcome_label" in out:
        out.pop("outcome_label")

    def monthly(row: dict) -> dict:
        return {k: (v / 12 if k in DOLLAR_FIELDS and v is not None else v) for k, v in row.items()}

    if "average" in result:
        out["average"] = monthly(result["average"])
    if "by_year" in result:
        out["by_year"] = [monthly(r) for r in result["by_year"]]
    return out


# registry measurements at follow-up visits analyzed by Equation 1: outcome -> (visit column, unit)
CLINICAL_OUTCOMES = {"sbp": ("systolic_bp", "mmHg"), "ldl": ("ldl", "mg/dL")}


def visit_outcome_frame(visits: pd.DataFrame, cohort: pd.DataFrame, outcome: str, value: str, baseline: str,
                        scale: float = 1.0) -> pd.DataFrame:
    """Shape a per-visit measurement (results/analysis/predicted_risk.parquet) for Equation 1.

    One row per beneficiary and follow-up year (``FU_YEAR`` > 0, the year's first visit with
    ``value`` measured): ``outcome`` = ``scale`` x the visit's ``value``, its baseline
    ``<outcome>_y0`` = ``scale`` x the cohort's ``baseline`` column (the enrollment value; the phi
    y_i0 term), weight 1 per visit, and the cohort's covariates. With the baseline as a covariate,
    the impact on the level at follow-up equals the impact on the change from baseline (the
    baseline's coefficient absorbs the difference).
    """
    v = visits[visits["FU_YEAR"] > 0].dropna(subset=[value])
    v = v.sort_values(["BENE_ID", "FU_YEAR", "VISIT_DT"]).drop_duplicates(["BENE_ID", "FU_YEAR"])
    cols = ["BENE_ID", "AGE", "SEX", "RACE", "DUAL", "PART_D", "RISK", "smoking", "diabetes", "antihypertensive",
            "ENROLL_DT", "HCC_SCORE", "RURAL", "HEALTH_SYSTEM", "ORG_TYPE", "REGION", "RAND_STRATUM",
            "SELF_REPORTED_FFS_BENES", "OTHER_CMS_MODELS"]
    cols = [c for c in cols if c in cohort.columns]  # a column the specification needs and lacks: one clear error later
    d = v[["BENE_ID", "ORG_ID", "MH", "STRATUM", "FU_YEAR", value]].rename(
        columns={"FU_YEAR": "YEAR", value: "_VALUE"}).merge(cohort[cols], on="BENE_ID", how="left")
    d[outcome] = scale * d.pop("_VALUE")
    d[f"{outcome}_y0"] = scale * d["BENE_ID"].map(cohort.set_index("BENE_ID")[baseline])
    d["WEIGHT"] = 1.0
    return d


def predicted_risk_frame(visits: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Shape the predicted-risk visits (results/analysis/predicted_risk.parquet) for Equation 1:
    outcome ``risk_pct`` (10-year risk in percentage points) by follow-up year, baseline risk
    (the cohort's ``RISK``) as ``risk_pct_y0``, weight 1 per visit, and the cohort's covariates
    (:func:`visit_outcome_frame`)."""
    return visit_outcome_frame(visits, cohort, "risk_pct", "RISK", "RISK", scale=100.0)


def clinical_frame(visits: pd.DataFrame, cohort: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Shape a registry measurement of :data:`CLINICAL_OUTCOMES` (``sbp``: systolic blood pressure,
    mmHg; ``ldl``: LDL cholesterol, mg/dL) at follow-up visits for Equation 1, with its enrollment
    value as the baseline (:func:`visit_outcome_frame`; implausible values are missing, as in the
    cohort)."""
    if outcome not in CLINICAL_OUTCOMES:
        raise ValueError(f"unknown clinical outcome '{outcome}'; expected one of {sorted(CLINICAL_OUTCOMES)}")
    column = CLINICAL_OUTCOMES[outcome][0]
    return visit_outcome_frame(visits, cohort, outcome, column, column)
