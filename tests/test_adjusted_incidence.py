"""Adjusted (standardized) cumulative incidence: against R survival 3.5.3's survfit(coxph, newdata),
against the Nelson-Aalen estimate, recovery of a known effect, and bootstrap bands.

R reference values: Rscript benchmarks/r/ph_incidence_reference.R (tests/data/adjusted_incidence_reference.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.models.adjusted_incidence import _curves, adjusted_cumulative_incidence

DATA = Path(__file__).parent / "data"
GRID = np.array([0.5, 1, 1.5, 2, 2.5, 3, 4, 5])


def _sim():
    d = pd.read_csv(DATA / "ph_incidence_sim.csv")
    X = pd.DataFrame({"x1": d["x1"], "x2": d["x2"], "grpb": (d["grp"] == "b") * 1.0, "grpc": (d["grp"] == "c") * 1.0})
    return d, X


@pytest.mark.parametrize("ctype,baseline", [(1, "breslow"), (2, "efron")])
def test_matches_r_survfit_coxph_newdata_averaged(ctype, baseline):
    d, X = _sim()
    ref = pd.read_csv(DATA / "adjusted_incidence_reference.csv")
    res = adjusted_cumulative_incidence(d, "T", "E", X.assign(MH=d["MH"]), years=GRID, n_boot=0, baseline=baseline,
                                        min_at_risk=0)
    assert res.covariates == ["x1", "x2", "grpb", "grpc"]
    tab = res.table
    for mh, arm in ((1, "intervention"), (0, "control")):
        r = ref[(ref["ctype"] == ctype) & (ref["MH"] == mh)]
        ours = tab.loc[tab["arm"] == arm, "estimate"].to_numpy() / 100
        assert np.allclose(ours, r["cuminc"], rtol=1e-8, atol=1e-12)
    diff = tab.loc[tab["arm"] == "difference", "estimate"].to_numpy()
    assert np.allclose(diff, tab.loc[tab["arm"] == "intervention", "estimate"].to_numpy()
                       - tab.loc[tab["arm"] == "control", "estimate"].to_numpy())
    assert res.log_hr == pytest.approx(0.09924403, abs=1e-7)  # R's coef(MH)


def test_one_arm_no_covariates_is_one_minus_exp_minus_nelson_aalen():
    d, _ = _sim()
    d1 = d[d["MH"] == 1].reset_index(drop=True)
    res = adjusted_cumulative_incidence(d1, "T", "E", None, years=GRID, n_boot=0, min_at_risk=0)
    assert set(res.table["arm"]) == {"intervention"}
    T, E = d1["T"].to_numpy(), d1["E"].to_numpy()
    ut = np.unique(T[E == 1])
    na = np.cumsum([E[T == t].sum() / (T >= t).sum() for t in ut])  # Nelson-Aalen by hand
    expect = 1 - np.exp(-np.r_[0.0, na][np.searchsorted(ut, GRID, side="right")])
    assert np.allclose(res.table["estimate"].to_numpy() / 100, expect, rtol=1e-12)
    ref = pd.read_csv(DATA / "adjusted_incidence_reference.csv")
    assert np.allclose(expect, ref.loc[ref["ctype"] == 0, "cuminc"], rtol=1e-10)  # R: survfit(Surv ~ 1, ctype = 1)


def _trial(seed, n_org=60, n=6000, frailty_shape=None, hr=0.7, lam=0.08):
    """Organizations randomized 1:1; exponential times with hazard lam * u_org * exp(x'b + MH log hr);
    returns the frame, the covariates and the true standardized incidence (percent) at years 1..4."""
    rng = np.random.default_rng(seed)
    org = rng.integers(0, n_org, n)
    mh = (rng.permutation(n_org) < n_org // 2).astype(int)[org]
    x1, x2 = rng.normal(size=n), rng.integers(0, 2, n).astype(float)
    lp = 0.5 * x1 + 0.4 * x2
    u = np.ones(n) if frailty_shape is None else rng.gamma(frailty_shape, 1 / frailty_shape, n_org)[org]
    t = rng.exponential(1 / (lam * u * np.exp(lp + np.log(hr) * mh)))
    c = rng.uniform(3, 5, n)
    d = pd.DataFrame({"ORG_ID": org, "MH": mh, "T": np.minimum(t, c), "E": (t <= c).astype(int)})
    yrs = np.array([1.0, 2.0, 3.0, 4.0])
    truth = {}
    for a, arm in ((1, "intervention"), (0, "control")):
        s = lam * yrs[None, :] * np.exp(lp + np.log(hr) * a)[:, None]
        surv = np.exp(-s) if frailty_shape is None else (1 + s / frailty_shape) ** -frailty_shape  # E_u exp(-u s)
        truth[arm] = 100 * (1 - surv.mean(axis=0))
    truth["difference"] = truth["intervention"] - truth["control"]
    return d, pd.DataFrame({"x1": x1, "x2": x2}), truth


def test_recovers_a_known_treatment_effect():
    d, X, truth = _trial(1, n=12000)
    res = adjusted_cumulative_incidence(d, "T", "E", X, years=(1, 2, 3, 4), n_boot=0)
    assert res.log_hr == pytest.approx(np.log(0.7), abs=0.08)
    for arm in ("intervention", "control", "difference"):
        est = res.table.loc[res.table["arm"] == arm, "estimate"].to_numpy()
        assert np.allclose(est, truth[arm], atol=1.2), (arm, est, truth[arm])  # percentage points
    # the true difference (-7 points at 3 years) is large next to the tolerance
    assert truth["difference"][2] < -6


def test_bootstrap_replicate_is_the_fit_on_the_resampled_organizations():
    """A replicate's frequency weights give exactly the fit on the physically copied organizations
    (Breslow ties, where weights and duplication coincide; times are continuous here anyway)."""
    d, X, _ = _trial(2, n_org=20, n=1500)
    T, E = d["T"].to_numpy(), d["E"].to_numpy()
    Xm = np.c_[d["MH"].to_numpy(float), X.to_numpy()]
    rng = np.random.default_rng(0)
    counts = rng.multinomial(20, np.full(20, 1 / 20))
    w = counts[d["ORG_ID"].to_numpy()].astype(float)
    rep = np.repeat(np.arange(len(T)), w.astype(int))
    times = np.array([1.0, 2.0, 3.0])
    a, _ = _curves(T, E, Xm, 0, [1, 0], times, "breslow", "breslow", weights=w)
    b, _ = _curves(T[rep], E[rep], Xm[rep], 0, [1, 0], times, "breslow", "breslow")
    assert np.allclose(a, b, rtol=1e-10)


def test_fast_bootstrap_replicates_equal_the_weighted_refit():
    """The bootstrap (rows sorted once and reweighted, fits from the full-data estimate, the
    standardization interpolated over the relative hazards) gives every replicate the incidence of
    the direct weighted refit with every row's survival formed (``exact=True``), to 1e-10; an
    organization-level covariate that some replicates leave constant goes through the direct refit."""
    from mheval.models.adjusted_incidence import bootstrap_curves, cluster_bootstrap_counts

    d, X, _ = _trial(9, n_org=16, n=2000)
    T, E, mh = d["T"].to_numpy(), d["E"].to_numpy(), d["MH"].to_numpy()
    _, org = np.unique(d["ORG_ID"], return_inverse=True)
    rare = (org == org[mh == 1][0]).astype(float)  # one organization's trait: absent from some replicates
    Xm = np.c_[mh.astype(float), X.to_numpy(), 2.0 * np.random.default_rng(3).normal(size=len(T)), rare]
    times = np.arange(0, 49) / 12
    _, beta = _curves(T, E, Xm, 0, [1, 0], times, "efron", "breslow", exact=True)
    counts, _ = cluster_bootstrap_counts(org, mh, 8, seed=5)
    boot, failed = bootstrap_curves(T, E, Xm, 0, [1, 0], times, org, counts, beta)
    assert failed == 0
    drawn_rare = [counts[b, org[rare == 1][0]] > 0 for b in range(8)]
    assert any(drawn_rare) and not all(drawn_rare)  # both kinds of replicate occur
    for b in range(8):
        ref, _ = _curves(T, E, Xm, 0, [1, 0], times, "efron", "breslow", weights=counts[b, org], init=beta, exact=True)
        assert np.allclose(boot[b], ref, rtol=0, atol=1e-10), b
    fast, _ = _curves(T, E, Xm, 0, [1, 0], times, "efron", "breslow")
    exact, _ = _curves(T, E, Xm, 0, [1, 0], times, "efron", "breslow", exact=True)
    assert np.allclose(fast, exact, rtol=0, atol=1e-13) and fast[:, -1].min() > 0.1


def test_bootstrap_bands_cover_the_truth_and_are_reproducible():
    covered, widths = [], []
    for seed in range(6):
        d, X, truth = _trial(10 + seed, n_org=30, n=1500, frailty_shape=8.0)
        res = adjusted_cumulative_incidence(d, "T", "E", X, years=(1, 2, 3), n_boot=60, seed=seed)
        tab = res.table[res.table["arm"] == "difference"]
        assert (tab["lower"] < tab["estimate"]).all() and (tab["estimate"] < tab["upper"]).all()
        covered.append(bool(tab["lower"].iloc[1] <= truth["difference"][1] <= tab["upper"].iloc[1]))
        widths.append(float(tab["upper"].iloc[1] - tab["lower"].iloc[1]))
        assert res.n_boot_failed == 0
    assert sum(covered) >= 4  # nominal 90%: P(at least 4 of 6) is about 0.98
    assert 1.0 < np.median(widths) < 15.0  # percentage points at year 2, about 3 x 1.645 x SE
    again = adjusted_cumulative_incidence(d, "T", "E", X, years=(1, 2, 3), n_boot=60, seed=5)
    pd.testing.assert_frame_equal(again.table, res.table)
    assert set(res.curves["arm"]) == {"intervention", "control", "difference"}
    grid = res.curves.loc[res.curves["arm"] == "control", "years"].to_numpy()
    assert np.allclose(np.diff(grid), 1 / 12) and grid[0] == 0 and grid[-1] == pytest.approx(3.0)


def test_small_cells_are_not_reported():
    d, X, _ = _trial(3, n_org=20, n=1500)
    res = adjusted_cumulative_incidence(d, "T", "E", X, years=(1, 2, 3, 4, 5), n_boot=0, min_at_risk=11)
    # censoring is uniform on 3-5 years: nobody is at risk at 5 years
    assert res.table.loc[res.table["year"] == 5, "estimate"].isna().all()
    assert res.table.loc[res.table["year"] <= 3, "estimate"].notna().all()
    assert res.curves["years"].max() < 5


def _events_in_one_organization_per_arm(seed=1, n_org=12, n=80):
    """Organizations alternate arms; only organizations 0 (control) and 1 (intervention) have events, so a
    cluster-bootstrap resample (6 draws within an arm of 6) misses an arm's one organization with events
    with probability (5/6)^6 = 0.33, and one arm or the other 1 - 0.67^2 = 0.56 of the time: such a
    replicate's treatment coefficient diverges (monotone likelihood) and it fails to fit."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_org):
        E = np.zeros(n, int)
        if g < 2:
            E[:30] = 1
        rows.append(pd.DataFrame({"T": rng.uniform(0.5, 4, n), "E": E, "MH": g % 2, "ORG": g, "x": rng.normal(size=n)}))
    return pd.concat(rows, ignore_index=True)


def test_percentile_band_is_not_estimable_when_many_replicates_fail():
    from mheval.models.adjusted_incidence import percentile_band

    reps = np.arange(1.0, 101.0)[:, None] * np.array([1.0, 2.0])  # 100 replicates x 2 times
    lo, hi, why = percentile_band(reps, 0.10, 100, 0)
    assert why == "" and np.allclose(lo, [5.95, 11.9]) and np.allclose(hi, [95.05, 190.1])  # numpy's linear rule
    reps[:10] = np.nan  # 10 of 100 failed: at the threshold, still a band, from the 90 that fitted
    lo, hi, why = percentile_band(reps, 0.10, 100, 10)
    assert why == "" and np.allclose(lo, np.percentile(reps[10:], 5, axis=0))
    reps[10] = np.nan  # 11 of 100: more than 10%
    lo, hi, why = percentile_band(reps, 0.10, 100, 11)
    assert np.isnan(lo).all() and np.isnan(hi).all() and "more than 10%" in why
    assert percentile_band(reps, 0.10, 100, 11, max_failed_share=0.2)[2] == ""
    assert "fewer than two" in percentile_band(reps[:2], 0.10, 2, 1, max_failed_share=1.0)[2]
    lo, hi, why = percentile_band(np.zeros((0, 2)), 0.10, 0, 0)  # no bands asked for: no reason
    assert why == "" and np.isnan(lo).all()


def test_bands_not_estimable_when_most_replicates_fail_but_the_estimate_is_kept():
    d = _events_in_one_organization_per_arm()
    res = adjusted_cumulative_incidence(d, "T", "E", d[["x"]], cluster="ORG", years=(1, 2, 3), n_boot=50, min_at_risk=0)
    assert res.n_boot_failed > 5  # more than 10% of 50 replicates lost an arm's events
    t = res.table
    assert t["estimate"].notna().all() and t[["lower", "upper"]].isna().all().all()
    assert t["note"].str.contains("more than 10% of the cluster-bootstrap replicates failed").all()
    assert any("interval not estimable" in n for n in res.notes)
    # the same data with the threshold raised: the band from the replicates that fitted, and no note
    loose = adjusted_cumulative_incidence(d, "T", "E", d[["x"]], cluster="ORG", years=(1, 2, 3), n_boot=50,
                                          min_at_risk=0, max_failed_share=1.0)
    assert loose.table[["lower", "upper"]].notna().all().all() and (loose.table["note"] == "").all()
    assert np.allclose(loose.table["estimate"], t["estimate"])
