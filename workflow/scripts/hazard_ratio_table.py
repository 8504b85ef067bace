"""The hazard-ratio table (shaped like the trial's published Table 3), in four formats."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.impact_tables import hazard_ratio_table, left_out_results

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"] if results else 0.1)
    table = hazard_ratio_table(results, min_cell=sm.params.min_cell)
    write_table(table, Path(sm.output.csv).with_suffix(""))


run_step(main, sm.log[0])
