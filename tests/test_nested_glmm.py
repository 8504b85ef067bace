"""The nested-intercept logistic GLMM engine against lme4's glmer, a dense hand computation,
statsmodels' Logit, and the average marginal effects against numerical derivatives and simulation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special

from mheval.models.nested_glmm import (
    _mean_probability,
    fit_nested_glmm,
    marginal_effect,
)

DATA = Path(__file__).parent / "data"
# R 4.2.2, lme4 1.1.31, tight tolerances: Rscript benchmarks/r/glmer_reference.R
CASES = {"org": ("glmm_org.csv", "y ~ x1 + x2 + mh", {}),
         "nested": ("glmm_nested.csv", "y ~ x1 + x2 + mh + year", {"bene": "bene"}),
         "nested_weighted": ("glmm_nested.csv", "y ~ x1 + x2 + mh + year", {"bene": "bene", "weights": "w"})}


def reference(case: str) -> dict:
    ref = pd.read_csv(DATA / "glmm_reference.csv", keep_default_na=False, skipinitialspace=True)
    ref = ref[ref["case"] == case].assign(term=lambda r: r["term"].replace({"(Intercept)": "Intercept"}))
    return {q: g.set_index("term")["value"].astype(float) for q, g in ref.groupby("quantity")}


@pytest.fixture(scope="module")
def nested_fit():
    d = pd.read_csv(DATA / "glmm_nested.csv")
    return d, fit_nested_glmm(d, "y ~ 0 + C(year) + C(year):mh + x1 + x2", org="org", bene="bene")


@pytest.mark.parametrize("case", list(CASES))
def test_matches_glmer(case):
    path, formula, kw = CASES[case]
    fit = fit_nested_glmm(pd.read_csv(DATA / path), formula, org="org", **kw)
    ref = reference(case)
    names = fit.params.index
    assert fit.converged
    # at least 4 significant digits (observed: 2e-5 or better)
    assert np.allclose(fit.params, ref["fixef"][names], rtol=1e-4)
    assert np.allclose(fit.bse, ref["se"][names], rtol=1e-4)
    assert np.allclose(np.sqrt(np.diag(fit.cov_params("conditional"))), ref["se_conditional"][names], rtol=1e-4)
    vc = ref["vc"]
    assert fit.variance_components["org"] == pytest.approx(vc["org"], rel=1e-4)
    assert fit.variance_components["bene"] == pytest.approx(vc["bene"], rel=1e-4, abs=1e-12)
    assert fit.llf == pytest.approx(ref["loglik"].iloc[0], abs=1e-5)
    assert fit.nobs == len(pd.read_csv(DATA / path))


def _dense_deviance(params, X, y, Z):
    """Laplace deviance by brute force: dense Z, generic optimizer for the modes, dense log det."""
    q_o = Z[0].shape[1]
    s = np.r_[np.full(q_o, params[0]), np.full(Z[1].shape[1], params[1])]
    G = np.hstack(Z) * s
    xb = X @ params[2:]

    def pen(u):
        eta = xb + G @ u
        return -2 * np.sum(y * eta - np.logaddexp(0, eta)) + u @ u

    def grad(u):
        return -2 * G.T @ (y - special.expit(xb + G @ u)) + 2 * u

    u = optimize.minimize(pen, np.zeros(G.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-11}).x
    mu = special.expit(xb + G @ u)
    H = G.T @ ((mu * (1 - mu))[:, None] * G) + np.eye(G.shape[1])
    return pen(u) + np.linalg.slogdet(H)[1]


def test_laplace_deviance_and_se_match_a_dense_hand_computation():
    rng = np.random.default_rng(3)
    n_org, n_bene = 6, 30
    org_of = rng.integers(0, n_org, n_bene)
    org_of[:n_org] = np.arange(n_org)
    bene = np.repeat(np.arange(n_bene), rng.integers(1, 5, n_bene))
    x = rng.normal(size=len(bene))
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.7, n_org)[org_of[bene]] + rng.normal(0, 1.2, n_bene)[bene]
    y = (rng.random(len(bene)) < special.expit(eta)).astype(float)
    d = pd.DataFrame({"y": y, "x": x, "org": org_of[bene], "bene": bene})
    fit = fit_nested_glmm(d, "y ~ x", org="org", bene="bene")
    X = np.column_stack([np.ones(len(d)), x])
    Z = [np.eye(n_org)[org_of[bene]], np.eye(n_bene)[bene]]
    est = np.r_[fit.theta, fit.params.to_numpy()]
    assert fit.llf == pytest.approx(-_dense_deviance(est, X, y, Z) / 2, abs=1e-6)
    # the estimate is the optimum of the dense criterion, and glmer's vcov (2 x the inverse of the
    # deviance Hessian, beta block) computed from it by finite differences matches bse
    k, h = len(est), 1e-3
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = (_dense_deviance(est + ei + ej, X, y, Z) - _dense_deviance(est + ei - ej, X, y, Z)
                       - _dense_deviance(est - ei + ej, X, y, Z) + _dense_deviance(est - ei - ej, X, y, Z)) / (4 * h * h)
    grad = [(_dense_deviance(est + np.eye(k)[i] * h, X, y, Z) - _dense_deviance(est - np.eye(k)[i] * h, X, y, Z)) / (2 * h)
            for i in range(k)]
    assert np.abs(grad).max() < 1e-4
    se = np.sqrt(np.diag(2 * np.linalg.inv(H))[2:])
    assert np.allclose(fit.bse.to_numpy(), se, rtol=1e-3)


def test_no_clustering_gives_the_ordinary_logit():
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    n = 3000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4])
    y = (rng.random(n) < special.expit(X @ [-0.5, 0.7, -0.4])).astype(float)
    d = pd.DataFrame({"y": y, "x1": X[:, 1], "x2": X[:, 2].astype(float), "org": rng.integers(0, 50, n)})
    fit = fit_nested_glmm(d, "y ~ x1 + x2", org="org")
    logit = sm.Logit(y, X).fit(disp=0)
    # this seed's ML organization variance is exactly 0 (boundary): then the GLMM is the GLM
    assert fit.variance_components["org"] < 1e-8
    assert np.allclose(fit.params.to_numpy(), logit.params, rtol=1e-6)
    assert np.allclose(fit.cov_params("conditional").to_numpy(), logit.cov_params(), rtol=1e-5)
    assert fit.llf == pytest.approx(logit.llf, abs=1e-6)


def test_population_averaged_probability_is_the_normal_integral():
    X = np.array([[1.0, -2.0], [1.0, 0.5], [1.0, 3.0]])
    beta, sigma = np.array([0.2, 0.9]), 1.3
    prob, slope = _mean_probability(X, beta, sigma, 30)

    def dens(z, eta, f):
        return f(special.expit(eta + sigma * z)) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

    for i, eta in enumerate(X @ beta):
        assert prob[i] == pytest.approx(integrate.quad(dens, -12, 12, args=(eta, lambda m: m))[0], abs=1e-9)
        assert slope[i] == pytest.approx(integrate.quad(dens, -12, 12, args=(eta, lambda m: m * (1 - m)))[0], abs=1e-9)


def test_conditional_ame_is_the_plain_average_difference(nested_fit):
    d, fit = nested_fit
    t = marginal_effect(fit, d, treatment="mh", by="year", scale="conditional").summary(0.10)
    b = fit.params
    for year in (1, 3, 5):
        r = d[d["year"] == year]
        base = b[f"C(year)[{year}]"] + b["x1"] * r["x1"] + b["x2"] * r["x2"]
        p1, p0 = special.expit(base + b[f"C(year)[{year}]:mh"]), special.expit(base)
        assert t.loc[year, "estimate"] == pytest.approx(100 * (p1 - p0).mean(), rel=1e-10)
        assert t.loc[year, "control"] == pytest.approx(100 * p0.mean(), rel=1e-10)
    assert t.loc["overall", "n"] == len(d)


@pytest.mark.parametrize("scale", ["population", "conditional"])
def test_ame_delta_method_se_matches_numerical_gradient(nested_fit, scale):
    d, fit = nested_fit
    t = marginal_effect(fit, d, treatment="mh", by="year", scale=scale).summary(0.10)
    beta, V = fit.params, fit.cov_params().to_numpy()
    grads = []
    for j in range(len(beta)):
        step = np.zeros(len(beta))
        step[j] = 1e-6
        up = marginal_effect(dataclasses.replace(fit, params=beta + step), d, "mh", by="year", scale=scale).params
        down = marginal_effect(dataclasses.replace(fit, params=beta - step), d, "mh", by="year", scale=scale).params
        grads.append((up - down) / 2e-6)
    G = pd.concat(grads, axis=1).to_numpy()
    se = np.sqrt(np.einsum("gi,ij,gj->g", G, V, G))
    assert np.allclose(t["se"].to_numpy(), se, rtol=1e-5)
    assert np.allclose(t["upper"] - t["estimate"], 1.6448536 * t["se"], rtol=1e-6)


def test_group_weighted_overall_is_the_mean_of_the_yearly_effects_with_its_joint_se(nested_fit):
    """group_weights: equal weights give the simple mean of the yearly AMEs, its SE from a numerical
    gradient of that mean with the joint covariance; weights equal to the rows per year give back
    the pooled average over rows."""
    d, fit = nested_fit
    years = sorted(d["year"].unique())
    t = marginal_effect(fit, d, treatment="mh", by="year", group_weights={y: 1.0 for y in years}).summary(0.10)
    yearly = t.loc[years]
    assert t.loc["overall", "estimate"] == pytest.approx(yearly["estimate"].mean(), rel=1e-12)
    assert t.loc["overall", "control"] == pytest.approx(yearly["control"].mean(), rel=1e-12)
    beta, V = fit.params, fit.cov_params().to_numpy()
    g = np.zeros(len(beta))
    for j in range(len(beta)):
        step = np.zeros(len(beta))
        step[j] = 1e-6
        up = marginal_effect(dataclasses.replace(fit, params=beta + step), d, "mh", by="year").params.loc[years]
        down = marginal_effect(dataclasses.replace(fit, params=beta - step), d, "mh", by="year").params.loc[years]
        g[j] = (up.mean() - down.mean()) / 2e-6
    assert t.loc["overall", "se"] == pytest.approx(np.sqrt(g @ V @ g), rel=1e-5)
    pooled = marginal_effect(fit, d, treatment="mh", by="year").summary(0.10)
    rows = marginal_effect(fit, d, treatment="mh", by="year", group_weights=d["year"].value_counts().to_dict()).summary(0.10)
    assert rows.loc["overall", ["estimate", "se", "control"]].to_numpy() == pytest.approx(
        pooled.loc["overall", ["estimate", "se", "control"]].to_numpy(), rel=1e-10)
    with pytest.raises(ValueError, match="no weight for level"):
        marginal_effect(fit, d, treatment="mh", by="year", group_weights={years[0]: 1.0})


def _trial(seed, n_org=40, n_bene=600, effect=0.5):
    rng = np.random.default_rng(seed)
    org_of = rng.integers(0, n_org, n_bene)
    mh = rng.permutation(np.arange(n_org) % 2)
    bene = np.repeat(np.arange(n_bene), 3)
    org = org_of[bene]
    x = rng.normal(size=len(bene))
    eta = -1.0 + effect * mh[org] + 0.5 * x + rng.normal(0, 0.5, n_org)[org] + rng.normal(0, 0.8, n_bene)[bene]
    return pd.DataFrame({"y": (rng.random(len(bene)) < special.expit(eta)).astype(int), "mh": mh[org], "x": x,
                         "org": org, "bene": bene})


def test_recovers_a_known_treatment_effect():
    """12 simulated cluster-randomized trials: the log-odds effect and the population-averaged AME
    are recovered on average (Monte Carlo SEs of these means: about 0.05 and 1.0 points), and the
    delta-method SE of the AME matches its spread across trials."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, np.sqrt(0.5 ** 2 + 0.8 ** 2), 200_000)
    x = rng.normal(size=200_000)
    true_ame = 100 * np.mean(special.expit(-0.5 + 0.5 * x + z) - special.expit(-1.0 + 0.5 * x + z))
    coefs, ames, ses = [], [], []
    for seed in range(12):
        d = _trial(seed)
        fit = fit_nested_glmm(d, "y ~ mh + x", org="org", bene="bene")
        coefs.append(fit.params["mh"])
        row = marginal_effect(fit, d, treatment="mh").summary(0.10).loc["overall"]
        ames.append(row["estimate"])
        ses.append(row["se"])
    assert abs(np.mean(coefs) - 0.5) < 0.15
    assert abs(np.mean(ames) - true_ame) < 3.0
    assert 0.6 < np.mean(ses) / np.std(ames, ddof=1) < 1.6


