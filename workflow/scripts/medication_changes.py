"""Dated statin and antihypertensive initiations and intensifications from the Part D fills (paid by the
claims run-out date), once for every medication window fit."""
import pandas as pd

from mheval.analysis.beneficiary_year import medication_changes
from mheval.io import run_step

sm = snakemake  # noqa: F821


def main():
    # the fill files go to DuckDB as they are (1.3 GB as one pandas frame at scale 1.0)
    medication_changes(list(sm.input.fills), pd.Timestamp(sm.params.runout)).to_parquet(sm.output.parquet, index=False)


run_step(main, sm.log[0])
