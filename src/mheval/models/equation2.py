"""Equation 2 (evaluation design report, section V.A): one observation per beneficiary.

y_ip = alpha + delta MH_p + beta x_i + theta z_p + gamma_p + e_ip, with an organization random
intercept gamma_p. Used for the fixed-window supplement of the time-to-event impacts (issue 6,
item 5): whether the beneficiary had a first heart attack, stroke or TIA within two years of
enrollment, among beneficiaries whose two years are observable; and for the medication windows
(issue 14): whether a Part D enrollee started or intensified a statin, an antihypertensive or
either within 6 months (or 3 years) of enrollment (:func:`medication_window_impact`). The binary outcome is fitted as a
multilevel logistic regression (:func:`mheval.models.nested_glmm.fit_nested_glmm`, Laplace, as
lme4's glmer) and the impact is the average marginal effect in percentage points. With
``cov_type="CR2"`` (default; config ``models.binary_cov_type``) the published effect is the
population-averaged logistic regression's (GLM, :func:`mheval.models.marginal_binary.fit_marginal_binary`)
with its CR2 cluster-robust SE by organization and a t reference with Satterthwaite df, the
multilevel one kept beside it (``multilevel_model_based``), as for Equation 1's binary outcomes
(:mod:`mheval.models.binary_impact`).
"""

from __future__ import annotations

import pandas as pd

from mheval.models.cox_replicates import reuse_freed_memory


def fixed_window_frame(tte: pd.DataFrame, years: float = 2.0) -> tuple[pd.DataFrame, dict]:
    """Beneficiaries whose first ``years`` after enrollment are observable, with ``WITHIN``: 1 if
    the outcome happened within the window.

    The outcome is the first heart attack, stroke or TIA (``T_EVENT``, ``EVENT``, ``EVENT_CENSOR``
    of the time-to-event file). Observable: the event happened within the window, or follow-up
    lasted the whole window, or the beneficiary died within the window without an event first, so
    that the outcome is known to be 0. Excluded, and counted: follow-up ending early for loss of
    fee-for-service coverage or the end of follow-up (censoring). Returns the frame and the
    counts {"eligible", "included", "excluded_loss_of_ffs", "excluded_end_of_follow_up"}.
    """
    t, e = tte["T_EVENT"], tte["EVENT"].astype(bool)
    within = e & (t <= years)
    died_first = (tte["EVENT_CENSOR"] == "death") & (t <= years)
    keep = within | (t >= years) | died_first
    why = tte.loc[~keep, "EVENT_CENSOR"]
    counts = {"eligible": len(tte), "included": int(keep.sum()),
              "excluded_loss_of_ffs": int((why == "loss_of_ffs").sum()),
              "excluded_end_of_follow_up": int((why == "end_of_follow_up").sum())}
    if counts["included"] + counts["excluded_loss_of_ffs"] + counts["excluded_end_of_follow_up"] != counts["eligible"]:
        raise AssertionError(f"fixed-window exclusions do not add up: {counts}")
    out = tte.loc[keep].copy()
    out["WITHIN"] = within[keep].astype(int)
    return out.reset_index(drop=True), counts


@reuse_freed_memory()
def fixed_window_impact(tte: pd.DataFrame, population: str, years: float = 2.0, alpha: float = 0.10,
                        size_percent: float = 5.0, limits=None, covariates: dict | None = None,
                        cov_type: str = "CR2") -> dict:
    """Equation 2 for the event within ``years`` of enrollment in ``population``: multilevel
    logistic regression with an organization random intercept and the Equation 4 covariates; the
    impact is the average marginal effect in percentage points (population-averaged, delta method).
    Returns a JSON-ready dict shaped like the Equation 1 results ("average"), with the counts of
    :func:`fixed_window_frame`; or a not-estimable result (:mod:`mheval.models.estimability`).
    ``covariates``: the covariate specification (config ``models.covariates``; None: the default);
    ``cov_type``: "CR2" or "model" (:func:`equation2_binary`)."""
    from mheval.models.binary_impact import check_cov_type
    from mheval.models.estimability import estimate_or_note

    check_cov_type(cov_type)
    return estimate_or_note(lambda: _fixed_window(tte, population, years, alpha, size_percent, limits, covariates,
                                                  cov_type),
                            outcome="event_within_window",
                            outcome_label=f"First heart attack, stroke or TIA within {years:g} years",
                            population=population, window_years=years, alpha=alpha, size_percent=size_percent)


def _fixed_window(tte, population, years, alpha, size_percent, limits, covariates=None, cov_type="CR2") -> dict:
    from mheval.models.covariates import POPULATIONS

    pop = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    frame, counts = fixed_window_frame(pop, years)
    return {"outcome": "event_within_window", "outcome_label": f"First heart attack, stroke or TIA within {years:g} years",
            "population": population, "window_years": years, "alpha": alpha, "size_percent": size_percent,
            "counts": counts, **equation2_binary(frame, "WITHIN", population, f"within {years:g} years", alpha,
                                                 size_percent, limits, covariates, cov_type)}