def test_cluster_bootstrap_is_reproducible_and_brackets_the_estimate():
    d = _trial(5, n_org=20, n_bene=200)
    fit = fit_nested_glmm(d, "y ~ mh + x", org="org")
    a = marginal_effect(fit, d, treatment="mh", method="bootstrap", n_boot=8, seed=1).summary(0.10)
    b = marginal_effect(fit, d, treatment="mh", method="bootstrap", n_boot=8, seed=1).summary(0.10)
    pd.testing.assert_frame_equal(a, b)
    delta = marginal_effect(fit, d, treatment="mh").summary(0.10)
    row = a.loc["overall"]
    assert row["estimate"] == delta.loc["overall", "estimate"]
    assert row["lower"] < row["estimate"] < row["upper"]
    assert 0.3 < row["se"] / delta.loc["overall", "se"] < 3


def test_bad_input_is_an_error():
    d = pd.DataFrame({"y": [0, 1, 2, 1], "x": [0.0, 1, 0, 1], "org": [1, 2, 1, 1], "bene": [1, 1, 2, 2]})
    with pytest.raises(ValueError, match="binary"):
        fit_nested_glmm(d, "y ~ x", org="org")
    d["y"] = [0, 1, 0, 1]
    with pytest.raises(ValueError, match="not nested"):
        fit_nested_glmm(d, "y ~ x", org="org", bene="bene")
    with pytest.raises(ValueError, match="positive"):
        fit_nested_glmm(d.assign(w=[1.0, 0, 1, 1]), "y ~ x", org="org", weights="w")
    varying = _trial(1, n_org=10, n_bene=60).assign(x=lambda r: (r["x"] > 0).astype(int))
    fit = fit_nested_glmm(varying, "y ~ mh + x", org="org")
    with pytest.raises(ValueError, match="varies within organizations"):
        marginal_effect(fit, varying, treatment="x", method="bootstrap", n_boot=2)


