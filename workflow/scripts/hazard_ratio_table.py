"""The hazard-ratio table (shaped like the trial's published Table 3), in four formats."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.impact_tables import hazard_ratio_table

sm = snakemake  # noqa: F821


def main():
    table = hazard_ratio_table([read_json(p) for p in sm.input], min_cell=sm.params.min_cell)
    write_table(table, Path(sm.output.csv).with_suffix(""))


run_step(main, sm.log[0])
