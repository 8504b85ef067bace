"""Cumulative incidence with death as a competing risk: a hand-computed Aalen-Johansen estimate,
agreement with R (cmprsk 2.2.11's cuminc, survival 3.5.3's multi-state survfit, and cause-specific
coxph + survfit(newdata, ctype = 1) standardized), the standardized estimate without covariates,
recovery of a known cumulative incidence, the cluster bootstrap and not-estimable years.

R reference values: Rscript benchmarks/r/competing_risks_reference.R tests/data/competing_risks_sim.csv
tests/data/competing_risks_reference.csv (rerun live below when Rscript is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.models.competing_risks import (aalen_johansen, competing_cumulative_incidence, competing_status,
                                           standardized_competing_incidence)

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
TIMES = np.array([0.5, 1, 1.5, 2, 2.5, 3, 4, 5])


def test_aalen_johansen_by_hand():
    # t=1: 6 at risk, an event: S = 5/6, F1 = 1/6; t=2: 5 at risk, a death (one censored at 2 still
    # at risk): F2 = 5/6 * 1/5 = 1/6, S = 2/3; t=3: 3 at risk, an event: F1 = 1/6 + 2/3 * 1/3 = 7/18,
    # S = 4/9; t=4: 2 at risk, a death: F2 = 1/6 + 4/9 * 1/2 = 7/18, S = 2/9; F1 + F2 + S = 1
    T = np.array([1, 2, 2, 3, 4, 5.0])
    st = np.array([1, 2, 0, 1, 2, 0])
    got = aalen_johansen(T, st, [0.5, 1, 2, 3, 4, 6])
    assert np.allclose(got[0], [0, 1 / 6, 1 / 6, 7 / 18, 7 / 18, 7 / 18], rtol=1e-14)
    assert np.allclose(got[1], [0, 0, 1 / 6, 1 / 6, 7 / 18, 7 / 18], rtol=1e-14)
    # 1 - Kaplan-Meier with the deaths as censoring: 1 - 5/6 * 2/3 = 8/18 > 7/18 (it overstates)
    km = 1 - (5 / 6) * (2 / 3)
    assert km > got[0, -1]
    # a frequency weight of 2 is the row twice
    w = np.array([2, 1, 1, 1, 1, 1.0])
    assert np.allclose(aalen_johansen(T, st, [1, 3, 4], weights=w),
                       aalen_johansen(np.r_[1.0, T], np.r_[1, st], [1, 3, 4]), rtol=1e-14)
    with pytest.raises(ValueError, match="status"):
        aalen_johansen(T, np.array([1, 3, 0, 0, 0, 0]), [1])


def test_competing_status():
    # event; death without the event (same time); death after the follow-up ended (loss of FFS): censored
    st = competing_status([1, 0, 0, 0], [1, 1, 1, 0], [2.0, 3.0, 1.5, 4.0], [2.5, 3.0, 2.0, 4.0])
    assert st.tolist() == [1, 2, 0, 0]


def _sim():
    return pd.read_csv(DATA / "competing_risks_sim.csv")


def _check_against(ref: pd.DataFrame, d: pd.DataFrame, tol: float = 1e-10):
    for method in ("cuminc", "survfit_ms"):
        for a in (0, 1):
            s = d[d["MH"] == a]
            ours = aalen_johansen(s["T"], s["status"], TIMES)
            for k in (1, 2):
                r = ref[(ref["method"] == method) & (ref["MH"] == a) & (ref["cause"] == k)]
                assert np.allclose(ours[k - 1], r["value"], rtol=0, atol=tol), (method, a, k)
    std, betas = standardized_competing_incidence(d["T"], d["status"], d[["x1", "x2"]], d["MH"], TIMES)
    for i, a in enumerate((1, 0)):
        r = ref[(ref["method"] == "standardized") & (ref["MH"] == a)]
        assert np.allclose(std[i], r["value"], rtol=0, atol=tol), a
    for k in (1, 2):
        r = ref[ref["method"].str.startswith(f"coef_cause{k}:")]
        assert np.allclose(betas[k - 1], r["value"], rtol=0, atol=1e-7)


def test_matches_stored_r_values():
    _check_against(pd.read_csv(DATA / "competing_risks_reference.csv"), _sim())


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed: the stored R values are checked instead")
def test_matches_r_live(tmp_path):
    probe = subprocess.run(["Rscript", "-e", "library(cmprsk); library(survival)"], capture_output=True)
    if probe.returncode:
        pytest.skip("R packages cmprsk or survival are not installed")
    out = tmp_path / "ref.csv"
    subprocess.run(["Rscript", str(ROOT / "benchmarks/r/competing_risks_reference.R"),
                    str(DATA / "competing_risks_sim.csv"), str(out)], check=True, capture_output=True)
    _check_against(pd.read_csv(out), _sim())


def test_standardized_without_covariates_is_the_unadjusted_estimate():
    d = _sim()
    std, _ = standardized_competing_incidence(d["T"], d["status"], np.zeros((len(d), 0)), d["MH"], TIMES)
    for i, a in enumerate((1, 0)):
        s = d[d["MH"] == a]
        assert np.allclose(std[i], aalen_johansen(s["T"], s["status"], TIMES)[0], rtol=1e-12)
    res = competing_cumulative_incidence(d, "T", "status", None, years=(1, 2, 3), n_boot=0)
    t = res.table.set_index(["method", "arm", "year"])["estimate"]
    assert np.allclose(t.loc["standardized"].sort_index(), t.loc["unadjusted"].sort_index(), rtol=1e-12)


def _trial(seed, n_org=40, n=6000, h1=0.05, h2=0.04, hr=0.7):
    """Constant cause-specific hazards h1 exp(0.5 x + log(hr) MH) (event) and h2 exp(0.4 x) (death);
    the true cumulative incidence of the event under arm a is the mean over x of
    h1_i / (h1_i + h2_i) (1 - exp(-(h1_i + h2_i) t))."""
    rng = np.random.default_rng(seed)
    org = rng.integers(0, n_org, n)
    mh = (rng.permutation(n_org) < n_org // 2).astype(int)[org]
    x = rng.normal(size=n)
    r1, r2 = h1 * np.exp(0.5 * x + np.log(hr) * mh), h2 * np.exp(0.4 * x)
    t1, t2, c = rng.exponential(1 / r1), rng.exponential(1 / r2), rng.uniform(3, 4.5, n)
    t = np.minimum.reduce([t1, t2, c])
    st = np.where(t == t1, 1, np.where(t == t2, 2, 0))
    d = pd.DataFrame({"ORG_ID": org, "MH": mh, "T": t, "status": st})
    yrs = np.array([1.0, 2.0, 3.0])
    truth = {}
    for a, arm in ((1, "intervention"), (0, "control")):
        a1, a2 = h1 * np.exp(0.5 * x + np.log(hr) * a), r2
        truth[arm] = 100 * (a1 / (a1 + a2) * (1 - np.exp(-np.outer(a1 + a2, yrs)).T)).T.mean(axis=0)
    truth["difference"] = truth["intervention"] - truth["control"]
    return d, pd.DataFrame({"x": x}), truth


def test_recovers_the_true_cumulative_incidence():
    d, X, truth = _trial(3)
    res = competing_cumulative_incidence(d, "T", "status", X, years=(1, 2, 3), n_boot=0)
    tab = res.table[res.table["method"] == "standardized"]
    for arm in ("intervention", "control", "difference"):
        est = tab.loc[tab["arm"] == arm, "estimate"].to_numpy()
        assert np.allclose(est, truth[arm], atol=0.9), (arm, est, truth[arm])
    assert truth["difference"][2] < -3  # the effect is large next to the tolerance
    assert res.coefficients["event"]["x"] == pytest.approx(0.5, abs=0.1)
    assert res.coefficients["competing_death"]["x"] == pytest.approx(0.4, abs=0.1)


def test_bootstrap_is_reproducible_with_a_seed_and_a_replicate_is_the_resampled_fit():
    d, X, truth = _trial(4, n_org=20, n=1500)
    a = competing_cumulative_incidence(d, "T", "status", X, years=(1, 2, 3), n_boot=30, seed=11)
    b = competing_cumulative_incidence(d, "T", "status", X, years=(1, 2, 3), n_boot=30, seed=11)
    c = competing_cumulative_incidence(d, "T", "status", X, years=(1, 2, 3), n_boot=30, seed=12)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table["lower"], c.table["lower"])
    assert a.n_boot_failed == 0
    tab = a.table
    assert (tab["lower"] <= tab["estimate"]).all() and (tab["estimate"] <= tab["upper"]).all()
    # frequency weights give exactly the fit on the physically copied organizations (Breslow ties, under
    # which weights and copies coincide; with Efron's, the copies of a row are ties of their own)
    _, org = np.unique(d["ORG_ID"], return_inverse=True)
    w = np.random.default_rng(0).multinomial(20, np.full(20, 1 / 20))[org].astype(float)
    rep = np.repeat(np.arange(len(d)), w.astype(int))
    Xm = X.to_numpy()
    one, _ = standardized_competing_incidence(d["T"], d["status"], Xm, d["MH"], [1, 2, 3], weights=w,
                                              ties="breslow")
    two, _ = standardized_competing_incidence(d["T"].to_numpy()[rep], d["status"].to_numpy()[rep], Xm[rep],
                                              d["MH"].to_numpy()[rep], [1, 2, 3], ties="breslow")
    assert np.allclose(one, two, rtol=1e-9)


def test_years_without_enough_at_risk_or_events_are_not_estimable():
    d, X, _ = _trial(5, n_org=20, n=1500)  # censoring uniform on 3-4.5 years: nobody at risk at 5
    res = competing_cumulative_incidence(d, "T", "status", X, years=(0.02, 1, 2, 4.48, 5), n_boot=0, min_at_risk=11,
                                         min_events=11)
    t = res.table
    y5 = t[t["year"] == 5]
    assert y5["estimate"].isna().all() and (y5["note"] == "not estimable: no beneficiary is followed this long").all()
    late = t[t["year"] == 4.48]  # a few still at risk (9 and 5)
    assert late["estimate"].isna().all() and late["note"].str.contains("fewer than 11 beneficiaries at risk").all()
    early = t[t["year"] == 0.02]  # a week: fewer than 11 events in an arm
    assert early["estimate"].isna().all() and early["note"].str.contains("fewer than 11 events").all()
    assert t.loc[t["year"].isin([1, 2]), "estimate"].notna().all() and (t.loc[t["year"].isin([1, 2]), "note"] == "").all()
    assert res.curves["years"].max() < 4.5
    # the curves show no time at which an arm has from 1 to 10 events
    T, st, mh = d["T"].to_numpy(), d["status"].to_numpy(), d["MH"].to_numpy()
    for y in res.curves["years"].unique():
        for a in (0, 1):
            e = ((T <= y) & (st == 1) & (mh == a)).sum()
            assert e == 0 or e >= 11


def test_without_competing_events_it_is_one_minus_kaplan_meier():
    """All-cause death has no competing event: the cause-2 model has no events and no hazard, and the
    unadjusted estimate is 1 - Kaplan-Meier."""
    d, X, _ = _trial(6, n_org=20, n=1500)
    d["status"] = (d["status"] > 0).astype(int)  # death of any cause: one cause
    res = competing_cumulative_incidence(d, "T", "status", X, years=(1, 2, 3), n_boot=5, seed=1)
    assert res.n_competing == 0 and res.n_boot_failed == 0
    assert res.coefficients["competing_death"] == {"x": 0.0}
    for a, arm in ((1, "intervention"), (0, "control")):
        s = d[d["MH"] == a]
        T, E = s["T"].to_numpy(), s["status"].to_numpy()
        ut = np.unique(T[E == 1])
        km = np.cumprod([1 - E[T == t].sum() / (T >= t).sum() for t in ut])
        expect = 100 * (1 - np.r_[1.0, km][np.searchsorted(ut, [1, 2, 3], side="right")])
        got = res.table[(res.table["method"] == "unadjusted") & (res.table["arm"] == arm)]["estimate"]
        assert np.allclose(got, expect, rtol=1e-12)


def test_incidence_table_labels_the_methods_and_keeps_the_reasons():
    from mheval.report.impact_tables import adjusted_incidence_table

    d, X, _ = _trial(7, n_org=20, n=1500)
    res = competing_cumulative_incidence(d, "T", "status", X, years=(1, 5), n_boot=0)
    one = res.table[res.table["method"] == "standardized"].assign(method="one_minus_s")  # stands in for 1 - S
    t = pd.concat([res.table, one]).assign(outcome="event", population="high")
    out = adjusted_incidence_table([t])
    assert list(out["method"]) == ["standardized"] * 2 + ["unadjusted"] * 2 + ["one_minus_s"] * 2
    assert out.loc[out["method"] == "one_minus_s", "method_label"].str.startswith("Sensitivity: 1 - S").all()
    assert out.loc[out["method"] == "standardized", "method_label"].str.contains("death a competing risk").all()
    assert (out.loc[out["follow_up_year"] == 5, "note"] == "not estimable: no beneficiary is followed this long").all()
    assert out.loc[out["follow_up_year"] == 1, "difference"].notna().all()
    death = adjusted_incidence_table([t.assign(outcome="death")])
    assert death["method_label"].str.contains("no competing risk|arm as a covariate").all()


def test_incidence_stays_a_probability_when_a_predicted_hazard_exceeds_the_risk_set(monkeypatch):
    """Coefficients that ran off (as in a bootstrap replicate of a tiny trial with separation) give
    beneficiaries who left the risk sets early a predicted hazard far above the risk set's: the
    standardized incidence must still be a probability, non-decreasing in time (an upper band once
    reached 1e14 percent)."""
    from mheval.models import competing_risks as cr

    fit = cr._stratified_fit

    def run_off(T, event, X, arm, weights, init, ties):
        b, h = fit(T, event, np.zeros_like(X), arm, weights, None, ties)  # the baseline of a null model
        return np.full_like(b, 25.0), h  # exp(25 x) for x = 1: about 7e10 times the others' hazard

    monkeypatch.setattr(cr, "_stratified_fit", run_off)
    rng = np.random.default_rng(3)
    n = 200
    arm = np.repeat([1, 0], n // 2)
    x = np.zeros(n)
    x[:6] = 1.0  # six beneficiaries censored before any event: no risk set after that holds them
    T = rng.exponential(5.0, n)
    T[:6] = 0.01
    status = rng.choice([0, 1, 2], size=n, p=[0.6, 0.25, 0.15])
    status[:6] = 0
    diag: dict = {}
    inc, _ = cr.standardized_competing_incidence(T, status, x[:, None], arm, np.linspace(0, 4, 41), diagnostics=diag)
    assert "capped_from" in diag
    assert np.all((inc >= 0) & (inc <= 1)), inc.max()
    assert np.all(np.diff(inc, axis=1) >= -1e-12)


def test_bootstrap_replicates_equal_the_weighted_refit():
    """Every replicate of the fast bootstrap (rows sorted once and reweighted, fits started at the
    full-data coefficients, the standardization interpolated over the relative hazards, the unadjusted
    estimate from weighted counts) equals the direct computation for the same resampled organizations:
    the weighted refit with every beneficiary's product formed (``exact=True``) and the weighted
    Aalen-Johansen estimate of each arm."""
    from mheval.models.adjusted_incidence import cluster_bootstrap_counts
    from mheval.models.competing_risks import competing_bootstrap

    d, X, _ = _trial(8, n_org=30, n=3000)
    rng = np.random.default_rng(1)
    Xm = np.c_[X.to_numpy(), rng.normal(scale=1.5, size=len(d)), rng.integers(0, 2, len(d))]  # a wider spread
    T, st, mh = d["T"].to_numpy(), d["status"].to_numpy(), d["MH"].to_numpy()
    _, org = np.unique(d["ORG_ID"], return_inverse=True)
    times = np.arange(0, 37) / 12
    counts, _ = cluster_bootstrap_counts(org, mh, 5, seed=2)
    _, betas = standardized_competing_incidence(T, st, Xm, mh, times, exact=True)
    boot, failed = competing_bootstrap(T, st, Xm, mh, org, times, counts, betas)
    assert failed == 0
    for b in range(len(counts)):
        w = counts[b, org]
        ref, _ = standardized_competing_incidence(T, st, Xm, mh, times, weights=w, init=betas, exact=True)
        assert np.allclose(boot["standardized"][b], ref, rtol=0, atol=1e-10), b
        un = [aalen_johansen(T[mh == a], st[mh == a], times, w[mh == a])[0] for a in (1, 0)]
        assert np.allclose(boot["unadjusted"][b], un, rtol=0, atol=1e-13), b
    # the interpolated and the exact standardization of the full data agree too
    fast, _ = standardized_competing_incidence(T, st, Xm, mh, times)
    exact, _ = standardized_competing_incidence(T, st, Xm, mh, times, exact=True)
    assert np.allclose(fast, exact, rtol=0, atol=1e-12) and fast[:, -1].min() > 0.05



def test_bands_not_estimable_when_many_replicates_fail(monkeypatch):
    """The standardized competing-risk fits are per arm, so a resample without an arm's events fits (at
    zero incidence); replicates fail only on a singular fit. The bootstrap is wrapped to fail the
    first 11 of 50 replicates (22% > 10%): the bands are then not estimable, the estimates kept."""
    from mheval.models import competing_risks

    real = competing_risks.competing_bootstrap

    def failing(*a, **k):
        boot, failed = real(*a, **k)
        for m in boot:
            boot[m][:11] = np.nan
        return boot, 11

    rng = np.random.default_rng(1)
    d = pd.DataFrame({"T": rng.uniform(0.5, 4, 960), "S": rng.choice([0, 1, 2], 960, p=[0.8, 0.15, 0.05]),
                      "ORG": np.repeat(np.arange(12), 80), "x": rng.normal(size=960)})
    d["MH"] = d["ORG"] % 2
    kw = dict(cluster="ORG", years=(1, 2, 3), n_boot=50, min_at_risk=0, min_events=0)
    ok = competing_cumulative_incidence(d, "T", "S", d[["x"]], **kw)
    monkeypatch.setattr(competing_risks, "competing_bootstrap", failing)
    res = competing_cumulative_incidence(d, "T", "S", d[["x"]], **kw)
    t = res.table
    assert res.n_boot_failed == 11 and np.allclose(t["estimate"], ok.table["estimate"])
    assert t[["lower", "upper"]].isna().all().all() and ok.table[["lower", "upper"]].notna().all().all()
    assert t["note"].str.startswith("interval not estimable: more than 10%").all()
    loose = competing_cumulative_incidence(d, "T", "S", d[["x"]], max_failed_share=0.25, **kw)
    assert loose.table[["lower", "upper"]].notna().all().all() and (loose.table["note"] == "").all()
