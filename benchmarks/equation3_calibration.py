"""Coverage of Equation 3's interval on many redrawn provider surveys of whole synthetic trials.

benchmarks/calibration_trials.py scores Equation 3 (EHR_RISK_TOOL, wave 1) once per full trial: 200
trials give its coverage to a Monte Carlo SD of 2.1 points. The survey is cheap next to the rest of a
trial, so this script holds a trial's organizations, cohort and covariates fixed and redraws only the
survey (responses and answers, with the generator's own :func:`mheval.synth.payments.provider_survey`
and a fresh random stream per draw), then runs the workflow's Equation 3 (nonresponse weights from a
response model fitted per wave, weighted least squares, CR2 with Bell-McCaffrey Satterthwaite df:
:func:`mheval.models.equation3.survey_impacts`' steps) on every draw. Several trials per design, so the
organization frames vary too; the designs are calibration_trials.py's.

Beside the published interval it scores, on the same fits (the same design matrix and weights):
- CR2 with t(n - p), the residual df instead of Bell-McCaffrey's;
- CR3 (the jackknife-type adjustment, as Equation 1's default) with t(G - 1);
- the HC1 sandwich (n / (n - p) scaling) with t(n - p).

Usage: python benchmarks/equation3_calibration.py [--trials 5] [--draws 400] [--designs few,all342]
Writes benchmarks/results/equation3_calibration.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import calibration_trials  # benchmarks/ (this script's directory); it takes itself off sys.path
import numpy as np
import pandas as pd
import yaml
from scipy import stats

ITEM, WAVE = "EHR_RISK_TOOL", 1


def _variants(res: dict, frame: pd.DataFrame, alpha: float) -> dict:
    """(estimate, SE, df) of each variance on the published fit's design (its kept covariates)."""
    from mheval.models.cluster_robust import cr2, cr2_weighted_ls

    kept = res["covariates"]
    X = np.column_stack([np.ones(len(frame)), frame["MH"].to_numpy(float)] + [frame[c].to_numpy(float) for c in kept])
    y, w, org = frame["VALUE"].to_numpy(float), frame["NR_WEIGHT"].to_numpy(float), frame["ORG_ID"].to_numpy()
    n, p = X.shape
    c = np.zeros(p)
    c[1] = 1.0
    fit = cr2_weighted_ls(X, y, org, w)
    b = float(fit.params[1])
    out = {"published": (res["impact"], res["se"], res["df"])}
    var, _ = fit.contrast(c)
    out["CR2, t(n - p)"] = (b, math.sqrt(var), float(n - p))
    # CR3 and HC1 of the same WLS: rows scaled by sqrt(w) (one row per organization: clusters of one)
    ws = np.sqrt(w / w.mean())
    Xw, yw = X * ws[:, None], y * ws
    beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    r = yw - Xw @ beta
    cr3 = cr2(Xw, r, org, adjustment="CR3")
    v3, df3 = cr3.contrast(c)
    out["CR3, t(G - 1)"] = (float(beta[1]), math.sqrt(v3), df3)
    M = np.linalg.inv(Xw.T @ Xw)
    hc1 = n / (n - p) * M @ (Xw.T * r**2) @ Xw @ M
    out["HC1, t(n - p)"] = (float(beta[1]), math.sqrt(float(c @ hc1 @ c)), float(n - p))
    return out


def run_design(design: str, trials: list[int], draws: int, alpha: float) -> list[dict]:
    from mheval.contract.read import read_input
    from mheval.models.equation3 import (beneficiary_averages, equation3_frame, equation3_impact,
                                         nonresponse_weights, organization_covariates)
    from mheval.synth.generate import _resolve, _world
    from mheval.synth.payments import provider_survey

    spec = calibration_trials.DESIGNS[design]
    cfg = calibration_trials.trial_config()
    cov = cfg["models"]["covariates"]
    rows = []
    for seed in trials:
        tmp = Path(tempfile.mkdtemp(prefix="eq3cal"))
        try:
            truth, cohort, _ = calibration_trials.simulated_trial(design, seed, tmp, cfg, time_to_event=False)
            frame = organization_covariates(read_input(tmp, "organizations"), cov)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        averages = beneficiary_averages(cohort, frame["ORG_ID"])
        params = _resolve(spec["scale"], seed, spec["overrides"])
        orgs = _world(params)[1]
        true_effect = truth["survey"]["true_effects"][ITEM]
        for k in range(draws):
            rng = np.random.default_rng([seed, 7_000_003, k])
            survey, _ = provider_survey(rng, orgs, params)
            weights, _ = nonresponse_weights(frame, survey)
            res = equation3_impact(survey, weights, averages, ITEM, WAVE, alpha)
            row = {"design": design, "trial": seed, "draw": k, "truth": true_effect}
            if not res.get("estimable", True) or "impact" not in res or not np.isfinite(res.get("se", np.nan)):
                row["not_estimable"] = res.get("reason", "not estimable")
                rows.append(row)
                continue
            d = equation3_frame(survey, weights, averages, ITEM, WAVE)
            row.update({name: list(v) for name, v in _variants(res, d, alpha).items()})
            row["n_organizations"] = res["n_organizations"]
            rows.append(row)
        print(f"{design} trial {seed}: {draws} draws", flush=True)
    return rows


