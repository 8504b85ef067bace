"""Equation 1 for one continuous outcome and population."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation1 import equation1_impact

sm = snakemake  # noqa: F821

run_step(lambda: write_json(equation1_impact(pd.read_parquet(sm.input.by), sm.wildcards.outcome, sm.wildcards.population,
                                             alpha=sm.params.alpha, size_percent=sm.params.size), sm.output.json), sm.log[0])
