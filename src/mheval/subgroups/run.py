"""All subgroup analyses of one configuration: definitions, unpooled impacts, pooling.

:func:`run_subgroup_analysis` is what a workflow script calls: it assigns the subgroups on the
time-to-event file, fits the interaction models for every enabled dimension, population and
configured outcome, pools each set of level estimates, and returns long tables (one row per
outcome x population x dimension x level) plus the InferenceData of every pooled fit.
A fit whose contrast is not estimable (a single level in the population, e.g. risk stratum
within the high-risk population; or a level with no events in one arm) is skipped and listed,
with the reason, in ``skipped``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mheval.seeds import job_seed
from mheval.models.equation1 import model_frame
from mheval.subgroups.bayes import merge_bayes_config, pool_impacts_jointly, save_inference_data
from mheval.subgroups.definitions import assign_subgroups, merge_spec
from mheval.models.estimability import Limits, NotEstimable, check_estimable, check_standard_error
from mheval.subgroups.interaction import SharedStatistics, cox_by_subgroup, cox_model_frame, equation1_by_subgroup

DEFAULT_RUN = {"equation1_outcomes": ["spend_ab", "hosp_all"], "survival_outcomes": ["event", "death"]}


def _overall_reason(frame: pd.DataFrame, model: str, outcome: str, population: str, limits: Limits | None,
                    covariates: dict | None = None) -> str:
    """Why ``outcome`` is not estimable in the whole ``population`` ("" when it is): then no
    subgroup of it is (:func:`mheval.models.estimability.check_estimable`). ``frame``: for
    Equation 1 its :func:`mheval.models.equation1.model_frame`, else the time-to-event file."""
    try:
        if model == "equation1":
            d = frame
            check_estimable(d[outcome], d["MH"], d["ORG_ID"], "continuous", limits)
        else:
            from mheval.models.equation4 import OUTCOMES, survival_frame

            x, _ = survival_frame(frame, outcome, population, covariates)
            check_estimable(x[OUTCOMES[outcome][1]], x["MH"], x["ORG_ID"], "events", limits)
    except NotEstimable as e:
        return e.reason
    return ""


def run_subgroup_analysis(tte: pd.DataFrame, by: pd.DataFrame | None, cfg: dict, populations: list[str],
                          alpha: float = 0.10, idata_dir: str | Path | None = None,
                          limits: Limits | None = None, covariates: dict | None = None,
                          average: str = "simple", lmm_cov_type: str = "CR2", cox_cov_type: str = "mbn") -> dict:
    """Run the subgroup analyses configured in ``cfg`` (the ``subgroups`` config block).

    Parameters
    ----------
    tte : time-to-event file (all analyzed beneficiaries).
    by : beneficiary-year file (None skips the Equation 1 outcomes).
    cfg : ``{"definitions": ..., "bayes": ..., "equation1_outcomes": [...], "survival_outcomes": [...],
        "equation1_by_year": bool}`` (by_year: year x level terms, as Equation 1; False: one MH x level
        term per level, much faster).
    populations : e.g. ["high", "high_medium"].
    idata_dir : if given, each pooled fit's InferenceData is written there as
        ``<outcome>_<population>_<dimension>.nc``.
    limits : estimability thresholds of the whole population's outcome
        (:class:`~mheval.models.estimability.Limits`); a fit with a zero or non-finite standard
        error is not pooled. Either is listed in ``skipped`` with its reason.
    covariates : the covariate specification of every model (config ``models.covariates``; None:
        the default); average : the Equation 1 average over years (config ``models.average_weighting``).
    lmm_cov_type, cox_cov_type : the covariance of the level estimates, which the pooling takes
        whole (config ``models.lmm_cov_type``, ``models.cox_cov_type``: the small-sample corrected ones).

    Equation 1's nested LMM of each dimension starts its variance-ratio search where the previous
    dimension's fit of the same outcome ended (the same maximum, in about half the evaluations) and is
    fitted from sufficient statistics whose covariate blocks are built once per outcome and population
    (:class:`mheval.subgroups.interaction.SharedStatistics`); the
    pooling samples every dimension of one outcome and population in one NUTS run
    (:func:`mheval.subgroups.bayes.pool_impacts_jointly`).

    Returns a dict: ``counts`` (subgroup level counts), ``impacts`` (per level: the unpooled
    columns of :class:`~mheval.subgroups.interaction.SubgroupImpacts` (estimate, se, lower, upper,
    p, counts, ...) and the pooled ones of :class:`~mheval.subgroups.bayes.PooledSubgroups`
    (post_mean, post_sd, cred_lower, cred_upper, prob_below_0, prob_beyond_size, size,
    unpooled_prob_below_0, unpooled_prob_beyond_size, shrinkage) and heterogeneity_p), ``tests`` (heterogeneity and size
    interaction tests per fit), ``diagnostics`` (per pooled fit), ``skipped``, ``idata_files``.
    """
    spec = merge_spec(cfg.get("definitions"))
    bayes = merge_bayes_config(cfg.get("bayes"))
    eq1_outcomes = cfg.get("equation1_outcomes", DEFAULT_RUN["equation1_outcomes"]) if by is not None else []
    surv_outcomes = cfg.get("survival_outcomes", DEFAULT_RUN["survival_outcomes"])
    tte_sg, counts = assign_subgroups(tte, spec)
    no_contrast = dict(tte_sg.attrs.get("not_estimable", {}))  # dimensions left with a single level
    sg_cols = [c for c in tte_sg.columns if c.startswith("SG_")]
    by_sg = None
    if by is not None:
        by_sg = by.drop(columns=[c for c in sg_cols if c in by.columns]).merge(tte_sg[["BENE_ID"] + sg_cols],
                                                                               on="BENE_ID", how="left")
        by = None  # freed here when the caller keeps no reference (workflow/scripts/fit_subgroups.py)
    rows, tests, diags, skipped, files = [], [], [], [], []
    if idata_dir is not None:  # exists even when every fit is skipped (a declared output)
        Path(idata_dir).mkdir(parents=True, exist_ok=True)
    jobs = [("equation1", o) for o in eq1_outcomes] + [("cox", o) for o in surv_outcomes]
    for population in populations:
        # Equation 1's model frame of each outcome, built once for every dimension's fit
        frames, overall, shared = {}, {}, {}
        for job in jobs:
            try:
                if job[0] == "equation1":
                    frames[job] = model_frame(by_sg, job[1], population, covariates)
                else:
                    frames[job] = cox_model_frame(tte_sg, job[1], population, covariates)
                overall[job] = _overall_reason(tte_sg if job[0] == "cox" else frames[job], *job, population, limits,
                                               covariates)
                if job[0] == "equation1" and not overall[job]:  # the blocks every dimension's design shares
                    shared[job] = SharedStatistics(frames[job], job[1], population, covariates)
            except NotEstimable as e:
                overall[job] = e.reason
        if population == populations[-1]:
            by_sg = None  # the frames hold what the fits read: free the merged file (0.5 GB at scale 1.0)
        fitted = []  # (key, impacts, seed) in the loop's order; pooled together per outcome below
        ratios = {}  # Equation 1: the last fit's variance ratios, where the next dimension's search starts
        for dim in spec["enabled"]:
            for model, outcome in jobs:
                try:
                    if overall[(model, outcome)]:
                        raise NotEstimable(overall[(model, outcome)])
                    if dim in no_contrast:
                        raise NotEstimable(no_contrast[dim])
                    if model == "equation1":
                        imp = equation1_by_subgroup(frames[(model, outcome)], outcome, population, dim, alpha=alpha,
                                                    by_year=cfg.get("equation1_by_year", True), average=average,
                                                    covariates=covariates, cov_type=lmm_cov_type,
                                                    frame=frames[(model, outcome)], start=ratios.get(outcome),
                                                    shared=shared.get((model, outcome)))
                        ratios[outcome] = imp.variance_ratios
                    else:
                        imp = cox_by_subgroup(tte_sg, outcome, population, dim, alpha=alpha, covariates=covariates,
                                              cov_type=cox_cov_type, frame=frames[(model, outcome)])
                    check_standard_error(imp.table["se"].to_numpy(), "a subgroup level's impact")
                except (NotEstimable, np.linalg.LinAlgError) as e:
                    skipped.append({"model": model, "outcome": outcome, "population": population,
                                    "dimension": dim, "reason": getattr(e, "reason", f"singular information matrix ({e})")})
                    continue
                key = {"model": model, "outcome": outcome, "population": population, "dimension": dim}
                fitted.append((key, imp, job_seed(bayes["sampler"]["seed"], **key)))
        # every dimension of one outcome and population in one NUTS run (independent models: the same
        # posteriors, PyMC's per-step cost paid once; mheval.subgroups.bayes.pool_subgroups_jointly)
        pooled_by = {}
        for job in jobs:
            mine = [f for f in fitted if (f[0]["model"], f[0]["outcome"]) == job]
            if mine:
                pooled_by.update(zip([id(f[1]) for f in mine],
                                     pool_impacts_jointly([f[1] for f in mine], bayes, seeds=[f[2] for f in mine])))
        for key, imp, _ in fitted:
            pooled = pooled_by[id(imp)]
            pt = pooled.table.drop(columns=["estimate", "se", "unpooled_lower", "unpooled_upper"]).rename(
                columns={"label": "level", "lower": "cred_lower", "upper": "cred_upper"})
            t = imp.table.assign(level=imp.table["level"].astype(str)).merge(pt, on="level", validate="1:1")
            rows.append(t.assign(**key, heterogeneity_p=imp.heterogeneity["p"]))
            tests.append({**key, "heterogeneity": imp.heterogeneity, "size_interaction": imp.size_interaction,
                          "dropped_covariates": imp.dropped_covariates,
                          "organization_terms_limited": imp.organization_terms_limited,
                          "hyper": pooled.hyper.reset_index(names="parameter").to_dict(orient="records")})
            diags.append({**key, **{k: v for k, v in pooled.diagnostics.items() if k != "thresholds"}})
            if idata_dir is not None:
                files.append(str(save_inference_data(pooled, Path(idata_dir) / f"{key['outcome']}_{population}_"
                                                                                f"{key['dimension']}.nc")))
    lead = ["model", "outcome", "population", "dimension", "level"]
    impacts = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=lead)
    impacts = impacts[lead + [c for c in impacts.columns if c not in lead]]
    return {"counts": counts, "impacts": impacts, "tests": tests, "diagnostics": diags, "skipped": skipped,
            "idata_files": files}
