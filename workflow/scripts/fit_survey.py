"""Equation 3 for every provider-survey item."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation3 import survey_impacts

sm = snakemake  # noqa: F821


def main():
    result = survey_impacts(sm.params.data_dir, alpha=sm.params.alpha)
    write_json(result, sm.output.json)
    pd.DataFrame(result["items"]).drop(columns=["variance_components", "model"]).to_csv(
        sm.output.table, index=False, float_format="%.4f")


run_step(main, sm.log[0])
