"""Equation 1 for repeated binary outcomes: multilevel binomial regression and average marginal effects.

cloglog P(y_ipt = 1) = log(e_ipt) + sum_tau 1(t = tau)(alpha_tau + delta_tau MH_p) + beta x_i
+ phi y_i0 + theta z_p + gamma_p + lambda_i, with organization and beneficiary random intercepts,
fitted by Laplace (:func:`mheval.models.nested_glmm.fit_nested_glmm`, as lme4's
``glmer(binomial(link = "cloglog"), offset = log(exposure))``) on follow-up years 1-5.

Partial years. A beneficiary observed for a share e_ipt of the year (``WEIGHT``: alive and in FFS
Parts A and B; driven by deaths, so measured after randomization) has fewer chances of a stay or a
fill. The exposure is handled in the model, not as a covariate: with the complementary log-log
link and offset log(e), P(y = 1) = 1 - exp(-e exp(eta)), the probability of at least one event
at the constant yearly rate exp(eta) over e years (the grouped-time proportional-hazards model).
The coefficients are log rate ratios, and the year's probability for a full year is
1 - exp(-exp(eta)).

The impacts are average marginal effects in percentage points for a full year of exposure
(every row predicted at e = 1; population-averaged over the random intercepts; delta-method
intervals), by follow-up year and on average, with the flat-prior Bayesian reading of Equation 1.
The average over follow-up years is the design report's simple mean of the
yearly effects by default (``average="simple"``, config ``models.average_weighting``; see
:mod:`mheval.models.equation1`), or the years weighted by their beneficiary-years (sum of
``WEIGHT``) with ``average="beneficiary_years"``; its delta-method SE uses the same combination of
the yearly gradients with the joint covariance of the coefficients.

Outcomes (Table IV.1 of the design report), from the beneficiary-year file:

- ``any_hosp``: any inpatient stay in the year (``hosp_all > 0``);
- ``med_statin``, ``med_antihypertensive``: statin initiation or intensification; antihypertensive
  initiation or added class (Part D enrollees only).

Variance (``cov_type``, config ``models.binary_cov_type``, whose default is "CR3": the same as "CR2" below with
the jackknife-type CR3 covariance and t(G - 1) references, CR2's effects kept beside them as ``cr2_comparison``;
docs/small_sample_inference.md). "CR2" (this function's default): the published impacts
come from the population-averaged marginal model, the same formula, link and offset as a GLM (GEE
independence, :func:`mheval.models.marginal_binary.fit_marginal_binary`), whose average marginal
effects have delta-method SEs from the CR2 cluster-robust covariance (clusters = organizations) and
t references with the Satterthwaite degrees of freedom of each effect's gradient contrast
(``df`` in every row); the multilevel fit's effects with their model-based SEs are kept beside them
as ``multilevel_model_based`` for comparison. "model": the multilevel fit's effects with model-based
SEs and normal references, as published before (on 200 synthetic trials its SE was 0.82 and 0.90
of the empirical SD with 47 and ~307 organizations: benchmarks/results/calibration_trials.md). Both
estimate the population-averaged effect for a full year of exposure; they differ only by how the
covariates' adjustment is averaged (marginal model vs a multilevel model integrated over the
random intercepts).

The design report names mixed logistic regression for binary outcomes; it does not say how part
years enter. The cloglog with an exposure offset is the documented choice here
(docs/covariates.md); a logit has no exposure term that keeps the effect's meaning over a part year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.models.covariates import check_no_post_randomization, pool_separated_levels
from mheval.models.equation1 import check_average_weighting, fit_frame, model_frame, model_terms
from mheval.models.estimability import Limits, NotEstimable, check_estimable, check_standard_error, estimate_or_note
from mheval.models.marginal_binary import fit_marginal_binary
from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect
from mheval.models.cluster_robust import variance_words
from mheval.models.cox_replicates import reuse_freed_memory
from mheval.models.wald import reference

BINARY_OUTCOMES = {"any_hosp": "Any hospitalization in the year",
                   "med_statin": "Statin initiation or intensification in the year",
                   "med_antihypertensive": "Antihypertensive initiation or added class in the year"}


def binary_columns(by: pd.DataFrame) -> pd.DataFrame:
    """Add ``any_hosp`` and the baseline-year value ``{outcome}_y0`` of every binary outcome."""
    b = by.copy(deep=False)  # new columns only: the caller's frame is left as it was, and not copied
    b["any_hosp"] = (b["hosp_all"] > 0).astype(float).where(b["hosp_all"].notna())
    for o in BINARY_OUTCOMES:
        if o in b and f"{o}_y0" not in b:  # a reader may hold only the columns of one outcome
            base = b.loc[b["YEAR"] == 0].set_index("BENE_ID")[o]
            b[f"{o}_y0"] = b["BENE_ID"].map(base)
    return b


MODEL = ("Equation 1, binary: multilevel complementary log-log (Laplace) with a log-exposure offset, organization "
         "and beneficiary intercepts; average marginal effects in percentage points for a full year of exposure, "
         "population-averaged, delta method")
COV_TYPES = ("CR3", "CR2", "model")


def model_label(cov_type: str) -> str:
    """The result's "model" text for ``cov_type``: the multilevel model (``"model"``) or the
    population-averaged one with its cluster-robust variance."""
    if cov_type == "model":
        return MODEL
    return ("Equation 1, binary: population-averaged complementary log-log regression (GLM, independence) with a "
            "log-exposure offset; average marginal effects in percentage points for a full year of exposure, delta "
            f"method with {variance_words(cov_type)}")


def check_cov_type(cov_type: str) -> str:
    """``cov_type`` if it is one of :data:`COV_TYPES` (config ``models.binary_cov_type``), else one clear error."""
    if cov_type not in COV_TYPES:
        raise ValueError(f"binary cov_type '{cov_type}' is not one of {list(COV_TYPES)} (config models.binary_cov_type)")
    return cov_type


@reuse_freed_memory()
def binary_impact(by: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                  size_percent: float = 5.0, limits: Limits | None = None, average: str = "simple",
                  covariates: dict | None = None, cov_type: str = "CR2") -> dict:
    """Fit the multilevel cloglog Equation 1 with a log-exposure offset for ``outcome`` in
    ``population`` (module docstring); JSON-ready dict with the average marginal effect (percentage
    points, for a full year of exposure) by follow-up year and their average over years ("average":
    ``average`` "simple" or "beneficiary_years", recorded as ``average_weighting``), or a
    not-estimable result (:mod:`mheval.models.estimability`) with its reason. ``covariates``: the
    covariate specification (config ``models.covariates``; None: the default). ``cov_type``: "CR2"
    (default: the marginal model's effects with CR2 SEs and Satterthwaite df, the multilevel model's
    kept as ``multilevel_model_based``) or "model" (the multilevel model's, model-based SEs); see the
    module docstring."""
    if outcome not in BINARY_OUTCOMES:
        raise ValueError(f"unknown binary outcome '{outcome}'; expected one of {sorted(BINARY_OUTCOMES)}")
    check_average_weighting(average)
    check_cov_type(cov_type)
    return estimate_or_note(lambda: _binary(by, outcome, population, alpha, size_percent, limits, average, covariates,
                                            cov_type),
                            outcome=outcome, outcome_label=BINARY_OUTCOMES[outcome], population=population,
                            model=model_label(cov_type), cov_type=cov_type, alpha=alpha,
                            size_percent=size_percent, average_weighting=average)


def binary_model(by: pd.DataFrame, outcome: str, population: str, covariates: dict | None = None,
                 limits: Limits | None = None) -> tuple[pd.DataFrame, str, dict]:
    """The fit frame and formula of a binary outcome's Equation 1 models (both fits use them): the
    follow-up rows of ``population`` with the covariate terms (:func:`mheval.models.equation1.model_terms`,
    then :func:`mheval.models.covariates.pool_separated_levels`) and the log-exposure offset column
    ``_LOG_EXPOSURE``; and the record of dropped, limited and pooled terms. Raises
    :class:`mheval.models.estimability.NotEstimable` below ``limits``."""
    d = model_frame(binary_columns(by), outcome, population, covariates)
    check_estimable(d[outcome], d["MH"], d["ORG_ID"], "binary", limits)
    covs, collinear, limited = model_terms(d, population, covariates)
    d = fit_frame(d, outcome, covs)
    covs, separated = pool_separated_levels(d, outcome, covs)
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH" + "".join(f" + {c}" for c in check_no_post_randomization(covs))
    d["_LOG_EXPOSURE"] = np.log(d["WEIGHT"])  # model_frame keeps WEIGHT > 0
    return d, formula, {"dropped_collinear_covariates": collinear, "organization_terms_limited": limited,
                        "separated_covariates": separated}


def _binary(by, outcome, population, alpha, size_percent, limits, weighting, covariates=None, cov_type="CR2") -> dict:
    d, formula, terms = binary_model(by, outcome, population, covariates, limits)
    years = sorted(d["YEAR"].unique())
    weights = ({t: 1.0 for t in years} if weighting == "simple"
               else {t: float(d.loc[d["YEAR"] == t, "WEIGHT"].sum()) for t in years})

    def effects(fit) -> list[dict]:
        ame = marginal_effect(fit, d, treatment="MH", by="YEAR", group_weights=weights, exposure=1.0).summary(alpha)
        return [ame_row(f"year {g}" if g != "overall" else "average", r, size_percent) for g, r in ame.iterrows()]

    marginal = (fit_marginal_binary(d, formula, org="ORG_ID", link="cloglog", offset="_LOG_EXPOSURE",
                                    adjustment=cov_type) if cov_type != "model" else None)
    glmm = fit_nested_glmm(d, formula, org="ORG_ID", bene="BENE_ID", link="cloglog", offset="_LOG_EXPOSURE",
                           start=glmm_start(marginal))
    multilevel = {"model": MODEL, "cov_type": "model", "converged": glmm.converged, "llf": glmm.llf,
                  "variance_components": glmm.variance_components}
    if marginal is None:
        fit, rows, model = glmm, effects(glmm), multilevel
    else:
        try:  # the comparison: its failure leaves the published (population-averaged) impacts standing
            rows_ml = effects(glmm)
            multilevel |= {"average": rows_ml[-1], "by_year": rows_ml[:-1],
                           "coefficients": glmm.summary(alpha).reset_index(names="term").to_dict(orient="records")}
        except NotEstimable as e:
            multilevel |= {"estimable": False, "reason": str(e)}
        fit, rows = marginal, effects(marginal)
        model = {"model": model_label(cov_type), "cov_type": cov_type, "converged": fit.converged, "llf": fit.llf}
        if cov_type == "CR3":  # CR2's effects beside, for comparison (the same fit)
            rows_cr2 = effects(marginal.with_cr2())
            model["cr2_comparison"] = {"model": model_label("CR2"), "cov_type": "CR2", "average": rows_cr2[-1],
                                       "by_year": rows_cr2[:-1]}
    out = {
        "outcome": outcome, "outcome_label": BINARY_OUTCOMES[outcome], "population": population,
        **{k: model[k] for k in ("model", "cov_type")}, "link": "cloglog",
        "offset": "log(share of the year observed)", "effects_at_exposure": 1.0,
        "alpha": alpha, "size_percent": size_percent, "n_obs": fit.nobs, "average_weighting": weighting,
        "year_weights": {f"year {t}": w / sum(weights.values()) for t, w in weights.items()},
        "n_beneficiaries": glmm.n_groups["bene"], "n_organizations": glmm.n_groups["org"],
        "converged": model["converged"], "llf": model["llf"], "variance_components": glmm.variance_components,
        "average": rows[-1], "by_year": rows[:-1],
        **terms,
        "coefficients": fit.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }
    if cov_type != "model":
        out["multilevel_model_based"] = multilevel
    if "cr2_comparison" in model:
        out["cr2_comparison"] = model["cr2_comparison"]
    return out


def glmm_start(marginal) -> dict | None:
    """Starting values of the multilevel fit from the population-averaged GLM already fitted (its
    coefficients are what :func:`fit_nested_glmm` would compute first, by the same Fisher scoring, to
    a looser tolerance), with the default intercept SDs 0.5; None without a GLM."""
    return None if marginal is None else {"theta": np.array([0.5, 0.5]), "beta": marginal.params.to_numpy()}


def ame_row(label: str, r: pd.Series, size_percent: float) -> dict:
    """One impact row of the result files from a row of a :func:`marginal_effect` summary (percentage points):
    interval, p, adjusted means, percent of the control mean and the flat-prior Bayesian reading; with a t
    reference (a CR2 fit's summary has ``df``) the row carries ``df`` and the reading uses t(df), else
    ``df`` is None and the reference is normal. A zero or non-finite SE or df is not estimable."""
    est, se, control = float(r["estimate"]), float(r["se"]), float(r["control"])
    check_standard_error(se, f"the impact in {label}")
    df = float(r["df"]) if "df" in r.index else None
    if df is not None and not (np.isfinite(df) and df > 0):
        raise NotEstimable(f"the degrees of freedom of the impact in {label} are not positive and finite "
                           "(singular CR2 adjustment)")
    ref = reference(df)
    threshold = -abs(size_percent) / 100 * abs(control)
    return {"period": label, "impact": est, "se": se, "df": df, "lower": float(r["lower"]), "upper": float(r["upper"]),
            "p": float(r["p"]), "control_mean": control, "intervention_mean": float(r["intervention"]),
            "impact_percent": 100 * est / control if control else float("nan"),
            "prob_below_0": float(ref.cdf(-est / se)),
            "prob_reduction_at_least_size": float(ref.cdf((threshold - est) / se)), "n_obs": int(r["n"])}
