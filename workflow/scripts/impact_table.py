"""The impact table of Equation 1 outcomes, in four formats, and its Bayesian reading as sentences."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.models.equation1 import SPENDING_OUTCOMES, per_beneficiary_month
from mheval.report import write_table
from mheval.report.bayesian_reading import prior_sensitivity_table
from mheval.report.impact_tables import (OUTCOME_NOUNS, POPULATION_LABELS, bayesian_readings, continuous_impact_table,
                                         left_out_results)

sm = snakemake  # noqa: F821


def main():
    primary_survival = [read_json(p) for p in sm.input.primary_survival]
    results = [read_json(p) for p in sm.input if p not in set(sm.input.primary_survival)]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"],
                                size_percent=results[0]["size_percent"])
    reading = sm.params.reading
    directions, default = reading.get("directions"), reading.get("default_direction", "decrease")
    # spending also per beneficiary per month, the published unit (table rows only: same probabilities)
    monthly = [per_beneficiary_month(r) for r in results if r["outcome"] in SPENDING_OUTCOMES]
    write_table(continuous_impact_table(results + monthly, directions, default), Path(sm.output.csv).with_suffix(""),
                config={"models": sm.params.models})
    Path(sm.output.readings).write_text("".join(f"- {s}\n" for s in bayesian_readings(results, directions, default)))
    primary = set(reading.get("primary_outcomes", []))
    table = prior_sensitivity_table([r for r in results if r["outcome"] in primary], primary_survival,
                                    reading.get("priors", {"flat": None}), cred=reading.get("cred", 0.90),
                                    nouns=OUTCOME_NOUNS, population_labels=POPULATION_LABELS, directions=directions,
                                    default_direction=default)
    write_table(table, Path(sm.output.prior_sensitivity).with_suffix(""),
                caption="Prior sensitivity of the primary outcomes (normal-normal conjugate posterior)")


run_step(main, sm.log[0])
