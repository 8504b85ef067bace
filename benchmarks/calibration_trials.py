"""Bias and coverage of every primary impact estimator on repeated full synthetic trials, in two designs.

Each replicate simulates a whole trial with its own seed (registry, enrollment, claims, survey), runs the
workflow's library functions with the default configuration (config/config.yaml, its covariate
specification included) and compares the estimates with the generator's true effects (truth.json):

- Equation 4, shared-frailty Cox (primary, as published: the frailty model's variance, or at a frailty
  variance of zero the marginal model's corrected one, see mheval.models.equation4; also its
  model-based SE with normal and t(G - 2) references) and marginal Cox (one fit, every variance: robust, kc, fg, md, mbn), high + medium
  risk, first event and death, log hazard ratio; truth log(hr_event), log(hr_death).
- Equation 1, Part A and B spending and office visits with participating providers: the average impact
  (config models.average_weighting) in percent of the regression-adjusted control mean, the default variance
  (models.lmm_cov_type: CR3 with t(G - 1)), CR2 (t with Satterthwaite df) and model-based SE; truth 100 (ratio - 1).
- Equation 1 binary, any hospitalization: average marginal effect (pp, full-year exposure) of the
  population-averaged cloglog GLM with log-exposure offset, the default variance (models.binary_cov_type: CR3)
  and CR2 (``any_hosp_marginal``), and of the multilevel cloglog GLMM with its model-based SE
  (the uncorrected comparison; ``any_hosp``, as stored before CR2); truth truth.json binary_effects.any_hosp (the generator's inpatient model integrated over the
  analyzed beneficiary-years, full-year exposure, the config's average over years:
  mheval.synth.claims.any_stay_marginal_effect). Replicates stored before truth.json recorded it get it
  from ``--backfill-truth`` (mheval.synth.generate.binary_truth: the trial's population and histories
  from its seed, no claims, no refit).
- Equation 3, survey item EHR_RISK_TOOL, wave 1 (a linear probability with true difference 0.25).
- Subgroups: the risk dimension (high vs medium) of the first event, partially pooled with the default
  Bayesian configuration (subgroups.bayes); truth truth.json organization_effects.hr_event_by_stratum.
  Only this dimension and outcome are run per trial (the only dimension with a recorded subgroup-specific
  truth; every dimension x outcome would cost about 30 pooled fits per trial).

Also per replicate: both Cox models with every organization covariate, without the pre-specified limit
by the number of organizations (models.covariates.organizations_per_term; docs/covariates.md): with about
47 organizations the default keeps the randomization stratum only, and this comparison shows what the 13
organization terms of the full specification cost (with about 307 organizations the two are the same fit).

Designs: "few" = scale 0.02 with the generator's defaults (about 47 unequal organizations); "all342" =
the full 342-organization size distribution (org_scaling_exponent 0) at scale 0.03 (about 6,600 analyzed
beneficiaries, about 19 per organization).

Usage: python benchmarks/calibration_trials.py [--reps 200 | --seeds 201-400] [--workers 2] [--designs few,all342]
       [--stop-at 15:15] [--subgroups-every N] [--summarize] [--backfill-truth] [--out DIR]
       [--merge-refits few=F.jsonl,all342=G.jsonl [--base-replicates DIR]]
(--merge-refits: the stored replicates of DIR (default calibration_replicates/before_s9) with their Eq. 1 and
binary GLM entries from benchmarks/cluster_robust_choice.py's refits of the same seeds; see merge_refits.)
(--out DIR: replicates in DIR/calibration_replicates, tables in DIR, e.g. a scratch check that leaves
benchmarks/results alone.)
Replicates are appended to benchmarks/results/calibration_replicates/<design>.jsonl as they finish (one line
each), so an interrupted run resumes; designs alternate so both accumulate. Each finished replicate logs
its seed, seconds and an ETA. Writes benchmarks/results/calibration_trials.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

# one BLAS thread per worker: on the shared 2-core machine a multithreaded OpenBLAS under load spends
# the worker's time spin-waiting (a replicate stalled for 18 minutes in exec_blas_async_wait)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pandas as pd
import yaml
from scipy import stats

# benchmarks/coverage.py would shadow the coverage package (imported by the subgroups' PyMC stack)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

WORK = Path("benchmarks/results/calibration_replicates")  # committed: the tables can be rebuilt and resumed
RESULTS = Path("benchmarks/results")
DESIGNS = {
    "few": {"scale": 0.02, "overrides": {},
            "label": "scale 0.02, generator defaults (about 47 unequal organizations)"},
    "all342": {"scale": 0.03, "overrides": {"org_scaling_exponent": 0.0},
               "label": "scale 0.03 with org_scaling_exponent 0 (the full 342-organization size distribution, "
                        "about 19 analyzed beneficiaries per organization)"},
}
MARGINAL_TYPES = ("robust", "kc", "fg", "md", "mbn")
SURVEY_ITEM, SURVEY_WAVE = "EHR_RISK_TOOL", 1


def _marginal_all_variances(tte, outcome, population, covariates, res) -> dict:
    """Every marginal Cox variance from the one fit survival_impact made (its coefficients)."""
    from mheval.models.cox_small_sample import bias_corrected_cov
    from mheval.models.equation4 import OUTCOMES, survival_frame

    duration, event, _ = OUTCOMES[outcome]
    x, _ = survival_frame(tte, outcome, population, covariates)
    coef = pd.DataFrame(res["coefficients_marginal"]).set_index("term")
    cols = list(coef.index)
    beta = coef["coef"].to_numpy(float) if "coef" in coef else coef["estimate"].to_numpy(float)
    G = int(x["ORG_ID"].nunique())
    i = cols.index("MH")
    out = {"robust": [res["marginal_uncorrected"]["se"], None]}
    for t in MARGINAL_TYPES[1:]:
        cov = bias_corrected_cov(x[duration].to_numpy(), x[event].to_numpy(), x[cols].to_numpy(float),
                                 x["ORG_ID"].to_numpy(), beta, t)
        out[t] = [float(np.sqrt(cov[i, i])), float(G - 2)]
    return out


def beneficiary_year_file(data: Path, tte: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """The trial's beneficiary-year file (claims of 2016-2022 extracted under ``data``/_extractions) as the
    workflow builds it: each extraction written by DuckDB and read back by the beneficiary-year step
    (concatenating the pandas extractions cost about 2 s of a replicate: object columns checked value by value)."""
    from mheval.analysis.beneficiary_year import build_beneficiary_year
    from mheval.contract import read_input
    from mheval.outcomes.codes import load_event_codes
    from mheval.outcomes.extract import BASE_TYPES, write_extraction, write_fills

    codes = load_event_codes(cfg["outcomes"]["codes"])
    ext = data / "_extractions"
    ext.mkdir()
    claims, office, fills = [], [], []
    for ty in BASE_TYPES:
        for y in range(2016, 2023):
            claims.append(ext / f"claims_{ty}_{y}.parquet")
            office.append(ext / f"office_{ty}_{y}.parquet")
            write_extraction(data, ty, y, codes, cfg, claims[-1], office[-1])
    for y in range(2016, 2023):
        fills.append(ext / f"fills_{y}.parquet")
        write_fills(data, y, cfg["outcomes"]["drugs"], fills[-1])
    return build_beneficiary_year(tte, claims, office, read_input(data, "providers"), data, cfg, fills=fills,
                                  payments=read_input(data, "payments"))


def trial_config() -> dict:
    """config/config.yaml with the claims run-out past the synthetic trial's end (every claim in)."""
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg["claims"] = {"runout_date": "2030-01-01", "runout_lag_days": 0}
    return cfg


