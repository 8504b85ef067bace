"""Equation 2 (evaluation design report, section V.A): one observation per beneficiary.

y_ip = alpha + delta MH_p + beta x_i + theta z_p + gamma_p + e_ip, with an organization random
intercept gamma_p. Used for the fixed-window supplement of the time-to-event impacts (issue 6,
item 5): whether the beneficiary had a first heart attack, stroke or TIA within two years of
enrollment, among beneficiaries whose two years are observable. The binary outcome is fitted as a
multilevel logistic regression (:func:`mheval.models.nested_glmm.fit_nested_glmm`, Laplace, as
lme4's glmer) and the impact is the average marginal effect in percentage points.
"""

from __future__ import annotations

import pandas as pd


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


def fixed_window_impact(tte: pd.DataFrame, population: str, years: float = 2.0, alpha: float = 0.10,
                        size_percent: float = 5.0, limits=None) -> dict:
    """Equation 2 for the event within ``years`` of enrollment in ``population``: multilevel
    logistic regression with an organization random intercept and the Equation 4 covariates; the
    impact is the average marginal effect in percentage points (population-averaged, delta method).
    Returns a JSON-ready dict shaped like the Equation 1 results ("average"), with the counts of
    :func:`fixed_window_frame`; or a not-estimable result (:mod:`mheval.models.estimability`)."""
    from mheval.models.estimability import estimate_or_note

    return estimate_or_note(lambda: _fixed_window(tte, population, years, alpha, size_percent, limits),
                            outcome="event_within_window",
                            outcome_label=f"First heart attack, stroke or TIA within {years:g} years",
                            population=population, window_years=years, alpha=alpha, size_percent=size_percent)


def _fixed_window(tte, population, years, alpha, size_percent, limits) -> dict:
    from mheval.models.binary_impact import ame_row
    from mheval.models.estimability import check_estimable
    from mheval.models.covariates import POPULATIONS, adjustment_covariates
    from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect

    pop = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    frame, counts = fixed_window_frame(pop, years)
    check_estimable(frame["WITHIN"], frame["MH"], frame["ORG_ID"], "binary", limits)
    cov = adjustment_covariates(frame, population)
    cov = cov[[c for c in cov.columns if cov[c].nunique() > 1]]
    d = frame[["ORG_ID", "MH", "WITHIN"]].join(cov)
    formula = "WITHIN ~ 1 + MH + " + " + ".join(cov.columns)
    fit = fit_nested_glmm(d, formula, org="ORG_ID", bene=None)
    r = marginal_effect(fit, d, treatment="MH").summary(alpha).loc["overall"]
    average = ame_row(f"within {years:g} years", r, size_percent)
    return {"outcome": "event_within_window", "outcome_label": f"First heart attack, stroke or TIA within {years:g} years",
            "population": population, "window_years": years, "alpha": alpha, "size_percent": size_percent,
            "model": "Equation 2: multilevel logistic (Laplace), organization intercept; average marginal effect in "
                     "percentage points, population-averaged, delta method",
            "counts": counts, "n_obs": fit.nobs, "n_organizations": fit.n_groups["org"], "converged": fit.converged,
            "variance_components": fit.variance_components, "average": average, "by_year": [],
            "coefficients": fit.summary(alpha).reset_index(names="term").to_dict(orient="records")}
