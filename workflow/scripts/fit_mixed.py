"""Equation 1 for one continuous outcome and population (or not estimable, with the reason)."""
from mheval.io import run_step, write_json
from mheval.models.equation1 import equation1_impact, model_columns, read_model_rows
from mheval.models.estimability import Limits
from mheval.models.randomization_test import organization_strata
from mheval.seeds import job_seed

sm = snakemake  # noqa: F821


def main():
    p = sm.params
    # only the population's follow-up rows (the strata of its organizations: all a randomization test permutes)
    by = read_model_rows(sm.input.by, model_columns(sm.wildcards.outcome, p.covariates, p.strata_column),
                         sm.wildcards.population)
    write_json(equation1_impact(by, sm.wildcards.outcome, sm.wildcards.population, alpha=p.alpha, size_percent=p.size,
                                cov_type=p.cov_type, n_perm=p.n_perm, strata=organization_strata(by, "ORG_ID", p.strata_column),
                                seed=job_seed(p.seed, **sm.wildcards), limits=Limits.from_config(p.limits), average=p.average, covariates=p.covariates), sm.output.json)


run_step(main, sm.log[0])
