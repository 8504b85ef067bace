"""CR2 cluster-robust variance and Satterthwaite df of the nested LMM (Equations 1-3), checked:

- against R's clubSandwich (vcovCR(type = "CR2"), coef_test(test = "Satterthwaite"),
  linear_contrast) on stored reference values: R 4.2.2, lme4 1.1.31, clubSandwich 0.5.8,
  ``Rscript benchmarks/r/clubsandwich_reference.R`` (tests/data/cr2_eq1.csv,
  tests/data/clubsandwich_reference.csv), and live when R and clubSandwich are installed;
- against a dense implementation of clubSandwich's formulas (n_j x n_j matrices, Cholesky factor
  as in its R code), written here independently of the module's subspace computation, including
  precision weights (which clubSandwich does not accept for lmer fits).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import patsy
import pytest

from mheval.models.cluster_robust import cr2
from mheval.models.nested_lmm import fit_nested_lmm

DATA = os.path.join(os.path.dirname(__file__), "data")


def _cases():
    d1 = pd.read_csv(os.path.join(DATA, "cr2_eq1.csv"))
    d2 = pd.read_csv(os.path.join(DATA, "lmm_nested_weighted.csv"))
    # patsy term order = R's (main effects, then interactions)
    return {"eq1": (d1, "y ~ 0 + C(year) + x + C(year):mh", "bene"), "nested": (d2, "y ~ x + mh", "bene"),
            "org_only": (d2.drop_duplicates("bene"), "y ~ x + mh", None)}


REF = pd.read_csv(os.path.join(DATA, "clubsandwich_reference.csv"))


def _q(model, quantity):
    r = REF[(REF.model == model) & (REF.quantity == quantity)]
    return r.sort_values("index")["value"].to_numpy()


@pytest.mark.parametrize("model", ["eq1", "nested", "org_only"])
def test_cr2_matches_clubsandwich_at_lme4_estimates(model):
    d, f, bene = _cases()[model]
    y, X = patsy.dmatrices(f, d, return_type="dataframe")
    beta = _q(model, "fixef")
    p = len(beta)
    res = cr2(X.to_numpy(), y.to_numpy().ravel() - X.to_numpy() @ beta, d["org"],
              bene=None if bene is None else d[bene], g_org=_q(model, "ratio_org")[0], g_bene=_q(model, "ratio_bene")[0])
    np.testing.assert_allclose(res.vcov, _q(model, "vcov_cr2").reshape(p, p, order="F"), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.df(), _q(model, "df_satt"), rtol=1e-8)
    var, df = res.contrast(_q(model, "contrast"))
    np.testing.assert_allclose([np.sqrt(var), df], [_q(model, "contrast_se")[0], _q(model, "contrast_df")[0]], rtol=1e-8)


@pytest.mark.parametrize("model", ["eq1", "nested", "org_only"])
def test_cr3_matches_clubsandwich_at_lme4_estimates(model):
    """clubSandwich's vcovCR(type = "CR3") and its Satterthwaite df (coef_test, linear_contrast); the
    t reference of CR3 is G - 1 (ClusterRobust.contrast), its Satterthwaite df still available."""
    d, f, bene = _cases()[model]
    y, X = patsy.dmatrices(f, d, return_type="dataframe")
    beta = _q(model, "fixef")
    p = len(beta)
    res = cr2(X.to_numpy(), y.to_numpy().ravel() - X.to_numpy() @ beta, d["org"],
              bene=None if bene is None else d[bene], g_org=_q(model, "ratio_org")[0], g_bene=_q(model, "ratio_bene")[0],
              adjustment="CR3")
    np.testing.assert_allclose(res.vcov, _q(model, "vcov_cr3").reshape(p, p, order="F"), rtol=1e-8, atol=1e-12)
    cc = _q(model, "contrast")
    var, df = res.satterthwaite(cc)
    np.testing.assert_allclose([np.sqrt(var), df], [_q(model, "contrast_se_cr3")[0], _q(model, "contrast_df_cr3")[0]],
                               rtol=1e-8)
    np.testing.assert_allclose([res.satterthwaite(np.eye(p)[k])[1] for k in range(p)], _q(model, "df_satt_cr3"),
                               rtol=1e-8)
    G = d["org"].nunique()
    assert res.contrast(cc) == (var, G - 1) and (res.df() == G - 1).all()
    # CR3 is the cluster jackknife at the fitted variance ratios without its (G - 1)/G factor:
    # sum_j (beta - beta_(-j))(beta - beta_(-j))', each beta_(-j) a GLS refit without organization j
    from mheval.models.cluster_robust import fixed_variance_gls
    gr, gb = _q(model, "ratio_org")[0], _q(model, "ratio_bene")[0]
    full = fixed_variance_gls(X.to_numpy(), y.to_numpy().ravel(), d["org"], bene=None if bene is None else d[bene],
                              g_org=gr, g_bene=gb)
    np.testing.assert_allclose(full, beta, rtol=1e-5)
    dev = []
    for o in d["org"].unique():
        k = (d["org"] != o).to_numpy()
        dev.append(full - fixed_variance_gls(X.to_numpy()[k], y.to_numpy().ravel()[k], d["org"][k],
                                             bene=None if bene is None else d[bene][k], g_org=gr, g_bene=gb))
    dev = np.array(dev)
    np.testing.assert_allclose(res.vcov, dev.T @ dev, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("model", ["eq1", "nested", "org_only"])
def test_fit_nested_lmm_cr3(model):
    """cov_type="CR3" from the rows and from the sufficient statistics agree with clubSandwich's CR3 (at the
    fit's estimates, as the CR2 test) and keep CR2 beside it."""
    d, f, bene = _cases()[model]
    fit = fit_nested_lmm(d, f, org="org", bene=bene, cov_type="CR3")
    p = len(fit.params)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), _q(model, "vcov_cr3").reshape(p, p, order="F"),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.robust_cr2.vcov, _q(model, "vcov_cr2").reshape(p, p, order="F"), rtol=1e-6,
                               atol=1e-12)
    assert fit.cov_type == "CR3" and (fit.df == d["org"].nunique() - 1).all()


