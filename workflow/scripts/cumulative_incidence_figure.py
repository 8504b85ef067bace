"""Cumulative incidence by arm for one outcome, one panel per population."""
import pandas as pd

from mheval.io import run_step
from mheval.report.figures import plot_cumulative_incidence

sm = snakemake  # noqa: F821


def main():
    curves = pd.concat([pd.read_csv(p) for p in sm.input], ignore_index=True)
    plot_cumulative_incidence(curves, [sm.output.png, sm.output.svg], level=int(round(100 * (1 - sm.params.alpha))))


run_step(main, sm.log[0])
