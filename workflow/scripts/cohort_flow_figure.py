"""The cohort flow diagram from the (suppressed) flow table."""
import pandas as pd

from mheval.io import run_step
from mheval.report.figures import plot_cohort_flow

sm = snakemake  # noqa: F821

run_step(lambda: plot_cohort_flow(pd.read_csv(sm.input.flow), [sm.output.png, sm.output.svg]), sm.log[0])
