"""The impact table of Equation 1 outcomes, in four formats, and its Bayesian reading as sentences."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.impact_tables import bayesian_readings, continuous_impact_table, left_out_results

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"],
                                size_percent=results[0]["size_percent"])
    write_table(continuous_impact_table(results), Path(sm.output.csv).with_suffix(""))
    Path(sm.output.readings).write_text("".join(f"- {s}\n" for s in bayesian_readings(results)))


run_step(main, sm.log[0])
