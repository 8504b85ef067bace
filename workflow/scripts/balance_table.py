"""Baseline balance: demographics, clinical factors, risk, baseline-year claims outcomes, organizations."""
from pathlib import Path

import pandas as pd

from mheval.cohort.tables import balance_for_populations
from mheval.io import run_step
from mheval.report import write_table

sm = snakemake  # noqa: F821

run_step(lambda: write_table(balance_for_populations(pd.read_parquet(sm.input.cohort), pd.read_parquet(sm.input.by)),
                             Path(sm.output.balance).with_suffix(""), digits=4, caption="Baseline balance by arm"),
         sm.log[0])
