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
Also adjusted_incidence (both bootstraps; the tables go to <out>.table.csv and <out>.one_minus_s.csv,
the JSON holds the tables and curves), fit_mixed_clinical, fit_mixed_predicted_risk (outcome ignored) and
fit_fixed_window (outcome ignored); --profile FILE writes the job's cProfile statistics (CPU time).

Every job of some rules, each in its own process timed by /usr/bin/time (user + sys CPU, peak RSS, as
the workflow's measurement of a job), the result JSONs kept in --outdir to compare with another code's:

    OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/model_jobs.py --run /work/runs/g/scale_1 \\
        --all fit_mixed,fit_binary --outdir /tmp/after --label after

writes benchmarks/results/model_jobs_<label>.json (jobs, CPU s, peak MB, per rule totals).
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


def _read_rows(path: str, columns: list[str], population: str, follow_up: bool = True) -> pd.DataFrame:
    """As the workflow script reads the beneficiary-year file: the population's rows where the code has
    ``read_model_rows`` (this branch on), else every row (the code before it)."""
    try:
        from mheval.models.equation1 import read_model_rows
    except ImportError:
        return read_parquet_columns(path, columns)
    return read_model_rows(path, columns, population, follow_up=follow_up)


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

        by = _read_rows(f"{an}/beneficiary_year.parquet", model_columns(outcome, m.get("covariates")) + ["hosp_all"],
                        population, follow_up=False)
        return binary_impact(by, outcome, population, alpha=m["alpha"], size_percent=m["size_percent"], limits=limits,
                             average=m.get("average_weighting", "simple"), covariates=m.get("covariates"),
                             cov_type=m.get("binary_cov_type", "CR2"))
    if rule == "fit_mixed":
        from mheval.models.equation1 import equation1_impact, model_columns
        from mheval.models.randomization_test import organization_strata

        by = _read_rows(f"{an}/beneficiary_year.parquet", model_columns(outcome, m.get("covariates"), strata_column),
                        population)
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
                                        covariates=m.get("covariates"), cov_type=m.get("binary_cov_type", "CR2"))
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
    if rule == "adjusted_incidence":
        from mheval.models.estimability import NotEstimable
        import inspect

        from mheval.models import equation4 as si
        from mheval.models.equation4 import adjusted_incidence, competing_incidence

        tte = pd.read_parquet(f"{an}/time_to_event.parquet")
        kw = dict(years=m["incidence_years"], n_boot=m["bootstrap_replicates"], alpha=m["alpha"], limits=limits,
                  seed=job_seed(m["bootstrap_seed"], outcome=outcome, population=population), covariates=m.get("covariates"))
        try:
            if "frame" in inspect.signature(adjusted_incidence).parameters:  # this branch on: the frame once for both
                kw["frame"] = si.survival_frame(tte, outcome, population, m.get("covariates"))
            cr = competing_incidence(tte, outcome, population, min_cell=cfg["report"]["min_cell"], **kw)
            s = adjusted_incidence(tte, outcome, population, min_at_risk=cfg["report"]["min_cell"], **kw)
        except NotEstimable as e:
            return {"estimable": False, "reason": e.reason}
        cr.table.to_csv(out + ".table.csv", index=False, float_format="%.6f")
        s.table.to_csv(out + ".one_minus_s.csv", index=False, float_format="%.6f")
        return {"estimable": True, "competing_risk": {"coefficients": cr.coefficients, "n_boot_failed": cr.n_boot_failed,
                                                      "table": cr.table.to_dict("list"), "curves": cr.curves.to_dict("list")},
                "one_minus_s": {"log_hr": s.log_hr, "n_boot_failed": s.n_boot_failed, "table": s.table.to_dict("list"),
                                "curves": s.curves.to_dict("list")}}
    if rule in ("fit_mixed_clinical", "fit_mixed_predicted_risk"):
        from mheval.models.equation1 import clinical_frame, equation1_impact, predicted_risk_frame

        risk, cohort = pd.read_parquet(f"{an}/predicted_risk.parquet"), pd.read_parquet(f"{an}/cohort.parquet")
        d = clinical_frame(risk, cohort, outcome) if rule == "fit_mixed_clinical" else predicted_risk_frame(risk, cohort)
        return equation1_impact(d, outcome if rule == "fit_mixed_clinical" else "risk_pct", population, alpha=m["alpha"],
                                size_percent=m["size_percent"], cov_type=m.get("lmm_cov_type", "CR2"), limits=limits,
                                average=m.get("average_weighting", "simple"), covariates=m.get("covariates"))
    if rule == "fit_fixed_window":
        from mheval.models.equation2 import fixed_window_impact

        return fixed_window_impact(pd.read_parquet(f"{an}/time_to_event.parquet"), population,
                                   years=m["fixed_window_years"], alpha=m["alpha"], size_percent=m["size_percent"],
                                   limits=limits, covariates=m.get("covariates"),
                                   cov_type=m.get("binary_cov_type", "CR2"))
    raise SystemExit(f"unknown rule {rule}")


