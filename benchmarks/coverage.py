"""Bias and coverage of 90% intervals on repeated simulated cluster-randomized trials.

Usage: python benchmarks/coverage.py [--reps 200]
Writes benchmarks/results/coverage.json and coverage.md.

- Equation 1 engine (fit_nested_lmm): 40 organizations randomized 1:1, 400 beneficiaries with 1-5
  observed years each, precision weights, organization and beneficiary intercepts; true effect 0.5.
- Marginal Cox with cluster-robust errors (fit_marginal_cox): 40 organizations, 1,600 subjects,
  positive-stable organization frailty (so the marginal hazard ratio is exactly exp(-0.2)); ties by day.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models import fit_marginal_cox, fit_nested_lmm

Z90 = stats.norm.ppf(0.95)


def lmm_trial(seed: int, effect: float = 0.5) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n_org, n_bene = 40, 400
    org_of = rng.integers(0, n_org, n_bene)
    rows = np.repeat(np.arange(n_bene), rng.integers(1, 6, n_bene))
    mh = (org_of % 2)[rows]
    w = rng.uniform(0.2, 1.0, len(rows))
    y = (effect * mh + rng.normal(0, 0.4, n_org)[org_of[rows]] + rng.normal(0, 1, n_bene)[rows]
         + rng.normal(0, 1.5, len(rows)) / np.sqrt(w))
    d = pd.DataFrame({"y": y, "mh": mh, "org": org_of[rows], "bene": rows, "w": w})
    fit = fit_nested_lmm(d, "y ~ mh", org="org", bene="bene", weights="w")
    return float(fit.params["mh"]), float(fit.bse["mh"])


def _positive_stable(rng, alpha, n):
    u = rng.uniform(0, np.pi, n)
    w = rng.exponential(1.0, n)
    return (np.sin(alpha * u) / np.sin(u) ** (1 / alpha)) * (np.sin((1 - alpha) * u) / w) ** ((1 - alpha) / alpha)


def cox_trial(seed: int, log_hr: float = -0.2, alpha: float = 0.85) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n_org, per = 40, 40
    g = np.repeat(np.arange(n_org), per)
    treat = (g % 2).astype(float)
    x = rng.normal(size=len(g))
    u = _positive_stable(rng, alpha, n_org)[g]
    t = rng.exponential(1 / (0.15 * u * np.exp((log_hr * treat + 0.3 * x) / alpha)))
    c = rng.uniform(1, 5, len(g))
    d = pd.DataFrame({"T": np.ceil(np.minimum(t, c) * 365) / 365, "E": (t <= c).astype(int), "MH": treat, "X": x, "G": g})
    fit = fit_marginal_cox(d, "T", "E", ["MH", "X"], "G")
    return float(fit.params["MH"]), float(fit.bse["MH"])


def summarize(name, truth, est) -> dict:
    b = np.array([e[0] for e in est])
    se = np.array([e[1] for e in est])
    cover = np.abs(b - truth) <= Z90 * se
    n = len(b)
    return {"model": name, "replicates": n, "truth": truth, "mean_estimate": float(b.mean()), "bias": float(b.mean() - truth),
            "mc_se_of_bias": float(b.std(ddof=1) / np.sqrt(n)), "empirical_sd": float(b.std(ddof=1)),
            "mean_model_se": float(se.mean()), "coverage_90": float(cover.mean()),
            "coverage_mc_se": float(np.sqrt(0.9 * 0.1 / n))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = [summarize("fit_nested_lmm (Equation 1 engine), treatment effect", 0.5, [lmm_trial(s) for s in range(args.reps)]),
           summarize("fit_marginal_cox (cluster-robust), log hazard ratio", -0.2, [cox_trial(s) for s in range(args.reps)])]
    result = {"results": out, "seconds": round(time.perf_counter() - t0, 1)}
    Path("benchmarks/results/coverage.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Bias and coverage on repeated simulated trials", "", "`python benchmarks/coverage.py --reps "
             f"{args.reps}`", "", "| model | replicates | truth | mean estimate | bias (MC SE) | empirical SD | mean SE | 90% coverage (MC SE) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in out:
        lines.append(f"| {r['model']} | {r['replicates']} | {r['truth']} | {r['mean_estimate']:.4f} | {r['bias']:.4f} ({r['mc_se_of_bias']:.4f}) | "
                     f"{r['empirical_sd']:.4f} | {r['mean_model_se']:.4f} | {r['coverage_90']:.3f} ({r['coverage_mc_se']:.3f}) |")
    Path("benchmarks/results/coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