def summarize(rows: list[dict], alpha: float) -> list[dict]:
    out = []
    ok = [r for r in rows if "published" in r]
    for name in ("published", "CR2, t(n - p)", "CR3, t(G - 1)", "HC1, t(n - p)"):
        est = np.array([r[name][0] for r in ok])
        se = np.array([r[name][1] for r in ok])
        df = np.array([r[name][2] for r in ok])
        truth = np.array([r["truth"] for r in ok])
        q = stats.t.ppf(1 - alpha / 2, df)
        cover = np.abs(est - truth) <= q * se
        k, n = int(cover.sum()), len(cover)
        lo = float(stats.beta.ppf(0.05, k, n - k + 1)) if k > 0 else 0.0
        hi = float(stats.beta.ppf(0.95, k + 1, n - k)) if k < n else 1.0
        out.append({"variance": name, "draws": n, "bias": float((est - truth).mean()), "sd": float(est.std(ddof=1)),
                    "mean_se": float(se.mean()), "se_over_sd": float(se.mean() / est.std(ddof=1)),
                    "median_df": float(np.median(df)), "coverage": k / n, "mc_lo": float(lo), "mc_hi": float(hi)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5, help="trials per design (seeds 1001, 1002, ...)")
    ap.add_argument("--draws", type=int, default=400, help="survey draws per trial")
    ap.add_argument("--designs", default="few,all342")
    args = ap.parse_args()
    alpha = float(yaml.safe_load(Path("config/config.yaml").read_text())["models"]["alpha"])
    t0 = time.perf_counter()
    results, summaries = {}, {}
    for design in args.designs.split(","):
        rows = run_design(design, list(range(1001, 1001 + args.trials)), args.draws, alpha)
        results[design] = rows
        summaries[design] = {"all": summarize(rows, alpha),
                             "not_estimable": sum("published" not in r for r in rows), "draws": len(rows),
                             "by_trial": {s: summarize([r for r in rows if r["trial"] == s], alpha)[0]["coverage"]
                                          for s in sorted({r["trial"] for r in rows})}}
    out = Path("benchmarks/results")
    (out / "equation3_calibration.json").write_text(json.dumps(summaries, indent=2) + "\n")
    L = ["# Equation 3 on redrawn provider surveys", "",
         f"`python benchmarks/equation3_calibration.py --trials {args.trials} --draws {args.draws} --designs {args.designs}` "
         f"({time.perf_counter() - t0:.0f} s). Item {ITEM}, wave {WAVE}, true difference 0.25; trials with seeds 1001-"
         f"{1000 + args.trials} of each calibration design, each with {args.draws} survey draws (responses and answers "
         "redrawn by the generator's provider_survey); the workflow's nonresponse weights and Equation 3 on every draw. "
         f"{100 * (1 - alpha):.0f}% coverage with its 90% Clopper-Pearson Monte Carlo interval.", ""]
    for design, s in summaries.items():
        L += [f"## {design}: {s['draws']} draws, not estimable in {s['not_estimable']}", "",
              "| variance | draws | bias | empirical SD | mean SE | SE/SD | median df | coverage (MC 90% CI) |",
              "|---|---|---|---|---|---|---|---|"]
        L += [f"| {r['variance']} | {r['draws']} | {r['bias']:+.4f} | {r['sd']:.4f} | {r['mean_se']:.4f} | "
              f"{r['se_over_sd']:.2f} | {r['median_df']:.1f} | {100 * r['coverage']:.1f}% ({100 * r['mc_lo']:.1f}-"
              f"{100 * r['mc_hi']:.1f}) |" for r in s["all"]]
        L += ["", "Published interval's coverage by trial: " +
              ", ".join(f"{k}: {100 * v:.1f}%" for k, v in s["by_trial"].items()), ""]
    (out / "equation3_calibration.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
