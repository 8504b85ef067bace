"""The vectorized Cox engine against lifelines and statsmodels (reference implementations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from statsmodels.duration.hazard_regression import PHReg

from mheval.models.cox_engine import fit_cox


def _data(seed=0, n=3000, grid=20):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 40, n)
    u = rng.gamma(3, 1 / 3, 40)[g]
    X = np.c_[(g % 2), rng.normal(size=n), rng.integers(0, 2, n)]
    t = np.ceil(rng.exponential(1 / (0.1 * u * np.exp(X @ [-0.4, 0.3, 0.2]))) * grid) / grid  # many ties
    c = np.ceil(rng.uniform(1, 6, n) * grid) / grid
    return np.minimum(t, c), (t <= c).astype(int), X, g


@pytest.mark.parametrize("seed", [0, 1])
def test_efron_matches_lifelines(seed):
    T, E, X, g = _data(seed)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(T=T, E=E)
    ref = CoxPHFitter().fit(df, "T", "E")
    fit = fit_cox(T, E, X)
    assert fit.converged
    assert np.allclose(fit.params, ref.params_.to_numpy(), rtol=1e-6, atol=1e-8)
    assert np.allclose(np.sqrt(np.diag(fit.cov_params())), ref.standard_errors_.to_numpy(), rtol=1e-6)
    assert fit.llf == pytest.approx(ref.log_likelihood_, rel=1e-10)


def test_breslow_and_cluster_robust_errors_match_statsmodels():
    T, E, X, g = _data(2)
    fit = fit_cox(T, E, X, cluster=g, ties="breslow")
    ref = PHReg(T, X, status=E, ties="breslow").fit(groups=g)
    assert np.allclose(fit.params, ref.params, rtol=1e-6)
    assert np.allclose(np.sqrt(np.diag(fit.robust_cov)), ref.bse, rtol=1e-6)


def test_efron_robust_errors_close_to_lifelines():
    """Under Efron ties lifelines' score residuals differ from R's (which ours match exactly, see
    below); on heavily tied data the robust errors still agree to a few parts in 1,000."""
    T, E, X, g = _data(3)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(T=T, E=E, G=g)
    ref = CoxPHFitter().fit(df, "T", "E", cluster_col="G", robust=True)
    fit = fit_cox(T, E, X, cluster=g)
    assert np.allclose(np.sqrt(np.diag(fit.robust_cov)), ref.standard_errors_.to_numpy(), rtol=5e-3)


def test_no_ties_efron_equals_breslow_and_known_two_subject_answer():
    # two subjects, one covariate 0/1, the x=1 subject dies first, the other is censored later:
    # partial likelihood exp(b) / (exp(b) + 1) increases in b without bound -> check instead a
    # three-subject case with a closed form: deaths at t=1 (x=1) and t=2 (x=0), censored t=3 (x=1)
    T = np.array([1.0, 2.0, 3.0])
    E = np.array([1, 1, 0])
    X = np.array([[1.0], [0.0], [1.0]])
    # L(b) = e^b/(2e^b+1) * 1/(1+e^b); maximize numerically by hand on a fine grid
    b = np.linspace(-3, 3, 600001)
    ll = b - np.log(2 * np.exp(b) + 1) - np.log(1 + np.exp(b))
    fit = fit_cox(T, E, X)
    assert fit.params[0] == pytest.approx(b[np.argmax(ll)], abs=1e-5)
    assert fit.params[0] == pytest.approx(np.log(np.sqrt(0.5)), abs=1e-6)  # d/db = 0 at e^b = 1/sqrt(2)
    assert np.allclose(fit_cox(T, E, X, ties="breslow").params, fit.params)


# R 4.2.2, survival 3.5.3: Rscript benchmarks/r/coxph_reference.R
R_REFERENCE = {
    "efron": {"coef": [-0.2437229554, 0.2046817539, 0.2527778071],
              "robust_se": [0.1732213367, 0.0340851745, 0.0641938357],
              "naive_se": [0.0715801741, 0.0354591776, 0.0718950754], "loglik": -5905.58549639},
    "breslow": {"coef": [-0.2430903961, 0.2041854145, 0.2522903194],
                "robust_se": [0.1728239367, 0.0339928876, 0.0640603022],
                "naive_se": [0.0715798564, 0.0354552108, 0.0718950689], "loglik": -5907.42369533},
}


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_matches_r_coxph_with_cluster_robust_errors(ties):
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "data" / "cox_clustered_ties.csv")
    fit = fit_cox(d["T"].to_numpy(), d["E"].to_numpy(), d[["a", "b", "c"]].to_numpy(), cluster=d["G"].to_numpy(), ties=ties)
    ref = R_REFERENCE[ties]
    assert np.allclose(fit.params, ref["coef"], rtol=1e-8)
    assert np.allclose(np.sqrt(np.diag(fit.robust_cov)), ref["robust_se"], rtol=1e-8)
    assert np.allclose(np.sqrt(np.diag(fit.cov_params())), ref["naive_se"], rtol=1e-8)
    assert fit.llf == pytest.approx(ref["loglik"], rel=1e-10)


# Case weights and counting-process (start, stop] data: R 4.2.2, survival 3.5.3, values written by
# Rscript benchmarks/r/cox_weights_counting_reference.R to tests/data/cox_weights_counting_reference.csv
def _weights_counting_data():
    from pathlib import Path

    data = Path(__file__).parent / "data"
    d = pd.read_csv(data / "cox_weights_counting.csv")
    ref = pd.read_csv(data / "cox_weights_counting_reference.csv")
    first = d.drop_duplicates("id")[["id", "G", "W", "a", "b", "c"]]
    rc = first.merge(d.groupby("id").agg(T=("stop", "max"), E=("E", "max")).reset_index(), on="id")
    return d, rc, ref


@pytest.mark.parametrize("case", ["weights_efron", "weights_breslow", "counting_efron", "counting_breslow",
                                  "counting_weights_efron", "counting_weights_breslow"])
def test_weights_and_counting_process_match_r_coxph(case):
    d, rc, ref = _weights_counting_data()
    ties = case.rsplit("_", 1)[1]
    if case.startswith("weights"):  # one row per subject, frequency weights
        fit = fit_cox(rc["T"], rc["E"], rc[["a", "b", "c"]], cluster=rc["G"], ties=ties, weights=rc["W"])
    else:  # (start, stop] rows with left truncation and a time-varying covariate
        fit = fit_cox(d["stop"], d["E"], d[["a", "b", "c"]], cluster=d["G"], ties=ties, start=d["start"],
                      weights=d["W"] if "weights" in case else None)
    r = ref[ref["case"] == case]
    val = {q: r.loc[r["quantity"] == q, "value"].to_numpy() for q in ("coef", "robust_se", "naive_se", "loglik")}
    assert fit.converged
    assert np.allclose(fit.params, val["coef"], rtol=1e-8)
    assert np.allclose(np.sqrt(np.diag(fit.robust_cov)), val["robust_se"], rtol=1e-8)
    assert np.allclose(np.sqrt(np.diag(fit.cov_params())), val["naive_se"], rtol=1e-8)
    assert fit.llf == pytest.approx(val["loglik"][1], rel=1e-10)
    assert fit.llnull == pytest.approx(val["loglik"][0], rel=1e-10)


def test_integer_weights_equal_duplicated_rows_and_zero_weights_drop_rows():
    """Under Breslow ties frequency weights are duplication exactly (under Efron not: duplicating a
    death creates a tie, while R's weighted Efron keeps one term per row)."""
    T, E, X, g = _data(4, n=800)
    w = np.random.default_rng(5).integers(0, 4, len(T))
    rep = np.repeat(np.arange(len(T)), w)
    fw = fit_cox(T, E, X, cluster=g, ties="breslow", weights=w)
    fd = fit_cox(T[rep], E[rep], X[rep], cluster=g[rep], ties="breslow")
    assert np.allclose(fw.params, fd.params, rtol=1e-9)
    assert np.allclose(fw.cov_params(), fd.cov_params(), rtol=1e-8)
    assert np.allclose(fw.robust_cov, fd.robust_cov, rtol=1e-8)
    assert fw.llf == pytest.approx(fd.llf, rel=1e-11)
    keep = w > 0  # weight 0 = row left out, also under Efron
    fz = fit_cox(T, E, X, cluster=g, weights=keep.astype(float))
    fs = fit_cox(T[keep], E[keep], X[keep], cluster=g[keep])
    assert np.allclose(fz.params, fs.params, rtol=1e-9) and np.allclose(fz.robust_cov, fs.robust_cov, rtol=1e-8)


def test_start_zero_and_unit_weights_reproduce_the_plain_fit():
    T, E, X, g = _data(6, n=1000)
    plain = fit_cox(T, E, X, cluster=g)
    other = fit_cox(T, E, X, cluster=g, start=np.zeros(len(T)), weights=np.ones(len(T)), init=plain.params * 0.5)
    assert np.allclose(plain.params, other.params, rtol=1e-9)
    assert np.allclose(plain.robust_cov, other.robust_cov, rtol=1e-8)
    # splitting every subject's follow-up at t = 1 into two (start, stop] rows changes nothing
    cut = (T > 1.0)
    start = np.r_[np.zeros(len(T)), np.ones(cut.sum())]
    stop = np.r_[np.where(cut, 1.0, T), T[cut]]
    ev = np.r_[np.where(cut, 0, E), E[cut]]
    split = fit_cox(stop, ev, np.r_[X, X[cut]], cluster=np.r_[g, g[cut]], start=start)
    assert np.allclose(plain.params, split.params, rtol=1e-9)
    assert np.allclose(plain.robust_cov, split.robust_cov, rtol=1e-8)
    assert split.llf == pytest.approx(plain.llf, rel=1e-11)
    with pytest.raises(ValueError):
        fit_cox(T, E, X, start=T)


def test_a_diverging_newton_step_does_not_overflow(monkeypatch):
    """A bootstrap replicate's Newton step can reach 1e110 (a nearly singular information); the
    accept-step error estimate |step|^3 / |last|^2 then exceeds the largest double. With Python floats
    that raised OverflowError and crashed a scale-0.004 workflow; it must overflow to inf (the step is
    not accepted) and the fit go on to halve and stop. The log likelihood surface is faked: flat, with
    gradient 1 and an information of 1 at the start and 1e-110 after."""
    from types import SimpleNamespace

    from mheval.models import cox_engine

    calls = []

    def fake(rs, beta, ties):
        calls.append(float(beta[0]))
        h = 1.0 if len(calls) == 1 else 1e-110
        return -1.0, np.array([1.0]), np.array([[h]]), None

    monkeypatch.setattr(cox_engine, "loglik_grad_hess", fake)
    rs = SimpleNamespace(X=np.zeros((1, 1)))
    beta, ll, H, parts, it, converged = cox_engine.newton_cox(rs, None, accept_step=1e-8, max_iter=3)
    assert calls[1] == 1.0 and calls[2] > 1e100  # the second step: 1 / 1e-110
    assert not converged and it == 3 and ll == -1.0
