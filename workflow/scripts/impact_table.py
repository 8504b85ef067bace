"""The impact table of Equation 1 outcomes, in four formats, and its Bayesian reading as sentences."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.models.equation1 import SPENDING_OUTCOMES, per_beneficiary_month
from mheval.report import write_table
from mheval.report.impact_tables import bayesian_readings, continuous_impact_table, left_out_results

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"],
                                size_percent=results[0]["size_percent"])
    # spending also per beneficiary per month, the published unit (table rows only: same probabilities)
    monthly = [per_beneficiary_month(r) for r in results if r["outcome"] in SPENDING_OUTCOMES]
    write_table(continuous_impact_table(results + monthly), Path(sm.output.csv).with_suffix(""),
                caption="Impacts on means and rates (Equations 1 and 2), intervention vs control")
    Path(sm.output.readings).write_text("".join(f"- {s}\n" for s in bayesian_readings(results)))


run_step(main, sm.log[0])
