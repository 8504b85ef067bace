"""CPU seconds and peak memory of one model job of the workflow (fit_binary, fit_mixed,
medication_changes, fit_medication_window, fit_survival), run as its workflow script runs it: the
same library calls with the job's wildcards and the run's config, on a finished run's analysis
files. CPU is time.process_time of this process (all threads), including the imports, with one BLAS
thread as Snakemake sets it; peak is the process's maximum RSS.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/model_jobs.py --run /work/runs/g/scale_1 \\
           fit_binary any_hosp high_medium --out /tmp/any_hosp_high_medium.json [--changes FILE]
medication_changes writes the changes to --out (Parquet); fit_medication_window reads them from
--changes (the rule's input). Prints one line "CPU <s> s, peak <MB> MB"; the result JSON (and for
fit_survival the curve, <out>.curve.csv) can be compared with the run's own result files.
Results: benchmarks/results/model_jobs.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import time  # noqa: E402

T0 = time.process_time()
import argparse  # noqa: E402
import glob  # noqa: E402
import resource  # noqa: E402

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from mheval.io import read_parquet_columns, write_json  # noqa: E402
from mheval.models.estimability import Limits  # noqa: E402
from mheval.seeds import job_seed  # noqa: E402


def run_job(run: str, rule: str, outcome: str, population: str, out: str, changes: str | None = None):
    """Run one job of ``rule`` with wildcards ``outcome`` and ``population`` on the run directory
    ``run`` (its config/config.yaml and results/); returns the result dict (None for
    medication_changes, which writes ``out``)."""
    cfg = yaml.safe_load(open(f"{run}/config/config.yaml"))
    m = cfg["models"]
    an = f"{run}/results/analysis"
    limits = Limits.from_config({k: m[k] for k in ("min_events_per_arm", "min_organizations_per_arm") if k in m})
    strata_column = m.get("randomization_strata_column", "RAND_STRATUM")
    seed = job_seed(m.get("randomization_seed", 0), outcome=outcome, population=population)
    if rule == "fit_binary":
        from mheval.models.binary_impact import binary_impact
        from mheval.models.equation1 import model_columns

        by = read_parquet_columns(f"{an}/beneficiary_year.parquet", model_columns(outcome, m.get("covariates")) + ["hosp_all"])
        return binary_impact(by, outcome, population, alpha=m["alpha"], size_percent=m["size_percent"], limits=limits,
                             average=m.get("average_weighting", "simple"), covariates=m.get("covariates"))
    if rule == "fit_mixed":
        from mheval.models.equation1 import equation1_impact, model_columns
        from mheval.models.randomization_test import organization_strata

        by = read_parquet_columns(f"{an}/beneficiary_year.parquet", model_columns(outcome, m.get("covariates"), strata_column))
        return equation1_impact(by, outcome, population, alpha=m["alpha"], size_percent=m["size_percent"],
                                cov_type=m.get("lmm_cov_type", "CR2"), n_perm=m.get("randomization_permutations", 0),
                                strata=organization_strata(by, "ORG_ID", strata_column), seed=seed, limits=limits,
                                average=m.get("average_weighting", "simple"), covariates=m.get("covariates"))
    if rule == "medication_changes":
        from mheval.analysis.beneficiary_year import medication_changes

        fills = pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(f"{run}/results/outcomes/fills/pde_*.parquet"))],
                          ignore_index=True)
        medication_changes(fills, pd.Timestamp(cfg["claims"]["runout_date"])).to_parquet(out, index=False)
        return None
    if rule == "fit_medication_window":
        from mheval.models.equation2 import medication_window_impact

        return medication_window_impact(pd.read_parquet(f"{an}/time_to_event.parquet"), pd.read_parquet(changes), outcome,
                                        population, alpha=m["alpha"], size_percent=m["size_percent"], limits=limits,
                                        covariates=m.get("covariates"))
    if rule == "fit_survival":
        from mheval.models import survival_impact
        from mheval.models.curves import cumulative_incidence_by_arm
        from mheval.models.randomization_test import organization_strata

        tte = pd.read_parquet(f"{an}/time_to_event.parquet")
        result = survival_impact(tte, outcome, population, alpha=m["alpha"], ph_alpha=m["ph_alpha"],
                                 cox_cov_type=m.get("cox_cov_type", "mbn"), n_perm=m.get("randomization_permutations", 0),
                                 strata=organization_strata(tte, "ORG_ID", strata_column), seed=seed, limits=limits,
                                 covariates=m.get("covariates"))
        cumulative_incidence_by_arm(tte, outcome, population, alpha=m["alpha"], min_cell=cfg["report"]["min_cell"]).to_csv(
            out + ".curve.csv", index=False, float_format="%.6f")
        return result
    raise SystemExit(f"unknown rule {rule}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a finished workflow run directory (config/, results/)")
    ap.add_argument("rule")
    ap.add_argument("outcome", help="the outcome wildcard (medication_changes: ignored)")
    ap.add_argument("population", help="the population wildcard (medication_changes: ignored)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--changes", help="fit_medication_window: the medication_changes file")
    a = ap.parse_args()
    result = run_job(a.run, a.rule, a.outcome, a.population, a.out, a.changes)
    if result is not None:
        write_json(result, a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU {time.process_time() - T0:.1f} s, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
