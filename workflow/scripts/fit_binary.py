"""Equation 1 for one repeated binary outcome and population (multilevel logistic, AMEs in pp)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.binary_impact import binary_impact

sm = snakemake  # noqa: F821

run_step(lambda: write_json(binary_impact(pd.read_parquet(sm.input.by), sm.wildcards.outcome, sm.wildcards.population,
                                          alpha=sm.params.alpha, size_percent=sm.params.size), sm.output.json), sm.log[0])
