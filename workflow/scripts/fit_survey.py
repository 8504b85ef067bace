"""Equation 3 for every provider-survey item."""
from pathlib import Path

import pandas as pd

from mheval.disclosure import Rule, protect
from mheval.io import run_step, write_json
from mheval.models.equation3 import survey_impacts
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    result = survey_impacts(sm.params.data_dir, alpha=sm.params.alpha)
    write_json(result, sm.output.json)
    table = pd.DataFrame(result["items"]).drop(columns=["variance_components", "model"])
    published = protect({"survey_impacts": table}, Rule.from_config(sm.params.report))
    write_table(published.tables["survey_impacts"], Path(sm.output.table).with_suffix(""), digits=4,
                caption="Provider-survey impacts (Equation 3)")
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
