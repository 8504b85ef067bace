"""Which cluster-robust variance for Equation 1 and the binary impacts: CR2 or CR3, Satterthwaite or G - 1 df.

The question (issue 13): on 200 full synthetic trials with about 47 unequal organizations (calibration design
"few"), CR2 with Bell-McCaffrey (Satterthwaite) df covered 84-86.5% for Equation 1's spending and office visits
and for the binary any-hospitalization effect. This script refits exactly those estimators on the same trials
(the calibration's seeds: generator, cohort, extraction and beneficiary-year file as
benchmarks/calibration_trials.py builds them, with its functions) and scores every combination of

- adjustment: CR2 (Bell-McCaffrey) or CR3 (the jackknife-type (I - H_jj)^-1, clubSandwich's CR3), and
- t reference: Satterthwaite df of the contrast, or G - 1 (MacKinnon, Nielsen and Webb 2023),

beside the model-based SE; it also splits the CR2 misses by the fitted organization variance (the diagnosis).

Session 11 added the candidates between CR2 and CR3 for Equation 1: CR3 with a normal reference, GLS with the
working organization variance ratio floored (FLOORS) with CR2 and CR3, and the wild cluster restricted bootstrap
(mheval.models.wild_bootstrap, CV1 and CV3 t, scored by its p-value of the truth); and CR3's t statistic's mean
square and excess kurtosis in the diagnosis.

Usage: python benchmarks/cluster_robust_choice.py [--design few] [--seeds 1-200] [--workers 2]
       [--cache DIR (beneficiary-year files kept between runs; default a temporary directory)]
       [--out benchmarks/results/cluster_robust_choice_<design>] [--from-jsonl A.jsonl,B.jsonl]
Writes <out>.jsonl (one line per trial) and <out>.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pandas as pd
import yaml
from scipy import stats

# benchmarks/coverage.py would shadow the coverage package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

EQ1 = {"spend_ab": "spending_ratio", "office_mh": "office_visit_ratio"}


def _calibration_trials():
    """benchmarks/calibration_trials.py as a module (its designs and its beneficiary-year file builder)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibration_trials", Path(__file__).with_name("calibration_trials.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config() -> dict:
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg["claims"] = {"runout_date": "2030-01-01", "runout_lag_days": 0}
    return cfg


