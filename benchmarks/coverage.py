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
- Few unequal organizations (issue 13), every variance of one fit side by side:
  ``small_cox``: marginal Cox, 24 organizations of very unequal size (log-normal, median 40
  subjects, log-SD 1), positive-stable frailty of index 0.7 (strong clustering; marginal log HR
  -0.2 exactly), half the organizations treated at random; the uncorrected sandwich with a normal
  reference against the KC, FG, MD and MBN corrections with t(G - 2).
  ``small_lmm``: Equation 1 engine, 24 organizations with log-normal numbers of beneficiaries
  (median 15, log-SD 1), 1-5 years each, precision weights, treatment effect 0.5; the model-based
  SE (normal) against CR2 with Satterthwaite df (:func:`fit_nested_lmm`, ``cov_type="CR2"``).
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
from mheval.models.cox_engine import fit_cox
from mheval.models.cox_small_sample import bias_corrected_cov
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
    ame = marginal_effect(fit, d, treatment="MH").summary(0.10).loc["overall"]
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()

    def pa(mh):  # E_u expit(-1.5 + b mh + 0.5 x + u), u ~ N(0, sigma^2), averaged over the sample
        lin = -1.5 + b_mh * mh + 0.5 * x
        return (1 / (1 + np.exp(-(lin[:, None] + sigma_org * nodes[None, :]))) @ weights).mean()

    return float(ame["estimate"]), float(ame["se"]), float(100 * (pa(1) - pa(0)))


def _unequal_sizes(rng, n_org, median, log_sd, minimum):
    return np.maximum(minimum, np.round(rng.lognormal(np.log(median), log_sd, n_org))).astype(int)