def simulated_trial(design: str, seed: int, directory: Path, cfg: dict, time_to_event: bool = True):
    """Generate trial ``seed`` of ``design`` into ``directory`` and build its analyzed cohort and (with
    ``time_to_event``) time-to-event file as the workflow does: (truth, cohort, tte or None). Also used
    by benchmarks/coxbcv_trial.py and benchmarks/equation3_calibration.py."""
    from mheval.analysis import build_time_to_event
    from mheval.cohort import build_cohort
    from mheval.synth.generate import generate_trial

    spec = DESIGNS[design]
    truth = generate_trial(directory, scale=spec["scale"], seed=seed, overrides=spec["overrides"])
    people, _, _ = build_cohort(directory, cfg)
    cohort = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    return truth, cohort, (build_time_to_event(directory, cohort, cfg) if time_to_event else None)


def one_trial(design: str, seed: int, subgroups_every: int = 1) -> dict:
    from mheval.models import survival_impact
    from mheval.models.binary_impact import binary_impact
    from mheval.models.equation1 import equation1_impact
    from mheval.models.equation3 import survey_impacts
    from mheval.models.estimability import Limits
    from mheval.subgroups.run import run_subgroup_analysis

    cfg = trial_config()
    m = cfg["models"]
    cov, alpha, limits = m["covariates"], m["alpha"], Limits.from_config(m)
    spec = DESIGNS[design]
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="calib"))
    est, errors, seconds = {}, {}, {}

    def attempt(name, f):
        t = time.perf_counter()
        try:
            f()
        except Exception as e:  # a replicate's not-estimable or failed fit is counted, not hidden
            errors[name] = f"{type(e).__name__}: {e}"[:300]
        seconds[name] = round(time.perf_counter() - t, 1)

    try:
        truth, cohort, tte = simulated_trial(design, seed, tmp, cfg)
        te = truth["true_effects"]
        out = {"design": design, "seed": seed, "scale": spec["scale"], "n": int(len(tte)),
               "n_orgs": int(tte["ORG_ID"].nunique()),
               "n_orgs_by_arm": {str(k): int(v) for k, v in tte.groupby("MH")["ORG_ID"].nunique().items()}}

        def cox(outcome, spec=cov, suffix=""):
            r = survival_impact(tte, outcome, "high_medium", alpha=alpha, ph_alpha=m["ph_alpha"],
                                cox_cov_type=m["cox_cov_type"], limits=limits, covariates=spec)
            if not r.get("estimable", True) and r.get("unconverged") is None:
                raise RuntimeError(f"not estimable: {r.get('reason')}")
            truth_lhr = math.log(te[f"hr_{outcome}"])
            f = r if r.get("estimable") else r["unconverged"]
            mb = f.get("model_based") or f  # at theta = 0 the published interval is the marginal model's (mbn)
            G = r["n_organizations"]
            est[f"frailty_{outcome}{suffix}"] = {"estimate": f["log_hr"], "truth": truth_lhr, "converged": bool(r["converged"]),
                                         "theta": r["theta"], "theta_at_boundary": bool(r["theta_at_boundary"]),
                                         "se": {"published": [f["se"], f.get("df")], "model-based": [mb["se"], None],
                                                "model-based, t(G-2)": [mb["se"], float(G - 2)]}}
            est[f"marginal_{outcome}{suffix}"] = {"estimate": r["marginal"]["log_hr"], "truth": truth_lhr,
                                                  "se": _marginal_all_variances(tte, outcome, "high_medium", spec, r)}
        for outcome in ("event", "death"):
            attempt(f"cox_{outcome}", lambda o=outcome: cox(o))
        # the same models with every organization covariate (no limit by the number of organizations): what do
        # the 13 organization terms cost with about 47 organizations, where the default keeps the stratum only?
        unlimited = {**cov, "organizations_per_term": 0}
        for outcome in ("event", "death"):
            attempt(f"cox_{outcome}_all_org_covariates", lambda o=outcome: cox(o, unlimited, "_all_org_covariates"))

        t = time.perf_counter()
        by = beneficiary_year_file(tmp, tte, cfg)
        seconds["beneficiary_year"] = round(time.perf_counter() - t, 1)

        def eq1(outcome, ratio):
            a = equation1_impact(by, outcome, "high_medium", alpha=alpha, cov_type=m["lmm_cov_type"], limits=limits,
                                 average=m["average_weighting"], covariates=cov)
            if "average" not in a:
                raise RuntimeError(f"not estimable: {a.get('reason')}")
            a = a["average"]
            c = 100 / a["control_mean"]
            se = {m["lmm_cov_type"]: [c * a["se"], a["df"]], "model": [c * a["se_model"], None]}
            if "se_cr2" in a:  # the CR3 default keeps CR2 beside it
                se["CR2"] = [c * a["se_cr2"], a["df_cr2"]]
            est[outcome] = {"estimate": c * a["impact"], "truth": 100 * (ratio - 1), "se": se}
        attempt("spend_ab", lambda: eq1("spend_ab", te["spending_ratio"]))
        attempt("office_mh", lambda: eq1("office_mh", te["office_visit_ratio"]))

        def binary():
            # one call gives both: the population-averaged GLM's AME with CR2 (the default) and the multilevel
            # GLMM's with its model-based SE (kept as "any_hosp", the key of the replicates stored before CR2)
            a = binary_impact(by, "any_hosp", "high_medium", alpha=alpha, limits=limits,
                              average=m["average_weighting"], covariates=cov, cov_type=m["binary_cov_type"])
            if "average" not in a:
                raise RuntimeError(f"not estimable: {a.get('reason')}")
            tr = any_hosp_truth(truth["binary_effects"]["any_hosp"], m["average_weighting"])
            g, ml = a["average"], a["multilevel_model_based"]["average"]
            est["any_hosp"] = {"estimate": ml["impact"], "truth": tr, "se": {"model": [ml["se"], None]}}
            se = {m["binary_cov_type"]: [g["se"], g["df"]]}
            if "cr2_comparison" in a:
                se["CR2"] = [a["cr2_comparison"]["average"]["se"], a["cr2_comparison"]["average"]["df"]]
            est["any_hosp_marginal"] = {"estimate": g["impact"], "truth": tr, "se": se}
        attempt("any_hosp", binary)

        def survey():
            res = survey_impacts(tmp, cohort, alpha=alpha, limits=limits, covariates=cov)
            it = next(i for i in res["items"] if i["item"] == SURVEY_ITEM and i["wave"] == SURVEY_WAVE)
            if not it.get("estimable", True) or "impact" not in it:
                raise RuntimeError(f"not estimable: {it.get('reason')}")
            est["survey"] = {"estimate": it["impact"], "truth": truth["survey"]["true_effects"][SURVEY_ITEM],
                             "se": {"CR2": [it["se"], it["df"]]}, "n_organizations": it["n_organizations"]}
        attempt("survey", survey)

        def subgroups():
            sg = dict(cfg["subgroups"])
            sg["definitions"] = {**sg["definitions"], "enabled": ["risk"]}
            sg["survival_outcomes"], sg["equation1_outcomes"] = ["event"], []
            res = run_subgroup_analysis(tte, None, sg, ["high_medium"], alpha=alpha, limits=limits, covariates=cov,
                                        average=m["average_weighting"], lmm_cov_type=m["lmm_cov_type"],
                                        cox_cov_type=m["cox_cov_type"])
            if res["skipped"]:
                raise RuntimeError(f"skipped: {res['skipped'][0]['reason']}")
            by_stratum = truth["organization_effects"]["hr_event_by_stratum"]
            for _, row in res["impacts"].iterrows():
                lvl = str(row["level"])
                tr = math.log(by_stratum[lvl])
                est[f"subgroup_risk_{lvl}"] = {
                    "estimate": float(row["post_mean"]), "truth": tr,
                    "se": {"pooled": [float(row["post_sd"]), None, float(row["cred_lower"]), float(row["cred_upper"])]},
                    "unpooled": {"estimate": float(row["estimate"]), "se": float(row["se"]),
                                 "lower": float(row["lower"]), "upper": float(row["upper"])}}
                est[f"subgroup_risk_{lvl}_unpooled"] = {
                    "estimate": float(row["estimate"]), "truth": tr,
                    "se": {"unpooled": [float(row["se"]), None, float(row["lower"]), float(row["upper"])]}}
            d = res["diagnostics"][0] if res["diagnostics"] else {}
            est["subgroup_diagnostics"] = {k: v for k, v in d.items() if isinstance(v, (int, float, bool, str))}
        if seed % subgroups_every == 0:  # the pooled fit (PyMC) is about 40% of a replicate's time
            attempt("subgroups", subgroups)
        out |= {"est": est, "errors": errors, "step_seconds": seconds, "seconds": round(time.perf_counter() - t0, 1)}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def any_hosp_truth(binary_effect: dict, weighting: str) -> float:
    """The true average marginal effect (pp) of any hospitalization for the average over years
    ``weighting`` (config models.average_weighting), from truth.json's binary_effects.any_hosp."""
    return float(binary_effect[{"simple": "average_simple", "beneficiary_years": "average_beneficiary_years"}[weighting]])