MODEL = ("Equation 2: multilevel logistic (Laplace), organization intercept; average marginal effect in "
         "percentage points, population-averaged, delta method")


def model_label(cov_type: str) -> str:
    """The result's "model" text for ``cov_type`` (as :func:`mheval.models.binary_impact.model_label`)."""
    from mheval.models.cluster_robust import variance_words

    if cov_type == "model":
        return MODEL
    return ("Equation 2: population-averaged logistic regression (GLM, independence); average marginal effect in "
            f"percentage points, delta method with {variance_words(cov_type)}")


def equation2_binary(frame: pd.DataFrame, outcome: str, population: str, period: str, alpha: float = 0.10,
                     size_percent: float = 5.0, limits=None, covariates: dict | None = None,
                     cov_type: str = "CR2") -> dict:
    """Fit Equation 2 for the 0/1 column ``outcome`` of ``frame`` (one row per beneficiary of
    ``population``, with the cohort's covariates, ``ORG_ID`` and ``MH``): multilevel logistic
    regression with an organization random intercept and the covariate specification ``covariates``
    (config ``models.covariates``; None: the default), collinear ones dropped; the impact is the
    average marginal effect in percentage points (population-averaged, delta method), labelled
    ``period``. Returns the model fields of a result ("model", "n_obs", "n_organizations",
    "converged", "variance_components", "average", "by_year": [], "coefficients"); raises
    :class:`mheval.models.estimability.NotEstimable` below the limits. ``cov_type`` "CR2" (default):
    the effect of the population-averaged logistic regression with its CR2 SE and Satterthwaite df,
    the multilevel one kept as "multilevel_model_based"; "model": the multilevel one, model-based SE."""
    from mheval.models.binary_impact import ame_row, check_cov_type, glmm_start
    from mheval.models.marginal_binary import fit_marginal_binary
    from mheval.models.covariates import (
        adjustment_covariates,
        check_no_post_randomization,
        independent_covariates,
        limit_organization_terms,
        pool_separated_levels,
        varying,
    )
    from mheval.models.estimability import check_estimable
    from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect

    check_estimable(frame[outcome], frame["MH"], frame["ORG_ID"], "binary", limits)
    cov = adjustment_covariates(frame, population, covariates)
    d = frame[["ORG_ID", "MH", outcome]].join(cov)
    covs, collinear = independent_covariates(d, varying(cov, cov.columns), year=None)
    covs, limited = limit_organization_terms(covs, d["ORG_ID"].nunique(), covariates)
    covs, separated = pool_separated_levels(d, outcome, covs)
    formula = f"{outcome} ~ 1 + MH" + "".join(f" + {c}" for c in check_no_post_randomization(covs))
    check_cov_type(cov_type)
    marginal = (fit_marginal_binary(d, formula, org="ORG_ID", link="logit", adjustment=cov_type)
                if cov_type != "model" else None)
    glmm = fit_nested_glmm(d, formula, org="ORG_ID", bene=None, start=glmm_start(marginal))

    def effect(fit) -> dict:
        return ame_row(period, marginal_effect(fit, d, treatment="MH").summary(alpha).loc["overall"], size_percent)

    def coefficients(fit) -> list[dict]:
        return fit.summary(alpha).reset_index(names="term").to_dict(orient="records")

    out = {"model": MODEL, "cov_type": "model", "n_obs": glmm.nobs, "n_organizations": glmm.n_groups["org"],
           "converged": glmm.converged, "variance_components": glmm.variance_components, "average": effect(glmm),
           "by_year": [], "dropped_collinear_covariates": collinear, "organization_terms_limited": limited,
           "separated_covariates": separated,
           "coefficients": coefficients(glmm)}
    if marginal is not None:
        fit = marginal
        multilevel = {k: out[k] for k in ("model", "cov_type", "converged", "variance_components", "average",
                                          "coefficients")}
        out |= {"model": model_label(cov_type), "cov_type": cov_type, "converged": fit.converged, "average": effect(fit),
                "coefficients": coefficients(fit), "multilevel_model_based": multilevel}
    return out


MEDICATION_DRUGS = {"statin": ("statin",), "antihypertensive": ("antihypertensive",),
                    "any": ("statin", "antihypertensive")}
DRUG_WORDS = {"statin": "Statin", "antihypertensive": "Antihypertensive", "any": "Statin or antihypertensive"}


def parse_medication_outcome(outcome: str) -> tuple[str, int]:
    """``med_<drug>_<months>m`` -> (drug, months); drug one of :data:`MEDICATION_DRUGS`."""
    import re

    m = re.fullmatch(r"med_(any|statin|antihypertensive)_([0-9]+)m", outcome)
    if not m or int(m.group(2)) < 1:
        raise ValueError(f"medication window outcome '{outcome}' is not med_<any|statin|antihypertensive>_<months>m")
    return m.group(1), int(m.group(2))


def medication_outcome_label(outcome: str) -> str:
    """'Statin or antihypertensive initiation or intensification within 6 months of enrollment'."""
    drug, months = parse_medication_outcome(outcome)
    span = f"{months // 12} years" if months % 12 == 0 and months >= 24 else f"{months} months"
    return f"{DRUG_WORDS[drug]} initiation or intensification within {span} of enrollment"


