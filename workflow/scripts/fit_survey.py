"""Equation 3 for every provider-survey item and wave (or, without the survey, a table that says so), protected."""
from pathlib import Path

import pandas as pd

from mheval.disclosure import Rule, protect
from mheval.io import run_step, write_json
from mheval.models.equation3 import survey_impacts
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    if sm.params.unavailable:  # the survey is an unavailable input (mheval.contract.availability)
        reason = f"needs the provider survey, unavailable ({sm.params.unavailable})"
        write_json({"estimable": False, "reason": reason, "items": []}, sm.output.json)
        table = pd.DataFrame({"item": ["all survey items"], "note": [f"not estimable: {reason}"]})
    else:
        result = survey_impacts(sm.params.data_dir, pd.read_parquet(sm.input.cohort), alpha=sm.params.alpha,
                                covariates=sm.params.covariates)
        write_json(result, sm.output.json)
        table = pd.DataFrame(result["items"]).drop(
            columns=["model", "estimable", "covariates", "dropped_collinear_covariates", "organization_terms_limited",
                     "params", "bse", "cov"],
            errors="ignore")
        reason = table.pop("reason") if "reason" in table else pd.Series("", index=table.index)
        table["note"] = ["" if not isinstance(r, str) or not r else f"not estimable: {r}" for r in reason]
    published = protect({"survey_impacts": table}, Rule.from_config(sm.params.report))
    write_table(published.tables["survey_impacts"], Path(sm.output.table).with_suffix(""), digits=4,
                config={"report": sm.params.report})
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
