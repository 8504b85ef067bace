"""Equation 1 for the predicted-risk outcome (risk recomputed at registry follow-up visits)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation1 import equation1_impact, predicted_risk_frame
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821


def main():
    d = predicted_risk_frame(pd.read_parquet(sm.input.risk), pd.read_parquet(sm.input.cohort))
    write_json(equation1_impact(d, "risk_pct", sm.wildcards.population, alpha=sm.params.alpha,
                                size_percent=sm.params.size, cov_type=sm.params.cov_type,
                                limits=Limits.from_config(sm.params.limits), average=sm.params.average,
                                covariates=sm.params.covariates), sm.output.json)


run_step(main, sm.log[0])
