"""Baseline balance: demographics, clinical factors, risk, baseline-year claims outcomes, organizations."""
import pandas as pd

from mheval.cohort.tables import balance_for_populations
from mheval.io import run_step

sm = snakemake  # noqa: F821

run_step(lambda: balance_for_populations(pd.read_parquet(sm.input.cohort), pd.read_parquet(sm.input.by)).to_csv(
    sm.output.balance, index=False, float_format="%.4f"), sm.log[0])
