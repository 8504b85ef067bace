"""Equation 1 for one continuous outcome and population (or not estimable, with the reason)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation1 import equation1_impact
from mheval.models.estimability import Limits
from mheval.models.randomization_test import organization_strata
from mheval.seeds import job_seed

sm = snakemake  # noqa: F821


def main():
    by = pd.read_parquet(sm.input.by)
    p = sm.params
    write_json(equation1_impact(by, sm.wildcards.outcome, sm.wildcards.population, alpha=p.alpha, size_percent=p.size,
                                cov_type=p.cov_type, n_perm=p.n_perm, strata=organization_strata(by, "ORG_ID", p.strata_column),
                                seed=job_seed(p.seed, **sm.wildcards), limits=Limits.from_config(p.limits), average=p.average, covariates=p.covariates), sm.output.json)


run_step(main, sm.log[0])