def small_cox_trial(seed: int, log_hr: float = -0.2, alpha: float = 0.7, n_org: int = 24) -> dict:
    """Marginal Cox on few unequal organizations: {variance type: (estimate, se, df)}."""
    rng = np.random.default_rng(10_000 + seed)
    sizes = _unequal_sizes(rng, n_org, 40, 1.0, 5)
    g = np.repeat(np.arange(n_org), sizes)
    arm = np.zeros(n_org)
    arm[rng.permutation(n_org)[: n_org // 2]] = 1
    treat = arm[g]
    x = rng.normal(size=len(g))
    u = _positive_stable(rng, alpha, n_org)[g]
    t = rng.exponential(1 / (0.15 * u * np.exp((log_hr * treat + 0.3 * x) / alpha)))
    c = rng.uniform(1, 5, len(g))
    T, E, X = np.ceil(np.minimum(t, c) * 365) / 365, (t <= c).astype(int), np.column_stack([treat, x])
    fit = fit_cox(T, E, X, cluster=g)
    b = float(fit.params[0])
    out = {"robust": (b, float(np.sqrt(fit.robust_cov[0, 0])), None)}
    for ct in ("kc", "fg", "md", "mbn"):
        out[ct] = (b, float(np.sqrt(bias_corrected_cov(T, E, X, g, fit.params, ct)[0, 0])), n_org - 2)
    return out


def small_lmm_trial(seed: int, effect: float = 0.5, n_org: int = 24, effect_sd: float = 0.0) -> dict:
    """Equation 1 engine on few unequal organizations: {"model": ..., "CR2": ...} of (est, se, df).
    ``effect_sd`` > 0: the effect varies across intervention organizations (SD effect_sd), which
    the working model (one organization variance for both arms) does not describe."""
    rng = np.random.default_rng(20_000 + seed)
    nb = _unequal_sizes(rng, n_org, 15, 1.0, 2)
    org_of = np.repeat(np.arange(n_org), nb)
    arm = np.zeros(n_org)
    arm[rng.permutation(n_org)[: n_org // 2]] = 1
    rows = np.repeat(np.arange(len(org_of)), rng.integers(1, 6, len(org_of)))
    mh = arm[org_of[rows]]
    w = rng.uniform(0.2, 1.0, len(rows))
    y = ((effect + effect_sd * rng.normal(size=n_org)[org_of[rows]]) * mh + rng.normal(0, 0.4, n_org)[org_of[rows]]
         + rng.normal(0, 1, len(org_of))[rows]
         + rng.normal(0, 1.5, len(rows)) / np.sqrt(w))
    d = pd.DataFrame({"y": y, "mh": mh, "org": org_of[rows], "bene": rows, "w": w})
    fit = fit_nested_lmm(d, "y ~ mh", org="org", bene="bene", weights="w", cov_type="CR2")
    b = float(fit.params["mh"])
    return {"model": (b, float(fit.bse_model["mh"]), None), "CR2": (b, float(fit.bse["mh"]), float(fit.df["mh"]))}


def summarize(name, truth, est) -> dict:
    """``truth`` is a number, or None when each replicate carries its own as a third element.
    Each replicate is (estimate, se) or (estimate, se, truth); for the t reference, pass
    (estimate, se, df) with ``truth`` a number (df None: normal)."""
    b = np.array([e[0] for e in est])
    se = np.array([e[1] for e in est])
    truths = np.array([e[2] for e in est]) if truth is None else np.full(len(b), truth)
    crit = np.full(len(b), Z90)
    if truth is not None and len(est[0]) == 3:
        crit = np.array([Z90 if e[2] is None else stats.t.ppf(0.95, e[2]) for e in est])
    cover = np.abs(b - truths) <= crit * se
    truth = float(truths.mean())
    n = len(b)
    return {"model": name, "replicates": n, "truth": truth, "mean_estimate": float(b.mean()),
            "bias": float((b - truths).mean()),
            "mc_se_of_bias": float(b.std(ddof=1) / np.sqrt(n)), "empirical_sd": float(b.std(ddof=1)),
            "mean_model_se": float(se.mean()), "coverage_90": float(cover.mean()),
            "coverage_mc_se": float(np.sqrt(0.9 * 0.1 / n)),
            "se_over_sd": float(se.mean() / b.std(ddof=1))}


MODELS = {
    "lmm": ("fit_nested_lmm (Equation 1 engine), treatment effect", 0.5, lmm_trial),
    "marginal_cox": ("fit_marginal_cox (cluster-robust), log hazard ratio", -0.2, cox_trial),
    "frailty_cox": ("fit_frailty_cox (shared gamma frailty, variance 0.2), conditional log hazard ratio", -0.2,
                    frailty_trial),
    "glmm_ame": ("fit_nested_glmm + marginal_effect (Equation 2), average marginal effect in pp", None, glmm_trial),
}
# several variances of the same fits: (label, truth, trial returning {variance: (est, se, df)}, variance labels)
MULTI = {
    "small_cox": ("marginal Cox, 24 unequal organizations, log HR", -0.2, small_cox_trial,
                  {"robust": "sandwich, normal", "kc": "KC, t(G-2)", "fg": "FG, t(G-2)", "md": "MD, t(G-2)",
                   "mbn": "MBN, t(G-2)"}),
    "small_lmm": ("Equation 1 engine, 24 unequal organizations, effect", 0.5, small_lmm_trial,
                  {"model": "model-based, normal", "CR2": "CR2, Satterthwaite t"}),
    "small_lmm_het": ("Equation 1 engine, 24 unequal organizations, effect varying across organizations (SD 0.4)",
                      0.5, lambda s: small_lmm_trial(s, effect_sd=0.4),
                      {"model": "model-based, normal", "CR2": "CR2, Satterthwaite t"}),
    "small_cox_mild": ("marginal Cox, 24 unequal organizations, positive-stable index 0.85, log HR", -0.2,
                       lambda s: small_cox_trial(s, alpha=0.85),
                       {"robust": "sandwich, normal", "kc": "KC, t(G-2)", "fg": "FG, t(G-2)", "md": "MD, t(G-2)",
                        "mbn": "MBN, t(G-2)"}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS) + list(MULTI))
    args = ap.parse_args()
    t0 = time.perf_counter()
    previous = {}
    if Path("benchmarks/results/coverage.json").exists():  # keep the models not rerun now
        previous = {r["model"]: r for r in json.loads(Path("benchmarks/results/coverage.json").read_text())["results"]}
    for key in args.models:
        if key in MULTI:
            label, truth, trial, variants = MULTI[key]
            reps = [trial(s) for s in range(args.reps)]
            for v, vlabel in variants.items():
                name = f"{label}: {vlabel}"
                previous[name] = summarize(name, truth, [r[v] for r in reps]) | {"command_reps": args.reps}
            continue
        name, truth, trial = MODELS[key]
        previous[name] = summarize(name, truth, [trial(s) for s in range(args.reps)]) | {"command_reps": args.reps}
    out = list(previous.values())
    result = {"results": out, "seconds_this_run": round(time.perf_counter() - t0, 1)}
    Path("benchmarks/results/coverage.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Bias and coverage on repeated simulated trials", "", "`python benchmarks/coverage.py --reps N "
             "[--models ...]`; each model's row comes from its latest run. 95% Monte Carlo interval of a "
             "coverage: +-1.96 x its MC SE.", "",
             "| model | replicates | truth | mean estimate | bias (MC SE) | empirical SD | mean SE | mean SE / SD | 90% coverage (MC SE) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in out:
        ratio = r["mean_model_se"] / r["empirical_sd"]
        lines.append(f"| {r['model']} | {r['replicates']} | {r['truth']:.4g} | {r['mean_estimate']:.4f} | {r['bias']:.4f} ({r['mc_se_of_bias']:.4f}) | "
                     f"{r['empirical_sd']:.4f} | {r['mean_model_se']:.4f} | {ratio:.3f} | {r['coverage_90']:.3f} ({r['coverage_mc_se']:.3f}) |")
    Path("benchmarks/results/coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