def backfill_truth(designs: list[str]) -> None:
    """Give every stored replicate without one the any_hosp truth of its trial (regenerated from the
    design and seed without claims: mheval.synth.generate.binary_truth); every other field and line
    is kept as it was."""
    from mheval.synth.generate import binary_truth

    weighting = yaml.safe_load(Path("config/config.yaml").read_text())["models"]["average_weighting"]
    for design in designs:
        f = WORK / f"calibration_trials_{design}.jsonl"
        if not f.exists():
            continue
        lines, n = f.read_text().splitlines(), 0
        for i, line in enumerate(lines):
            r = json.loads(line) if line.strip() else None
            if r is None or "any_hosp" not in r.get("est", {}) or r["est"]["any_hosp"].get("truth") is not None:
                continue
            spec = DESIGNS[design]
            tr = binary_truth(spec["scale"], r["seed"], spec["overrides"])["any_hosp"]
            r["est"]["any_hosp"]["truth"] = any_hosp_truth(tr, weighting)
            r["est"]["any_hosp"]["truth_backfilled"] = True
            lines[i], n = json.dumps(r), n + 1
        f.write_text("\n".join(lines) + "\n")
        print(f"{design}: any_hosp truth added to {n} replicates", flush=True)


REFIT_KEYS = ("spend_ab", "office_mh", "any_hosp_marginal")