@pytest.mark.parametrize("model", ["eq1", "nested", "org_only"])
def test_fit_nested_lmm_cr2_matches_clubsandwich(model):
    d, f, bene = _cases()[model]
    fit = fit_nested_lmm(d, f, org="org", bene=bene, cov_type="CR2")
    p = len(fit.params)
    V = _q(model, "vcov_cr2").reshape(p, p, order="F")
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(V)), rtol=1e-6)
    np.testing.assert_allclose(fit.df.to_numpy(), _q(model, "df_satt"), rtol=1e-6)
    np.testing.assert_allclose(fit.bse_model.to_numpy(), _q(model, "se_model"), rtol=1e-6)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), V, rtol=1e-6, atol=1e-12)
    var, df = fit.robust.contrast(_q(model, "contrast"))
    np.testing.assert_allclose([np.sqrt(var), df], [_q(model, "contrast_se")[0], _q(model, "contrast_df")[0]], rtol=1e-6)
    table = fit.summary(0.10)
    assert (table["df"] == fit.df).all()


def _sym_power(a, power):
    val, vec = np.linalg.eigh((a + a.T) / 2)
    return (vec * np.where(val > 1e-12, np.abs(val) ** power, 0)) @ vec.T


def _dense(X, resid, org, bene, w, g_o, g_b, whitened=False):
    """clubSandwich's CR2 and Satterthwaite pieces with dense matrices (its R code, transcribed);
    ``whitened``: W_j A_j = L'^-1 (I - H_L)^-1/2 L^-1 with L the lower Cholesky factor of Theta_j."""
    labels = np.unique(org)
    blocks = []
    for lab in labels:
        r = np.flatnonzero(org == lab)
        Zb = (bene[r][:, None] == np.unique(bene[r])[None, :]).astype(float)
        Th = np.diag(1 / w[r]) + g_b * Zb @ Zb.T + g_o * np.ones((len(r), len(r)))
        blocks.append((r, Th, np.linalg.inv(Th)))
    M = np.linalg.inv(sum(X[r].T @ W @ X[r] for r, _, W in blocks))
    comps, G_list, H_list = [], [], []
    Lc = np.linalg.cholesky(M)
    for r, Th, W in blocks:
        D = np.linalg.cholesky(Th).T  # R's chol: upper, D'D = Theta
        if whitened:
            Li = np.linalg.inv(D.T)
            Xt = Li @ X[r]
            E = Xt.T @ _sym_power(np.eye(len(r)) - Xt @ M @ Xt.T, -0.5) @ Li  # X' W A
        else:
            G = D @ (np.eye(len(r)) - X[r] @ M @ X[r].T @ W) @ Th @ D.T
            A = D.T @ _sym_power(G, -0.5) @ D
            E = X[r].T @ W @ A
        comps.append(E @ resid[r])
        G_list.append(M @ E @ D.T)
        H_list.append(M @ E @ X[r] @ Lc)
    comps = np.array(comps)
    V = M @ comps.T @ comps @ M

    def df(c):
        g = np.array([np.sum((c @ Gj) ** 2) for Gj in G_list])
        H = np.array([c @ Hj for Hj in H_list])  # J x p
        P = np.diag(g) - H @ H.T
        return np.trace(P) ** 2 / np.sum(P ** 2)
    return V, df


def _design(weights, seed=11):
    rng = np.random.default_rng(11)
    G = 9
    nb = rng.integers(2, 9, G)
    org_b = np.repeat(np.arange(G), nb)
    nyr = rng.integers(1, 5, len(org_b))
    bene = np.repeat(np.arange(len(org_b)), nyr)
    org = org_b[bene]
    n = len(bene)
    year = np.concatenate([np.arange(k) for k in nyr])
    mh = (org % 2).astype(float)
    X = np.column_stack([np.eye(4)[year], np.eye(4)[year] * mh[:, None], rng.normal(size=n)])
    resid = rng.normal(size=n) * (1 + mh) + rng.normal(size=G)[org]
    w = {"none": np.ones(n), "few": rng.choice([1.0, 0.5, 0.25], n), "many": rng.uniform(0.1, 1, n)}[weights]
    return X, resid, org, bene, w


