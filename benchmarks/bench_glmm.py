"""Logistic GLMM engine (fit_nested_glmm) vs lme4's glmer: agreement, wall time, scale 1.0.

(a) Moderate simulated data (50,000 beneficiary-years, 12,500 beneficiaries in 100 organizations):
    fit_nested_glmm and glmer(..., family = binomial, nAGQ = 1) side by side. glmer is timed with
    its default settings; agreement is against glmer refitted with tight tolerances (tolPwrss = 1e-12,
    bobyqa with rhoend = 1e-10 in both stages): glmer's default second-stage optimizer (Nelder_Mead)
    stops early with this many fixed effects, and its default PIRLS tolerance (1e-7) makes the
    finite-difference Hessian behind its SEs noisy.
(b) Scale 1.0: any hospitalization (hosp_all > 0) in the Equation 1 design of
    bench_pipeline's beneficiary-year file (bench_lmm.prepare), organization and beneficiary
    intercepts, unweighted (glmer's binomial objective rounds fractional weights, so WEIGHT is no
    valid prior weight there); time and peak memory of the fit and of the average marginal
    effects; glmer on a subsample of organizations (--r-fraction) when the full fit would be too slow.

Usage: python benchmarks/bench_glmm.py [--no-r] [--skip-moderate] [--skip-scale] [--r-fraction 0.1]
       [--glmer-settings default tight]
Writes benchmarks/results/glmm.json and benchmarks/results/glmm.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_lmm import prepare, trial_layout

from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect

WORK = Path("benchmarks/work")
RESULTS = Path("benchmarks/results")
COVARIATES = ["AGE10", "MALE", "BLACK", "DUAL", "LOG_RISK", "HIGH", "RURAL", "HEALTH_SYSTEM", "ANY_HOSP_Y0"]
SCALE_FORMULA = "any_hosp ~ 0 + C(YEAR) + C(YEAR):MH + " + " + ".join(COVARIATES)
SIM_FORMULA = "y ~ 0 + C(YEAR) + C(YEAR):MH + x1 + x2 + x3 + x4"

R_SCRIPT = r"""
library(lme4)
d <- read.csv("{csv}")
d$YEAR <- factor(d$YEAR)
form <- {formula} + (1 | ORG_ID) + (1 | BENE_ID)
t0 <- proc.time()
f <- glmer(form, data = d, family = binomial, nAGQ = 1{control})
el <- proc.time() - t0
cat("{tag} seconds", sprintf("%.2f", el[["elapsed"]]), "\n")
cat("{tag} cpu_seconds", sprintf("%.2f", el[["user.self"]] + el[["sys.self"]]), "\n")
vc <- as.data.frame(VarCorr(f))
cat("{tag} fixef", sprintf("%.10g", fixef(f)), "\n")
cat("{tag} names", names(fixef(f)), "\n")
cat("{tag} se", sprintf("%.10g", sqrt(diag(as.matrix(vcov(f))))), "\n")
cat("{tag} se_cond", sprintf("%.10g", sqrt(diag(as.matrix(vcov(f, use.hessian = FALSE))))), "\n")
cat("{tag} vc", sprintf("%.10g", c(vc$vcov[vc$grp == "ORG_ID"], vc$vcov[vc$grp == "BENE_ID"])), "\n")
cat("{tag} loglik", sprintf("%.6f", as.numeric(logLik(f))), "\n")
"""
# tight: bobyqa in both stages (the default second stage, Nelder_Mead, stops early with many fixed
# effects) and a small PIRLS tolerance (the default 1e-7 makes the finite-difference Hessian noisy)
TIGHT = (', control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, '
         'optCtrl = list(rhoend = 1e-10, maxfun = 1e5))')


def simulate(seed: int = 7, n_org: int = 100, n_bene: int = 12_500, years: int = 4) -> pd.DataFrame:
    """Cluster-randomized binary outcome: organization and beneficiary intercepts (SD 0.4 and 0.9)."""
    rng = np.random.default_rng(seed)
    mh_org, bene, org, year = trial_layout(rng, n_org, n_bene, years)
    x = rng.normal(size=(len(bene), 4)) * [1, 1, 0, 0] + (rng.random((len(bene), 4)) < 0.3) * [0, 0, 1, 1]
    effect = np.array([0.0, 0.1, 0.2, 0.3, 0.3])[year]
    eta = (-1.5 + 0.05 * year + effect * mh_org[org] + x @ [0.4, -0.2, 0.3, 0.5]
           + rng.normal(0, 0.4, n_org)[org] + rng.normal(0, 0.9, n_bene)[bene])
    d = pd.DataFrame({"y": (rng.random(len(bene)) < 1 / (1 + np.exp(-eta))).astype(int), "YEAR": year,
                      "MH": mh_org[org], "ORG_ID": org, "BENE_ID": bene})
    d[["x1", "x2", "x3", "x4"]] = x
    return d


def scale_data(path: str) -> pd.DataFrame:
    by = pd.read_parquet(path)
    keep = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]  # the rows (and order) bench_lmm.prepare keeps
    d = prepare(by)
    d["any_hosp"] = (keep["hosp_all"].to_numpy() > 0).astype(int)
    base = keep["hosp_all_y0"].to_numpy()
    d["ANY_HOSP_Y0"] = np.where(np.isnan(base), np.nanmean(base > 0), base > 0)
    return d[~np.isnan(keep["hosp_all"].to_numpy())].reset_index(drop=True)


GLMER_SETTINGS = ("default", "tight")


def run_glmer(d: pd.DataFrame, formula: str, name: str, timeout: float) -> dict:
    """glmer with default settings ("default") and with tight tolerances ("tight"), each in its own
    Rscript with a time limit; a fit that runs out of time is reported as such."""
    csv = WORK / f"glmm_{name}.csv"
    d.to_csv(csv, index=False)
    res = {}
    for tag, control in (("default", ""), ("tight", TIGHT)):
        if tag not in GLMER_SETTINGS:
            continue
        script = WORK / f"glmm_{name}_{tag}.R"
        script.write_text(R_SCRIPT.replace("{csv}", str(csv)).replace("{formula}", formula.replace("C(YEAR)", "YEAR"))
                          .replace("{control}", control).replace("{tag}", tag))
        try:
            out = subprocess.run(["nice", "Rscript", str(script)], capture_output=True, text=True, check=True,
                                 timeout=timeout).stdout
        except subprocess.TimeoutExpired:
            res[f"{tag}_timed_out_after_seconds"] = timeout
            continue
        for ln in out.splitlines():
            parts = ln.split()
            if len(parts) >= 3 and parts[1] in ("seconds", "cpu_seconds"):
                res[f"{tag}_fit_{parts[1]}"] = float(parts[2])
            elif len(parts) >= 3:
                res.setdefault(tag, {})[parts[1]] = parts[2:] if parts[1] == "names" else [float(v) for v in parts[2:]]
    return res


def agreement(fit, r: dict) -> dict:
    rename = {n: n.replace("C(YEAR)[", "YEAR").replace("]", "") for n in fit.params.index}
    order = r["names"]
    b = fit.params.rename(rename).loc[order].to_numpy()
    se = fit.bse.rename(rename).loc[order].to_numpy()
    vc = np.array([fit.variance_components["org"], fit.variance_components["bene"]])
    se_cond = np.sqrt(np.diag(fit.cov_params("conditional")))
    se_cond = pd.Series(se_cond, index=fit.params.index).rename(rename).loc[order].to_numpy()
    rb, rse, rvc, rsec = (np.array(r[k]) for k in ("fixef", "se", "vc", "se_cond"))
    return {"fixef_max_rel": float(np.max(np.abs(b - rb) / np.abs(rb))),
            "se_max_rel": float(np.max(np.abs(se - rse) / rse)),
            "se_conditional_max_rel": float(np.max(np.abs(se_cond - rsec) / rsec)),
            # relative to the total, so that a component at the boundary (0) compares sensibly
            "vc_max_rel": float(np.max(np.abs(vc - rvc)) / rvc.sum()),
            "loglik_diff": float(fit.llf - r["loglik"][0])}


def summarize_fit(fit, seconds, cpu_seconds=None) -> dict:
    return {"seconds": round(seconds, 2), "cpu_seconds": cpu_seconds and round(cpu_seconds, 2),
            "converged": fit.converged, "llf": fit.llf,
            "variance_components": fit.variance_components,
            "params": fit.params.round(8).to_dict(), "se": fit.bse.round(8).to_dict()}


def moderate(no_r: bool, timeout: float) -> dict:
    d = simulate()
    t, c = time.perf_counter(), time.process_time()
    fit = fit_nested_glmm(d, SIM_FORMULA, org="ORG_ID", bene="BENE_ID")
    out = {"rows": len(d), "beneficiaries": fit.n_groups["bene"], "organizations": fit.n_groups["org"],
           "mheval": summarize_fit(fit, time.perf_counter() - t, time.process_time() - c)}
    if not no_r:
        r = run_glmer(d, SIM_FORMULA, "moderate", timeout)
        out["glmer"] = r
        for tag in ("tight", "default"):
            if tag in r:
                out[f"agreement_vs_glmer_{tag}"] = agreement(fit, r[tag])
        for tag in ("default", "tight"):
            if f"{tag}_fit_seconds" in r:
                out[f"speed_ratio_glmer_{tag}_over_mheval"] = round(
                    r[f"{tag}_fit_seconds"] / out["mheval"]["seconds"], 1)
                out[f"cpu_speed_ratio_glmer_{tag}_over_mheval"] = round(
                    r[f"{tag}_fit_cpu_seconds"] / out["mheval"]["cpu_seconds"], 1)
    return out


def _rss_gib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, GiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 2 ** 20, 2)
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def scale(path: str, no_r: bool, r_fraction: float, timeout: float, previous: dict | None = None) -> dict:
    """The scale-1.0 fit and marginal effects; with ``no_r``, the subsample is refitted by mheval only
    and glmer's record on it is carried over from ``previous`` (an earlier run's "scale" part)."""
    d = scale_data(path)
    memory = {"rss_gib_with_data_loaded": _rss_gib("VmRSS")}
    _reset_peak()
    t, c = time.perf_counter(), time.process_time()
    fit = fit_nested_glmm(d, SCALE_FORMULA, org="ORG_ID", bene="BENE_ID")
    fit_seconds, fit_cpu = time.perf_counter() - t, time.process_time() - c
    memory["peak_rss_gib_during_fit"] = _rss_gib("VmHWM")
    _reset_peak()
    t = time.perf_counter()
    ame = marginal_effect(fit, d, treatment="MH", by="YEAR").summary(0.10)
    ame_seconds = time.perf_counter() - t
    memory["peak_rss_gib_during_ame"] = _rss_gib("VmHWM")
    out = {"rows": len(d), "beneficiaries": fit.n_groups["bene"], "organizations": fit.n_groups["org"],
           "outcome_rate": float(d["any_hosp"].mean()), "formula": SCALE_FORMULA,
           "mheval": summarize_fit(fit, fit_seconds, fit_cpu), "ame_seconds": round(ame_seconds, 2),
           "ame_pp": ame.round(4).reset_index().astype({"YEAR": str}).to_dict(orient="records"),
           "peak_rss_gib_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2), **memory}
    old = (previous or {}).get("subsample")
    if not no_r or (old and old.get("fraction_of_organizations") == r_fraction):
        rng = np.random.default_rng(1)
        orgs = d["ORG_ID"].unique()
        keep = rng.choice(orgs, max(2, round(r_fraction * len(orgs))), replace=False)
        sub = d[d["ORG_ID"].isin(keep)].reset_index(drop=True)
        t = time.perf_counter()
        sub_fit = fit_nested_glmm(sub, SCALE_FORMULA, org="ORG_ID", bene="BENE_ID")
        sub_seconds = time.perf_counter() - t
        r = old["glmer"] if no_r else run_glmer(sub, SCALE_FORMULA, "subsample", timeout)
        out["subsample"] = {"glmer_from_an_earlier_run": no_r,"fraction_of_organizations": r_fraction, "rows": len(sub),
                            "beneficiaries": sub_fit.n_groups["bene"], "organizations": sub_fit.n_groups["org"],
                            "mheval_seconds": round(sub_seconds, 2), "glmer": r}
        for tag in ("tight", "default"):
            if tag in r:
                out["subsample"][f"agreement_vs_glmer_{tag}"] = agreement(sub_fit, r[tag])
    return out


def _glmer_times(g: dict) -> str:
    def one(tag):
        t, c = g.get(f"{tag}_fit_seconds"), g.get(f"{tag}_fit_cpu_seconds")
        if t is None:
            limit = g.get(f"{tag}_timed_out_after_seconds")
            return f"did not finish in {limit} s" if limit else "not run"
        return f"{t} s" + (f" ({c} CPU s)" if c is not None else "")
    return f"glmer default settings {one('default')}; glmer tight tolerances {one('tight')}"


def _agreement_table(part: dict) -> list[str]:
    tags = [t for t in ("tight", "default") if f"agreement_vs_glmer_{t}" in part]
    if not tags:
        return []
    lines = ["| difference | " + " | ".join(f"vs glmer {t}" for t in tags) + " |", "|---" * (len(tags) + 1) + "|"]
    for k in ("fixef_max_rel", "se_max_rel", "se_conditional_max_rel", "vc_max_rel", "loglik_diff"):
        lines.append(f"| {k} | " + " | ".join(f"{part[f'agreement_vs_glmer_{t}'][k]:.2e}" for t in tags) + " |")
    return [*lines, ""]


NOTE = ("*_max_rel: maximum relative difference over terms (vc: absolute difference relative to the total variance); "
        "loglik_diff: mheval minus glmer (positive: mheval found a higher likelihood). se: glmer's default vcov "
        "(finite-difference Hessian of the deviance); se_conditional: `vcov(use.hessian = FALSE)`, no finite "
        "differences. glmer's finite-difference Hessian carries noise of order PIRLS tolerance x deviance / "
        "delta^2 (delta = 1e-4); mheval's SEs are stable to 1e-7 across difference steps 1e-6 to 1e-3 and match "
        "second differences of its own deviance to 2e-6. glmer's default fit uses Nelder_Mead in its second "
        "stage, which stops early with this many fixed effects.")


def markdown(res: dict) -> str:
    lines = ["# Logistic GLMM engine (`fit_nested_glmm`) vs lme4 `glmer`", "",
             ("Generated by `python benchmarks/bench_glmm.py` on 2 cores shared with other jobs (times are "
              "indicative). Laplace approximation, nAGQ = 1, organization and beneficiary random intercepts."), ""]
    m = res.get("moderate")
    if m:
        lines += [(f"## (a) Simulated: {m['rows']:,} rows, {m['beneficiaries']:,} beneficiaries, "
                   f"{m['organizations']} organizations"), "",
                  f"- mheval: {m['mheval']['seconds']} s" + (f" ({m['mheval']['cpu_seconds']} CPU s)"
                                                            if m["mheval"].get("cpu_seconds") else "")]
        if "glmer" in m:
            lines += [f"- {_glmer_times(m['glmer'])}"]
            for tag in ("tight", "default"):
                if f"speed_ratio_glmer_{tag}_over_mheval" in m:
                    lines.append(f"- glmer {tag} / mheval: {m[f'speed_ratio_glmer_{tag}_over_mheval']} elapsed, "
                                 f"{m.get(f'cpu_speed_ratio_glmer_{tag}_over_mheval', '-')} CPU time")
            lines += [""] + _agreement_table(m)
        lines.append("")
    s = res.get("scale")
    if s:
        vc = s["mheval"]["variance_components"]
        lines += [(f"## (b) Scale 1.0: any hospitalization, {s['rows']:,} beneficiary-years, "
                   f"{s['beneficiaries']:,} beneficiaries, {s['organizations']} organizations"), "",
                  f"`{s['formula']}`, unweighted", "",
                  (f"- mheval fit: {s['mheval']['seconds']} s (converged: {s['mheval']['converged']}); average "
                   f"marginal effects by year (population-averaged, delta method): {s['ame_seconds']} s"),
                  (f"- memory (RSS): {s['rss_gib_with_data_loaded']} GiB with the data loaded; peak "
                   f"{s['peak_rss_gib_during_fit']} GiB during the fit and {s['peak_rss_gib_during_ame']} GiB during "
                   f"the marginal effects; process peak {s['peak_rss_gib_process']} GiB (includes reading the "
                   f"parquet file)"),
                  f"- variance components: org {vc['org']:.4g}, bene {vc['bene']:.4g}", ""]
        sub = s.get("subsample")
        if sub:
            lines += [(f"glmer at full scale would take well over 20 minutes here, so it was tried on a random "
                       f"{sub['fraction_of_organizations']:.0%} of organizations ({sub['rows']:,} rows, "
                       f"{sub['beneficiaries']:,} beneficiaries, {sub['organizations']} organizations): mheval "
                       f"{sub['mheval_seconds']} s; {_glmer_times(sub['glmer'])}"
                       + (" (glmer: an earlier run of this script on the same subsample)."
                          if sub.get("glmer_from_an_earlier_run") else ".")), ""] + _agreement_table(sub)
        lines += ["Average marginal effect of MH (percentage points; 90% intervals):", "",
                  "| YEAR | AME (pp) | SE | 90% CI | control % | intervention % |", "|---|---|---|---|---|---|"]
        for row in s["ame_pp"]:
            lines.append(f"| {row['YEAR']} | {row['estimate']:.3f} | {row['se']:.3f} | {row['lower']:.3f} to "
                         f"{row['upper']:.3f} | {row['control']:.2f} | {row['intervention']:.2f} |")
        lines.append("")
    return "\n".join([*lines, NOTE]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--by", default="benchmarks/work/beneficiary_year.parquet")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--skip-moderate", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--r-fraction", type=float, default=0.1, help="share of organizations for glmer at scale 1.0")
    ap.add_argument("--r-timeout", type=float, default=1800, help="time limit (s) of each glmer fit")
    ap.add_argument("--glmer-settings", nargs="+", default=["default", "tight"], choices=["default", "tight"],
                    help="which glmer fits to run (default settings: about 5 CPU-minutes at 50,000 rows)")
    args = ap.parse_args()
    global GLMER_SETTINGS
    GLMER_SETTINGS = tuple(args.glmer_settings)
    out = RESULTS / "glmm.json"
    res = json.loads(out.read_text()) if out.exists() else {}  # parts not rerun are kept
    if not args.skip_moderate:
        res["moderate"] = moderate(args.no_r, args.r_timeout)
        print(json.dumps(res["moderate"], indent=1, default=float), flush=True)
    if not args.skip_scale:
        res["scale"] = scale(args.by, args.no_r, args.r_fraction, args.r_timeout, res.get("scale"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    (RESULTS / "glmm.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