def merge_refits(design: str, base: Path, refits: Path) -> int:
    """Write WORK's replicates of ``design``: those of ``base`` (the same seeds, run in full by this script) with
    their Equation 1 and population-averaged binary entries (:data:`REFIT_KEYS`) replaced by the refits of
    benchmarks/cluster_robust_choice.py (every cluster-robust variance of the same fits: CR3 and CR2, each
    with its default t reference, CR3 also with Satterthwaite df; the model-based SE), so that a change of
    those variances is calibrated without rerunning every other estimator. Valid while the code of the other
    estimators is unchanged since ``base`` was run: check that a few replicates run in full reproduce ``base``'s
    other entries exactly (session 9: 37 replicates, every entry identical). The estimates must equal
    ``base``'s (the same fits): asserted. Returns the number of replicates written."""
    new = {}
    for line in refits.read_text().splitlines():
        r = json.loads(line)
        new[r["seed"]] = r
    out = []
    for line in base.read_text().splitlines():
        r = json.loads(line)
        f = new.get(r["seed"])
        if f is None:
            continue
        for key, src in (("spend_ab", f["spend_ab"]), ("office_mh", f["office_mh"]), ("any_hosp_marginal", f["any_hosp"])):
            old = r["est"].pop(key, None)
            if "estimate" not in src:
                r["errors"][key] = src.get("error", "not estimable")
                continue
            if old is not None and not math.isclose(old["estimate"], src["estimate"], rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"{design} seed {r['seed']} {key}: refit estimate {src['estimate']} != stored {old['estimate']}")
            if old is not None and old.get("truth") is not None and not math.isclose(old["truth"], src["truth"], rel_tol=1e-9):
                raise ValueError(f"{design} seed {r['seed']} {key}: refit truth {src['truth']} != stored {old['truth']}")
            satt = src.get("CR3_satterthwaite") or [src["CR3"][0], src["CR3_satterthwaite_df"]]
            se = {"CR3": src["CR3"], "CR2": src["CR2"], "CR3, Satterthwaite df": satt}
            if "model" in src:
                se["model"] = src["model"]
            r["est"][key] = {"estimate": src["estimate"], "truth": src["truth"], "se": se,
                             "refit": "benchmarks/cluster_robust_choice.py"}
        out.append(json.dumps(r))
    (WORK / f"calibration_trials_{design}.jsonl").write_text("\n".join(out) + "\n")
    return len(out)


