"""Many weighted Cox refits at once (mheval.models.cox_replicates.ReplicateFits) against the one-at-a-time
engine (mheval.models.cox_engine, itself checked against R's coxph in tests/test_cox_engine.py): log partial
likelihood, gradient and information of every replicate at its own coefficients, the fitted coefficients
and the Breslow baseline increments, stratified or not, Efron or Breslow ties, tied times, weights with
zeros (organizations not drawn) and organization-level covariates."""

from __future__ import annotations

import numpy as np
import pytest

from mheval.models.cox_engine import RiskSets, baseline_increments, fit_cox, loglik_grad_hess
from mheval.models.cox_replicates import ReplicateFits


def _data(seed=0, n=600, G=12):
    rng = np.random.default_rng(seed)
    org = rng.integers(0, G, n)
    arm = (org % 2).astype(int)
    z = rng.normal(size=G)[org]  # an organization-level covariate
    X = np.c_[z, rng.normal(size=n), rng.integers(0, 2, n), (org < 3).astype(float)]
    lin = X @ np.array([0.3, 0.5, -0.4, 0.2]) - 0.3 * arm
    T = np.ceil(rng.exponential(1 / np.exp(lin)) * 20) / 20  # ties
    C = np.ceil(rng.uniform(0.5, 3.0, n) * 20) / 20
    E = (T <= C).astype(int)
    T = np.minimum(T, C)
    return T, E, X, arm, org


def _weights(org, m, seed=1):
    G = int(org.max()) + 1
    counts = np.random.default_rng(seed).multinomial(G, np.full(G, 1 / G), size=m).astype(float)
    return counts[:, org].T  # n x m, original order; undrawn organizations have weight 0


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize("m", [2, 6])  # one product per replicate (m < 4) or the pairwise products
def test_evaluation_equals_the_engine_on_the_reweighted_rows(ties, stratified, m):
    T, E, X, arm, org = _data()
    W = _weights(org, m)
    B = np.random.default_rng(2).normal(scale=0.3, size=(m, X.shape[1]))
    if stratified:
        width = T.max() + 1
        rs = RiskSets(T + arm * width, E, X, entry=arm * width)
        rf = ReplicateFits(T, E, X, strata=arm, ties=ties, width=width, group=org)
    else:
        rs = RiskSets(T, E, X)
        rf = ReplicateFits(T, E, X, ties=ties, group=org)
    assert rf._cols is not None  # the organization-level split is exercised
    ll, g, H = rf.evaluate(W[rf.order], B)
    for b in range(m):
        l2, g2, H2, _ = loglik_grad_hess(rs.reweighted(W[:, b]), B[b], ties)
        assert ll[b] == pytest.approx(l2, rel=1e-12)
        assert np.allclose(g[b], g2, rtol=0, atol=1e-10 * np.abs(g2).max())
        assert np.allclose(H[b], H2, rtol=1e-11, atol=1e-12 * np.abs(H2).max())


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fits_and_baselines_equal_the_weighted_fit_of_each_replicate(ties):
    T, E, X, arm, org = _data(3, n=800)
    W = _weights(org, 5, seed=4)
    width = T.max() + 1
    rf = ReplicateFits(T, E, X, strata=arm, ties=ties, width=width, group=org)
    full = fit_cox(T + arm * width, E, X, start=arm * width, ties=ties)
    beta, conv, fallback = rf.newton(W[rf.order], np.tile(full.params, (5, 1)))
    assert conv.all() and not fallback.any()
    dH, has = rf.baseline_increments(W[rf.order], beta)
    for b in range(5):
        ref = fit_cox(T + arm * width, E, X, start=arm * width, ties=ties, weights=W[:, b])
        assert np.allclose(beta[b], ref.params, rtol=0, atol=1e-8)
        rw = RiskSets(T + arm * width, E, X, weights=W[:, b], entry=arm * width)
        assert np.array_equal(rf.ut[has[:, b]], rw.ut)  # the replicate's event times: drawn deaths only
        assert np.allclose(dH[has[:, b], b], baseline_increments(rw, beta[b]), rtol=1e-11, atol=0)
        assert np.all(dH[~has[:, b], b] == 0)


def test_the_last_step_from_the_gradient_alone_stays_within_the_stopping_tolerance(monkeypatch):
    """With ``accept_step`` (as the bootstrap runs it) a step that only polishes is made from the new
    point's gradient and the previous information (a chord step): every replicate's coefficients are
    still those of its weighted fit to the tolerance (1e-8), and the chord step did occur."""
    T, E, X, arm, org = _data(5, n=1500, G=20)
    W = _weights(org, 8, seed=6)
    width = T.max() + 1
    rf = ReplicateFits(T, E, X, strata=arm, width=width, group=org)
    full = fit_cox(T + arm * width, E, X, start=arm * width)
    calls = []
    evaluate = ReplicateFits.evaluate
    monkeypatch.setattr(ReplicateFits, "evaluate",
                        lambda self, W, B, hess=True: calls.append(hess) or evaluate(self, W, B, hess))
    beta, conv, fallback = rf.newton(W[rf.order], np.tile(full.params, (8, 1)), accept_step=1e-8)
    assert conv.all() and not fallback.any() and False in calls
    for b in range(8):
        ref = fit_cox(T + arm * width, E, X, start=arm * width, weights=W[:, b], tol=1e-12)
        assert np.allclose(beta[b], ref.params, rtol=0, atol=2e-8)


def test_reuse_freed_memory_nests_and_restores_glibc_defaults_once(monkeypatch):
    """Only the outermost block switches malloc's policy and restores it (and trims), also when the
    inner one raises; a decorated function returns its value."""
    import ctypes

    from mheval.models import cox_replicates

    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())

    @cox_replicates.reuse_freed_memory()
    def inner():
        with cox_replicates.reuse_freed_memory():
            raise ValueError("inner failure")

    with cox_replicates.reuse_freed_memory():
        assert calls == [("mallopt", -4, 0), ("mallopt", -1, 1 << 30)]
        with pytest.raises(ValueError):
            inner()
        assert len(calls) == 2  # nested blocks leave the policy alone
    assert calls[2:] == [("mallopt", -4, 65536), ("mallopt", -1, 128 * 1024), ("trim", 0)]
    assert cox_replicates._REUSE_DEPTH[0] == 0
    assert cox_replicates.reuse_freed_memory()(lambda: 7)() == 7