def test_boolean_outcome_expression_is_accepted():
    d = _trial(2, n_org=10, n_bene=100)
    a = fit_nested_glmm(d, "I(y > 0) ~ mh + x", org="org")
    b = fit_nested_glmm(d, "y ~ mh + x", org="org")
    assert np.allclose(a.params, b.params)


def test_zero_organization_variance_matches_glmer():
    """Binary outcome simulated with no organization effect (true variance 0): glmer (tight) ends on
    the boundary (theta_org < 1e-7); so does this fit, with glmer's estimates and standard errors."""
    d = pd.read_csv(DATA / "lmm_boundary.csv")
    ref = pd.read_csv(DATA / "glmm_boundary_reference.csv", comment="#", keep_default_na=False)
    ref = ref.assign(term=ref["term"].replace("(Intercept)", "Intercept"))
    ref = {q: g.set_index("term")["value"].astype(float) for q, g in ref.groupby("quantity")}
    fit = fit_nested_glmm(d, "yb ~ x + mh + year", org="org", bene="bene")
    names = fit.params.index
    assert fit.converged
    assert fit.variance_components["org"] < 1e-12
    assert np.allclose(fit.params, ref["fixef"][names], rtol=1e-5)
    assert np.allclose(fit.bse, ref["se"][names], rtol=1e-4)  # glmer's finite-difference Hessian
    assert np.allclose(np.sqrt(np.diag(fit.cov_params("conditional"))), ref["se_conditional"][names], rtol=1e-5)
    assert fit.variance_components["bene"] == pytest.approx(ref["vc"]["bene"], rel=1e-5)
    assert fit.llf == pytest.approx(ref["loglik"].iloc[0], abs=1e-6)


