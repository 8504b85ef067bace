"""Cumulative incidence by arm for one outcome and population, death a competing risk (Aalen-Johansen,
standardized and unadjusted), and 1 - S (deaths censored) as the sensitivity, with cluster-bootstrap
bands (or, when the outcome is not estimable, its years marked so with the reason)."""
import numpy as np
import pandas as pd

from mheval.io import run_step, write_json
from mheval.models.estimability import Limits, NotEstimable
from mheval.models.equation4 import adjusted_incidence, competing_incidence, survival_frame
from mheval.seeds import job_seed

sm = snakemake  # noqa: F821
METHODS = ("standardized", "unadjusted", "one_minus_s")


def main():
    outcome, population = sm.wildcards.outcome, sm.wildcards.population
    p = sm.params
    tte = pd.read_parquet(sm.input.tte)
    kw = dict(years=p.years, n_boot=p.n_boot, alpha=p.alpha, seed=job_seed(p.seed, **sm.wildcards), limits=Limits.from_config(p.limits),
              covariates=p.covariates, max_failed_share=p.max_failed_share)
    try:
        kw["frame"] = survival_frame(tte, outcome, population, p.covariates)  # once for both estimates
        cr = competing_incidence(tte, outcome, population, min_cell=p.min_cell, **kw)
        s = adjusted_incidence(tte, outcome, population, min_at_risk=p.min_cell, **kw)
    except NotEstimable as e:
        rows = [{"year": y, "method": m, "arm": a, "estimate": np.nan, "lower": np.nan, "upper": np.nan,
                 "note": f"not estimable: {e.reason}"}
                for m in METHODS for y in p.years for a in ("intervention", "control", "difference")]
        pd.DataFrame(rows).assign(outcome=outcome, population=population).to_csv(sm.output.table, index=False)
        pd.DataFrame(columns=["years", "method", "arm", "estimate", "lower", "upper", "outcome", "population"]).to_csv(
            sm.output.curves, index=False)
        write_json({"outcome": outcome, "population": population, "estimable": False, "reason": e.reason},
                   sm.output.json)
        return
    # the sensitivity is shown for the same years as the primary estimate, with its reasons (its band's own)
    notes = cr.table[cr.table["method"] == "standardized"].set_index(["year", "arm"])["note"]
    one = s.table.assign(method="one_minus_s")
    given = pd.Series([notes.get((y, a), "") for y, a in zip(one["year"], one["arm"])], index=one.index)
    shown = ~given.str.startswith("not estimable")
    one["note"] = one["note"].where(shown, given)
    one.loc[~shown, ["estimate", "lower", "upper"]] = np.nan
    table = pd.concat([cr.table, one[cr.table.columns]], ignore_index=True)
    table.assign(outcome=outcome, population=population).to_csv(sm.output.table, index=False, float_format="%.6f")
    cr.curves.assign(outcome=outcome, population=population).to_csv(sm.output.curves, index=False, float_format="%.6f")
    write_json({"outcome": outcome, "population": population, "estimable": True,
                "competing_risk": {"coefficients": cr.coefficients, "covariates": cr.covariates, "n": cr.n,
                                   "n_events": cr.n_events, "n_competing_deaths": cr.n_competing,
                                   "n_organizations": cr.n_organizations, "n_boot": cr.n_boot,
                                   "n_boot_failed": cr.n_boot_failed, "alpha": cr.alpha, "notes": cr.notes},
                "one_minus_s": {"log_hr": s.log_hr, "covariates": s.covariates, "n_boot": s.n_boot,
                                "n_boot_failed": s.n_boot_failed, "notes": s.notes}}, sm.output.json)


run_step(main, sm.log[0])
