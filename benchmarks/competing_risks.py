"""Cumulative incidence with death as a competing risk (mheval.models.competing_risks) side by side
with R: the unadjusted Aalen-Johansen estimate vs cmprsk::cuminc and survival's multi-state
survfit, and the standardized estimate from cause-specific Cox models vs coxph + survfit(newdata,
ctype = 1) combined by the same product (benchmarks/r/competing_risks_reference.R), on shared data
sets: the stored test data (tests/data/competing_risks_sim.csv), a larger simulated trial with daily
ties, and, with --tte, a synthetic trial's time-to-event file (first heart attack, stroke or TIA,
high + medium risk, Equation 4 covariates). Also the Python time of one estimate and of one
bootstrap replicate, and 1 - S next to the Aalen-Johansen estimate.

Usage: python benchmarks/competing_risks.py [--tte results/analysis/time_to_event.parquet]
       [--published-tte TIME_TO_EVENT_AT_SCALE_1.parquet]
Needs R with survival and cmprsk. Writes benchmarks/results/competing_risks.md and .json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.models.adjusted_incidence import adjusted_cumulative_incidence
from mheval.models.competing_risks import aalen_johansen, competing_status, standardized_competing_incidence

ROOT = Path(__file__).resolve().parent.parent
TIMES = [0.5, 1, 1.5, 2, 2.5, 3, 4, 5]


def simulated(n=5000, n_org=60, seed=1):
    rng = np.random.default_rng(seed)
    org = rng.integers(0, n_org, n)
    mh = (org % 2 == 0).astype(int)
    x1, x2, x3 = rng.normal(size=n), rng.integers(0, 2, n).astype(float), rng.normal(size=n)
    h1 = 0.03 * np.exp(0.4 * x1 + 0.3 * x2 - 0.2 * mh + 0.2 * x3)
    h2 = 0.04 * np.exp(0.5 * x1 - 0.1 * x3)
    t1, t2, c = rng.exponential(1 / h1), rng.exponential(1 / h2), rng.uniform(3, 5, n)
    t = np.minimum.reduce([t1, t2, c])
    st = np.where(t == t1, 1, np.where(t == t2, 2, 0))
    return pd.DataFrame({"MH": mh, "T": np.ceil(t * 365.25) / 365.25, "status": st,
                         "x1": x1, "x2": x2, "x3": x3})


def from_tte(path):
    from mheval.models.equation4 import survival_frame

    tte = pd.read_parquet(path)
    x, cov = survival_frame(tte, "event", "high_medium")
    df = tte[tte["STRATUM"].isin(["high", "medium"])].reset_index(drop=True)
    status = competing_status(x["EVENT"], df["DEATH"], x["T_EVENT"], df["T_DEATH"])
    covs = [c for c in cov if c != "MH"]
    out = pd.DataFrame({"MH": x["MH"], "T": x["T_EVENT"], "status": status})
    for k, c in enumerate(covs):
        out[f"x{k + 1:02d}"] = x[c].to_numpy(float)
    return out


def compare(name, d):
    xs = [c for c in d.columns if c.startswith("x")]
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "d.csv", Path(tmp) / "r.csv"
        d.to_csv(data, index=False, float_format="%.17g")
        t0 = time.perf_counter()
        subprocess.run(["Rscript", str(ROOT / "benchmarks/r/competing_risks_reference.R"), str(data), str(out),
                        ",".join(map(str, TIMES))], check=True, capture_output=True)
        r_seconds = time.perf_counter() - t0
        ref = pd.read_csv(out)
    diffs = {}
    for method in ("cuminc", "survfit_ms"):
        worst = 0.0
        for a in (0, 1):
            s = d[d["MH"] == a]
            ours = aalen_johansen(s["T"], s["status"], TIMES)
            for k in (1, 2):
                r = ref[(ref["method"] == method) & (ref["MH"] == a) & (ref["cause"] == k)]["value"].to_numpy()
                worst = max(worst, float(np.nanmax(np.abs(ours[k - 1] - r))))
        diffs[method] = worst
    t0 = time.perf_counter()
    std, betas = standardized_competing_incidence(d["T"], d["status"], d[xs], d["MH"], TIMES)
    py_seconds = time.perf_counter() - t0
    worst = 0.0
    for i, a in enumerate((1, 0)):
        r = ref[(ref["method"] == "standardized") & (ref["MH"] == a)]["value"].to_numpy()
        worst = max(worst, float(np.max(np.abs(std[i] - r))))
    diffs["standardized"] = worst
    coef = np.r_[ref[ref["method"].str.startswith("coef_cause1:")]["value"], ref[ref["method"].str.startswith("coef_cause2:")]["value"]]
    diffs["coefficients"] = float(np.max(np.abs(np.r_[betas[0], betas[1]] - coef)))
    w = np.random.default_rng(0).poisson(1.0, len(d)).astype(float)
    t0 = time.perf_counter()
    standardized_competing_incidence(d["T"], d["status"], d[xs], d["MH"], TIMES, weights=w, init=betas)
    rep_seconds = time.perf_counter() - t0
    one = adjusted_cumulative_incidence(d.assign(ORG_ID=0, E=(d["status"] == 1).astype(int)), "T", "E", d[xs],
                                        years=(1, 2, 3, 4), n_boot=0, min_at_risk=0).table
    at4 = {arm: float(one[(one["arm"] == arm) & (one["year"] == 4)]["estimate"].iloc[0]) for arm in ("intervention", "control")}
    aj4 = {"intervention": float(100 * std[0][TIMES.index(4)]), "control": float(100 * std[1][TIMES.index(4)])}
    return {"data": name, "n": len(d), "events": int((d["status"] == 1).sum()),
            "competing_deaths": int((d["status"] == 2).sum()), "covariates": len(xs),
            "max_abs_difference": diffs, "python_seconds": py_seconds, "python_replicate_seconds": rep_seconds,
            "r_seconds_including_startup": r_seconds, "aalen_johansen_standardized_year4": aj4,
            "one_minus_s_standardized_year4": at4}


def published_check(path):
    """The event's cumulative incidence in the synthetic trial (high + medium risk), standardized and
    unadjusted with death a competing risk, and 1 - S, at years 1-5 (no bootstrap), with the time of one
    estimate and one bootstrap replicate: next to the published 7.8% vs 8.1% at 5 years."""
    from mheval.models.equation4 import adjusted_incidence, competing_incidence

    tte = pd.read_parquet(path)
    t0 = time.perf_counter()
    cr = competing_incidence(tte, "event", "high_medium", years=(1, 2, 3, 4, 5), n_boot=0)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    competing_incidence(tte, "event", "high_medium", years=(1, 2, 3, 4, 5), n_boot=2, seed=1)
    replicate = max(time.perf_counter() - t0 - seconds, 0.0) / 2
    one = adjusted_incidence(tte, "event", "high_medium", years=(1, 2, 3, 4, 5), n_boot=0).table.assign(method="one_minus_s")
    tab = pd.concat([cr.table, one], ignore_index=True)
    pivot = tab.pivot_table(index=["method", "year"], columns="arm", values="estimate", dropna=False)
    follow = float(tte["T_EVENT"].max())
    return {"n": cr.n, "events": cr.n_events, "competing_deaths": cr.n_competing, "seconds": seconds,
            "replicate_seconds": replicate, "longest_follow_up_years": follow,
            "table": {f"{m} {int(y)}": {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                      for (m, y), row in pivot.iterrows()},
            "year5_note": cr.table.loc[cr.table["year"] == 5, "note"].iloc[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tte", help="a time_to_event.parquet of the workflow (synthetic trial)")
    ap.add_argument("--tte-name", default="synthetic trial")
    ap.add_argument("--published-tte", help="a time_to_event.parquet of the synthetic trial at scale 1.0: the "
                                            "estimates next to the published 5-year cumulative incidence")
    args = ap.parse_args()
    sets = [("tests/data/competing_risks_sim.csv", pd.read_csv(ROOT / "tests/data/competing_risks_sim.csv")
             [["MH", "T", "status", "x1", "x2"]]),
            ("simulated, 5,000 beneficiaries, daily ties", simulated())]
    if args.tte:
        sets.append((args.tte_name, from_tte(args.tte)))
    rows = [compare(n, d) for n, d in sets]
    pub = published_check(args.published_tte) if args.published_tte else None
    out = ROOT / "benchmarks/results"
    (out / "competing_risks.json").write_text(json.dumps({"machine": platform.platform(), "rows": rows,
                                                          "synthetic_vs_published": pub}, indent=2))
    lines = ["# Cumulative incidence with death as a competing risk vs R", "",
             "`python benchmarks/competing_risks.py " + " ".join(sys.argv[1:]) + "`; R "
             "survival 3.5.3, cmprsk 2.2.11 (benchmarks/r/competing_risks_reference.R). Largest absolute "
             f"difference in cumulative incidence (probability scale) at t = {TIMES} years, both arms, both "
             "causes (Aalen-Johansen) or the event (standardized); coefficients of the two cause-specific "
             "Cox models. Machine: " + platform.platform() + ", 2 cores.", "",
             "| data | n | events | competing deaths | covariates | vs cmprsk::cuminc | vs survfit multi-state | "
             "standardized vs coxph + survfit | coefficients | Python s (estimate / replicate) | R s (with startup) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["max_abs_difference"]
        lines.append(f"| {r['data']} | {r['n']:,} | {r['events']:,} | {r['competing_deaths']:,} | {r['covariates']} | "
                     f"{m['cuminc']:.1e} | {m['survfit_ms']:.1e} | {m['standardized']:.1e} | {m['coefficients']:.1e} | "
                     f"{r['python_seconds']:.2f} / {r['python_replicate_seconds']:.2f} | {r['r_seconds_including_startup']:.1f} |")
    lines += ["", "Standardized cumulative incidence at 4 years, percent (intervention / control): death a competing "
              "risk vs 1 - S (deaths censored; the sensitivity, from the Cox model with the arm as a covariate):", ""]
    for r in rows:
        a, s = r["aalen_johansen_standardized_year4"], r["one_minus_s_standardized_year4"]
        lines.append(f"- {r['data']}: Aalen-Johansen {a['intervention']:.2f} / {a['control']:.2f}; "
                     f"1 - S {s['intervention']:.2f} / {s['control']:.2f}")
    if pub:
        lines += ["", "## The synthetic trial next to the published 5-year cumulative incidence (7.8% vs 8.1%)", "",
                  f"First heart attack, stroke or TIA, high + medium risk, synthetic trial at scale 1.0 "
                  f"({pub['n']:,} beneficiaries, {pub['events']:,} events, {pub['competing_deaths']:,} deaths without "
                  f"an event), percent; no bootstrap. One estimate (both methods) took {pub['seconds']:.0f} s, one "
                  f"bootstrap replicate {pub['replicate_seconds']:.0f} s (on the shared machine, loaded by other jobs: "
                  "rough).", "",
                  "| method | year | intervention | control | difference |", "|---|---|---|---|---|"]
        fmt = (lambda v: "not estimable" if v is None else f"{v:.2f}")
        for key, row in pub["table"].items():
            m, y = key.rsplit(" ", 1)
            lines.append(f"| {m} | {y} | {fmt(row.get('intervention'))} | {fmt(row.get('control'))} | "
                         f"{fmt(row.get('difference'))} |")
        lines += ["", f"Year 5: {pub['year5_note']} (the longest follow-up is {pub['longest_follow_up_years']:.3f} "
                  "years: enrollment from 2017-01-01, follow-up ends 2021-12-31)."]
    md = out / "competing_risks.md"
    old = md.read_text() if md.exists() else ""
    keep = old[old.index("\n## Scale "):] if "\n## Scale " in old else ""  # benchmarks/incidence_jobs.py's timings
    md.write_text("\n".join(lines) + "\n" + keep)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
