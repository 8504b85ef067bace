"""Hazard ratio for one outcome and population, and the cumulative incidence curves by arm."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models import survival_impact
from mheval.models.curves import cumulative_incidence_by_arm
from mheval.models.estimability import Limits
from mheval.models.randomization_test import organization_strata
from mheval.seeds import job_seed

sm = snakemake  # noqa: F821


def main():
    tte = pd.read_parquet(sm.input.tte)
    outcome, population = sm.wildcards.outcome, sm.wildcards.population
    p = sm.params
    write_json(survival_impact(tte, outcome, population, alpha=p.alpha, ph_alpha=p.ph_alpha, cox_cov_type=p.cox_cov_type,
                               n_perm=p.n_perm, strata=organization_strata(tte, "ORG_ID", p.strata_column), seed=job_seed(p.seed, **sm.wildcards),
                               limits=Limits.from_config(p.limits), covariates=p.covariates), sm.output.json)
    cumulative_incidence_by_arm(tte, outcome, population, alpha=p.alpha, min_cell=sm.params.min_cell).to_csv(
        sm.output.curve, index=False, float_format="%.6f")


run_step(main, sm.log[0])
