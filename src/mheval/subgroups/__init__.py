"""Subgroup impacts and their Bayesian partial pooling (evaluation design report, section V.C).

Three steps, each usable on its own:

1. :func:`assign_subgroups` (definitions): one ``SG_<DIMENSION>`` column per configured
   dimension on the time-to-event file (one row per analyzed beneficiary), plus a counts table
   that flags (and by default merges) levels too small to estimate an impact in.
2. :func:`equation1_by_subgroup` and :func:`cox_by_subgroup` (interaction): unpooled impacts
   per level from Equation 1 and Equation 4 (marginal Cox) with arm x level terms, a Wald test
   of heterogeneity, and for organization size a direct MH x log(size) interaction test.
3. :func:`pool_subgroups` / :func:`pool_impacts` (bayes): hierarchical normal-normal partial
   pooling of the level estimates in PyMC with convergence checks; posterior means, 90%
   credible intervals, P(impact < 0) and P(impact beyond a size); :func:`pool_subgroups_jointly` /
   :func:`pool_impacts_jointly` pool several independent sets (e.g. every dimension of one outcome)
   in one NUTS run, each with its own model's posterior.

Config block (``subgroups`` in config/config.yaml): ``definitions`` is the spec of
:func:`assign_subgroups` (see :data:`DEFAULT_SPEC`), ``bayes`` the settings of
:func:`pool_impacts` (see :data:`DEFAULT_BAYES`).

:func:`run_subgroup_analysis` (run) does all three for the configured dimensions, outcomes
and populations. Typical use, step by step::

    tte_sg, counts = assign_subgroups(tte, cfg["subgroups"]["definitions"])
    by_sg = by.merge(tte_sg[["BENE_ID"] + [c for c in tte_sg if c.startswith("SG_")]], on="BENE_ID")
    unpooled = equation1_by_subgroup(by_sg, "spend_ab", "high_medium", "org_size")
    pooled = pool_impacts(unpooled, cfg["subgroups"]["bayes"])
    save_inference_data(pooled, "results/subgroups/spend_ab_high_medium_org_size.nc")
"""

from mheval.subgroups.bayes import (
                                    DEFAULT_BAYES,
                                    PooledSubgroups,
                                    PoolingDiagnosticsError,
                                    check_diagnostics,
                                    closed_form_posterior,
                                    merge_bayes_config,
                                    pool_impacts,
                                    pool_impacts_jointly,
                                    pool_subgroups,
                                    pool_subgroups_jointly,
                                    save_inference_data,
)
from mheval.subgroups.definitions import (
                                    DEFAULT_SPEC,
                                    DIMENSIONS,
                                    SubgroupTooSmallError,
                                    assign_subgroups,
                                    column_name,
                                    level_counts,
)
from mheval.subgroups.interaction import (
                                    SubgroupImpacts,
                                    SubgroupNotEstimableError,
                                    cox_by_subgroup,
                                    cox_model_frame,
                                    cox_size_interaction,
                                    equation1_by_subgroup,
                                    equation1_size_interaction,
)
from mheval.subgroups.run import run_subgroup_analysis

__all__ = ["DEFAULT_BAYES", "DEFAULT_SPEC", "DIMENSIONS", "PooledSubgroups", "PoolingDiagnosticsError",
           "SubgroupImpacts", "SubgroupNotEstimableError", "SubgroupTooSmallError", "assign_subgroups",
           "check_diagnostics", "closed_form_posterior", "column_name", "cox_by_subgroup", "cox_model_frame",
           "cox_size_interaction",
           "equation1_by_subgroup", "equation1_size_interaction", "level_counts", "merge_bayes_config",
           "pool_impacts", "pool_impacts_jointly", "pool_subgroups", "pool_subgroups_jointly",
           "run_subgroup_analysis", "save_inference_data"]
