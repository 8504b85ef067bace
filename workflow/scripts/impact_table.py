"""The impact table of Equation 1 outcomes, in four formats."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.impact_tables import continuous_impact_table

sm = snakemake  # noqa: F821

run_step(lambda: write_table(continuous_impact_table([read_json(p) for p in sm.input]), Path(sm.output.csv).with_suffix("")),
         sm.log[0])
