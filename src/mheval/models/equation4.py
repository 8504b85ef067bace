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

from mheval.outcomes.survival import SURVIVAL_OUTCOMES
from mheval.models.cox_replicates import reuse_freed_memory
from mheval.models.covariates import (
    INDICATOR_GROUPS,
    POPULATIONS,
    adjustment_covariates,
    check_no_post_randomization,
    independent_covariates,
    limit_organization_terms,
    varying,
)
from mheval.models.estimability import Limits, NotEstimable, check_estimable, check_standard_error, estimate_or_note
from mheval.models.frailty_cox import fit_frailty_cox
from mheval.models.marginal_cox import crude_rates, fit_marginal_cox
from mheval.models.ph_test import fit_by_follow_up_year, schoenfeld_test
from mheval.models.wald import reference, wald_interval

OUTCOMES = SURVIVAL_OUTCOMES  # mheval.outcomes.survival: duration, event column and label of each outcome


def design_matrix(df: pd.DataFrame, population: str, covariates: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """MH and the adjustment covariates (:func:`mheval.models.covariates.adjustment_covariates`
    of the specification ``covariates``, config ``models.covariates``). Returns the frame and the
    covariate names."""
    x = adjustment_covariates(df, population, covariates)
    x.insert(0, "MH", df["MH"].astype(int))
    return x, list(x.columns)


def event_free_indicators(x: pd.DataFrame, event) -> list[str]:
    """The 0/1 columns of ``x`` to leave out of a Cox fit because some rows have no event: their Cox
    coefficient would run off to infinity (monotone likelihood).

    - A 0/1 column with no event among the rows where it is 1 (or 0), e.g. the indicator of a
      randomization stratum with a handful of beneficiaries in the population: it carries no
      information on the hazard and is left out (its level joins the reference, as collinear
      covariates are left out).
    - The reference level of an indicator group (:data:`mheval.models.covariates.INDICATOR_GROUPS`:
      the rows where every indicator of the group left in is 0) with no event: every indicator of
      the group would run off together (on a 47-organization synthetic trial, the reference stratum
      was one organization without a first event: the fit stopped at coefficients near 32 and a
      near-singular information). The indicator of the group's largest level (by rows) is left out,
      which pools the reference with that level.
    """
    e = np.asarray(event, float)
    binary = {c: x[c].to_numpy(float) for c in x.columns}
    binary = {c: v for c, v in binary.items() if np.isin(v, (0.0, 1.0)).all()}
    out = [c for c, v in binary.items() if e[v == 1].sum() == 0 or e[v == 0].sum() == 0]
    for prefix in INDICATOR_GROUPS:
        group = [c for c in binary if c.startswith(prefix) and c not in out]
        if not group:
            continue
        X = np.column_stack([binary[c] for c in group])
        if e[X.max(axis=1) == 0].sum() == 0 and (X.max(axis=1) == 0).any():
            out.append(group[int(np.argmax(X.sum(axis=0)))])
    return out


def check_clusters_for_covariates(org, cov: list[str], cov_type: str) -> None:
    """Not estimable (:class:`~mheval.models.estimability.NotEstimable`) when a bias-corrected
    sandwich (``cov_type`` not "robust") has no more organizations than covariates + 2: its
    t(G - 2) reference and corrections need G > p + 2 (a tiny trial under the full covariate
    specification)."""
    G = int(pd.Series(org).nunique())
    if cov_type != "robust" and G <= 2 + len(cov):
        raise NotEstimable(f"{G} organizations for {len(cov)} terms (arm and covariates): the bias-corrected "
                           f"sandwich ({cov_type}) needs more organizations than terms + 2")


def survival_frame(tte: pd.DataFrame, outcome: str, population: str,
                   covariates: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The population's rows with duration, event, ORG_ID, MH and the adjustment covariates (those
    with variation, not a linear combination of the ones before them and MH
    (:func:`mheval.models.covariates.independent_covariates`), and not an indicator without events
    on one side (:func:`event_free_indicators`)), the organization terms limited by the number of
    organizations (:func:`mheval.models.covariates.limit_organization_terms`; its record in
    ``frame.attrs["organization_terms_limited"]``). Returns the frame and the covariate names (MH first)."""
    duration, event, _ = OUTCOMES[outcome]
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    x, cov = design_matrix(df, population, covariates)
    kept = check_no_post_randomization(independent_covariates(x, varying(x, [c for c in cov if c != "MH"]), year=None)[0])
    kept, limited = limit_organization_terms(kept, df["ORG_ID"].nunique(), covariates)
    event_free = set(event_free_indicators(x[kept], df[OUTCOMES[outcome][1]]))  # once, not once per covariate
    cov = ["MH"] + [c for c in kept if c not in event_free]
    x = x[cov].copy()
    x[duration], x[event], x["ORG_ID"] = df[duration].to_numpy(), df[event].to_numpy(), df["ORG_ID"].to_numpy()
    x.attrs["organization_terms_limited"] = limited
    return x, cov


def _effect(b: float, se: float, alpha: float, df: float | None = None) -> dict:
    """Hazard ratio, (1 - alpha) interval and p-value of a log hazard ratio b with SE se, with a
    normal reference (df None) or t(df); a zero or non-finite SE is not estimable."""
    check_standard_error(se, "the log hazard ratio")
    lower, upper, p = wald_interval(b, se, alpha, df)
    return {"log_hr": b, "se": se, "df": df, "hr": float(np.exp(b)), "lower": float(np.exp(lower)),
            "upper": float(np.exp(upper)), "p": p, "prob_hr_below_1": float(reference(df).cdf(-b / se))}


_NAN_EFFECT = {k: float("nan") for k in ("log_hr", "se", "hr", "lower", "upper", "p", "prob_hr_below_1")}


@reuse_freed_memory()
def survival_impact(tte: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                    ph_alpha: float = 0.05, cox_cov_type: str = "robust", n_perm: int = 0, strata=None,
                    seed: int = 0, limits=None, covariates: dict | None = None) -> dict:
    """Fit Equation 4 for ``outcome`` (a key of :data:`OUTCOMES`: "event", "event_cvdeath" or
    "death") in ``population`` with the covariate specification ``covariates`` (config
    ``models.covariates``; None: the default).

    Returns a JSON-ready dict: the frailty model's hazard ratio of intervention vs control with its
    (1 - alpha) interval, p-value and the Bayesian reading under a flat prior (probability HR < 1)
    at the top level; the frailty variance and the search's convergence; the marginal
    (cluster-robust) model under "marginal"; crude rates per 1,000 person-years by arm; and both
    coefficient tables. Proportional hazards: the scaled Schoenfeld residual test (as R's
    ``cox.zph``, KM transform) of the marginal model for the treatment term and globally under
    "ph_test"; when either rejects at ``ph_alpha``, the hazard ratio by follow-up year (episode
    splitting, cluster-robust SE) under "by_year" (otherwise an empty list; "by_year_note" says why
    when they cannot be estimated).

    The marginal model's variance is ``cox_cov_type`` (:func:`fit_marginal_cox`: "robust" or a
    bias-corrected "kc", "fg", "md", "mbn" with a t(G - 2) reference); the uncorrected sandwich
    (normal reference) is kept under "marginal_uncorrected". A frailty fit whose theta search or
    Newton iterations did not converge is not estimable: its estimate fields are NaN, "estimable"
    is False and "reason" says why (the unconverged numbers stay under "unconverged"; the marginal
    model is still reported). "theta_at_boundary" flags a frailty variance estimated at 0; the fit is
    then the ordinary Cox model, whose model-based SE ignores the clustering, so with a bias-corrected
    ``cox_cov_type`` (the workflow's default, mbn) the published interval, p-value and P(HR < 1) use the
    marginal model's corrected variance and t(G - 2) reference around the frailty estimate ("interval"
    says which variance was used; the model-based numbers stay under "model_based"). With "robust" the
    model-based interval stays: the uncorrected sandwich covers even less with few organizations
    (benchmarks/results/calibration_trials.md).

    An outcome without enough events or organizations in an arm, or a fit with a zero or non-finite
    standard error, gives a not-estimable result (:mod:`mheval.models.estimability`) instead.

    ``n_perm`` > 0 adds a randomization test (organizations re-randomized within ``strata``: None,
    or a Series of randomization strata indexed by ORG_ID) as "p_randomization" and
    "randomization" (:func:`mheval.models.randomization_test.randomization_test`); its statistic
    is the marginal Cox log hazard ratio (refitted for each permutation; the frailty model's theta
    search would cost many times more). ``covariates``: the covariate specification (config
    ``models.covariates``; None: the default).
    """
    return estimate_or_note(lambda: _survival(tte, outcome, population, alpha, ph_alpha, cox_cov_type, n_perm, strata,
                                              seed, limits, covariates),
                            outcome=outcome, outcome_label=OUTCOMES[outcome][2], population=population, alpha=alpha)


def _survival(tte, outcome, population, alpha, ph_alpha, cox_cov_type, n_perm, strata, seed, limits,
              covariates=None) -> dict:
    duration, event, label = OUTCOMES[outcome]
    x, cov = survival_frame(tte, outcome, population, covariates)
    limited = x.attrs["organization_terms_limited"]
    check_estimable(x[event], x["MH"], x["ORG_ID"], "events", limits)
    check_clusters_for_covariates(x["ORG_ID"], cov, cox_cov_type)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fr = fit_frailty_cox(x, duration, event, cov, "ORG_ID")
    mg = fit_marginal_cox(x, duration, event, cov, "ORG_ID", treatment="MH", cov_type=cox_cov_type)
    frailty_effect = _effect(float(fr.params["MH"]), float(fr.bse["MH"]), alpha)
    estimable = bool(fr.converged)
    interval = "frailty"
    if estimable and fr.theta_at_boundary and mg.cov_type != "robust":
        # theta = 0: the frailty fit is the ordinary Cox fit, whose model-based SE ignores the clustering the
        # frailty was meant to carry (90% intervals covered 75-85% with 47 organizations in
        # benchmarks/results/calibration_trials.md); publish its estimate with the marginal model's
        # cluster-robust, small-sample corrected variance and reference instead.
        interval = f"marginal ({mg.cov_type})"
        frailty_effect = {**_effect(float(fr.params["MH"]), float(mg.bse["MH"]), alpha, mg.df),
                          "model_based": frailty_effect}
    ph = schoenfeld_test(x[duration].to_numpy(), x[event].to_numpy(), x[cov], beta=mg.params[cov].to_numpy())
    ph_rejects = bool(ph.loc["MH", "p"] < ph_alpha or ph.loc["GLOBAL", "p"] < ph_alpha)
    by_year, by_year_note = [], ""
    if ph_rejects:
        try:
            by_year = fit_by_follow_up_year(x, duration, event, x[cov], treatment="MH", alpha=alpha).to_dict(orient="records")
            floor = (limits or Limits()).min_events_per_arm
            for y in by_year:
                if min(y["events_treated"], y["events_control"]) < floor:
                    # an arm with (almost) no events in the year: its hazard ratio runs off to 0 or infinity
                    y.update({k: float("nan") for k in ("log_hr", "se", "hr", "lower", "upper", "p")},
                             note="not estimable: fewer events in an arm in this follow-up year than "
                                  "models.min_events_per_arm")
                else:
                    check_standard_error(y["se"], f"the log hazard ratio in follow-up year {int(y['year'])}")
        except (NotEstimable, np.linalg.LinAlgError) as e:
            by_year, by_year_note = [], f"not estimable: {getattr(e, 'reason', 'singular information matrix')}"
    out = {
        "outcome": outcome, "outcome_label": label, "population": population,
        "model": "Cox model with a shared gamma frailty per organization (as R's coxph + frailty), Efron ties",
        "alpha": alpha, "n": fr.nobs, "n_events": fr.n_events, "n_organizations": fr.n_clusters,
        **(frailty_effect if estimable else _NAN_EFFECT), "estimable": estimable,
        "reason": None if estimable else
        "the frailty model did not converge (theta search or Newton iterations): not published",
        "unconverged": None if estimable else frailty_effect,
        "theta": fr.theta, "theta_at_boundary": fr.theta_at_boundary, "converged": fr.converged,
        "interval": interval,
        "warnings": [str(w.message) for w in caught],
        "marginal": {"model": f"marginal Cox, Efron ties, sandwich SE by organization ({mg.cov_type})",
                     "cov_type": mg.cov_type, **_effect(float(mg.params["MH"]), float(mg.bse["MH"]), alpha, mg.df)},
        "marginal_uncorrected": {"model": "marginal Cox, Efron ties, cluster-robust (sandwich) SE, normal reference",
                                 "cov_type": "robust", **_effect(float(mg.params["MH"]), float(mg.bse_robust["MH"]), alpha)},
        "p_randomization": None, "randomization": None,
        "crude": crude_rates(x, duration, event),
        "ph_test": {"alpha": ph_alpha, "rejects": ph_rejects, "treatment": ph.loc["MH"].to_dict(),
                    "global": ph.loc["GLOBAL"].to_dict(), "terms": ph.reset_index(names="term").to_dict(orient="records")},
        "by_year": by_year, "by_year_note": by_year_note, "organization_terms_limited": limited,
        "coefficients": fr.summary(alpha).reset_index(names="term").to_dict(orient="records"),
        "coefficients_marginal": mg.summary(alpha).reset_index(names="term").to_dict(orient="records"),
    }
    if n_perm > 0:
        from mheval.models.cox_engine import fit_cox
        from mheval.models.randomization_test import randomization_test

        T, E, init = x[duration].to_numpy(), x[event].to_numpy(), mg.params[cov].to_numpy()

        def log_hr(d: pd.DataFrame) -> float:
            f = fit_cox(T, E, d[cov].to_numpy(float), init=init)
            if not f.converged:
                raise RuntimeError("Cox fit did not converge")
            return float(f.params[0])
        rt = randomization_test(log_hr, x, "MH", "ORG_ID", strata=strata, n_perm=n_perm, seed=seed)
        out["randomization"], out["p_randomization"] = rt, rt["p"]
    return out


@reuse_freed_memory()
def adjusted_incidence(tte: pd.DataFrame, outcome: str, population: str, years=(1, 2, 3, 4, 5), n_boot: int = 200,
                       alpha: float = 0.10, seed: int = 0, min_at_risk: int = 11, limits=None,
                       covariates: dict | None = None, max_failed_share: float = 0.10, frame=None):
    """Adjusted cumulative incidence of ``outcome`` by arm in ``population``, standardized over the
    population's sample with the Equation 4 covariates, with cluster-bootstrap bands
    (:func:`mheval.models.adjusted_incidence.adjusted_cumulative_incidence`; not estimable when more
    than ``max_failed_share`` of the replicates fail to fit). Raises
    :class:`~mheval.models.estimability.NotEstimable` when the outcome is not estimable. ``frame``:
    :func:`survival_frame` of the same arguments when the caller has it (computed once for this and
    :func:`competing_incidence`)."""
    from mheval.models.adjusted_incidence import adjusted_cumulative_incidence

    duration, event, _ = OUTCOMES[outcome]
    x, cov = survival_frame(tte, outcome, population, covariates) if frame is None else frame
    check_estimable(x[event], x["MH"], x["ORG_ID"], "events", limits)
    return adjusted_cumulative_incidence(x, duration, event, x[[c for c in cov if c != "MH"]], treatment="MH",
                                         cluster="ORG_ID", years=tuple(years), n_boot=n_boot, alpha=alpha, seed=seed,
                                         min_at_risk=min_at_risk, max_failed_share=max_failed_share)


@reuse_freed_memory()
def competing_incidence(tte: pd.DataFrame, outcome: str, population: str, years=(1, 2, 3, 4, 5), n_boot: int = 200,
                        alpha: float = 0.10, seed: int = 0, min_cell: int = 11, limits=None,
                        covariates: dict | None = None, max_failed_share: float = 0.10, frame=None):
    """Cumulative incidence of ``outcome`` by arm in ``population`` with death (without the outcome,
    at the end of its follow-up) as a competing risk: Aalen-Johansen unadjusted, and standardized over
    the population from cause-specific Cox models with the Equation 4 covariates, with
    cluster-bootstrap bands (:func:`mheval.models.competing_risks.competing_cumulative_incidence`; not
    estimable when more than ``max_failed_share`` of the replicates fail to fit).
    For all-cause death there is no competing event (the estimate is 1 - Kaplan-Meier). A year with
    fewer than ``min_cell`` at risk or events in an arm is not estimable. Raises
    :class:`~mheval.models.estimability.NotEstimable` when the outcome is not estimable. ``frame``: as
    :func:`adjusted_incidence`'s (the frame is not modified)."""
    from mheval.models.competing_risks import competing_cumulative_incidence, competing_status

    duration, event, _ = OUTCOMES[outcome]
    x, cov = survival_frame(tte, outcome, population, covariates) if frame is None else frame
    x = x.copy(deep=False)  # the status column below is this call's own
    check_estimable(x[event], x["MH"], x["ORG_ID"], "events", limits)
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    x["STATUS"] = competing_status(x[event], df["DEATH"], x[duration], df["T_DEATH"])
    return competing_cumulative_incidence(x, duration, "STATUS", x[[c for c in cov if c != "MH"]], treatment="MH",
                                          cluster="ORG_ID", years=tuple(years), n_boot=n_boot, alpha=alpha, seed=seed,
                                          min_at_risk=min_cell, min_events=min_cell,
                                          max_failed_share=max_failed_share)
