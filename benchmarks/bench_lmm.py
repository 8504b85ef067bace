"""Equation 1 at scale 1.0: fit_nested_lmm vs lme4's lmer on the same beneficiary-year data.

Timing: lmer with its default settings (fit only, after R has read the data). Agreement: against
lmer refitted with a tight optimizer tolerance.

Usage: python benchmarks/bench_lmm.py [--by benchmarks/work/beneficiary_year.parquet] [--no-r]
Needs bench_pipeline.py's beneficiary-year file; R with lme4 for the side-by-side run
(apt-get install r-base-core r-cran-lme4). Writes benchmarks/results/lmm_scale1.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.models import fit_nested_lmm

FORMULA = ("spend_ab ~ 0 + C(YEAR) + C(YEAR):MH + AGE10 + MALE + BLACK + DUAL + LOG_RISK + HIGH + RURAL"
           " + HEALTH_SYSTEM + spend_ab_y0")
R_SCRIPT = r"""
library(lme4)
d <- read.csv("{csv}")
d$YEAR <- factor(d$YEAR)
t0 <- proc.time()[["elapsed"]]
f <- lmer(spend_ab ~ 0 + YEAR + YEAR:MH + AGE10 + MALE + BLACK + DUAL + LOG_RISK + HIGH + RURAL + HEALTH_SYSTEM
          + spend_ab_y0 + (1 | ORG_ID) + (1 | BENE_ID), data = d, weights = WEIGHT, REML = TRUE)
el <- proc.time()[["elapsed"]] - t0
# for agreement, refit from there with a tight optimizer tolerance (the default stops earlier on
# the flat organization-variance direction; both give the same log-likelihood to 1e-6)
f <- lmer(spend_ab ~ 0 + YEAR + YEAR:MH + AGE10 + MALE + BLACK + DUAL + LOG_RISK + HIGH + RURAL + HEALTH_SYSTEM
          + spend_ab_y0 + (1 | ORG_ID) + (1 | BENE_ID), data = d, weights = WEIGHT, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.01, rhoend = 1e-12)))
vc <- as.data.frame(VarCorr(f))
cat(sprintf("seconds %.2f\n", el))
cat("fixef", sprintf("%.10g", fixef(f)), "\n")
cat("names", names(fixef(f)), "\n")
cat("se", sprintf("%.10g", sqrt(diag(as.matrix(vcov(f))))), "\n")
cat("vc", sprintf("%.10g", c(vc$vcov[vc$grp == "ORG_ID"], vc$vcov[vc$grp == "BENE_ID"], vc$vcov[vc$grp == "Residual"])), "\n")
cat("loglik", sprintf("%.6f", as.numeric(logLik(f))), "\n")
"""


def prepare(by: pd.DataFrame) -> pd.DataFrame:
    d = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)].copy()
    d["AGE10"] = (d["AGE"] - 70) / 10
    d["MALE"] = (d["SEX"] == "male").astype(int)
    d["BLACK"] = (d["RACE"] == "black").astype(int)
    d["DUAL"] = d["DUAL"].astype(int)
    d["LOG_RISK"] = np.log(d["RISK"])
    d["HIGH"] = (d["STRATUM"] == "high").astype(int)
    d["RURAL"] = d["RURAL"].astype(int)
    d["HEALTH_SYSTEM"] = d["HEALTH_SYSTEM"].astype(int)
    d["spend_ab_y0"] = d["spend_ab_y0"].fillna(d["spend_ab_y0"].mean())
    cols = ["BENE_ID", "ORG_ID", "YEAR", "MH", "WEIGHT", "spend_ab", "spend_ab_y0", "AGE10", "MALE", "BLACK", "DUAL",
            "LOG_RISK", "HIGH", "RURAL", "HEALTH_SYSTEM"]
    return d[cols].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--by", default="benchmarks/work/beneficiary_year.parquet")
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    d = prepare(pd.read_parquet(args.by))
    t = time.perf_counter()
    fit = fit_nested_lmm(d, FORMULA, org="ORG_ID", bene="BENE_ID", weights="WEIGHT")
    seconds = time.perf_counter() - t
    result = {"rows": len(d), "beneficiaries": fit.n_groups["bene"], "organizations": fit.n_groups["org"],
              "mheval_seconds": round(seconds, 2),
              "mheval_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
              "mheval": {"params": fit.params.round(8).to_dict(), "se": fit.bse.round(8).to_dict(),
                         "variance_components": fit.variance_components, "llf": fit.llf}}
    if not args.no_r:
        csv = Path("benchmarks/work/lmm_input.csv")
        d.to_csv(csv, index=False)
        script = Path("benchmarks/work/lmm_bench.R")
        script.write_text(R_SCRIPT.replace("{csv}", str(csv)))
        t = time.perf_counter()
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - t
        lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
        r_fixef = np.array(lines["fixef"], float)
        r_se = np.array(lines["se"], float)
        r_vc = np.array(lines["vc"], float)
        # match terms by name: patsy's C(YEAR)[1]:MH is lme4's YEAR1:MH
        rename = {n: n.replace("C(YEAR)[", "YEAR").replace("]", "") for n in fit.params.index}
        ours = fit.params.rename(rename)
        ours_se = fit.bse.rename(rename)
        order = lines["names"]
        ours_fixef = ours.loc[order].to_numpy()
        ours_se_r = ours_se.loc[order].to_numpy()
        result["lme4"] = {"fit_seconds": float(lines["seconds"][0]), "wall_seconds_with_csv_read": round(wall, 1),
                          "names": lines["names"], "fixef": r_fixef.tolist(), "se": r_se.tolist(), "vc": r_vc.tolist(),
                          "loglik": float(lines["loglik"][0])}
        result["speed_ratio_lmer_over_mheval"] = round(float(lines["seconds"][0]) / seconds, 2)
        result["max_rel_diff"] = {
            "fixef": float(np.max(np.abs(ours_fixef - r_fixef) / np.maximum(np.abs(r_fixef), 1e-8))),
            "se": float(np.max(np.abs(ours_se_r - r_se) / r_se)),
            # relative to the total variance, so that a component at the boundary (0) compares sensibly
            "vc_relative_to_total": float(np.max(np.abs(np.array([fit.variance_components[k] for k in ("org", "bene", "residual")])
                                                        - r_vc)) / r_vc.sum()),
        }
    Path("benchmarks/results/lmm_scale1.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
