"""The binary impacts' marginal GLM with CR2 variance (mheval.models.marginal_binary) against clubSandwich.

Reference values: benchmarks/r/clubsandwich_glm_reference.R (R 4.2.2, clubSandwich 0.5.8) on
tests/data/glm_cr2.csv (18 unequal organizations). "whitened": clubSandwich's CR2 of the GLM's final
IRLS step as an unweighted regression on whitened working data, the adjustment this package
computes (to 1e-6); "glm": clubSandwich's vcovCR(glm), whose symmetric root is taken on the
response scale (about 1% apart on these data; docs/small_sample_inference.md).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.models.marginal_binary import fit_marginal_binary
from mheval.models.nested_glmm import marginal_effect

DATA = Path(__file__).parent / "data"
R_NAMES = {"(Intercept)": "Intercept", "mh": "mh", "x": "x"}


def _r_name(n: str) -> str:
    """R's coefficient names in patsy's spelling: factor(year)1:mh -> C(year)[1]:mh."""
    if n.startswith("factor(year)"):
        rest = n[len("factor(year)"):]
        level, _, tail = rest.partition(":")
        return f"C(year)[{level}]" + (f":{tail}" if tail else "")
    return R_NAMES[n]


@pytest.fixture(scope="module")
def ref():
    return pd.read_csv(DATA / "clubsandwich_glm_reference.csv")


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(DATA / "glm_cr2.csv")
    d["log_expo"] = np.log(d["expo"])
    return d


FITS = {"cloglog": dict(formula="y ~ 0 + C(year) + C(year):mh + x", link="cloglog", offset="log_expo"),
        "logit": dict(formula="y ~ mh + x", link="logit", offset=None)}


def _fit(data, model):
    spec = FITS[model]
    d = data if model == "cloglog" else data.drop_duplicates("bene").reset_index(drop=True)
    return d, fit_marginal_binary(d, spec["formula"], org="org", link=spec["link"], offset=spec["offset"])


def _get(ref, model, quantity):
    r = ref[(ref["model"] == model) & (ref["quantity"] == quantity)].sort_values("index")
    return r


@pytest.mark.parametrize("model", ["cloglog", "logit"])
def test_coefficients_cr2_and_df_match_clubsandwich(ref, data, model):
    _, fit = _fit(data, model)
    coef = _get(ref, model, "coef")
    names = [_r_name(n) for n in coef["name"]]
    assert sorted(names) == sorted(fit.params.index)
    np.testing.assert_allclose(fit.params[names], coef["value"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.bse_model[names], _get(ref, model, "se_model")["value"], rtol=1e-6)
    p = len(names)
    V = _get(ref, model, "vcov_cr2_whitened")["value"].to_numpy().reshape(p, p, order="F")
    np.testing.assert_allclose(fit.cov_params().loc[names, names].to_numpy(), V, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.df[names], _get(ref, model, "df_satt_whitened")["value"], rtol=1e-6)
    # clubSandwich's own glm root (response scale): the same estimator family, SEs within 3%
    Vg = _get(ref, model, "vcov_cr2_glm")["value"].to_numpy().reshape(p, p, order="F")
    np.testing.assert_allclose(fit.bse[names], np.sqrt(np.diag(Vg)), rtol=0.03)


def test_average_marginal_effects_se_and_df_match_clubsandwich(ref, data):
    """Cloglog with a log-exposure offset: AMEs for a full year by year and their simple mean, delta-method SE
    from the CR2 covariance and the Satterthwaite df of each gradient contrast (= clubSandwich's HTZ df)."""
    d, fit = _fit(data, "cloglog")
    me = marginal_effect(fit, d, "mh", by="year", group_weights={1: 1, 2: 1, 3: 1}, exposure=1.0)
    np.testing.assert_allclose(me.params.to_numpy(), 100 * _get(ref, "cloglog", "ame")["value"], rtol=1e-7)
    np.testing.assert_allclose(me.bse.to_numpy(), 100 * _get(ref, "cloglog", "ame_se_whitened")["value"], rtol=1e-6)
    np.testing.assert_allclose(me.df.to_numpy(), _get(ref, "cloglog", "ame_df_whitened")["value"], rtol=1e-6)
    np.testing.assert_allclose(me.df.to_numpy(), _get(ref, "cloglog", "ame_df_htz_whitened")["value"], rtol=1e-6)
    s = me.summary(0.10)
    assert "t" in s and (s["upper"] - s["estimate"]).gt(1.645 * s["se"]).all()  # t quantile with ~11 df > normal


def test_logit_average_marginal_effect_matches_clubsandwich(ref, data):
    d, fit = _fit(data, "logit")
    me = marginal_effect(fit, d, "mh")
    assert me.params["overall"] == pytest.approx(100 * _get(ref, "logit", "ame")["value"].iloc[0], rel=1e-7)
    assert me.bse["overall"] == pytest.approx(100 * _get(ref, "logit", "ame_se_whitened")["value"].iloc[0], rel=1e-6)
    assert me.df["overall"] == pytest.approx(_get(ref, "logit", "ame_df_whitened")["value"].iloc[0], rel=1e-6)


def test_hand_computed_two_clusters_per_arm():
    """Intercept + arm logistic GLM, no covariates: the fit reproduces each arm's share, and the CR2
    variance of the arm coefficient is the sum over the arms' organizations of the adjusted squared
    score sums (with 2 organizations per arm and one column per arm, the whitened adjustment is
    (I - H_jj)^-1/2 with H_jj = w_j / (arm total of w), computed here by hand)."""
    rng = np.random.default_rng(3)
    n = [40, 60, 50, 30]
    org = np.repeat(np.arange(4), n)
    arm = (org >= 2).astype(float)
    y = (rng.random(len(org)) < np.where(arm == 1, 0.3, 0.5)).astype(float)
    d = pd.DataFrame({"y": y, "arm": arm, "org": org})
    fit = fit_marginal_binary(d, "y ~ 0 + C(arm)", org="org")
    p = d.groupby("arm")["y"].mean().to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-fit.params.to_numpy())), p, rtol=1e-10)
    # arm-cell coefficient b_a: M = 1 / (n_a p (1 - p)); org j's whitened hat block is rank one with eigenvalue
    # n_j / n_a, so its adjusted score is (1 - n_j / n_a)^-1/2 sum_i (y_i - p)
    for a, cols in ((0, [0, 1]), (1, [2, 3])):
        na = sum(n[j] for j in cols)
        M = 1 / (na * p[a] * (1 - p[a]))
        meat = sum(((y[org == j] - p[a]).sum()) ** 2 / (1 - n[j] / na) for j in cols)
        assert fit.cov_params().iloc[a, a] == pytest.approx(M * meat * M, rel=1e-9)