# R 4.2.2, lme4 1.1.31: Rscript benchmarks/r/glmer_cloglog_reference.R (partial years of exposure,
# glmer(binomial(link = "cloglog"), offset = log(exposure)))
CLOGLOG_CASES = {"cloglog_nested": {"bene": "bene"}, "cloglog_org": {}}


@pytest.mark.parametrize("case", list(CLOGLOG_CASES))
def test_cloglog_with_log_exposure_offset_matches_glmer(case):
    d = pd.read_csv(DATA / "glmm_cloglog.csv").assign(LOG_EXPOSURE=lambda x: np.log(x["exposure"]))
    fit = fit_nested_glmm(d, "y ~ x1 + mh + year", org="org", link="cloglog", offset="LOG_EXPOSURE",
                          **CLOGLOG_CASES[case])
    ref = {q: g.set_index("term")["value"].astype(float) for q, g in
           pd.read_csv(DATA / "glmm_cloglog_reference.csv", keep_default_na=False, skipinitialspace=True)
           .query("case == @case").assign(term=lambda r: r["term"].replace({"(Intercept)": "Intercept"}))
           .groupby("quantity")}
    names = fit.params.index
    assert fit.converged
    assert np.allclose(fit.params, ref["fixef"][names], rtol=1e-4)
    assert np.allclose(fit.bse, ref["se"][names], rtol=1e-4)
    assert np.allclose(np.sqrt(np.diag(fit.cov_params("conditional"))), ref["se_conditional"][names], rtol=1e-4)
    assert fit.variance_components["org"] == pytest.approx(ref["vc"]["org"], rel=1e-4)
    assert fit.variance_components["bene"] == pytest.approx(ref["vc"]["bene"], rel=1e-4, abs=1e-12)
    assert fit.llf == pytest.approx(ref["loglik"].iloc[0], abs=1e-4)


