"""Small-sample cluster inference: agreement with R and cost at the trial's size.

Usage: python benchmarks/bench_small_sample.py [--rows-scale 1.0]
Writes benchmarks/results/small_sample.md and small_sample.json.

1. Marginal Cox bias-corrected sandwich variances (src/mheval/models/cox_small_sample.py) against
   R's CoxBcv on the shared data sets of tests/data/coxbcv_sim.csv (reference values written by
   benchmarks/r/coxbcv_reference.R to tests/data/coxbcv_reference.csv).
2. CR2 and Satterthwaite df of the nested LMM (src/mheval/models/cluster_robust.py) against R's
   clubSandwich on tests/data/cr2_eq1.csv and lmm_nested_weighted.csv (benchmarks/r/
   clubsandwich_reference.R -> tests/data/clubsandwich_reference.csv), at lme4's estimates and
   end to end from fit_nested_lmm.
3. Seconds for CR2 on an Equation 1-shaped data set with one organization of 25,000 rows (the
   largest at scale 1.0) and 40 more of 200-4,000 rows, p = 30, unweighted (symmetric form) and
   with continuous precision weights (whitened form), and for the bias-corrected Cox variances on
   219,000 subjects in 342 organizations.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import patsy

from mheval.models.cluster_robust import cr2
from mheval.models.cox_engine import fit_cox
from mheval.models.cox_small_sample import bias_corrected_cov
from mheval.models.nested_lmm import fit_nested_lmm

DATA = Path("tests/data")
SPECS = {"a": ["a"], "ab": ["a", "b"], "abc": ["a", "b", "c"]}


def coxbcv_agreement() -> list[dict]:
    d = pd.read_csv(DATA / "coxbcv_sim.csv")
    ref = pd.read_csv(DATA / "coxbcv_reference.csv")
    out = []
    for (s, sp, ct), r in ref.groupby(["set", "covariates", "cov_type"]):
        x = d[d.set == s]
        f = fit_cox(x.Y, x.Delta, x[SPECS[sp]].to_numpy(), cluster=x.ID)
        v = (np.diag(f.robust_cov) if ct == "coxph_robust"
             else np.diag(bias_corrected_cov(x.Y, x.Delta, x[SPECS[sp]].to_numpy(), x.ID, f.params, ct)))
        out.append({"data": s, "covariates": sp, "variance": ct, "n": len(x), "clusters": int(x.ID.nunique()),
                    "max_rel_diff_var": float(np.max(np.abs(v / r["var"].to_numpy() - 1)))})
    return out


def clubsandwich_agreement() -> list[dict]:
    ref = pd.read_csv(DATA / "clubsandwich_reference.csv")
    d1, d2 = pd.read_csv(DATA / "cr2_eq1.csv"), pd.read_csv(DATA / "lmm_nested_weighted.csv")
    cases = {"eq1": (d1, "y ~ 0 + C(year) + x + C(year):mh", "bene"), "nested": (d2, "y ~ x + mh", "bene"),
             "org_only": (d2.drop_duplicates("bene"), "y ~ x + mh", None)}
    out = []
    for m, (d, f, bene) in cases.items():
        r = ref[ref.model == m]

        def q(k, r=r):
            return r[r.quantity == k].sort_values("index")["value"].to_numpy()
        y, X = patsy.dmatrices(f, d, return_type="dataframe")
        beta, p = q("fixef"), len(q("fixef"))
        V = q("vcov_cr2").reshape(p, p, order="F")
        res = cr2(X.to_numpy(), y.to_numpy().ravel() - X.to_numpy() @ beta, d["org"],
                  bene=None if bene is None else d[bene], g_org=q("ratio_org")[0], g_bene=q("ratio_bene")[0])
        fit = fit_nested_lmm(d, f, org="org", bene=bene, cov_type="CR2")
        c = q("contrast")
        out.append({"model": m, "n": len(d), "clusters": int(d["org"].nunique()), "p": p,
                    "at_lme4_estimates_se": float(np.max(np.abs(np.sqrt(np.diag(res.vcov) / np.diag(V)) - 1))),
                    "at_lme4_estimates_df": float(np.max(np.abs(res.df() / q("df_satt") - 1))),
                    "at_lme4_estimates_contrast_df": abs(res.contrast(c)[1] / q("contrast_df")[0] - 1),
                    "end_to_end_se": float(np.max(np.abs(fit.bse.to_numpy() / np.sqrt(np.diag(V)) - 1))),
                    "end_to_end_df": float(np.max(np.abs(fit.df.to_numpy() / q("df_satt") - 1)))})
    return out


def cr2_timing(scale: float) -> list[dict]:
    rng = np.random.default_rng(0)
    sizes = np.r_[int(25000 * scale), rng.integers(200, 4000, 40)]
    parts = []
    for j, m in enumerate(sizes):
        nyr = rng.integers(1, 6, m // 3)
        nyr = nyr[np.cumsum(nyr) <= m]
        parts.append((np.full(nyr.sum(), j), np.repeat(np.arange(len(nyr)) + j * 10**6, nyr),
                      np.concatenate([np.arange(k) for k in nyr])))
    org, bene, year = (np.concatenate([p[i] for p in parts]) for i in range(3))
    n, p = len(org), 30
    mh = (org % 2).astype(float)
    X = np.column_stack([np.eye(5)[year], np.eye(5)[year] * mh[:, None], rng.normal(size=(n, p - 10))])
    resid = rng.normal(size=n)
    out = []
    for label, w in (("unweighted", None), ("continuous weights", np.where(rng.uniform(size=n) < 0.3,
                                                                          rng.uniform(0.01, 1, n), 1.0))):
        t = time.perf_counter()
        r = cr2(X, resid, org, w=w, bene=bene, g_org=0.05, g_bene=0.5)
        out.append({"what": f"CR2, {label}", "rows": n, "largest_org": int(sizes[0]), "p": p, "form": r.form,
                    "max_subspace": r.max_subspace, "seconds": round(time.perf_counter() - t, 2)})
    # bias-corrected Cox variances at the trial's size
    n_org = 342
    g = rng.integers(0, n_org, int(219000 * scale))
    Xc = np.column_stack([(g % 2).astype(float), rng.normal(size=(len(g), 14))])
    T = np.ceil(rng.exponential(5, len(g)) * 365)
    E = (rng.uniform(size=len(g)) < 0.1).astype(int)
    beta = fit_cox(T, E, Xc).params
    for ct in ("md", "kc", "fg", "mbn"):
        t = time.perf_counter()
        bias_corrected_cov(T, E, Xc, g, beta, ct)
        out.append({"what": f"Cox {ct} variance", "rows": len(g), "largest_org": None, "p": Xc.shape[1], "form": "",
                    "max_subspace": None, "seconds": round(time.perf_counter() - t, 2)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-scale", type=float, default=1.0)
    args = ap.parse_args()
    res = {"coxbcv": coxbcv_agreement(), "clubsandwich": clubsandwich_agreement(), "timing": cr2_timing(args.rows_scale)}
    Path("benchmarks/results/small_sample.json").write_text(json.dumps(res, indent=2) + "\n")
    L = ["# Small-sample cluster inference: agreement with R and cost", "",
         f"`python benchmarks/bench_small_sample.py --rows-scale {args.rows_scale}` (R reference values: "
         "R 4.2.2, survival 3.5.3, CoxBcv 0.0.1.0, lme4 1.1.31, clubSandwich 0.5.8; "
         "benchmarks/r/coxbcv_reference.R, benchmarks/r/clubsandwich_reference.R).", "",
         "## Marginal Cox: bias-corrected sandwich variances vs CoxBcv", "",
         "| data | covariates | variance | n | clusters | max relative difference |", "|---|---|---|---|---|---|"]
    L += [f"| {r['data']} | {r['covariates']} | {r['variance']} | {r['n']} | {r['clusters']} | {r['max_rel_diff_var']:.1e} |"
          for r in res["coxbcv"]]
    L += ["", "## Nested LMM: CR2 and Satterthwaite df vs clubSandwich (max relative differences)", "",
          "| model | n | clusters | p | SE at lme4's estimates | df | df of the contrast | SE end to end | df end to end |",
          "|---|---|---|---|---|---|---|---|---|"]
    L += [f"| {r['model']} | {r['n']} | {r['clusters']} | {r['p']} | {r['at_lme4_estimates_se']:.1e} | "
          f"{r['at_lme4_estimates_df']:.1e} | {r['at_lme4_estimates_contrast_df']:.1e} | {r['end_to_end_se']:.1e} | "
          f"{r['end_to_end_df']:.1e} |" for r in res["clubsandwich"]]
    load = os.getloadavg()[0]
    L += ["", f"## Seconds (shared 2-core machine, load average {load:.1f} at the end of the run)", "",
          "| computation | rows | largest organization | p | form | largest subspace | seconds |", "|---|---|---|---|---|---|---|"]
    L += [f"| {r['what']} | {r['rows']} | {r['largest_org'] or ''} | {r['p']} | {r['form']} | {r['max_subspace'] or ''} | "
          f"{r['seconds']} |" for r in res["timing"]]
    Path("benchmarks/results/small_sample.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
