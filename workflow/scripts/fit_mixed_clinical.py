"""Equation 1 for a registry measurement at follow-up visits (systolic blood pressure, LDL)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation1 import clinical_frame, equation1_impact
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821


def main():
    outcome = sm.wildcards.outcome
    d = clinical_frame(pd.read_parquet(sm.input.risk), pd.read_parquet(sm.input.cohort), outcome)
    write_json(equation1_impact(d, outcome, sm.wildcards.population, alpha=sm.params.alpha,
                                size_percent=sm.params.size, cov_type=sm.params.cov_type,
                                limits=Limits.from_config(sm.params.limits), average=sm.params.average,
                                covariates=sm.params.covariates), sm.output.json)


run_step(main, sm.log[0])
