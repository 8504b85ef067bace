"""Impact by follow-up year with 90% intervals, from the Equation 1 result files."""
from mheval.io import read_json, run_step
from mheval.report.figures import plot_impacts_by_year
from mheval.report.impact_tables import OUTCOME_LABELS

sm = snakemake  # noqa: F821

run_step(lambda: plot_impacts_by_year([read_json(p) for p in sm.input], [sm.output.png, sm.output.svg], OUTCOME_LABELS),
         sm.log[0])
