"""Proportional-hazards tests and hazard ratios by follow-up year, in four formats."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.impact_tables import by_year_table, left_out_results, ph_test_table

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"])
    write_table(ph_test_table(results), Path(sm.output.ph).with_suffix(""))
    write_table(by_year_table(results), Path(sm.output.by_year[0]).with_suffix(""))


run_step(main, sm.log[0])
