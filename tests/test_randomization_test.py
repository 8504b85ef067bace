"""Stratified randomization test: exact enumeration on a small trial, strata respected, and the
fixed-variance GLS statistic equal to the LMM fit's coefficients."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mheval.models.cluster_robust import fixed_variance_gls
from mheval.models.nested_lmm import fit_nested_lmm
from mheval.models.randomization_test import randomization_test


def _trial():
    # 8 organizations in 2 strata of 4, 2 treated per stratum; 3-6 subjects each
    rng = np.random.default_rng(2)
    sizes = [3, 5, 4, 6, 3, 4, 5, 3]
    org = np.repeat(np.arange(8), sizes)
    arm = np.array([1, 0, 1, 0, 0, 1, 1, 0])
    y = rng.normal(size=len(org)) + 0.8 * arm[org] + rng.normal(0, 0.3, 8)[org]
    return pd.DataFrame({"org": org, "mh": arm[org], "y": y, "stratum": np.where(org < 4, "a", "b")})


def _diff(d):
    return d.loc[d.mh == 1, "y"].mean() - d.loc[d.mh == 0, "y"].mean()


def test_matches_exact_enumeration_within_strata():
    d = _trial()
    obs = _diff(d)
    # every assignment with 2 of 4 treated in each stratum: 6 x 6 = 36
    stats = []
    for a in itertools.combinations(range(4), 2):
        for b in itertools.combinations(range(4, 8), 2):
            arm = np.zeros(8, int)
            arm[list(a) + list(b)] = 1
            stats.append(_diff(d.assign(mh=arm[d.org])))
    exact = np.mean(np.abs(stats) >= abs(obs) - 1e-12)
    res = randomization_test(_diff, d, "mh", "org", strata="stratum", n_perm=1000, seed=1)
    assert res["n_valid"] == 1000 and res["n_failed"] == 0 and res["n_strata"] == 2
    assert res["statistic"] == pytest.approx(obs)
    assert abs(res["p"] - exact) < 3 * np.sqrt(exact * (1 - exact) / 1000) + 1e-3
    # strata ignored: a different (complete-randomization) reference distribution
    res_all = randomization_test(_diff, d, "mh", "org", strata=None, n_perm=100, seed=1)
    assert res_all["n_strata"] == 1


def test_permutations_keep_the_treated_count_in_each_stratum():
    d = _trial()
    seen = []

    def record(x):
        per = x.groupby("org").agg(mh=("mh", "first"), s=("stratum", "first")).groupby("s")["mh"].sum()
        seen.append(tuple(per))
        return _diff(x)
    strata = pd.Series(np.where(np.arange(8) < 4, "a", "b"), index=np.arange(8))  # organization-file form
    randomization_test(record, d, "mh", "org", strata=strata, n_perm=50, seed=3)
    assert set(seen) == {(2, 2)}


def test_bad_inputs():
    d = _trial()
    with pytest.raises(ValueError, match="varies within"):
        randomization_test(_diff, d.assign(mh=np.arange(len(d)) % 2), "mh", "org")
    with pytest.raises(ValueError, match="no randomization stratum"):
        randomization_test(_diff, d, "mh", "org", strata=pd.Series(["a"] * 4, index=range(4)))


def test_fixed_variance_gls_reproduces_the_lmm_fit():
    d = pd.read_csv("tests/data/lmm_nested_weighted.csv")
    fit = fit_nested_lmm(d, "y ~ x + mh", org="org", bene="bene", weights="w")
    X = np.column_stack([np.ones(len(d)), d.x, d.mh])
    beta = fixed_variance_gls(X, d.y, d.org, w=d.w, bene=d.bene, g_org=fit.theta[0] ** 2, g_bene=fit.theta[1] ** 2)
    np.testing.assert_allclose(beta, fit.params.to_numpy(), rtol=1e-9)
