"""One result interface for every model (mheval.models.result.ModelResult), in statsmodels' names:
params, bse, cov_params(), conf_int(alpha), pvalues, llf, nobs and summary(); intervals and
p-values agree with statsmodels', and every model's conf_int is params -/+ q bse with q from its
reference distribution (t(df) where the model carries degrees of freedom, normal otherwise)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mheval.models.frailty_cox import fit_frailty_cox
from mheval.models.marginal_cox import fit_marginal_cox
from mheval.models.nested_glmm import fit_nested_glmm, marginal_effect
from mheval.models.nested_lmm import fit_nested_lmm
from mheval.models.result import ModelResult
from mheval.models.wald import wald_interval


@dataclasses.dataclass
class _Fit(ModelResult):
    params: pd.Series
    bse: pd.Series
    df: float | None
    llf: float
    nobs: int


def test_the_interface_reproduces_statsmodels_ols_exactly():
    """From OLS's params, bse and residual df the mixin gives OLS's t intervals and p-values; with no
    df, the normal ones that statsmodels gives with use_t=False."""
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"const": 1.0, "x1": rng.normal(size=40), "x2": rng.normal(size=40)})
    y = 0.5 + 0.3 * X["x1"] + rng.normal(size=40)
    for use_t in (True, False):
        ols = sm.OLS(y, X).fit(use_t=use_t)
        r = _Fit(ols.params, ols.bse, ols.df_resid if use_t else None, ols.llf, int(ols.nobs))
        for alpha in (0.05, 0.10):
            pd.testing.assert_frame_equal(r.conf_int(alpha), ols.conf_int(alpha), rtol=1e-12)
        pd.testing.assert_series_equal(r.pvalues, ols.pvalues, rtol=1e-10)
        pd.testing.assert_series_equal(r.tvalues, ols.tvalues, rtol=1e-12)
        s = r.summary(0.10)
        assert list(s.columns) == (["coef", "se", "t", "df", "p", "lower", "upper"] if use_t
                                   else ["coef", "se", "z", "p", "lower", "upper"])
        assert np.allclose(s[["lower", "upper"]].to_numpy(), ols.conf_int(0.10).to_numpy(), rtol=1e-12)


def _check_interface(res, ref_df, alpha=0.10):
    """Every name of the interface, cov_params() consistent with bse, and conf_int = params -/+ q bse
    with q from the expected reference (normal for ``ref_df`` None, else t(ref_df))."""
    names = res.params.index
    assert isinstance(res.params, pd.Series) and isinstance(res.bse, pd.Series)
    assert list(res.bse.index) == list(names)
    cov = res.cov_params()
    assert list(cov.index) == list(cov.columns) == list(names)
    np.testing.assert_allclose(np.sqrt(np.diag(cov.to_numpy())), res.bse.to_numpy(), rtol=1e-10)
    q = stats.norm.ppf(1 - alpha / 2) if ref_df is None else stats.t.ppf(1 - alpha / 2, ref_df)
    ci = res.conf_int(alpha)
    assert list(ci.columns) == [0, 1] and list(ci.index) == list(names)
    np.testing.assert_allclose(ci[0].to_numpy(), (res.params - q * res.bse).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ci[1].to_numpy(), (res.params + q * res.bse).to_numpy(), rtol=1e-12)
    ref = stats.norm if ref_df is None else stats.t(ref_df)
    np.testing.assert_allclose(res.pvalues.to_numpy(), 2 * ref.sf(np.abs(res.params / res.bse)), rtol=1e-12)
    assert np.isfinite(res.llf) and isinstance(res.nobs, int) and res.nobs > 0
    s = res.summary(alpha)
    assert isinstance(s, pd.DataFrame) and list(s.index) == list(names)
    np.testing.assert_allclose(s["p"].to_numpy(), res.pvalues.to_numpy(), rtol=1e-12)
    for old in ("loglik", "log_likelihood", "cov", "n", "n_obs"):
        assert not hasattr(res, old), old


def _lmm_data(seed=1, n_org=24, per=30):
    rng = np.random.default_rng(seed)
    org = np.repeat(np.arange(n_org), per)
    bene = np.arange(n_org * per) // 3
    mh = (org % 2).astype(float)
    x = rng.normal(size=len(org))
    y = 1 + 0.5 * mh + 0.3 * x + rng.normal(0, 0.5, n_org)[org] + rng.normal(0, 0.4, bene.max() + 1)[bene] \
        + rng.normal(size=len(org))
    return pd.DataFrame({"y": y, "mh": mh, "x": x, "org": org, "bene": bene,
                         "yb": (y > 1.3).astype(int), "w": rng.uniform(0.5, 1.0, len(org))})


def test_nested_lmm_interface_normal_and_cr2_t_reference():
    d = _lmm_data()
    fit = fit_nested_lmm(d, "y ~ mh + x", org="org", bene="bene", weights="w")
    _check_interface(fit, None)
    assert fit.nobs == len(d)
    cr2 = fit_nested_lmm(d, "y ~ mh + x", org="org", bene="bene", weights="w", cov_type="CR2")
    assert isinstance(cr2.df, pd.Series) and (cr2.df < 24).all()
    _check_interface(cr2, cr2.df.to_numpy())  # Satterthwaite df per coefficient
    assert list(cr2.summary().columns) == ["coef", "se", "t", "df", "p", "lower", "upper"]


def test_nested_glmm_and_marginal_effects_interface():
    d = _lmm_data(2)
    fit = fit_nested_glmm(d, "yb ~ mh + x", org="org", bene="bene")
    _check_interface(fit, None)
    ame = marginal_effect(fit, d.assign(g=d["org"] % 3), treatment="mh", by="g")
    _check_interface(ame, None)
    assert list(ame.params.index) == [0, 1, 2, "overall"] and ame.nobs == len(d) and ame.llf == fit.llf
    table = ame.summary(0.10)
    assert list(table.columns) == ["estimate", "se", "z", "p", "lower", "upper", "intervention", "control", "n"]
    assert table.loc["overall", "estimate"] == pytest.approx(table.loc["overall", "intervention"]
                                                             - table.loc["overall", "control"], rel=1e-12)
    # the delta-method covariance of the effects is J V J' with the effects' gradients J (percentage points)
    beta, V = fit.params, fit.cov_params().to_numpy()
    J = []
    for j in range(len(beta)):
        step = np.zeros(len(beta))
        step[j] = 1e-6
        up = marginal_effect(dataclasses.replace(fit, params=beta + step), d.assign(g=d["org"] % 3), "mh", by="g")
        down = marginal_effect(dataclasses.replace(fit, params=beta - step), d.assign(g=d["org"] % 3), "mh", by="g")
        J.append((up.params - down.params).to_numpy() / 2e-6)
    J = np.array(J).T
    np.testing.assert_allclose(ame.cov_params().to_numpy(), J @ V @ J.T, rtol=1e-4, atol=1e-10)


def test_bootstrap_marginal_effects_give_percentile_intervals():
    d = _lmm_data(3, n_org=12, per=20)
    fit = fit_nested_glmm(d, "yb ~ mh + x", org="org")
    ame = marginal_effect(fit, d, treatment="mh", method="bootstrap", n_boot=6, seed=2)
    reps = ame.replicates[:, 0]
    assert ame.bse["overall"] == pytest.approx(np.std(reps, ddof=1), rel=1e-12)
    assert ame.conf_int(0.10).loc["overall"].tolist() == pytest.approx(np.quantile(reps, [0.05, 0.95]).tolist())
    assert ame.pvalues["overall"] == pytest.approx(2 * stats.norm.sf(abs(ame.params["overall"] / ame.bse["overall"])))


def _cox_data(seed=0, n_org=20, per=40):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_org), per)
    mh = (g % 2).astype(float)
    x = rng.normal(size=len(g))
    frail = rng.gamma(4.0, 0.25, n_org)[g]
    t = rng.exponential(1 / (0.2 * frail * np.exp(-0.3 * mh + 0.4 * x)))
    c = rng.uniform(1, 6, len(g))
    return pd.DataFrame({"T": np.minimum(t, c), "E": (t <= c).astype(int), "MH": mh, "X": x, "G": g})


def test_cox_results_interface_and_hazard_ratios():
    d = _cox_data()
    fr = fit_frailty_cox(d, "T", "E", ["MH", "X"], "G")
    _check_interface(fr, None)
    assert fr.nobs == len(d)
    hr = fr.hazard_ratios(0.10)
    np.testing.assert_allclose(hr[["lower", "upper"]].to_numpy(), np.exp(fr.conf_int(0.10).to_numpy()), rtol=1e-12)
    s = fr.summary(0.10)
    np.testing.assert_allclose(s["hr_upper"], np.exp(s["upper"]), rtol=1e-12)
    robust = fit_marginal_cox(d, "T", "E", ["MH", "X"], "G")
    _check_interface(robust, None)
    assert robust.df is None and robust.nobs == len(d)
    # the marginal model keeps its (sandwich) covariance, off-diagonal included
    from mheval.models.cox_engine import fit_cox

    raw = fit_cox(d["T"], d["E"], d[["MH", "X"]].to_numpy(), cluster=d["G"].to_numpy())
    np.testing.assert_allclose(robust.cov_params().to_numpy(), raw.robust_cov, rtol=1e-10)
    assert robust.llf == pytest.approx(raw.llf, rel=1e-12)
    small = fit_marginal_cox(d, "T", "E", ["MH", "X"], "G", cov_type="kc")
    assert small.df == 18  # t(G - 2)
    _check_interface(small, 18)


def test_wald_interval_is_the_one_interval():
    lo, hi, p = wald_interval(1.0, 0.5, 0.10)
    assert (lo, hi) == pytest.approx((1 - 1.6448536269514722 * 0.5, 1 + 1.6448536269514722 * 0.5), rel=1e-14)
    assert p == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-14)
    lo, hi, p = wald_interval(np.array([1.0, 2.0]), np.array([0.5, 1.0]), 0.05, df=np.array([5.0, 10.0]))
    assert hi == pytest.approx([1 + stats.t.ppf(0.975, 5) * 0.5, 2 + stats.t.ppf(0.975, 10)], rel=1e-14)
    with pytest.raises(ValueError, match="alpha"):
        wald_interval(1.0, 0.5, 1.5)