def trial_frame(design: str, seed: int, cache: Path) -> tuple[pd.DataFrame, dict]:
    """The trial's beneficiary-year file and truth, built as benchmarks/calibration_trials.py does (cached)."""
    by_file, truth_file = cache / f"by_{design}_{seed}.parquet", cache / f"truth_{design}_{seed}.json"
    if by_file.exists() and truth_file.exists():
        return pd.read_parquet(by_file), json.loads(truth_file.read_text())
    from mheval.analysis import build_time_to_event
    from mheval.cohort import build_cohort
    from mheval.synth.generate import generate_trial

    calibration = _calibration_trials()
    cfg = _config()
    tmp = Path(tempfile.mkdtemp(prefix="crchoice"))
    try:
        spec = calibration.DESIGNS[design]
        truth = generate_trial(tmp, scale=spec["scale"], seed=seed, overrides=spec["overrides"])
        people, _, _ = build_cohort(tmp, cfg)
        cohort = people[people["EXCLUSION"] == ""].reset_index(drop=True)
        by = calibration.beneficiary_year_file(tmp, build_time_to_event(tmp, cohort, cfg), cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    by.to_parquet(by_file)
    truth_file.write_text(json.dumps(truth, default=str))
    return by, truth


def _satterthwaite(robust):
    """The same covariance with Satterthwaite df as its t reference (a CR3 ClusterRobust read as CR2's df rule)."""
    return dataclasses.replace(robust, adjustment="CR2")


FLOORS = (0.02, 0.05)  # working organization variance ratios floored at these (the "floor" variants)


def equation1(by: pd.DataFrame, outcome: str, cov: dict, truth_ratio: float) -> dict:
    """The average impact in percent of the control mean with every variance (one REML fit), the wild
    cluster restricted bootstrap's p-values at the truth (CV1 and CV3 studentized), and the GLS refit
    with the working organization variance ratio floored at each of :data:`FLOORS`."""
    import patsy

    from mheval.models.cluster_robust import cr2, fixed_variance_gls
    from mheval.models.equation1 import equation1_impact
    from mheval.models.wild_bootstrap import WildClusterBootstrap

    out = {}
    for cov_type in ("CR2", "CR3"):
        a = equation1_impact(by, outcome, "high_medium", cov_type=cov_type, covariates=cov)
        if "average" not in a:
            return {"error": a.get("reason")}
        av = a["average"]
        k = 100 / av["control_mean"]
        out |= {"estimate": k * av["impact"], "n_org": a["n_organizations"], "model": [k * av["se_model"], None],
                "g_org": a["variance_components"]["org"] / a["variance_components"]["residual"],
                cov_type: [k * av["se"], av["df"]]}
    out["truth"] = 100 * (truth_ratio - 1)
    truth_raw = out["truth"] / k
    # CR3's Satterthwaite df: the contrast of the average (1/T on each yearly term) on a CR3 fit
    from mheval.models.equation1 import fit_frame, model_frame, model_terms
    from mheval.models.nested_lmm import fit_nested_lmm

    d = model_frame(by, outcome, "high_medium", cov)
    covs = model_terms(d, "high_medium", cov)[0]
    d = fit_frame(d, outcome, covs)
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH" + "".join(f" + {c}" for c in covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", cov_type="CR3")
    names = list(fit.params.index)
    c = np.array([1.0 if n.endswith(":MH") else 0.0 for n in names])
    c /= c.sum()
    out["CR3_satterthwaite_df"] = fit.robust.satterthwaite(c)[1]
    # the WCR bootstrap of the same GLS fit (variance components held), p-value of the truth
    for stat in ("cv1", "cv3"):
        wb = WildClusterBootstrap.from_gram(*fit.robust.gram, c, draws=9999, seed=0, beta=fit.params.to_numpy(),
                                            studentize=stat)
        out[f"wcr_{stat}_p"] = wb.p_value(truth_raw)
    # GLS with the working organization variance ratio floored (beneficiary ratio as fitted)
    X = patsy.dmatrix(formula.split("~", 1)[1], d, return_type="dataframe")[names].to_numpy()
    y, org, w, bene = (d[x].to_numpy() for x in (outcome, "ORG_ID", "WEIGHT", "BENE_ID"))
    g_o, g_b = fit.theta[0] ** 2, fit.theta[1] ** 2
    for floor in FLOORS:
        beta = fixed_variance_gls(X, y, org, w=w, bene=bene, g_org=max(g_o, floor), g_bene=g_b)
        cr3 = cr2(X, y - X @ beta, org, w=w, bene=bene, g_org=max(g_o, floor), g_bene=g_b, adjustment="CR3")
        for adj, robust in (("CR2", cr3.readjusted("CR2")), ("CR3", cr3)):  # CR2 from the same Gram matrices
            var, df = robust.satterthwaite(c)
            out[f"floor{floor}_{adj}"] = [k * float(c @ beta), k * float(np.sqrt(var)), df]
    return out


def binary(by: pd.DataFrame, cov: dict, truth: dict) -> dict:
    """The any-hospitalization AME (pp) of the population-averaged GLM with every variance (one GLM fit)."""
    from mheval.models.binary_impact import binary_model
    from mheval.models.marginal_binary import fit_marginal_binary
    from mheval.models.nested_glmm import marginal_effect

    d, formula, _ = binary_model(by, "any_hosp", "high_medium", cov)
    fit = fit_marginal_binary(d, formula, org="ORG_ID", link="cloglog", offset="_LOG_EXPOSURE", adjustment="CR3")
    years = sorted(d["YEAR"].unique())
    out = {"truth": float(truth["binary_effects"]["any_hosp"]["average_simple"]), "n_org": int(d["ORG_ID"].nunique())}
    for label, f in (("CR3", fit), ("CR2", fit.with_cr2()),
                     ("CR3_satterthwaite", dataclasses.replace(fit, robust=_satterthwaite(fit.robust)))):
        me = marginal_effect(f, d, treatment="MH", by="YEAR", group_weights={t: 1.0 for t in years}, exposure=1.0)
        s = me.summary(0.10).loc["overall"]
        out["estimate"] = float(s["estimate"])
        out[label] = [float(s["se"]), float(s["df"])]
    return out


