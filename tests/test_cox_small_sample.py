"""Bias-corrected sandwich variances of the marginal Cox model (Kauermann-Carroll, Fay-Graubard,
Mancl-DeRouen, Morel-Bokossa-Neerchal), checked three ways:

- against R's CoxBcv (Wang, Turner and Li 2023) on stored reference values: R 4.2.2, survival
  3.5.3, CoxBcv 0.0.1.0 installed from its CRAN source;
  ``R_LIBS=<lib with CoxBcv> Rscript benchmarks/r/coxbcv_reference.R`` writes
  tests/data/coxbcv_sim.csv and tests/data/coxbcv_reference.csv;
- against CoxBcv run live (skipped with a reason when R or CoxBcv is absent);
- against a hand computation from the definitions (one covariate, explicit loops over subjects
  and event times, no code shared with the module).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mheval.models import fit_marginal_cox
from mheval.models.cox_engine import fit_cox
from mheval.models.cox_small_sample import bias_corrected_cov

DATA = os.path.join(os.path.dirname(__file__), "data")
SPECS = {"a": ["a"], "ab": ["a", "b"], "abc": ["a", "b", "c"]}


def _ours(x, cols, cov_type):
    f = fit_cox(x.Y, x.Delta, x[cols].to_numpy(), cluster=x.ID)
    if cov_type == "coxph_robust":
        return f.params, np.diag(f.robust_cov)
    return f.params, np.diag(bias_corrected_cov(x.Y, x.Delta, x[cols].to_numpy(), x.ID, f.params, cov_type))


def test_matches_coxbcv_reference_values():
    d = pd.read_csv(os.path.join(DATA, "coxbcv_sim.csv"))
    ref = pd.read_csv(os.path.join(DATA, "coxbcv_reference.csv"))
    assert set(ref.cov_type) == {"rob", "kc", "fg", "md", "mbn", "coxph_robust"}
    assert set(ref.set) == {"example", "ties", "noties"}
    for (s, sp, ct), r in ref.groupby(["set", "covariates", "cov_type"]):
        beta, var = _ours(d[d.set == s], SPECS[sp], ct)
        np.testing.assert_allclose(beta, r.coef.to_numpy(), rtol=1e-6, err_msg=f"{s} {sp} {ct}")
        np.testing.assert_allclose(var, r["var"].to_numpy(), rtol=1e-6, err_msg=f"{s} {sp} {ct}")


def _coxbcv_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    r = subprocess.run(["Rscript", "-e", "library(CoxBcv)"], capture_output=True, text=True)
    if r.returncode != 0:
        return "R package CoxBcv not installed (install from github cran/CoxBcv into R_LIBS)"
    return None


def test_matches_coxbcv_live():
    reason = _coxbcv_available()
    if reason:
        pytest.skip(reason)
    d = pd.read_csv(os.path.join(DATA, "coxbcv_sim.csv"))
    x = d[d.set == "ties"]
    code = ("library(CoxBcv); d <- read.csv(file('stdin')); X <- as.matrix(d[, c('a','b','c')]);"
            "for (f in c('kc','fg','md','mbn')) cat(f, sprintf('%.15e', get(paste0('CoxBcv.', f))(d$Y, d$Delta, X, d$ID)$outbeta[, 3]), '\\n')")
    out = subprocess.run(["Rscript", "-e", code], input=x.to_csv(index=False), capture_output=True, text=True, check=True)
    for line in out.stdout.strip().splitlines():
        f, *v = line.split()
        np.testing.assert_allclose(_ours(x, SPECS["abc"], f)[1], np.array(v, float), rtol=1e-6, err_msg=f)


def _by_hand(T, E, x, g, beta):
    """One covariate, no ties: the corrections from their definitions with explicit loops."""
    n = len(T)
    r = np.exp(beta * x)
    events = [k for k in range(n) if E[k]]

    def at(t):  # S0, xbar, V at time t over the risk set {j: T_j >= t}
        R = [j for j in range(n) if T[j] >= t]
        s0 = sum(r[j] for j in R)
        s1 = sum(r[j] * x[j] for j in R)
        s2 = sum(r[j] * x[j] ** 2 for j in R)
        return s0, s1 / s0, s2 / s0 - (s1 / s0) ** 2

    info = sum(at(T[k])[2] for k in events)
    U, Om = {}, {}
    for j in range(n):
        # score residual: dN part minus the compensator over event times the subject is at risk
        u = E[j] * (x[j] - at(T[j])[1])
        om = E[j] * at(T[j])[2]
        for k in events:
            if T[j] >= T[k]:
                s0, xb, v = at(T[k])
                dh = r[j] / s0
                u -= dh * (x[j] - xb)
                om += dh * (-v + (x[j] - xb) * x[j])
        U[g[j]] = U.get(g[j], 0.0) + u
        Om[g[j]] = Om.get(g[j], 0.0) + om
    Ui = np.array(list(U.values()))
    h = np.array([Om[c] for c in U]) / info  # cluster leverage Omega_i / I
    G, p = len(Ui), 1
    rob = np.sum(Ui ** 2) / info ** 2
    c = (n - 1) * G / ((n - p) * (G - 1))
    return {"rob": rob,
            "kc": np.sum(Ui ** 2 / (1 - h)) / info ** 2,
            "md": np.sum(Ui ** 2 / (1 - h) ** 2) / info ** 2,
            "fg": np.sum(Ui ** 2 / (1 - np.minimum(0.75, h))) / info ** 2,
            "mbn": c * rob + min(0.5, p / (G - p)) * max(1.0, c * np.sum(Ui ** 2) / info / p) / info}


def test_one_covariate_matches_hand_computation():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(7), [2, 3, 5, 2, 8, 4, 3])
    x = (g % 2).astype(float) + 0.3 * rng.normal(size=len(g))
    T = rng.exponential(1 / np.exp(0.5 * x)) * rng.gamma(2, 0.5, 7)[g]
    E = (rng.uniform(size=len(g)) < 0.75).astype(int)
    beta = fit_cox(T, E, x, cluster=g).params
    hand = _by_hand(T, E, x, g, float(beta[0]))
    for ct, v in hand.items():
        np.testing.assert_allclose(bias_corrected_cov(T, E, x, g, beta, ct)[0, 0], v, rtol=1e-10, err_msg=ct)
    assert min(abs(hand[k] / hand["rob"] - 1) for k in ("kc", "md", "mbn")) > 0.01  # not a no-op


def test_fit_marginal_cox_cov_type_uses_the_corrected_variance_and_t_reference():
    d = pd.read_csv(os.path.join(DATA, "coxbcv_sim.csv"))
    x = d[d.set == "ties"].copy()
    ref = pd.read_csv(os.path.join(DATA, "coxbcv_reference.csv"))
    ref = ref[(ref.set == "ties") & (ref.covariates == "abc")]
    G = x.ID.nunique()
    rob = fit_marginal_cox(x, "Y", "Delta", ["a", "b", "c"], "ID", treatment="a")
    assert rob.df is None and rob.cov_type == "robust"
    for ct in ("kc", "fg", "md", "mbn"):
        res = fit_marginal_cox(x, "Y", "Delta", ["a", "b", "c"], "ID", treatment="a", cov_type=ct)
        want = np.sqrt(ref[ref.cov_type == ct]["var"].to_numpy())
        np.testing.assert_allclose(res.bse.to_numpy(), want, rtol=1e-6)
        np.testing.assert_allclose(res.bse_robust.to_numpy(), rob.bse.to_numpy())
        assert res.df == G - 2
        hr = res.hazard_ratios(0.10).loc["a"]
        b, se = res.params["a"], res.bse["a"]
        q = stats.t.ppf(0.95, G - 2)
        np.testing.assert_allclose([hr.lower, hr.upper, hr.p],
                                   [np.exp(b - q * se), np.exp(b + q * se), 2 * stats.t.sf(abs(b / se), G - 2)])
    with pytest.raises(ValueError, match="cov_type"):
        fit_marginal_cox(x, "Y", "Delta", ["a"], "ID", treatment="a", cov_type="hc3")
