"""Equation 1 for one continuous outcome and population (or not estimable, with the reason)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation1 import equation1_impact
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821

run_step(lambda: write_json(equation1_impact(pd.read_parquet(sm.input.by), sm.wildcards.outcome, sm.wildcards.population,
                                             alpha=sm.params.alpha, size_percent=sm.params.size,
                                             limits=Limits.from_config(sm.params.limits)), sm.output.json), sm.log[0])
