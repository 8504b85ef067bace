"""Baseline balance: demographics, clinical factors, risk, baseline-year claims outcomes, organizations;
protected together with the published flow table (they share the population sizes)."""
from pathlib import Path

import pandas as pd

from mheval.cohort.tables import balance_for_populations
from mheval.disclosure import Rule, protect
from mheval.io import run_step, write_json
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    table = balance_for_populations(pd.read_parquet(sm.input.cohort), pd.read_parquet(sm.input.by))
    published = protect({"balance": table}, Rule.from_config(sm.params.report), published={"cohort_flow": pd.read_csv(sm.input.flow)})
    write_table(published.tables["balance"], Path(sm.output.balance).with_suffix(""), digits=4,
                config={"report": sm.params.report})
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