def test_cloglog_marginal_effect_for_a_full_year_of_exposure():
    """With exposure=1 every row is predicted at offset 0: conditional on the intercepts, the effect
    is the mean of (1 - exp(-exp(x1'b))) - (1 - exp(-exp(x0'b))), by hand; at the rows' own partial
    years the probabilities (and so the effect's size) are smaller."""
    d = pd.read_csv(DATA / "glmm_cloglog.csv").assign(LOG_EXPOSURE=lambda x: np.log(x["exposure"]))
    fit = fit_nested_glmm(d, "y ~ x1 + mh + year", org="org", link="cloglog", offset="LOG_EXPOSURE")
    b = fit.params
    eta0 = b["Intercept"] + b["x1"] * d["x1"] + b["year"] * d["year"]
    p1, p0 = 1 - np.exp(-np.exp(eta0 + b["mh"])), 1 - np.exp(-np.exp(eta0))
    full = marginal_effect(fit, d, treatment="mh", scale="conditional", exposure=1.0).summary(0.10).loc["overall"]
    assert full["estimate"] == pytest.approx(100 * (p1 - p0).mean(), rel=1e-10)
    assert full["control"] == pytest.approx(100 * p0.mean(), rel=1e-10)
    own = marginal_effect(fit, d, treatment="mh", scale="conditional").summary(0.10).loc["overall"]
    e = d["exposure"]
    assert own["control"] == pytest.approx(100 * (1 - np.exp(-e * np.exp(eta0))).mean(), rel=1e-10)
    assert own["control"] < full["control"]


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_exact_beta_hessian_is_the_derivative_of_the_analytic_gradient(link):
    # the Hessian of the Laplace deviance in beta (one pass over the rows, used for Newton and glmer's
    # vcov) equals central differences of the analytic gradient, away from the optimum, with weights
    # and (cloglog) a log-exposure offset
    from mheval.models.nested_glmm import LINKS, _Laplace

    rng = np.random.default_rng(5)
    n_org, per_org, years = 12, 25, 3
    bene = np.repeat(np.arange(n_org * per_org), years)
    org_of_bene = np.repeat(np.arange(n_org), per_org)
    X = np.column_stack([np.ones(len(bene)), rng.normal(size=len(bene)), np.repeat(rng.integers(0, 2, n_org), per_org * years)])
    off = np.log(rng.uniform(0.3, 1.0, len(bene))) if link == "cloglog" else None
    eta = X @ [-1.0, 0.4, -0.3] + 0.5 * rng.normal(size=n_org)[org_of_bene[bene]] + 0.7 * rng.normal(size=len(org_of_bene))[bene]
    y = (rng.uniform(size=len(bene)) < LINKS[link].mean(eta + (0 if off is None else off))).astype(float)
    w = rng.uniform(0.5, 2.0, len(bene))
    so, sb, beta = 0.45, 0.8, np.array([-0.8, 0.3, -0.1])

    def grad(b):
        return _Laplace(X, y, w, bene, org_of_bene, LINKS[link], off).deviance_and_gradient(so, sb, b)[1][2:]

    H = _Laplace(X, y, w, bene, org_of_bene, LINKS[link], off).deviance_and_gradient(so, sb, beta, hessian=True)[3]
    h = 1e-5
    fd = np.column_stack([(grad(beta + h * e) - grad(beta - h * e)) / (2 * h) for e in np.eye(3)])
    assert np.allclose(H, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