DEFAULTS = {  # the variance each estimator publishes by default (None: the config's), and its uncorrected comparison
    "frailty": ("published", "model-based"), "marginal": (None, "robust"), "spend_ab": (None, "model"),
    "office_mh": (None, "model"), "any_hosp": ("-", "model"), "any_hosp_marginal": (None, "model"),
    "survey": ("CR2", "CR2"),
    "subgroup": ("pooled", "unpooled"),
}
CONFIG_KEYS = {"marginal": "cox_cov_type", "spend_ab": "lmm_cov_type", "office_mh": "lmm_cov_type",
               "any_hosp_marginal": "binary_cov_type"}  # where a None default is read
LABELS = {
    "frailty_event": "Frailty Cox, first event, log HR", "marginal_event": "Marginal Cox, first event, log HR",
    "frailty_death": "Frailty Cox, death, log HR", "marginal_death": "Marginal Cox, death, log HR",
    "spend_ab": "Eq. 1 Part A and B spending, % of control mean", "office_mh": "Eq. 1 office visits, % of control mean",
    "any_hosp_marginal": "Eq. 1 binary any hospitalization, AME pp; population-averaged GLM (published)",
    "any_hosp": "Eq. 1 binary any hospitalization, AME pp; multilevel GLMM",
    "survey": f"Eq. 3 {SURVEY_ITEM} wave {SURVEY_WAVE}, difference",
    "frailty_event_all_org_covariates": "Frailty Cox, first event, log HR; all organization covariates (no limit)",
    "marginal_event_all_org_covariates": "Marginal Cox, first event, log HR; all organization covariates (no limit)",
    "frailty_death_all_org_covariates": "Frailty Cox, death, log HR; all organization covariates (no limit)",
    "marginal_death_all_org_covariates": "Marginal Cox, death, log HR; all organization covariates (no limit)",
    # replicates stored before the limit (models.covariates.organizations_per_term) compared the stratum only
    "frailty_event_stratum_only": "Frailty Cox, first event, log HR; organization covariates: stratum only",
    "marginal_event_stratum_only": "Marginal Cox, first event, log HR; organization covariates: stratum only",
    "frailty_death_stratum_only": "Frailty Cox, death, log HR; organization covariates: stratum only",
    "marginal_death_stratum_only": "Marginal Cox, death, log HR; organization covariates: stratum only",
    "subgroup_risk_high": "Subgroup risk=high, first event, pooled log HR",
    "subgroup_risk_medium": "Subgroup risk=medium, first event, pooled log HR",
    "subgroup_risk_high_unpooled": "Subgroup risk=high, first event, unpooled log HR",
    "subgroup_risk_medium_unpooled": "Subgroup risk=medium, first event, unpooled log HR",
}


