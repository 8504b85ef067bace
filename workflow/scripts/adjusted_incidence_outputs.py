"""Cumulative incidence (death a competing risk; 1 - S as sensitivity): the table (four formats) and one
figure per outcome."""
from pathlib import Path

import pandas as pd

from mheval.io import run_step
from mheval.report import write_table
from mheval.report.figures import plot_adjusted_incidence, plot_not_estimable
from mheval.report.impact_tables import adjusted_incidence_table, outcome_label

sm = snakemake  # noqa: F821


def main():
    tables = [pd.read_csv(p) for p in sm.input.tables]
    write_table(adjusted_incidence_table(tables, sm.params.alpha), Path(sm.output.table).with_suffix(""))
    curves = pd.concat([pd.read_csv(p) for p in sm.input.curves], ignore_index=True)
    for outcome in dict.fromkeys(Path(f).stem.removeprefix("adjusted_incidence_") for f in sm.output.figures):
        paths = [f for f in sm.output.figures if Path(f).stem == f"adjusted_incidence_{outcome}"]
        d = curves[curves["outcome"] == outcome]
        if d.empty:  # not estimable in every population
            notes = sorted({f"{t['population'].iloc[0]}: {t['note'].iloc[0]}" for t in tables
                            if t["outcome"].iloc[0] == outcome and "note" in t})
            plot_not_estimable(paths, f"{outcome_label(outcome)}: adjusted cumulative incidence", notes)
        else:
            plot_adjusted_incidence(d, paths, outcome_label(outcome), level=int(round(100 * (1 - sm.params.alpha))))


run_step(main, sm.log[0])