def medication_window_frame(tte: pd.DataFrame, changes: pd.DataFrame, drug: str, months: int) -> tuple[pd.DataFrame, dict]:
    """Part D enrollees whose first ``months`` after enrollment are observable, with ``WITHIN``: 1
    if a ``drug`` initiation or intensification happened in them.

    ``changes`` are the dated initiations and intensifications
    (:func:`mheval.analysis.beneficiary_year.medication_changes`: BENE_ID, CHANGE_DT, DRUG);
    ``drug`` is "statin", "antihypertensive" or "any" (either). The window runs from the enrollment
    date (day 0) for round(months / 12 x 365.25) days (6 months: days 0-182). One row per
    beneficiary enrolled in Part D at enrollment (``PART_D``; the others are excluded and counted).
    Observable: a change in the window while observed (alive and in FFS: before the earliest of
    ``DEATH_DT``, ``FFS_END_DT``, ``FU_END_DT``), or observation through the window's last day, or
    death within the window without a change first (the outcome is then known to be 0). Excluded
    and counted: observation ending in the window for loss of FFS coverage or the end of follow-up.
    Returns the frame and the counts {"eligible", "not_part_d", "included",
    "excluded_loss_of_ffs", "excluded_end_of_follow_up"}.
    """
    days = int(round(months / 12 * 365.25))
    part_d = tte["PART_D"].fillna(0).astype(bool) if "PART_D" in tte.columns else pd.Series(False, index=tte.index)
    t = tte.loc[part_d].copy()
    enroll = pd.to_datetime(t["ENROLL_DT"])
    last = enroll + pd.Timedelta(days=days - 1)
    ends = t[["DEATH_DT", "FFS_END_DT", "FU_END_DT"]].apply(pd.to_datetime)
    obs_end = ends.min(axis=1)
    ch = changes[changes["DRUG"].isin(MEDICATION_DRUGS[drug])]
    ch = t[["BENE_ID"]].assign(ENROLL=enroll.to_numpy()).merge(ch[["BENE_ID", "CHANGE_DT"]], on="BENE_ID")
    ch = ch[pd.to_datetime(ch["CHANGE_DT"]) >= ch["ENROLL"]]
    first = t["BENE_ID"].map(ch.groupby("BENE_ID")["CHANGE_DT"].min())
    first = pd.to_datetime(first)
    within = (first <= last) & (first <= obs_end)
    died = ends["DEATH_DT"].notna() & (ends["DEATH_DT"] <= obs_end) & (ends["DEATH_DT"] <= last)
    keep = within | (obs_end >= last) | died
    ffs_end = ends["FFS_END_DT"].notna() & (ends["FFS_END_DT"] <= ends["FU_END_DT"])
    counts = {"eligible": len(tte), "not_part_d": int((~part_d).sum()), "included": int(keep.sum()),
              "excluded_loss_of_ffs": int((~keep & ffs_end).sum()),
              "excluded_end_of_follow_up": int((~keep & ~ffs_end).sum())}
    if counts["not_part_d"] + counts["included"] + counts["excluded_loss_of_ffs"] + counts["excluded_end_of_follow_up"] \
            != counts["eligible"]:
        raise AssertionError(f"medication window exclusions do not add up: {counts}")
    out = t.loc[keep].copy()
    out["WITHIN"] = within[keep].astype(int)
    return out.reset_index(drop=True), counts


@reuse_freed_memory()
def medication_window_impact(tte: pd.DataFrame, changes: pd.DataFrame, outcome: str, population: str,
                             alpha: float = 0.10, size_percent: float = 5.0, limits=None,
                             covariates: dict | None = None, cov_type: str = "CR2") -> dict:
    """Equation 2 for a medication window outcome ``med_<drug>_<months>m`` (drug: statin,
    antihypertensive or any) in ``population``: :func:`medication_window_frame` fitted by
    :func:`equation2_binary` (average marginal effect in percentage points). Returns a JSON-ready
    dict shaped like the Equation 1 results ("average"), with the frame's counts; or a
    not-estimable result (:mod:`mheval.models.estimability`). ``cov_type``: "CR2" or "model"
    (:func:`equation2_binary`)."""
    from mheval.models.binary_impact import check_cov_type
    from mheval.models.estimability import estimate_or_note

    check_cov_type(cov_type)
    drug, months = parse_medication_outcome(outcome)
    label = medication_outcome_label(outcome)

    def fit() -> dict:
        from mheval.models.covariates import POPULATIONS

        pop = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
        frame, counts = medication_window_frame(pop, changes, drug, months)
        return {"outcome": outcome, "outcome_label": label, "population": population, "window_months": months,
                "alpha": alpha, "size_percent": size_percent, "counts": counts,
                **equation2_binary(frame, "WITHIN", population, f"within {months} months", alpha, size_percent, limits,
                                   covariates, cov_type)}

    return estimate_or_note(fit, outcome=outcome, outcome_label=label, population=population, window_months=months,
                            alpha=alpha, size_percent=size_percent)
