"""Equation 3 for every provider-survey item."""
from pathlib import Path

import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.equation3 import survey_impacts
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    result = survey_impacts(sm.params.data_dir, alpha=sm.params.alpha, cov_type=sm.params.cov_type)
    write_json(result, sm.output.json)
    write_table(pd.DataFrame(result["items"]).drop(columns=["variance_components", "model"]),
                Path(sm.output.table).with_suffix(""), digits=4, caption="Provider-survey impacts (Equation 3)")


run_step(main, sm.log[0])
