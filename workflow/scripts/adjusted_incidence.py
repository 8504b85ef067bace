"""Adjusted cumulative incidence by arm for one outcome and population, with cluster-bootstrap bands."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.survival_impact import adjusted_incidence

sm = snakemake  # noqa: F821


def main():
    res = adjusted_incidence(pd.read_parquet(sm.input.tte), sm.wildcards.outcome, sm.wildcards.population,
                             years=sm.params.years, n_boot=sm.params.n_boot, alpha=sm.params.alpha, seed=sm.params.seed,
                             min_at_risk=sm.params.min_cell)
    res.table.assign(outcome=sm.wildcards.outcome, population=sm.wildcards.population).to_csv(
        sm.output.table, index=False, float_format="%.6f")
    res.curves.assign(outcome=sm.wildcards.outcome, population=sm.wildcards.population).to_csv(
        sm.output.curves, index=False, float_format="%.6f")
    write_json({"outcome": sm.wildcards.outcome, "population": sm.wildcards.population, "log_hr": res.log_hr,
                "covariates": res.covariates, "n": res.n, "n_events": res.n_events,
                "n_organizations": res.n_organizations, "n_boot": res.n_boot, "n_boot_failed": res.n_boot_failed,
                "alpha": res.alpha, "notes": res.notes}, sm.output.json)


run_step(main, sm.log[0])
