"""The hazard-ratio table (shaped like the trial's published Table 3), protected, in four formats."""
from pathlib import Path

from mheval.disclosure import Rule, protect
from mheval.io import read_json, run_step, write_json
from mheval.report import write_table
from mheval.report.impact_tables import hazard_ratio_table

sm = snakemake  # noqa: F821


def main():
    table = hazard_ratio_table([read_json(p) for p in sm.input])
    published = protect({"hazard_ratios": table}, Rule.from_config(sm.params.report))
    write_table(published.tables["hazard_ratios"], Path(sm.output.csv).with_suffix(""))
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