def clopper_pearson(k: int, n: int, level: float = 0.90) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = stats.beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def summarize(reps: list[dict], alpha: float = 0.10) -> dict:
    out = {}
    for key in LABELS:
        rows = [r["est"][key] for r in reps if key in r.get("est", {})]
        if not rows:
            continue
        est = np.array([x["estimate"] for x in rows], float)
        truth = np.array([x["truth"] if x["truth"] is not None else np.nan for x in rows], float)
        if np.isnan(truth).any():
            raise ValueError(f"{key}: {int(np.isnan(truth).sum())} of {len(rows)} replicates have no truth "
                             "(stored before truth.json recorded it): run with --backfill-truth")
        entry = {"label": LABELS[key], "reps": len(rows), "truth": float(truth.mean()), "mean_estimate": float(est.mean()),
                 "bias": float((est - truth).mean()), "empirical_sd": float(est.std(ddof=1)) if len(est) > 1 else None,
                 "variances": {}}
        if key.startswith("frailty"):
            entry["theta_at_boundary"] = int(sum(x.get("theta_at_boundary", False) for x in rows))
            entry["not_converged"] = int(sum(not x.get("converged", True) for x in rows))
        for v in dict.fromkeys(k for x in rows for k in x["se"]):  # a variance some replicates lack (e.g. the
            # refits' "CR3, Satterthwaite df") is scored on those that have it, against their own SD
            have = [i for i, x in enumerate(rows) if v in x["se"]]
            se, cover, nonfinite = [], [], 0
            for x, tr in zip([rows[i] for i in have], truth[have]):
                s = x["se"][v]
                if s[0] is None or not np.isfinite(s[0]):  # e.g. a negative KC variance: counted, not covered
                    nonfinite += 1
                    continue
                se.append(s[0])
                if len(s) > 2:
                    cover.append(s[2] <= tr <= s[3])
                else:
                    q = stats.t.ppf(1 - alpha / 2, s[1]) if s[1] else stats.norm.ppf(1 - alpha / 2)
                    cover.append(abs(x["estimate"] - tr) <= q * s[0])
            k, n = int(np.sum(cover)), len(cover)
            entry["variances"][v] = {"reps": n, "nonfinite_se": nonfinite, "mean_se": float(np.mean(se)) if se else None,
                                     "median_se": float(np.median(se)) if se else None,
                                     "coverage_90": k / n if n else None,
                                     "coverage_90_ci": clopper_pearson(k, n) if n else (None, None)}
            if len(have) < len(rows):
                entry["variances"][v]["replicates_with_it"] = len(have)
                entry["variances"][v]["empirical_sd_same_replicates"] = (float(est[have].std(ddof=1))
                                                                         if len(have) > 1 else None)
        out[key] = entry
    return out


#: the comparison fits of each replicate: the suffix of its keys and its words in the tables
COMPARISONS = {"_all_org_covariates": "all organization covariates (no limit)",
               "_stratum_only": "the randomization stratum only (replicates stored before the limit)"}


def covariate_comparison(reps: list[dict]) -> list[dict]:
    """Paired comparison of the default organization covariates (with the limit by the number of
    organizations) with each comparison fit of :data:`COMPARISONS` (same replicates)."""
    out = []
    for suffix, words in COMPARISONS.items():
        for outcome in ("event", "death"):
            for model in ("frailty", "marginal"):
                a, b = f"{model}_{outcome}", f"{model}_{outcome}{suffix}"
                both = [r["est"] for r in reps if a in r.get("est", {}) and b in r.get("est", {})]
                if len(both) < 3:
                    continue
                full, red = (np.array([e[k]["estimate"] for e in both]) for k in (a, b))
                mg = [f"marginal_{outcome}", f"marginal_{outcome}{suffix}"]
                md = [np.nanmedian([e[k]["se"]["md"][0] if e[k]["se"]["md"][0] is not None else np.nan for e in both])
                      for k in mg]
                out.append({"outcome": outcome, "model": model, "comparison": words, "reps": len(both),
                            "sd_default": float(full.std(ddof=1)), "sd_comparison": float(red.std(ddof=1)),
                            "sd_difference": float((full - red).std(ddof=1)),
                            "median_md_se_default": float(md[0]), "median_md_se_comparison": float(md[1])})
    return out


