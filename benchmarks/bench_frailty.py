"""The shared gamma frailty Cox model (mheval.models.frailty_cox) side by side with R survival's
coxph(Surv(time, status) ~ x + frailty(cluster)): agreement (coefficients, se(coef), theta) and wall
time of the fit, on R's classic `rats` and `kidney` data and on the synthetic trial at scale 1.0
(first heart attack, stroke or TIA in the high + medium risk strata, Equation 4 covariates, frailty
by organization).

Timing: the fit only, in both languages (R after reading the data, Python after building the design
frame), best of --reps runs, one after the other on the same machine. R's default settings
(theta by its I-likelihood search, Efron ties).

Usage: python benchmarks/bench_frailty.py [--tte benchmarks/work/time_to_event.parquet] [--reps 2]
Needs the time-to-event file of bench_pipeline.py and R with survival and jsonlite
(apt-get install r-base-core r-cran-survival r-cran-jsonlite). Writes benchmarks/results/frailty_cox.json
and benchmarks/results/frailty_cox.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.models.frailty_cox import fit_frailty_cox
from mheval.models.equation4 import design_matrix

ROOT = Path(__file__).resolve().parents[1]
R_SCRIPT = r"""
library(survival)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
cov <- strsplit(args[2], ",")[[1]]
fo <- as.formula(paste("Surv(time, status) ~", paste(cov, collapse = " + "), "+ frailty(cluster)"))
reps <- as.integer(args[4])
secs <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- coxph(fo, data = d)
  secs[i] <- proc.time()[["elapsed"]] - t0
}
h <- fit$history[[1]]$history
out <- list(seconds = secs, coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))),
            theta = h[nrow(h), 1], loglik = fit$loglik[2], outer = fit$iter[1], inner = fit$iter[2],
            version = paste(R.version.string, "survival", as.character(packageVersion("survival"))))
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE), args[3])
"""


def classic(name: str) -> tuple[pd.DataFrame, list[str]]:
    """R's rats (litter frailty) or kidney (patient frailty) data, as written by frailty_reference.R."""
    d = pd.read_csv(ROOT / "tests" / "data" / f"frailty_{name}.csv")
    if name == "rats":
        return d.rename(columns={"litter": "cluster"}), ["rx"]
    return d.rename(columns={"id": "cluster"}), ["age", "sex"]


def trial(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """First event (heart attack, stroke, TIA) in the high + medium strata, frailty by organization."""
    tte = pd.read_parquet(path)
    df = tte[tte["STRATUM"].isin(["high", "medium"])].reset_index(drop=True)
    x, cov = design_matrix(df, "high_medium")
    x["time"], x["status"], x["cluster"] = df["T_EVENT"].to_numpy(), df["EVENT"].to_numpy(), df["ORG_ID"].to_numpy()
    return x, cov


def run_r(d: pd.DataFrame, cov: list[str], reps: int, work: Path) -> dict:
    csv, script, out = work / "data.csv", work / "fit.R", work / "out.json"
    d[["time", "status", "cluster", *cov]].to_csv(csv, index=False, float_format="%.17g")
    script.write_text(R_SCRIPT)
    subprocess.run(["Rscript", str(script), str(csv), ",".join(cov), str(out), str(reps)], check=True)
    r = json.loads(out.read_text())
    for key in ("seconds", "coef", "se"):  # toJSON(auto_unbox) writes length-1 vectors as scalars
        r[key] = np.atleast_1d(r[key]).astype(float).tolist()
    return r


def run_py(d: pd.DataFrame, cov: list[str], reps: int) -> tuple[object, list[float]]:
    secs = []
    for _ in range(reps):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported below through res.converged
            res = fit_frailty_cox(d, "time", "status", cov, "cluster")
        secs.append(time.perf_counter() - t)
    return res, secs


def compare(name: str, d: pd.DataFrame, cov: list[str], reps: int, work: Path) -> dict:
    res, py_secs = run_py(d, cov, reps)
    r = run_r(d, cov, reps, work)
    coef, se = np.asarray(r["coef"], float), np.asarray(r["se"], float)
    rel = lambda a, b: float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))
    return {
        "dataset": name, "n": res.nobs, "events": res.n_events, "clusters": res.n_clusters, "covariates": len(cov),
        "max_rel_diff": {"coef": rel(res.params, coef), "se": rel(res.bse, se), "theta": rel([res.theta], [r["theta"]]),
                         "loglik": rel([res.llf], [r["loglik"]])},
        "iterations": {"mheval": [res.n_iter, res.n_inner], "R": [r["outer"], r["inner"]]},
        "converged": res.converged, "mheval_inner_failed": res.inner_failed,
        "seconds": {"mheval": min(py_secs), "R": min(r["seconds"]), "mheval_all": py_secs, "R_all": r["seconds"]},
        "R_over_mheval": min(r["seconds"]) / min(py_secs),
        "mheval": {"coef": res.params.to_dict(), "se": res.bse.to_dict(), "theta": res.theta},
        "R": {"coef": dict(zip(cov, r["coef"])), "se": dict(zip(cov, r["se"])), "theta": r["theta"]},
        "R_version": r["version"],
    }


def markdown(rows: list[dict]) -> str:
    lines = ["# Shared gamma frailty Cox model vs R's coxph(... + frailty(cluster))", "",
             "`benchmarks/bench_frailty.py`; " + rows[0]["R_version"] + f"; Python {platform.python_version()}, "
             "same machine, one after the other; fit time only, best of the runs.", "",
             ("| data | n | events | clusters | max rel. diff coef | se | theta | outer/inner iterations (ours, R) "
              "| mheval s | R s | R / mheval |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, it, s = r["max_rel_diff"], r["iterations"], r["seconds"]
        lines.append(f"| {r['dataset']} | {r['n']:,} | {r['events']:,} | {r['clusters']} | {m['coef']:.1e} | "
                     f"{m['se']:.1e} | {m['theta']:.1e} | {it['mheval']} / {it['R']} | {s['mheval']:.3f} | "
                     f"{s['R']:.3f} | {r['R_over_mheval']:.1f} |")
    big = rows[-1]
    lines += ["", (f"Trial at scale 1.0: theta = {big['mheval']['theta']:.6g} (R {big['R']['theta']:.6g}); "
                   f"MH log hazard ratio {big['mheval']['coef']['MH']:.6f} (se {big['mheval']['se']['MH']:.6f}), "
                   f"R {big['R']['coef']['MH']:.6f} ({big['R']['se']['MH']:.6f})."), "",
              ("Notes: relative differences are max over covariates of |ours / R - 1| (the largest ones at scale 1.0 "
              "are for coefficients near zero); both follow the same path (same thetas tried, same Newton "
              f"iterations; at scale 1.0 the Newton iterations of outer fit(s) {big['mheval_inner_failed']} hit R's "
              "limit of 20 in both, R's 'Inner loop failed to converge' warning). On rats and kidney both fits take "
              "milliseconds and Python's fixed overhead dominates. R's fit at scale 1.0 takes well under 20 minutes, "
              "so no subsample is needed. The machine (2 cores) was shared with other jobs while this ran, which "
              "slows both sides."), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tte", default=str(ROOT / "benchmarks" / "work" / "time_to_event.parquet"))
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("rats", "kidney"):
            rows.append(compare(name, *classic(name), reps=max(args.reps, 5), work=Path(tmp)))
        rows.append(compare("trial scale 1.0 (EVENT, high+medium, frailty by ORG_ID)", *trial(Path(args.tte)),
                            reps=args.reps, work=Path(tmp)))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "frailty_cox.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "frailty_cox.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
