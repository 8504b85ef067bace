"""Equation 2 supplement: first event within the fixed window, one population."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation2 import fixed_window_impact
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821

run_step(lambda: write_json(fixed_window_impact(pd.read_parquet(sm.input.tte), sm.wildcards.population,
                                                years=sm.params.years, alpha=sm.params.alpha,
                                                size_percent=sm.params.size,
                                                limits=Limits.from_config(sm.params.limits),
                                                covariates=sm.params.covariates, cov_type=sm.params.cov_type), sm.output.json), sm.log[0])
