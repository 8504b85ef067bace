"""Eligibility, arm, risk and strata; the cohort flow table (suppressed)."""
from pathlib import Path

from mheval.cohort import build_cohort
from mheval.cohort.tables import publishable_flow
from mheval.disclosure import Rule
from mheval.io import run_step, write_json, write_parquet
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    cfg = {**sm.params.cfg, "models": {"covariates": sm.params.covariates}}
    people, flow, qc = build_cohort(sm.params.data_dir, cfg)
    write_parquet(people, sm.output.enrollees)
    write_parquet(people[people["EXCLUSION"] == ""].reset_index(drop=True), sm.output.cohort)
    published = publishable_flow(flow, Rule.from_config(cfg))
    write_table(published.tables["cohort_flow"], Path(sm.output.flow).with_suffix(""), config=cfg)
    write_json(published.summary_records(), sm.output.disclosure)
    write_json(qc, sm.output.qc)


run_step(main, sm.log[0])
