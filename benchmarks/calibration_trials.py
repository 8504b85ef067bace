"""Bias and coverage of the impact estimators on repeated full synthetic trials.

Each replicate simulates a whole trial with its own seed (registry, enrollment, claims), runs the
pipeline's library functions (cohort, time-to-event and beneficiary-year files, models) and compares
the estimates with the generator's true effects:

- Equation 4, shared-frailty Cox (primary) and marginal Cox (sensitivity), high + medium risk:
  first event and death, true conditional hazard ratio 0.96 each (organization frailty variances
  0.005 and 0.002, so the marginal hazard ratio is within about 0.001 of it).
- Equation 1, Part A and B spending (true ratio 1.0: the only effect is through fewer events, a
  fraction of a percent) and office visits with participating providers (true ratio 1.05), as the
  impact in percent of the regression-adjusted control mean, with the interval of the impact divided
  by that mean.

Usage: python benchmarks/calibration_trials.py [--reps 200] [--scale 0.02] [--workers 2]
Writes benchmarks/results/calibration_trials.json and .md; replicates are appended to
benchmarks/work/calibration_trials.jsonl as they finish, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

Z90 = stats.norm.ppf(0.95)
WORK = Path("benchmarks/work/calibration_trials.jsonl")


def one_trial(seed: int, scale: float) -> dict:
    from mheval.analysis import build_time_to_event
    from mheval.analysis.beneficiary_year import build_beneficiary_year
    from mheval.cohort import build_cohort
    from mheval.contract import read_input
    from mheval.models import survival_impact
    from mheval.models.equation1 import equation1_impact
    from mheval.outcomes.codes import load_event_codes
    from mheval.outcomes.extract import BASE_TYPES, extract_claims, extract_fills
    from mheval.synth.generate import generate_trial

    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg["claims"] = {"runout_date": "2030-01-01", "runout_lag_days": 0}
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="calib"))
    try:
        truth = generate_trial(tmp, scale=scale, seed=seed)
        people, _, _ = build_cohort(tmp, cfg)
        tte = build_time_to_event(tmp, people[people["EXCLUSION"] == ""].reset_index(drop=True), cfg)
        out = {"seed": seed, "scale": scale, "n": int(len(tte)), "n_orgs": int(tte["ORG_ID"].nunique())}
        for outcome in ("event", "death"):
            r = survival_impact(tte, outcome, "high_medium")
            out[f"frailty_{outcome}"] = [r["log_hr"], r["se"]]
            out[f"marginal_{outcome}"] = [r["marginal"]["log_hr"], r["marginal"]["se"]]
        codes = load_event_codes(cfg["outcomes"]["codes"])
        parts = [extract_claims(tmp, t, y, codes, cfg) for t in BASE_TYPES for y in range(2016, 2023)]
        claims = pd.concat([p[0] for p in parts if len(p[0])], ignore_index=True)
        office = pd.concat([p[1] for p in parts if len(p[1])], ignore_index=True)
        fills = pd.concat([f for y in range(2016, 2023) if len(f := extract_fills(tmp, y, cfg["outcomes"]["drugs"]))],
                          ignore_index=True)
        by = build_beneficiary_year(tte, claims, office, read_input(tmp, "providers"), tmp, cfg, fills=fills,
                                    payments=read_input(tmp, "payments"))
        for outcome in ("spend_ab", "office_mh"):
            a = equation1_impact(by, outcome, "high_medium")["average"]
            out[outcome] = [100 * a["impact"] / a["control_mean"], 100 * a["se"] / a["control_mean"]]
        out["true"] = {"hr_event": truth["true_effects"]["hr_event"], "hr_death": truth["true_effects"]["hr_death"],
                       "spending_ratio": truth["true_effects"]["spending_ratio"],
                       "office_visit_ratio": truth["true_effects"]["office_visit_ratio"]}
        out["seconds"] = time.perf_counter() - t0
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TARGETS = {  # estimate key -> (truth on the estimate's scale, label)
    "frailty_event": (lambda t: math.log(t["hr_event"]), "Frailty Cox, first event, log HR"),
    "marginal_event": (lambda t: math.log(t["hr_event"]), "Marginal Cox, first event, log HR"),
    "frailty_death": (lambda t: math.log(t["hr_death"]), "Frailty Cox, death, log HR"),
    "marginal_death": (lambda t: math.log(t["hr_death"]), "Marginal Cox, death, log HR"),
    "spend_ab": (lambda t: 100 * (t["spending_ratio"] - 1), "Equation 1, Part A and B spending, % of control mean"),
    "office_mh": (lambda t: 100 * (t["office_visit_ratio"] - 1), "Equation 1, office visits, % of control mean"),
}


def summarize(reps: list[dict]) -> dict:
    out = {}
    for key, (truth_of, label) in TARGETS.items():
        rows = [(r[key][0], r[key][1], truth_of(r["true"])) for r in reps if key in r]
        if not rows:
            continue
        est, se, truth = (np.array(v) for v in zip(*rows))
        cover = np.abs(est - truth) <= Z90 * se
        k, n = int(cover.sum()), len(cover)
        lo, hi = stats.beta.ppf([0.05, 0.95], [k, k + 1], [n - k + 1, n - k]) if 0 < k < n else (np.nan, np.nan)
        out[key] = {"label": label, "reps": n, "truth": float(truth.mean()), "mean_estimate": float(est.mean()),
                    "bias": float((est - truth).mean()), "empirical_sd": float(est.std(ddof=1)),
                    "mean_se": float(se.mean()), "coverage_90": float(cover.mean()),
                    "coverage_90_ci": [float(lo), float(hi)]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    WORK.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(x) for x in WORK.read_text().splitlines()] if WORK.exists() else []
    done = [r for r in done if r["scale"] == args.scale]
    seeds = [s for s in range(1, args.reps + 1) if s not in {r["seed"] for r in done}]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool, WORK.open("a") as log:
        for r in pool.map(one_trial, seeds, [args.scale] * len(seeds)):
            log.write(json.dumps(r) + "\n")
            log.flush()
            done.append(r)
            print(f"seed {r['seed']}: {r['seconds']:.0f} s", flush=True)
    summary = {"scale": args.scale, "reps": len(done), "wall_seconds_this_run": round(time.perf_counter() - t0),
               "median_beneficiaries": float(np.median([r["n"] for r in done])),
               "median_organizations": float(np.median([r["n_orgs"] for r in done])),
               "estimators": summarize(done)}
    Path("benchmarks/results/calibration_trials.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Calibration on {summary['reps']} full synthetic trials (scale {args.scale})", "",
             f"`benchmarks/calibration_trials.py`; median {summary['median_beneficiaries']:.0f} analyzed beneficiaries "
             f"in {summary['median_organizations']:.0f} organizations per trial (high + medium risk).", "",
             "| estimator | reps | truth | mean estimate | bias | empirical SD | mean SE | 90% coverage (90% CI) |",
             "|---|---|---|---|---|---|---|---|"]
    for v in summary["estimators"].values():
        lo, hi = v["coverage_90_ci"]
        lines.append(f"| {v['label']} | {v['reps']} | {v['truth']:.4f} | {v['mean_estimate']:.4f} | {v['bias']:+.4f} | "
                     f"{v['empirical_sd']:.4f} | {v['mean_se']:.4f} | {100 * v['coverage_90']:.1f}% "
                     f"({100 * lo:.1f}-{100 * hi:.1f}) |")
    Path("benchmarks/results/calibration_trials.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
