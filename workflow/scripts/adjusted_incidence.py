"""Adjusted cumulative incidence by arm for one outcome and population, with cluster-bootstrap bands
(or, when the outcome is not estimable, its years marked so with the reason)."""
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.estimability import Limits, NotEstimable
from mheval.models.survival_impact import adjusted_incidence
from mheval.seeds import job_seed

sm = snakemake  # noqa: F821


def main():
    outcome, population = sm.wildcards.outcome, sm.wildcards.population
    try:
        res = adjusted_incidence(pd.read_parquet(sm.input.tte), outcome, population,
                                 years=sm.params.years, n_boot=sm.params.n_boot, alpha=sm.params.alpha,
                                 seed=job_seed(sm.params.seed, **sm.wildcards), min_at_risk=sm.params.min_cell,
                                 limits=Limits.from_config(sm.params.limits))
    except NotEstimable as e:
        rows = [{"year": y, "arm": a, "estimate": float("nan"), "lower": float("nan"), "upper": float("nan"),
                 "note": f"not estimable: {e.reason}"} for y in sm.params.years for a in ("intervention", "control", "difference")]
        pd.DataFrame(rows).assign(outcome=outcome, population=population).to_csv(sm.output.table, index=False)
        pd.DataFrame(columns=["years", "arm", "estimate", "lower", "upper", "outcome", "population"]).to_csv(
            sm.output.curves, index=False)
        write_json({"outcome": outcome, "population": population, "estimable": False, "reason": e.reason},
                   sm.output.json)
        return
    res.table.assign(outcome=outcome, population=population).to_csv(
        sm.output.table, index=False, float_format="%.6f")
    res.curves.assign(outcome=outcome, population=population).to_csv(
        sm.output.curves, index=False, float_format="%.6f")
    write_json({"outcome": outcome, "population": population, "log_hr": res.log_hr,
                "covariates": res.covariates, "n": res.nobs, "n_events": res.n_events,
                "n_organizations": res.n_organizations, "n_boot": res.n_boot, "n_boot_failed": res.n_boot_failed,
                "alpha": res.alpha, "notes": res.notes, "estimable": True}, sm.output.json)


run_step(main, sm.log[0])
