"""Equation 1 for one repeated binary outcome and population (multilevel logistic, AMEs in pp),
or not estimable with the reason."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.binary_impact import binary_impact
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821

run_step(lambda: write_json(binary_impact(pd.read_parquet(sm.input.by), sm.wildcards.outcome, sm.wildcards.population,
                                          alpha=sm.params.alpha, size_percent=sm.params.size,
                                          limits=Limits.from_config(sm.params.limits), average=sm.params.average,
                                          covariates=sm.params.covariates),
                            sm.output.json), sm.log[0])
