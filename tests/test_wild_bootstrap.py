"""The wild cluster restricted bootstrap from Gram matrices (mheval.models.wild_bootstrap): against
the Python reference implementation (wildboottest) and against a brute-force bootstrap that refits
the GLS model on every resampled outcome."""

import numpy as np
import pytest

from mheval.models.cluster_robust import cr2, fixed_variance_gls
from mheval.models.wild_bootstrap import WildClusterBootstrap


def _ols_data(seed=3, J=8):
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(J), rng.integers(5, 60, J))
    n = len(cl)
    X = np.column_stack([np.ones(n), rng.normal(size=n), (cl % 2).astype(float)])
    y = X @ np.array([1.0, 0.5, 0.3]) + 0.5 * rng.normal(size=J)[cl] + rng.normal(size=n)
    return X, y, cl


def _gram(X, u, cl):
    J = cl.max() + 1
    return (np.array([X[cl == j].T @ X[cl == j] for j in range(J)]),
            np.array([X[cl == j].T @ u[cl == j] for j in range(J)]))


@pytest.mark.parametrize("delta0", [0.0, 0.3, 1.0])
def test_bootstrap_t_agrees_with_wildboottest_under_full_enumeration(delta0):
    wbt = pytest.importorskip("wildboottest.wildboottest", reason="wildboottest (a dev dependency) is not installed")
    X, y, cl = _ols_data()
    c = np.array([0.0, 0.0, 1.0])
    # wildboottest tests c'beta = 0: shift the outcome so that its null is c'beta = delta0
    ref = wbt.WildboottestCL(X=X, Y=y - delta0 * X[:, 2], cluster=cl, R=c, B=1000, seed=1, parallel=False)
    ref.get_scores(bootstrap_type="11", impose_null=True)
    ref.get_weights(weights_type="rademacher")  # 2^8 < 1000: every sign vector
    ref.get_numer()
    ref.get_denom()
    ref.get_tboot()
    ref.get_vcov()
    ref.get_tstat()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    wb = WildClusterBootstrap.from_gram(*_gram(X, y - X @ beta, cl), c, draws=1000, beta=beta)
    assert wb.n_draws == 256
    # the same bootstrap distribution of t* / t (scale free: wildboottest applies its small-sample
    # factor to both, mheval to neither)
    t = (wb.estimate - delta0) / wb.se
    mine = np.sort(wb.bootstrap_t(delta0) / t)
    theirs = np.sort(np.asarray(ref.t_boot).ravel() / float(np.ravel(ref.t_stat)[0]))
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_gls_bootstrap_equals_refitting_every_resampled_outcome():
    """The Gram-matrix algebra (restricted scores linear in the null) against a brute force: for
    each sign vector, build y* = X beta~ + v_j u~ (restricted fit, raw scale), refit the GLS model
    at the same variance ratios, and form the CV1 t from its whitened scores with dense matrices."""
    rng = np.random.default_rng(11)
    J = 7
    org = np.repeat(np.arange(J), rng.integers(6, 30, J))
    bene = np.arange(len(org)) // 3  # beneficiaries of up to 3 rows, nested in organizations
    bene = np.unique(org * 10_000 + bene, return_inverse=True)[1]
    n = len(org)
    w = rng.uniform(0.3, 1.0, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), (org % 2).astype(float)])
    y = X @ np.array([1.0, 0.2, 0.4]) + 0.6 * rng.normal(size=J)[org] + 0.5 * rng.normal(size=bene.max() + 1)[bene] \
        + rng.normal(size=n) / np.sqrt(w)
    g_o, g_b = 0.3, 0.25
    c = np.array([0.0, 0.0, 1.0])
    beta = fixed_variance_gls(X, y, org, w=w, bene=bene, g_org=g_o, g_bene=g_b)
    cr3 = cr2(X, y - X @ beta, org, w=w, bene=bene, g_org=g_o, g_bene=g_b, adjustment="CR3")
    G, b = cr3.gram
    wb = WildClusterBootstrap.from_gram(G, b, c, draws=1000, beta=beta)
    # the CV3 studentization's observed SE is the CR3 (cluster jackknife) SE of the same fit
    cr3_var = cr3.contrast(c)[0]
    assert WildClusterBootstrap.from_gram(G, b, c, studentize="cv3").se == pytest.approx(np.sqrt(cr3_var), rel=1e-8)

    Theta_inv = []
    for j in range(J):
        r = org == j
        Zb = (bene[r][:, None] == np.unique(bene[r])[None, :]).astype(float)
        Theta = np.diag(1 / w[r]) + g_b * Zb @ Zb.T + g_o * np.ones((r.sum(), r.sum()))
        Theta_inv.append(np.linalg.inv(Theta))

    def cv_t(yy, delta0):
        bb = fixed_variance_gls(X, yy, org, w=w, bene=bene, g_org=g_o, g_bene=g_b)
        u = yy - X @ bb
        M = np.linalg.inv(sum(X[org == j].T @ Ti @ X[org == j] for j, Ti in enumerate(Theta_inv)))
        s = np.array([X[org == j].T @ Ti @ u[org == j] for j, Ti in enumerate(Theta_inv)])
        return (c @ bb - delta0) / np.sqrt(np.sum((s @ M @ c) ** 2))

    for delta0 in (0.0, 0.4, 1.5):
        q = np.linalg.solve(G.sum(axis=0), c)
        beta_r = beta - q * (c @ beta - delta0) / (c @ q)  # restricted: c'beta~ = delta0
        u_r = y - X @ beta_r
        signs = np.array(np.meshgrid(*[[1.0, -1.0]] * J, indexing="ij")).reshape(J, -1)
        brute = np.array([cv_t(X @ beta_r + v[org] * u_r, delta0) for v in signs.T])
        np.testing.assert_allclose(np.sort(wb.bootstrap_t(delta0)), np.sort(brute), rtol=1e-8, atol=1e-10)
        assert wb.p_value(delta0) == pytest.approx(np.mean(np.abs(brute) >= abs(cv_t(y, delta0)) * (1 - 1e-12)))


def test_interval_inverts_the_test_and_confidence_is_a_distribution():
    X, y, cl = _ols_data(seed=5, J=12)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    c = np.array([0.0, 0.0, 1.0])
    wb = WildClusterBootstrap.from_gram(*_gram(X, y - X @ beta, cl), c, draws=2000, seed=4, beta=beta)
    assert wb.n_draws == 2000  # 2^12 > 2000: random signs
    lo, hi = wb.interval(0.10)
    assert lo < wb.estimate < hi
    assert wb.p_value(wb.estimate) == 1.0
    eps = 1e-4 * wb.se
    for end, out in ((lo, -eps), (hi, eps)):
        assert wb.p_value(end - out) > 0.10 >= wb.p_value(end + out)
    grid = wb.estimate + wb.se * np.linspace(-8, 8, 33)
    cd = np.array([wb.confidence(d) for d in grid])
    assert cd[0] < 0.01 and cd[-1] > 0.99 and np.all(np.diff(cd) >= -1e-12)
    assert abs(wb.confidence(wb.estimate) - 0.5) < 0.05


def test_unknown_weights_are_one_clear_error():
    X, y, cl = _ols_data()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    with pytest.raises(ValueError, match="rademacher"):
        WildClusterBootstrap.from_gram(*_gram(X, y - X @ beta, cl), np.eye(3)[2], weights="mammen")
    with pytest.raises(ValueError, match="cv1 or cv3"):
        WildClusterBootstrap.from_gram(*_gram(X, y - X @ beta, cl), np.eye(3)[2], studentize="cv2")
