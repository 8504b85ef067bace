"""The marginal Cox bias-corrected variances against R's CoxBcv on whole synthetic trials' Equation 4 frames.

tests/test_cox_small_sample.py and benchmarks/bench_small_sample.py check the corrections on three small
shared data sets (at most 3 covariates, 355 rows). This script checks them where the workflow uses them:
the Equation 4 frame (high + medium risk; first event and death; the default covariate specification, as
:func:`mheval.models.equation4.survival_frame` builds it: the arm, about 15 beneficiary covariates and
the organization terms the number of organizations allows, tied event days) of one trial of each
calibration design (benchmarks/calibration_trials.py: "few", about 47 unequal organizations; "all342",
the full 342-organization size distribution). For each frame it fits the Cox model once (Efron ties,
:func:`mheval.models.cox_engine.fit_cox`), computes every variance of
:func:`mheval.models.cox_small_sample.bias_corrected_cov`, and runs CoxBcv.rob, .kc, .fg, .md and .mbn
(which fit ``coxph(Surv(Y, Delta) ~ X + cluster(ID))`` themselves) on the same rows.

Needs Rscript with the survival, pracma and CoxBcv packages (CoxBcv from its CRAN source, github
cran/CoxBcv: ``R CMD INSTALL -l <lib> CoxBcv`` and ``R_LIBS=<lib>``).

Usage: R_LIBS=<lib> python benchmarks/coxbcv_trial.py [--seeds 201] [--designs few,all342] [--outcomes event,death]
Writes benchmarks/results/coxbcv_trial.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import calibration_trials  # benchmarks/ (this script's directory); it takes itself off sys.path
import numpy as np
import pandas as pd

R_CODE = r"""
suppressMessages({library(survival); library(CoxBcv)})
d <- read.csv(file("stdin"))
X <- as.matrix(d[, setdiff(names(d), c("Y", "Delta", "ID"))])
for (f in c("rob", "kc", "fg", "md", "mbn")) {
  r <- get(paste0("CoxBcv.", f))(d$Y, d$Delta, X, d$ID)$outbeta
  cat(f, "coef", sprintf("%.15e", r[, 1]), "\n")
  cat(f, "var", sprintf("%.15e", r[, 3]), "\n")
}
cat("versions", as.character(packageVersion("survival")), as.character(packageVersion("CoxBcv")), "\n")
"""


def frames(design: str, seed: int) -> dict:
    """The Equation 4 frames (event, death) of one calibration trial, as survival_frame builds them."""
    from mheval.models.equation4 import OUTCOMES, survival_frame

    cfg = calibration_trials.trial_config()
    tmp = Path(tempfile.mkdtemp(prefix="coxbcv"))
    try:
        _, _, tte = calibration_trials.simulated_trial(design, seed, tmp, cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {}
    for outcome in ("event", "death"):
        x, cov = survival_frame(tte, outcome, "high_medium", cfg["models"]["covariates"])
        duration, event, _ = OUTCOMES[outcome]
        out[outcome] = (x[duration].to_numpy(float), x[event].to_numpy(int), x[cov], x["ORG_ID"].to_numpy())
    return out


def compare(T, E, X: pd.DataFrame, org) -> dict:
    from mheval.models.cox_engine import fit_cox
    from mheval.models.cox_small_sample import bias_corrected_cov

    fit = fit_cox(T, E, X.to_numpy(float), cluster=org)
    ours = {ct: np.diag(bias_corrected_cov(T, E, X.to_numpy(float), org, fit.params, ct))
            for ct in ("rob", "kc", "fg", "md", "mbn")}
    ids = pd.factorize(org)[0] + 1
    csv = pd.DataFrame({"Y": T, "Delta": E, "ID": ids}).join(X.reset_index(drop=True).add_prefix("x_")).to_csv(index=False)
    r = subprocess.run(["Rscript", "-e", R_CODE], input=csv, capture_output=True, text=True, check=True)
    ref, versions = {}, ""
    for line in r.stdout.strip().splitlines():
        parts = line.split()
        if parts[0] == "versions":
            versions = f"survival {parts[1]}, CoxBcv {parts[2]}"
            continue
        ref.setdefault(parts[0], {})[parts[1]] = np.array(parts[2:], float)
    rows = []
    for ct, v in ours.items():
        rel = np.abs(v / ref[ct]["var"] - 1)
        rows.append({"variance": ct, "max_rel_diff_var": float(rel.max()), "rel_diff_var_arm": float(rel[0]),
                     "max_abs_diff_coef": float(np.abs(fit.params - ref[ct]["coef"]).max()),
                     "se_arm": float(np.sqrt(v[0]))})
    return {"n": int(len(T)), "events": int(E.sum()), "organizations": int(len(np.unique(org))),
            "terms": int(X.shape[1]), "tied_event_times": int(len(T[E == 1]) - len(np.unique(T[E == 1]))),
            "versions": versions, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="201", help="comma-separated trial seeds")
    ap.add_argument("--designs", default="few,all342")
    ap.add_argument("--outcomes", default="event,death",
                    help="CoxBcv builds n x n at-risk matrices (and p^2 of their products): over 11 CPU minutes "
                         "for one 4,400-row frame with 19 terms")
    args = ap.parse_args()
    results = []
    for design in args.designs.split(","):
        for seed in map(int, args.seeds.split(",")):
            for outcome, (T, E, X, org) in frames(design, seed).items():
                if outcome not in args.outcomes.split(","):
                    continue
                results.append({"design": design, "seed": seed, "outcome": outcome, **compare(T, E, X, org)})
                print(design, seed, outcome, max(r["max_rel_diff_var"] for r in results[-1]["rows"]), flush=True)
    out = Path("benchmarks/results")
    (out / "coxbcv_trial.json").write_text(json.dumps(results, indent=2) + "\n")
    L = ["# Marginal Cox bias-corrected variances vs CoxBcv on whole trials' Equation 4 frames", "",
         f"`R_LIBS=<lib with CoxBcv> python benchmarks/coxbcv_trial.py --seeds {args.seeds} --designs {args.designs} "
         f"--outcomes {args.outcomes}` "
         f"({results[0]['versions']}, R's coxph fitting the coefficients with Efron ties; mheval's own Cox fit and "
         "variances). Relative differences of the variance of every coefficient (max over the terms) and of the arm's; "
         "absolute differences of the coefficients.", "",
         "| design | seed | outcome | rows | events | tied event days | organizations | terms | variance | SE of the arm "
         "| max rel. diff. variance | rel. diff. arm | max abs. diff. coefficient |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for v in r["rows"]:
            L.append(f"| {r['design']} | {r['seed']} | {r['outcome']} | {r['n']} | {r['events']} | {r['tied_event_times']} | "
                     f"{r['organizations']} | {r['terms']} | {v['variance']} | {v['se_arm']:.4f} | "
                     f"{v['max_rel_diff_var']:.1e} | {v['rel_diff_var_arm']:.1e} | {v['max_abs_diff_coef']:.1e} |")
    (out / "coxbcv_trial.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