@pytest.mark.parametrize("form", ["symmetric", "whitened"])
@pytest.mark.parametrize("weights", ["none", "few", "many"])
def test_structured_computation_equals_dense_formulas(weights, form):
    X, resid, org, bene, w = _design(weights)
    g_o, g_b = 0.3, 0.8
    res = cr2(X, resid, org, w=w, bene=bene, g_org=g_o, g_bene=g_b, form=form)
    assert res.form == form
    V, df = _dense(X, resid, org, bene, w, g_o, g_b, whitened=form == "whitened")
    np.testing.assert_allclose(res.vcov, V, rtol=1e-9, atol=1e-13)
    avg = np.r_[np.zeros(4), np.full(4, 0.25), 0.0]
    for c in [np.eye(9)[4], np.eye(9)[8], avg]:
        np.testing.assert_allclose(res.contrast(c)[1], df(c), rtol=1e-9)
    if weights == "none" and form == "symmetric":  # few distinct eigenvalues of Theta_j: a small subspace
        assert res.max_subspace < 4 * X.shape[1]
    # CR2's defining property, exact unbiasedness under the working model: for every organization
    # X'WA (Theta - X M X') A'WX = X'WX, i.e. F_j - E_j M E_j' = X_j' W_j X_j
    for j, lab in enumerate(np.unique(org)):
        r = np.flatnonzero(org == lab)
        Zb = (bene[r][:, None] == np.unique(bene[r])[None, :]).astype(float)
        Th = np.diag(1 / w[r]) + g_b * Zb @ Zb.T + g_o
        XWX = X[r].T @ np.linalg.solve(Th, X[r])
        np.testing.assert_allclose(res.F[j] - res.E[j] @ res.M @ res.E[j].T, XWX, rtol=1e-8, atol=1e-10)


def test_auto_switches_to_whitened_when_the_subspace_is_large():
    X, resid, org, bene, w = _design("few")
    assert cr2(X, resid, org, w=w, bene=bene, g_org=0.3, g_bene=0.8).form == "symmetric"
    res = cr2(X, resid, org, w=w, bene=bene, g_org=0.3, g_bene=0.8, max_dim=12)
    assert res.form == "whitened"
    np.testing.assert_allclose(res.vcov, cr2(X, resid, org, w=w, bene=bene, g_org=0.3, g_bene=0.8, form="whitened").vcov)
    with pytest.raises(ValueError, match="whitened"):
        cr2(X, resid, org, w=w, bene=bene, g_org=0.3, g_bene=0.8, form="symmetric", max_dim=12)
    X, resid, org, bene, w = _design("many")  # many distinct weights: whitened without trying
    assert cr2(X, resid, org, w=w, bene=bene, g_org=0.3, g_bene=0.8).form == "whitened"


def test_bad_cov_type():
    d, f, bene = _cases()["nested"]
    with pytest.raises(ValueError, match="cov_type"):
        fit_nested_lmm(d, f, org="org", bene=bene, cov_type="CR1")
    with pytest.raises(ValueError, match="adjustment"):
        cr2(np.ones((3, 1)), np.zeros(3), [0, 1, 2], adjustment="CR0")


def test_matches_clubsandwich_live():
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found")
    ok = subprocess.run(["Rscript", "-e", "library(clubSandwich); library(lme4)"], capture_output=True)
    if ok.returncode != 0:
        pytest.skip("R packages clubSandwich or lme4 not installed")
    code = ("suppressMessages({library(lme4); library(clubSandwich)}); d <- read.csv(file('stdin'));"
            "ctl <- lmerControl(optimizer = 'bobyqa', optCtrl = list(rhobeg = 0.2, rhoend = 1e-12));"
            "f <- lmer(y ~ x + mh + (1 | org) + (1 | bene), data = d, control = ctl);"
            "ct <- coef_test(f, vcov = 'CR2', test = 'Satterthwaite');"
            "cat(sprintf('%.12e', ct$SE), '\\n'); cat(sprintf('%.12e', ct$df_Satt), '\\n')")
    d, f, bene = _cases()["nested"]
    d = d.assign(mh=d["mh"] + 0.1 * d["x"] ** 2)  # a variant the stored reference does not hold
    out = subprocess.run(["Rscript", "-e", code], input=d.to_csv(index=False), capture_output=True, text=True, check=True)
    se, dfs = (np.array(line.split(), float) for line in out.stdout.strip().splitlines())
    fit = fit_nested_lmm(d, f, org="org", bene=bene, cov_type="CR2")
    np.testing.assert_allclose(fit.bse.to_numpy(), se, rtol=1e-6)
    np.testing.assert_allclose(fit.df.to_numpy(), dfs, rtol=1e-6)
