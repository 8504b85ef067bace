"""The shared gamma frailty Cox model against R survival's coxph(... + frailty(cluster)), lifelines,
its own derivatives, and simulated data with a known answer.

R reference values: benchmarks/r/frailty_reference.R (R 4.2.2, survival 3.5.3), which writes the data
sets and R's coefficients, se(coef), theta, log-likelihoods, iteration counts and frailties to
tests/data/frailty_*.csv.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from mheval.models.cox_engine import fit_cox
from mheval.models.frailty_cox import _Design, _evaluate, fit_frailty_cox

DATA = Path(__file__).parent / "data"
SETS = {"rats": (["rx"], "litter"), "kidney": (["age", "sex"], "id"),
        "sim": (["x1", "x2", "x3"], "cluster"), "sim_slow": (["x1", "x2", "x3"], "cluster")}
REF = pd.read_csv(DATA / "frailty_reference.csv")
FRAIL = pd.read_csv(DATA / "frailty_frail.csv")
CASES = [k for k, _ in REF.groupby(["dataset", "method", "theta_fixed", "ties"], dropna=False, sort=False)]


def _load(name):
    return pd.read_csv(DATA / f"frailty_{name}.csv")


def _fit(name, method="em", theta=None, ties="efron"):
    cov, cl = SETS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sim_slow: R's search stops at 10 fits
        return fit_frailty_cox(_load(name), "time", "status", cov, cl, ties=ties,
                               theta=None if method == "em" else theta, outer_max=10)  # R's default


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_matches_r_coxph_frailty(case):
    name, method, theta, ties = case
    ref = REF[(REF.dataset == name) & (REF.method == method) & (REF.ties == ties)
              & ((REF.theta_fixed == theta) | (REF.theta_fixed.isna() & pd.isna(theta)))]
    res = _fit(name, method, theta, ties)
    assert list(res.params.index) == list(ref.term)
    assert np.allclose(res.params, ref.coef, rtol=1e-8, atol=1e-10)
    assert np.allclose(res.bse, ref.se, rtol=1e-8)
    assert res.theta == pytest.approx(ref.theta.iloc[0], rel=1e-8, abs=1e-12)
    assert res.llf == pytest.approx(ref.loglik.iloc[0], rel=1e-10)
    assert res.marginal_loglik == pytest.approx(ref.c_loglik.iloc[0], rel=1e-10)
    # the same path: number of outer fits (values of theta tried) and of Newton iterations
    assert (res.n_iter, res.n_inner) == (ref.outer.iloc[0], ref.inner.iloc[0])
    fr = FRAIL[(FRAIL.dataset == name) & (FRAIL.method == method) & (FRAIL.ties == ties)
               & ((FRAIL.theta_fixed == theta) | (FRAIL.theta_fixed.isna() & pd.isna(theta)))]
    assert [str(c) for c in res.frailties.index] == [str(c) for c in fr.cluster]
    assert np.allclose(res.frailties, fr.frail, atol=1e-9)


def test_r_search_that_stops_at_ten_fits_is_reported():
    cov, cl = SETS["sim_slow"]
    with pytest.warns(RuntimeWarning, match="stopped after 10 fits"):
        res = fit_frailty_cox(_load("sim_slow"), "time", "status", cov, cl, outer_max=10)
    assert not res.converged and res.n_iter == 10 and len(res.history) == 10
    assert _fit("rats").converged and _fit("sim").converged


def test_default_search_runs_to_convergence():
    cov, cl = SETS["sim_slow"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "stopped after" warning
        res = fit_frailty_cox(_load("sim_slow"), "time", "status", cov, cl)
    assert res.converged and res.n_iter > 10
    h = res.history
    # converged: the last two I-likelihoods agree to R's relative tolerance, and the final theta
    # is the best one tried
    assert abs(1 - h.c_loglik.iloc[-1] / h.c_loglik.iloc[-2]) < 1e-5
    assert h.c_loglik.iloc[-1] >= h.c_loglik.max() - 1e-6 * abs(h.c_loglik.max())
    assert not res.theta_at_boundary and res.theta > 0.01


def test_a_fit_that_runs_off_stops_the_search_without_a_crash(monkeypatch):
    """On one 47-organization calibration trial with 26 terms, the Newton steps at the third theta tried
    ran off to NaN, and the parabolic search then failed on a NaN likelihood (IndexError). Now the
    search stops there: not converged, the last finite fit kept, the warning says so."""
    import mheval.models.frailty_cox as fc

    cov, cl = SETS["sim_slow"]
    inner = fc._inner
    calls = []

    def runs_off_at_third_fit(ds, beta, f, theta, *a, **k):
        calls.append(theta)
        out = inner(ds, beta, f, theta, *a, **k)
        if len(calls) == 3:
            return (np.full_like(out[0], np.nan), out[1], np.nan, np.full_like(out[3], np.nan), out[4], False)
        return out

    monkeypatch.setattr(fc, "_inner", runs_off_at_third_fit)
    with pytest.warns(RuntimeWarning, match="non-finite likelihood"):
        res = fit_frailty_cox(_load("sim_slow"), "time", "status", cov, cl)
    assert not res.converged and len(calls) == 3
    assert res.theta == calls[1] and np.isfinite(res.params).all()  # the second fit, the last finite one
    assert res.history.c_loglik.isna().tolist() == [False, False, True]
    assert res.marginal_loglik == res.history.c_loglik.iloc[1]


def test_frailty_variance_at_its_boundary_is_flagged():
    # no clustering at all: independent exponential times, 30 clusters labelled at random
    rng = np.random.default_rng(5)
    n = 900
    x = rng.normal(size=n)
    t = rng.exponential(1 / np.exp(0.5 * x))
    c = rng.uniform(0.5, 3, n)
    d = pd.DataFrame({"time": np.minimum(t, c), "status": (t <= c).astype(int), "x": x,
                      "cluster": rng.integers(0, 30, n)})
    res = fit_frailty_cox(d, "time", "status", ["x"], "cluster")
    assert res.theta_at_boundary and res.theta < 1e-3
    assert not fit_frailty_cox(d, "time", "status", ["x"], "cluster", theta=0.5).theta_at_boundary


def test_theta_zero_is_the_ordinary_cox_model_of_lifelines():
    d = _load("sim")
    ref = CoxPHFitter().fit(d[["time", "status", "x1", "x2", "x3"]], "time", "status")
    res = fit_frailty_cox(d, "time", "status", ["x1", "x2", "x3"], "cluster", theta=0)
    # R's stopping rule (relative change in log-likelihood < 1e-9) is looser than lifelines'
    assert np.allclose(res.params, ref.params_, rtol=1e-5)
    assert np.allclose(res.bse, ref.standard_errors_, rtol=1e-6)
    assert res.llf == pytest.approx(ref.log_likelihood_, rel=1e-9)
    assert np.all(res.frailties == 0)
    plain = fit_cox(d["time"], d["status"], d[["x1", "x2", "x3"]].to_numpy())  # the package's Cox engine
    assert np.allclose(res.params, plain.params, rtol=1e-5)
    assert np.allclose(res.bse, np.sqrt(np.diag(plain.cov_params())), rtol=1e-6)
    near = fit_frailty_cox(d, "time", "status", ["x1", "x2", "x3"], "cluster", theta=1e-8)
    assert np.allclose(near.params, ref.params_, rtol=1e-5)
    assert np.allclose(near.bse, ref.standard_errors_, rtol=1e-6)
    assert np.abs(near.frailties).max() < 1e-5


def _loglik_and_score(ds, params, nu, p=3):
    out = _evaluate(ds, params[:p], params[p:], nu)
    return out[0], np.r_[out[1], out[2]]


def test_information_blocks_are_the_derivatives_of_the_partial_likelihood():
    """The O(n) per-cluster sums give the exact score, covariate blocks and f-f diagonal."""
    d = _load("sim")
    rng = np.random.default_rng(3)
    grp = pd.factorize(d["cluster"], sort=True)[0]
    nu, h = 1e-12, 1e-6  # negligible penalty: _evaluate's log-likelihood is then the partial likelihood
    for ties in ("efron", "breslow"):
        ds = _Design(d["time"].to_numpy(float), d["status"].to_numpy(float), d[["x1", "x2", "x3"]].to_numpy(float),
                     grp, grp.max() + 1, ties)
        params = np.r_[rng.normal(0, 0.3, 3), rng.normal(0, 0.5, grp.max() + 1)]
        _, ub, uf, A, B, D = _evaluate(ds, params[:3], params[3:], nu)
        steps = h * np.eye(len(params))
        num_grad = [(_loglik_and_score(ds, params + e, nu)[0] - _loglik_and_score(ds, params - e, nu)[0]) / (2 * h)
                    for e in steps]
        assert np.allclose(np.r_[ub, uf], num_grad, atol=1e-5)
        hess = -np.array([(_loglik_and_score(ds, params + e, nu)[1] - _loglik_and_score(ds, params - e, nu)[1])
                          / (2 * h) for e in steps])
        assert np.allclose(A, hess[:3, :3], atol=1e-5)
        assert np.allclose(B, hess[:3, 3:], atol=1e-5)
        assert np.allclose(D, np.diag(hess)[3:], atol=1e-5)


TRUE_BETA = (np.log(0.7), 0.4)  # hazard ratio 0.7 for the cluster-level treatment x1


def _simulate(rng, n_clusters=40, size=30, theta=0.5, beta=TRUE_BETA):
    g = np.repeat(np.arange(n_clusters), size)
    u = rng.gamma(1 / theta, theta, n_clusters)[g]
    x1 = (np.arange(n_clusters) % 2)[g]  # cluster-level treatment, as in the trial
    x2 = rng.normal(size=len(g))
    t = rng.exponential(1 / (0.2 * u * np.exp(beta[0] * x1 + beta[1] * x2)))
    c = rng.uniform(0.5, 6, len(g))
    return pd.DataFrame({"time": np.ceil(np.minimum(t, c) * 12) / 12, "status": (t <= c).astype(int),
                         "x1": x1, "x2": x2, "cluster": g})


def test_recovers_known_hazard_ratio_and_frailty_variance():
    data = _simulate(np.random.default_rng(1), n_clusters=120, size=40)
    res = fit_frailty_cox(data, "time", "status", ["x1", "x2"], "cluster", outer_max=30)
    assert res.converged and res.n_iter > 10  # R's default of 10 fits is not enough here
    assert abs(res.params["x1"] - np.log(0.7)) < 3 * res.bse["x1"]
    assert abs(res.params["x2"] - 0.4) < 3 * res.bse["x2"]
    assert res.bse["x2"] < 0.03 and 0.3 < res.theta < 0.8
    hr = res.hazard_ratios(0.10)
    assert hr.loc["x2", "lower"] < np.exp(0.4) < hr.loc["x2", "upper"]
    assert list(res.summary().columns) == ["coef", "se", "z", "p", "lower", "upper", "hr", "hr_lower", "hr_upper"]


def test_ninety_percent_intervals_cover_the_truth():
    rng = np.random.default_rng(2026)
    hits = np.zeros(2)
    reps = 30
    for _ in range(reps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = fit_frailty_cox(_simulate(rng), "time", "status", ["x1", "x2"], "cluster", outer_max=30)
        hr = res.hazard_ratios(0.10)
        hits += (hr["lower"] < [0.7, np.exp(0.4)]) & ([0.7, np.exp(0.4)] < hr["upper"])
    # 27 expected of 30; 22 or fewer has probability < 1% under nominal coverage
    assert np.all(hits >= 23), hits
    assert np.all(hits <= 30)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(x1=d["x1"].where(d.index != 5)), "missing values"),
    (lambda d: d.assign(time=d["time"].where(d.index != 3, 0.0)), "must be finite and > 0"),
    (lambda d: d.assign(time=-d["time"]), "must be finite and > 0"),
    (lambda d: d.assign(cluster="one"), "at least 2 clusters"),
    (lambda d: d.assign(cluster=d.index % 3), "5 or fewer"),
    (lambda d: d.assign(status=2 * d["status"]), "0/1"),
    (lambda d: d.assign(status=0), "no events"),
    (lambda d: d.assign(x2=1.0), "without variation"),
])
def test_bad_input_raises_clear_error(change, message):
    d = change(_load("sim"))
    with pytest.raises(ValueError, match=message):
        fit_frailty_cox(d, "time", "status", ["x1", "x2", "x3"], "cluster")


def test_bad_arguments_raise():
    d = _load("sim")
    with pytest.raises(ValueError, match="ties"):
        fit_frailty_cox(d, "time", "status", ["x1"], "cluster", ties="exact")
    with pytest.raises(ValueError, match="theta"):
        fit_frailty_cox(d, "time", "status", ["x1"], "cluster", theta=-1)
    with pytest.raises(ValueError, match="not in data"):
        fit_frailty_cox(d, "time", "status", ["x9"], "cluster")