def rule_jobs(cfg: dict, rule: str) -> list[tuple[str, str]]:
    """The (outcome, population) wildcards of every job of ``rule`` under the run's config."""
    m = cfg["models"]
    pops, spops = m["populations"], m["survival_populations"]
    outcomes = {"fit_mixed": m["continuous_outcomes"], "fit_binary": m.get("binary_outcomes", []),
                "fit_survival": m["survival_outcomes"], "adjusted_incidence": m["survival_outcomes"],
                "fit_mixed_clinical": m.get("clinical_outcomes", []), "fit_mixed_predicted_risk": ["risk_pct"],
                "fit_medication_window": m.get("medication_window_outcomes", []), "fit_fixed_window": ["window"]}[rule]
    return [(o, p) for o in outcomes for p in (spops if rule in ("fit_survival", "adjusted_incidence") else pops)]


def run_all(run: str, rules: list[str], outdir: str, label: str) -> dict:
    """Every job of ``rules``, one process each under /usr/bin/time -v; returns and writes the timings."""
    import json
    import re
    import subprocess
    import sys

    cfg = yaml.safe_load(open(f"{run}/config/config.yaml"))
    os.makedirs(outdir, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = {"label": label, "run": run, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "jobs": [], "rules": {}}
    for rule in rules:
        for outcome, population in rule_jobs(cfg, rule):
            res = f"{outdir}/{rule}_{outcome}_{population}.json"
            cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--run", run, rule, outcome, population, "--out", res]
            if rule == "fit_medication_window":
                cmd += ["--changes", f"{run}/results/outcomes/medication_changes.parquet"]
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode:
                raise SystemExit(f"{rule} {outcome} {population} failed:\n{p.stderr[-3000:]}")
            num = {k: float(re.search(rf"{k}.*: ([0-9.]+)", p.stderr).group(1))
                   for k in ("User time", "System time", "Maximum resident set size")}
            job = {"rule": rule, "outcome": outcome, "population": population, "user_s": num["User time"],
                   "sys_s": num["System time"], "cpu_s": round(num["User time"] + num["System time"], 2),
                   "peak_mb": round(num["Maximum resident set size"] / 1024)}
            print(json.dumps(job), flush=True)
            out["jobs"].append(job)
        jobs = [j for j in out["jobs"] if j["rule"] == rule]
        out["rules"][rule] = {"jobs": len(jobs), "cpu_s": round(sum(j["cpu_s"] for j in jobs), 1),
                              "sys_s": round(sum(j["sys_s"] for j in jobs), 1),
                              "longest_cpu_s": max(j["cpu_s"] for j in jobs), "peak_mb": max(j["peak_mb"] for j in jobs)}
        print(json.dumps({rule: out["rules"][rule]}), flush=True)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"model_jobs_{label}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a finished workflow run directory (config/, results/)")
    ap.add_argument("rule", nargs="?")
    ap.add_argument("outcome", nargs="?", help="the outcome wildcard (medication_changes: ignored)")
    ap.add_argument("population", nargs="?", help="the population wildcard (medication_changes: ignored)")
    ap.add_argument("--out")
    ap.add_argument("--all", help="comma-separated rules: every job of each, one process a job (see above)")
    ap.add_argument("--outdir", help="--all: where the jobs' result JSONs go")
    ap.add_argument("--label", default="after", help="--all: benchmarks/results/model_jobs_<label>.json")
    ap.add_argument("--changes", help="fit_medication_window: the medication_changes file")
    ap.add_argument("--profile", help="write the job's cProfile statistics to this file")
    a = ap.parse_args()
    if a.all:
        run_all(a.run, a.all.split(","), a.outdir, a.label)
        return
    if not (a.rule and a.outcome and a.population and a.out):
        ap.error("rule, outcome, population and --out are required (or --all)")
    if a.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
        result = prof.runcall(run_job, a.run, a.rule, a.outcome, a.population, a.out, a.changes)
        prof.dump_stats(a.profile)
    else:
        result = run_job(a.run, a.rule, a.outcome, a.population, a.out, a.changes)
    if result is not None:
        write_json(result, a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU {time.process_time() - T0:.1f} s, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
