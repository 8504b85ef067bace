"""The marginal Cox model with cluster-robust errors: agreement with statsmodels PHReg, and
recovery of a known hazard ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from mheval.models import crude_rates, fit_marginal_cox


def _positive_stable(rng, alpha, n):
    """Positive stable variates with Laplace transform exp(-s**alpha) (Kanter's representation)."""
    u = rng.uniform(0, np.pi, n)
    w = rng.exponential(1.0, n)
    return (np.sin(alpha * u) / np.sin(u) ** (1 / alpha)) * (np.sin((1 - alpha) * u) / w) ** ((1 - alpha) / alpha)


def _clustered(seed=0, n_clusters=60, per=80, beta=(-0.4, 0.3), alpha=0.8):
    """Clustered survival data whose MARGINAL hazard ratios are exp(beta).

    A positive stable frailty of index alpha keeps proportional hazards after integrating over
    clusters (Hougaard 1986): the marginal coefficients are alpha times the conditional ones.
    So we draw with conditional coefficients beta / alpha.
    """
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), per)
    u = _positive_stable(rng, alpha, n_clusters)[g]
    treat = (g % 2).astype(float)
    x = rng.normal(size=len(g))
    lin = (beta[0] * treat + beta[1] * x) / alpha
    t = rng.exponential(1 / (0.1 * u * np.exp(lin)))
    c = rng.uniform(2, 8, len(g))
    return pd.DataFrame({"T": np.minimum(t, c), "E": (t <= c).astype(int), "MH": treat, "X": x, "G": g})


def test_matches_statsmodels_phreg_with_cluster_robust_errors():
    df = _clustered()
    res = fit_marginal_cox(df, "T", "E", ["MH", "X"], "G")
    ph = PHReg(df["T"], df[["MH", "X"]], status=df["E"], ties="efron").fit(groups=df["G"])
    assert np.allclose(res.params[["MH", "X"]].to_numpy(), ph.params, rtol=1e-5, atol=1e-7)
    # both are Lin-Wei sandwich estimators; lifelines and statsmodels agree to 3 digits
    assert np.allclose(res.bse[["MH", "X"]].to_numpy(), ph.bse, rtol=2e-3)


def test_robust_errors_exceed_naive_under_clustering():
    df = _clustered(alpha=0.6)
    res = fit_marginal_cox(df, "T", "E", ["MH", "X"], "G")
    naive = PHReg(df["T"], df[["MH", "X"]], status=df["E"], ties="efron").fit()
    assert res.bse["MH"] > 1.3 * naive.bse[0]


def test_crude_rates_by_hand():
    df = pd.DataFrame({"T": [1.0, 2.0, 0.5, 0.5], "E": [1, 0, 1, 1], "MH": [1, 1, 0, 0]})
    r = crude_rates(df, "T", "E")
    assert r["intervention"]["rate_per_1000py"] == pytest.approx(1000 * 1 / 3)
    assert r["control"]["rate_per_1000py"] == pytest.approx(1000 * 2 / 1)


def test_90_percent_intervals_cover_a_known_hazard_ratio():
    """Fast coverage check: 40 clustered trials; the full calibration study is in benchmarks/."""
    true = -0.4
    hits = 0
    for seed in range(40):
        df = _clustered(seed=seed, n_clusters=40, per=50)
        hr = fit_marginal_cox(df, "T", "E", ["MH", "X"], "G").hazard_ratios(0.10).loc["MH"]
        hits += hr["lower"] <= np.exp(true) <= hr["upper"]
    # 90% nominal; with 40 replicates the binomial 99% range is about 30 to 40
    assert 30 <= hits <= 40
