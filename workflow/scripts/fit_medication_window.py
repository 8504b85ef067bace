"""Equation 2 for a medication window outcome (statin, antihypertensive or either started or
intensified within a window of enrollment), one population."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation2 import medication_window_impact
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821


def main():
    write_json(medication_window_impact(pd.read_parquet(sm.input.tte), pd.read_parquet(sm.input.changes),
                                        sm.wildcards.outcome, sm.wildcards.population, alpha=sm.params.alpha,
                                        size_percent=sm.params.size, limits=Limits.from_config(sm.params.limits),
                                        covariates=sm.params.covariates, cov_type=sm.params.cov_type), sm.output.json)


run_step(main, sm.log[0])