def one(args) -> dict:
    design, seed, cache = args
    by, truth = trial_frame(design, seed, Path(cache))
    cov = _config()["models"]["covariates"]
    te = truth["true_effects"]
    rec = {"design": design, "seed": seed}
    for outcome, key in EQ1.items():
        rec[outcome] = equation1(by, outcome, cov, te[key])
    rec["any_hosp"] = binary(by, cov, truth)
    return rec


VARIANTS = [  # (label, se key, df rule): df rule "satt" = the stored df, "G-1", "satt3" = CR3's Satterthwaite df
    ("model-based, normal", "model", None), ("CR2, Satterthwaite df", "CR2", "satt"), ("CR2, t(G - 1)", "CR2", "G-1"),
    ("CR3, Satterthwaite df", "CR3", "satt3"), ("CR3, t(G - 1)", "CR3", "G-1"), ("CR3, normal", "CR3", "z"),
    *[(f"CR{a}, working org. variance ratio floored at {f}, Satterthwaite df", f"floor{f}_CR{a}", "floor")
      for f in FLOORS for a in (2, 3)],
    ("WCR bootstrap, CV1 t", "wcr_cv1_p", "p"), ("WCR bootstrap, CV3 t", "wcr_cv3_p", "p")]


def _row(outcome, label, covered, se, sd, median_df) -> dict:
    """One table row: coverage with its 90% Clopper-Pearson interval (and mean SE / SD where there is an SE)."""
    k, n = int(np.sum(covered)), len(covered)
    lo = stats.beta.ppf(0.05, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(0.95, k + 1, n - k) if k < n else 1.0
    return {"outcome": outcome, "variance": label, "reps": n, "se_over_sd": float(se.mean() / sd) if se is not None
            else float("nan"), "median_df": float(median_df), "coverage": k / n, "mc_interval": [float(lo), float(hi)]}


def score(rows: list[dict], outcome: str) -> list[dict]:
    R = [r[outcome] for r in rows if "estimate" in r.get(outcome, {})]
    sd = float(np.std([x["estimate"] for x in R], ddof=1))
    G = np.array([x["n_org"] for x in R])
    out = []
    for label, key, rule in VARIANTS:
        if key not in R[0]:
            continue
        if rule == "p":  # a bootstrap test of the truth: covered when not rejected at 10%
            out.append(_row(outcome, label, np.array([x[key] > 0.10 for x in R]), None, sd, np.nan))
            continue
        est = np.array([x[key][0] for x in R]) if rule == "floor" else np.array([x["estimate"] for x in R])
        se = np.array([x[key][1 if rule == "floor" else 0] for x in R])
        if rule is None or rule == "z":
            df = np.full(len(R), np.inf)
        elif rule == "G-1":
            df = G - 1.0
        elif rule == "satt3":
            df = np.array([x["CR3_satterthwaite_df"] if "CR3_satterthwaite_df" in x else x["CR3_satterthwaite"][1]
                           for x in R])
        elif rule == "floor":
            df = np.array([x[key][2] for x in R], float)
        else:
            df = np.array([x[key][1] for x in R], float)
        if rule == "satt3" and outcome == "any_hosp":
            se = np.array([x["CR3_satterthwaite"][0] for x in R])
        truth = np.array([x["truth"] for x in R])
        out.append(_row(outcome, label, np.abs(est - truth) <= stats.t.ppf(0.95, df) * se, se,
                        float(np.std(est, ddof=1)), np.median(df)))
    return out


def diagnosis(rows: list[dict], outcome: str) -> dict:
    """Mean squared t statistic of CR2 (about df/(df - 2) if calibrated) below and above the median fitted
    organization variance ratio."""
    R = [r[outcome] for r in rows if "g_org" in r.get(outcome, {})]
    g = np.array([x["g_org"] for x in R])
    z2 = np.array([((x["estimate"] - x["truth"]) / x["CR2"][0]) ** 2 for x in R])
    low = g <= np.median(g)
    t3 = np.array([(x["estimate"] - x["truth"]) / x["CR3"][0] for x in R])  # CR3's t statistic
    return {"outcome": outcome, "median_g_org": float(np.median(g)), "share_g_org_zero": float(np.mean(g < 1e-8)),
            "mean_t2_low": float(z2[low].mean()), "mean_t2_high": float(z2[~low].mean()),
            "cr3_mean_t2": float(np.mean(t3 ** 2)), "cr3_kurtosis": float(stats.kurtosis(t3))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="few", choices=("few", "all342"))
    ap.add_argument("--seeds", default="1-200")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--out", default=None, help="default benchmarks/results/cluster_robust_choice_<design>")
    ap.add_argument("--from-jsonl", default=None, metavar="FILE[,FILE]",
                    help="no fits: write <out>.jsonl and .md from these runs' .jsonl (e.g. seed ranges run apart)")
    a = ap.parse_args()
    out = Path(a.out or f"benchmarks/results/cluster_robust_choice_{a.design}")
    rows = []
    if a.from_jsonl:
        rows = [json.loads(x) for f in a.from_jsonl.split(",") for x in Path(f).read_text().splitlines() if x.strip()]
        rows.sort(key=lambda r: r["seed"])
        a.seeds = f"{rows[0]['seed']}-{rows[-1]['seed']}"
        out.with_suffix(".jsonl").write_text("".join(json.dumps(r, default=float) + "\n" for r in rows))
    else:
        lo, hi = map(int, a.seeds.split("-"))
        cache = Path(a.cache or tempfile.mkdtemp(prefix="crchoice_cache"))
        cache.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(a.workers) as pool, open(out.with_suffix(".jsonl"), "w") as f:
            for i, r in enumerate(pool.map(one, [(a.design, s, str(cache)) for s in range(lo, hi + 1)]), 1):
                rows.append(r)
                f.write(json.dumps(r, default=float) + "\n")
                f.flush()
                if i % 10 == 0:
                    print(f"{i} trials done", flush=True)
        if a.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    lines = [f"# Cluster-robust variance choice: design {a.design}, seeds {a.seeds} ({len(rows)} trials)", "",
             f"`python benchmarks/cluster_robust_choice.py --design {a.design} --seeds {a.seeds}`: the calibration's "
             "trials (benchmarks/calibration_trials.py, same seeds), Equation 1 average impact (% of the control mean) "
             "and the binary any-hospitalization AME (pp), 90% coverage with its 90% Clopper-Pearson interval.", "",
             "| outcome | variance | trials | mean SE / empirical SD | median df | 90% coverage (MC 90% CI) |",
             "|---|---|---|---|---|---|"]
    for outcome in (*EQ1, "any_hosp"):
        for s in score(rows, outcome):
            lines.append((f"| {outcome} | {s['variance']} | {s['reps']} | {s['se_over_sd']:.3f} | {s['median_df']:.1f} | "
                          f"{100 * s['coverage']:.1f}% ({100 * s['mc_interval'][0]:.1f}-{100 * s['mc_interval'][1]:.1f}) |")
                         .replace(" nan ", " - "))
    lines += ["", "Diagnosis: mean squared CR2 t statistic (about df/(df - 2), 1.1-1.2, if calibrated) for trials whose "
              "fitted organization variance ratio is at or below its median vs above it:", "",
              "| outcome | median ratio | share at 0 | mean t^2, low | mean t^2, high | CR3: mean t^2 | CR3: excess kurtosis of t |",
              "|---|---|---|---|---|---|---|"]
    for outcome in EQ1:
        dg = diagnosis(rows, outcome)
        lines.append(f"| {outcome} | {dg['median_g_org']:.5f} | {dg['share_g_org_zero']:.2f} | {dg['mean_t2_low']:.2f} | "
                     f"{dg['mean_t2_high']:.2f} | {dg['cr3_mean_t2']:.2f} | {dg['cr3_kurtosis']:.2f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
