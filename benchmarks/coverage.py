"""Bias and coverage of 90% intervals on repeated simulated cluster-randomized trials.

Usage: python benchmarks/coverage.py [--reps 200] [--models lmm marginal_cox frailty_cox glmm_ame]
Writes benchmarks/results/coverage.json and coverage.md.

- Equation 1 engine (fit_nested_lmm): 40 organizations randomized 1:1, 400 beneficiaries with 1-5
  observed years each, precision weights, organization and beneficiary intercepts; true effect 0.5.
- Marginal Cox with cluster-robust errors (fit_marginal_cox): 40 organizations, 1,600 subjects,
  positive-stable organization frailty (so the marginal hazard ratio is exactly exp(-0.2)); ties by day.
- Shared gamma frailty Cox (fit_frailty_cox): the same design with gamma frailties of variance 0.2;
  the conditional hazard ratio exp(-0.2) is the truth.
- Equation 2 logistic GLMM (fit_nested_glmm, marginal_effect): 40 organizations x 50 beneficiaries,
  organization intercept SD 0.4; the truth is the true model's population-averaged marginal effect
  on each sample.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import warnings

from mheval.models import fit_marginal_cox, fit_nested_lmm
from mheval.models.frailty_cox import fit_frailty_cox
from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect

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


def _clustered_survival(seed: int, frailty, log_hr: float, lp_scale: float = 1.0) -> pd.DataFrame:
    """40 organizations x 40 subjects randomized by organization, one covariate, organization
    frailties from ``frailty(rng, n_org)``, hazard 0.15 u exp((log_hr MH + 0.3 X) / lp_scale),
    uniform censoring on 1-5 years, times rounded up to days (ties)."""
    rng = np.random.default_rng(seed)
    n_org, per = 40, 40
    g = np.repeat(np.arange(n_org), per)
    treat = (g % 2).astype(float)
    x = rng.normal(size=len(g))
    u = frailty(rng, n_org)[g]
    t = rng.exponential(1 / (0.15 * u * np.exp((log_hr * treat + 0.3 * x) / lp_scale)))
    c = rng.uniform(1, 5, len(g))
    return pd.DataFrame({"T": np.ceil(np.minimum(t, c) * 365) / 365, "E": (t <= c).astype(int), "MH": treat, "X": x,
                         "G": g})


def cox_trial(seed: int, log_hr: float = -0.2, alpha: float = 0.85) -> tuple[float, float]:
    """Positive-stable frailty (index alpha): the marginal log HR is exactly log_hr."""
    d = _clustered_survival(seed, lambda rng, n: _positive_stable(rng, alpha, n), log_hr, lp_scale=alpha)
    fit = fit_marginal_cox(d, "T", "E", ["MH", "X"], "G")
    return float(fit.params["MH"]), float(fit.bse["MH"])


def frailty_trial(seed: int, log_hr: float = -0.2, theta: float = 0.2) -> tuple[float, float]:
    """Shared gamma frailty (variance theta) per organization; the conditional log HR is the truth."""
    d = _clustered_survival(seed, lambda rng, n: rng.gamma(1 / theta, theta, n), log_hr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # R's 10-fit theta search limit, kept as R has it
        fit = fit_frailty_cox(d, "T", "E", ["MH", "X"], "G")
    return float(fit.params["MH"]), float(fit.bse["MH"])


def glmm_trial(seed: int, b_mh: float = 0.3, sigma_org: float = 0.4) -> tuple[float, float, float]:
    """Equation 2 shape: one binary outcome per beneficiary, organization intercept; the
    population-averaged average marginal effect (pp) of the true model on the sample is the truth.
    Returns (estimate, se, truth)."""
    rng = np.random.default_rng(seed)
    n_org, per = 40, 50
    g = np.repeat(np.arange(n_org), per)
    treat = (g % 2).astype(float)
    x = rng.normal(size=len(g))
    eta = -1.5 + b_mh * treat + 0.5 * x + rng.normal(0, sigma_org, n_org)[g]
    y = (rng.uniform(size=len(g)) < 1 / (1 + np.exp(-eta))).astype(float)
    d = pd.DataFrame({"Y": y, "MH": treat, "X": x, "G": g})
    fit = fit_nested_glmm(d, "Y ~ MH + X", org="G")
    ame = marginal_effect(fit, d, treatment="MH").loc["overall"]
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()

    def pa(mh):  # E_u expit(-1.5 + b mh + 0.5 x + u), u ~ N(0, sigma^2), averaged over the sample
        lin = -1.5 + b_mh * mh + 0.5 * x
        return (1 / (1 + np.exp(-(lin[:, None] + sigma_org * nodes[None, :]))) @ weights).mean()

    return float(ame["estimate"]), float(ame["se"]), float(100 * (pa(1) - pa(0)))


def summarize(name, truth, est) -> dict:
    """``truth`` is a number, or None when each replicate carries its own as a third element."""
    b = np.array([e[0] for e in est])
    se = np.array([e[1] for e in est])
    truths = np.array([e[2] for e in est]) if truth is None else np.full(len(b), truth)
    cover = np.abs(b - truths) <= Z90 * se
    truth = float(truths.mean())
    n = len(b)
    return {"model": name, "replicates": n, "truth": truth, "mean_estimate": float(b.mean()),
            "bias": float((b - truths).mean()),
            "mc_se_of_bias": float(b.std(ddof=1) / np.sqrt(n)), "empirical_sd": float(b.std(ddof=1)),
            "mean_model_se": float(se.mean()), "coverage_90": float(cover.mean()),
            "coverage_mc_se": float(np.sqrt(0.9 * 0.1 / n))}


MODELS = {
    "lmm": ("fit_nested_lmm (Equation 1 engine), treatment effect", 0.5, lmm_trial),
    "marginal_cox": ("fit_marginal_cox (cluster-robust), log hazard ratio", -0.2, cox_trial),
    "frailty_cox": ("fit_frailty_cox (shared gamma frailty, variance 0.2), conditional log hazard ratio", -0.2,
                    frailty_trial),
    "glmm_ame": ("fit_nested_glmm + marginal_effect (Equation 2), average marginal effect in pp", None, glmm_trial),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args()
    t0 = time.perf_counter()
    previous = {}
    if Path("benchmarks/results/coverage.json").exists():  # keep the models not rerun now
        previous = {r["model"]: r for r in json.loads(Path("benchmarks/results/coverage.json").read_text())["results"]}
    for key in args.models:
        name, truth, trial = MODELS[key]
        previous[name] = summarize(name, truth, [trial(s) for s in range(args.reps)]) | {"command_reps": args.reps}
    out = list(previous.values())
    result = {"results": out, "seconds_this_run": round(time.perf_counter() - t0, 1)}
    Path("benchmarks/results/coverage.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Bias and coverage on repeated simulated trials", "", "`python benchmarks/coverage.py --reps N "
             "[--models ...]`; each model's row comes from its latest run.", "", "| model | replicates | truth | mean estimate | bias (MC SE) | empirical SD | mean SE | 90% coverage (MC SE) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in out:
        lines.append(f"| {r['model']} | {r['replicates']} | {r['truth']:.4g} | {r['mean_estimate']:.4f} | {r['bias']:.4f} ({r['mc_se_of_bias']:.4f}) | "
                     f"{r['empirical_sd']:.4f} | {r['mean_model_se']:.4f} | {r['coverage_90']:.3f} ({r['coverage_mc_se']:.3f}) |")
    Path("benchmarks/results/coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