def _ranges(seeds: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    out, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            out.append(f"{start}" if start == s else f"{start}-{s}")
            start = None
    return ", ".join(out)


def load(design: str) -> list[dict]:
    f = WORK / f"calibration_trials_{design}.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []


def write_tables(designs: list[str], models: dict, seeds: tuple[int, int] | None = None) -> None:
    """The tables of the stored replicates (``seeds``: only those in the range, into
    calibration_trials_seeds_A_B.{json,md}, e.g. the fresh seeds that check a choice made on others)."""
    stored = {d: [r for r in load(d) if seeds is None or seeds[0] <= r["seed"] <= seeds[1]] for d in designs}
    summary, lines = {}, ["# Calibration of the primary estimators on repeated full synthetic trials", "",
                          "`benchmarks/calibration_trials.py` (default config/config.yaml, its covariate specification; "
                          f"default variances: models.cox_cov_type = {models['cox_cov_type']} (marginal Cox), "
                          f"lmm_cov_type = {models['lmm_cov_type']} (Eq. 1), binary_cov_type = {models['binary_cov_type']}; "
                          "CR2: Satterthwaite df, CR3: t(G - 1)). 90% coverage with its "
                          "90% Clopper-Pearson Monte Carlo interval. `default` = the variance the workflow publishes, "
                          "`uncorrected` = the comparison (marginal Cox: robust sandwich, normal reference; Eq. 1: "
                          "model-based; subgroups: unpooled interaction-model interval). Seconds per trial below are wall time "
                          "with two calibration workers on the shared 2-core machine; CPU per replicate: calibration_speed.md.", ""]
    refit = {d: sorted(r["seed"] for r in stored[d]
                       if any(isinstance(e, dict) and e.get("refit") for e in r.get("est", {}).values())) for d in designs}
    if any(refit.values()):
        lines += ["In " + " and ".join(f"{len(v)} replicates of {d} (seeds {_ranges(v)})" for d, v in refit.items() if v)
                  + ", the Eq. 1 and population-averaged binary entries were refitted on the same seeds by "
                  "benchmarks/cluster_robust_choice.py and merged into the stored replicates (`--merge-refits`, "
                  "session 9: the CR3 default, chosen on seeds 1-200); every other entry is as the replicate ran in "
                  "full. The other replicates ran in full with the code of their session.", ""]
    for design in designs:
        reps = stored[design]
        if not reps:
            continue
        s = {"design": design, "description": DESIGNS[design]["label"], "reps": len(reps),
             "median_beneficiaries": float(np.median([r["n"] for r in reps])),
             "median_organizations": float(np.median([r["n_orgs"] for r in reps])),
             "median_seconds_per_trial": float(np.median([r["seconds"] for r in reps])),
             "failed_steps": pd.Series([k for r in reps for k in r.get("errors", {})]).value_counts().to_dict(),
             "failure_examples": {k: v for r in reps for k, v in r.get("errors", {}).items()},
             "estimators": summarize(reps)}
        summary[design] = s
        lines += [f"## Design {design}: {s['description']}", "",
                  f"{s['reps']} replicates (seeds {_ranges(sorted(r['seed'] for r in reps))}); median {s['median_beneficiaries']:.0f} analyzed beneficiaries (high + medium "
                  f"risk) in {s['median_organizations']:.0f} organizations; median {s['median_seconds_per_trial']:.0f} s "
                  f"wall per trial (2 workers on 2 cores; see the run's note for the machine's load). Failed or not-estimable steps: "
                  f"{s['failed_steps'] or 'none'}.", "",
                  "| estimator | variance | reps | truth | bias | empirical SD | mean SE | median SE | mean SE/SD | "
                  "90% coverage (MC 90% CI) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for key, e in s["estimators"].items():
            fam = key.split("_")[0] if key.split("_")[0] in ("frailty", "marginal", "subgroup") else key
            default, unc = DEFAULTS[fam]
            default = default or models[CONFIG_KEYS[fam]]
            for v, c in e["variances"].items():
                if not c["reps"]:
                    lines.append(f"| {e['label']} | {v} | 0 | | | | | | | no finite SE in {c['nonfinite_se']} |")
                    continue
                tag = " (default)" if v == default else (" (uncorrected)" if v == unc else "")
                lo, hi = c["coverage_90_ci"]
                sd = c.get("empirical_sd_same_replicates", e["empirical_sd"])
                ratio = f"{c['mean_se'] / sd:.2f}" if sd else ""
                sd_text = f"{sd:.4f}" if sd is not None else ""
                bad = f"; no finite SE in {c['nonfinite_se']}" if c["nonfinite_se"] else ""
                if "replicates_with_it" in c:
                    bad += f"; only the {c['replicates_with_it']} replicates that recorded it (their own SD)"
                lines.append(f"| {e['label']} | {v}{tag} | {c['reps']} | {e['truth']:.4f} | {e['bias']:+.4f} | "
                             f"{sd_text} | {c['mean_se']:.4f} | {c['median_se']:.4f} | {ratio} | {100 * c['coverage_90']:.1f}% "
                             f"({100 * lo:.1f}-{100 * hi:.1f}){bad} |")
            if key.startswith("frailty"):
                lines.append(f"| {e['label']} | theta at boundary in {e['theta_at_boundary']} of {e['reps']}; "
                             f"not converged in {e['not_converged']} | | | | | | | | |")
        paired = covariate_comparison(reps)
        s["covariate_comparison"] = paired
        if paired:
            lines += ["", "Default organization covariates (limited by the number of organizations, "
                      "models.covariates.organizations_per_term) vs the comparison fit, on the same replicates "
                      "(empirical SD of the log HR; MD median SE shows the leverage blow-up):", "",
                      "| outcome | model | comparison | reps | SD default | SD comparison | SD difference | "
                      "median MD SE default / comparison |", "|---|---|---|---|---|---|---|---|"]
            lines += [f"| {c['outcome']} | {c['model']} | {c['comparison']} | {c['reps']} | {c['sd_default']:.4f} | "
                      f"{c['sd_comparison']:.4f} | {c['sd_difference']:.4f} | "
                      f"{c['median_md_se_default']:.3f} / {c['median_md_se_comparison']:.3f} |" for c in paired]
        lines.append("")
    stem = "calibration_trials" + (f"_seeds_{seeds[0]}_{seeds[1]}" if seeds else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seeds", default=None, metavar="A-B",
                    help="run seeds A..B instead of 1..reps (e.g. 201-400: fresh trials, out of sample for a "
                         "variance chosen on seeds 1-200); with --summarize, tables of those seeds only "
                         "(calibration_trials_seeds_A_B.md)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--designs", default="few,all342")
    ap.add_argument("--stop-at", default=None, help="UTC HH:MM: submit no replicate after this time")
    ap.add_argument("--subgroups-every", type=int, default=1,
                    help="run the subgroup pooling only on seeds divisible by this (it is about 40%% of a replicate)")
    ap.add_argument("--summarize", action="store_true", help="only write the tables from the replicates so far")
    ap.add_argument("--out", default=None,
                    help="write the replicates (<out>/calibration_replicates) and tables here instead of benchmarks/results")
    ap.add_argument("--merge-refits", default=None, metavar="DESIGN=FILE[,DESIGN=FILE]",
                    help="replace the Eq. 1 and binary GLM entries of the replicates in --base-replicates by "
                         "benchmarks/cluster_robust_choice.py's refits (FILE its .jsonl), then write the tables")
    ap.add_argument("--base-replicates", default="benchmarks/results/calibration_replicates/before_s9")
    ap.add_argument("--backfill-truth", action="store_true",
                    help="add the any_hosp truth to stored replicates without one, then write the tables")
    args = ap.parse_args()
    if args.out:  # a scratch run must not overwrite the committed replicates and tables
        global WORK, RESULTS
        RESULTS = Path(args.out)
        WORK = RESULTS / "calibration_replicates"
    designs = args.designs.split(",")
    if args.backfill_truth:
        backfill_truth(designs)
        args.summarize = True
    models = yaml.safe_load(Path("config/config.yaml").read_text())["models"]
    WORK.mkdir(parents=True, exist_ok=True)
    if args.merge_refits:
        for item in args.merge_refits.split(","):
            d, f = item.split("=", 1)
            n = merge_refits(d, Path(args.base_replicates) / f"calibration_trials_{d}.jsonl", Path(f))
            print(f"{d}: {n} replicates with refitted Eq. 1 and binary entries", flush=True)
        args.summarize = True
    if not args.summarize:
        done = {d: {r["seed"] for r in load(d)} for d in designs}
        first, last = map(int, args.seeds.split("-")) if args.seeds else (1, args.reps)
        todo = [(d, s) for s in range(first, last + 1) for d in designs if s not in done[d]]  # alternating
        stop = None
        if args.stop_at:
            h, mi = map(int, args.stop_at.split(":"))
            now = dt.datetime.now(dt.timezone.utc)
            stop = now.replace(hour=h, minute=mi, second=0, microsecond=0)
            if stop <= now:  # a time already past today is tomorrow's (a run started before midnight)
                stop += dt.timedelta(days=1)
        t0, finished, secs = time.perf_counter(), 0, []
        with ProcessPoolExecutor(args.workers) as pool:
            running = {}
            while todo or running:
                while todo and len(running) < args.workers and (stop is None or dt.datetime.now(dt.timezone.utc) < stop):
                    d, s = todo.pop(0)
                    running[pool.submit(one_trial, d, s, args.subgroups_every)] = (d, s)
                if not running:
                    break
                fin, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in fin:
                    d, s = running.pop(f)
                    try:
                        r = f.result()
                    except Exception as e:
                        print(f"{d} seed {s}: failed ({type(e).__name__}: {e})", flush=True)
                        continue
                    with (WORK / f"calibration_trials_{d}.jsonl").open("a") as log:
                        log.write(json.dumps(r, default=float) + "\n")
                    finished += 1
                    secs.append(r["seconds"])
                    rate = (time.perf_counter() - t0) / finished
                    eta = dt.timedelta(seconds=round(rate * len(todo)))
                    print(f"{dt.datetime.now(dt.timezone.utc):%H:%M:%S} {d} seed {s}: {r['seconds']:.0f} s "
                          f"(steps {r['step_seconds']}; errors {list(r['errors']) or 'none'}); {finished} done, "
                          f"{len(todo)} to go, ETA {eta}", flush=True)
    write_tables(designs, models, tuple(map(int, args.seeds.split("-"))) if args.summarize and args.seeds else None)


if __name__ == "__main__":
    main()
