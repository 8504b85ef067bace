"""Subgroups: definitions by hand, interaction models on the synthetic trial, Bayesian pooling
(closed form with tau fixed, shrinkage lowers the error, diagnostics gate)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from mheval.subgroups import (PoolingDiagnosticsError, SubgroupTooSmallError, assign_subgroups, closed_form_posterior,
                              cox_by_subgroup, equation1_by_subgroup, pool_subgroups, save_inference_data)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::RuntimeWarning")

LOOSE = {"min_beneficiaries": 1, "min_organizations_per_arm": 1, "small_levels": "keep"}


def _tiny() -> pd.DataFrame:
    """12 beneficiaries in 6 organizations (O1-O3 intervention, O4-O6 control)."""
    orgs = {  # org: (MH, n beneficiaries, ORG_TYPE, RURAL, HEALTH_SYSTEM)
        "O1": (1, 1, "cardiology", True, False), "O2": (1, 2, "primary_care", False, True),
        "O3": (1, 3, "multispecialty", False, False), "O4": (0, 1, "cardiology", True, True),
        "O5": (0, 2, "primary_care", False, False), "O6": (0, 3, "multispecialty", True, False)}
    rows = []
    for org, (mh, n, typ, rural, hs) in orgs.items():
        for _ in range(n):
            rows.append({"ORG_ID": org, "MH": mh, "ORG_TYPE": typ, "RURAL": rural, "HEALTH_SYSTEM": hs})
    d = pd.DataFrame(rows)
    d["BENE_ID"] = [f"B{i:02d}" for i in range(12)]
    d["STRATUM"] = ["high", "medium"] * 6
    d["MODIFIABLE_SHARE"] = [0.1, 0.5, 0.49, 0.9, 0.2, 0.6, 0.5, 0.3, 0.7, 0.0, 0.55, 0.45]
    d["SEX"] = ["male", "female", "female", "male"] * 3
    d["AGE"] = [50, 64.9, 65, 74.99, 75, 79, 60, 70, 71, 72, 73, 78]
    d["RACE"] = ["white", "black", "asian", "white", "unknown", "black", "white", "white", "hispanic", "white", "black",
                 "white"]
    d["ENROLL_DT"] = pd.to_datetime(["2017-01-01", "2017-02-01", "2017-03-01", "2017-04-01", "2017-05-01",
                                     "2017-06-01", "2017-07-01", "2017-08-01", "2018-01-01", "2018-02-01",
                                     "2018-03-01", "2018-12-31"])
    d["RISK"] = [0.4, 0.2, 0.3, 0.2, 0.2, 0.5, 0.3, 0.2, 0.3, 0.2, 0.2, 0.25]
    # self-reported Medicare FFS beneficiaries (registry organization file): 1,000 x the enrollees here
    d["SELF_REPORTED_FFS_BENES"] = d["ORG_ID"].map(lambda o: 1000 * orgs[o][1])
    return d


def test_assignment_by_hand():
    d = _tiny()
    spec = {**LOOSE, "age": {"cuts": [65, 75]}, "org_size": {"method": "terciles"}, "ceiling": {"column": "RISK"},
            "race": {"groups": {"white": ["white"], "black": ["black"]}, "other_label": "other"}}
    out, counts = assign_subgroups(d, spec)
    assert list(out["SG_RISK"]) == list(d["STRATUM"])
    assert list(out["SG_MODIFIABLE"]) == ["<0.5", ">=0.5", "<0.5", ">=0.5", "<0.5", ">=0.5", ">=0.5", "<0.5", ">=0.5",
                                          "<0.5", ">=0.5", "<0.5"]
    assert list(out["SG_AGE"]) == ["<65", "<65", "65-74", "65-74", "75+", "75+", "<65", "65-74", "65-74", "65-74",
                                   "65-74", "75+"]
    assert list(out["SG_RACE"]) == ["white", "black", "other", "white", "other", "black", "white", "white", "other",
                                    "white", "black", "white"]
    # median of the 12 enrollment dates: between 2017-06-01 and 2017-07-01 -> 2017-06-16
    assert list(out["SG_ENROLLMENT"]) == ["early"] * 6 + ["late"] * 6
    # self-reported sizes 1,000, 2,000, 3,000 in each arm: terciles of organizations put them in small, medium, large
    size = {"O1": "small", "O4": "small", "O2": "medium", "O5": "medium", "O3": "large", "O6": "large"}
    assert list(out["SG_ORG_SIZE"]) == list(d["ORG_ID"].map(size))
    # organization mean risk: O1 .4, O2 .25, O3 .3, O4 .3, O5 .25, O6 .217; median over organizations .275
    far = {"O1", "O3", "O4"}
    assert list(out["SG_CEILING"]) == ["far" if o in far else "near" for o in d["ORG_ID"]]
    assert list(out["SG_RURAL"]) == ["rural" if r else "urban" for r in d["RURAL"]]
    assert list(out["SG_HEALTH_SYSTEM"]) == ["health_system" if h else "independent" for h in d["HEALTH_SYSTEM"]]
    assert list(out["SG_ORG_TYPE"]) == list(d["ORG_TYPE"])
    assert list(out["SG_SEX"].cat.categories) == ["female", "male"]
    c = counts.set_index(["dimension", "level"])
    assert c.loc[("org_size", "large"), "n_beneficiaries"] == 6
    assert c.loc[("org_size", "large"), "n_organizations_intervention"] == 1
    assert c.loc[("race", "black"), "n_beneficiaries_control"] == 1
    assert c.loc[("race", "black"), "n_beneficiaries_intervention"] == 2
    assert c.loc[("enrollment", "early"), "rule"] == "cut=2017-06-16"
    # a fixed cut date and organization-size cuts
    out2, _ = assign_subgroups(d, {**LOOSE, "enabled": ["enrollment", "org_size"], "enrollment": {"cut": "2018-01-01"},
                                   "org_size": {"method": "cuts", "cuts": [3000], "labels": ["small", "large"]}})
    assert (out2["SG_ENROLLMENT"] == "late").sum() == 4
    assert list(out2["SG_ORG_SIZE"]) == list(d["ORG_ID"].map(lambda o: "large" if o in ("O3", "O6") else "small"))
    # a beneficiary-year frame gets the same labels (organizations and beneficiaries counted once)
    by = pd.concat([d, d]).reset_index(drop=True)
    out3, counts3 = assign_subgroups(by, {**LOOSE, "enabled": ["org_size", "ceiling"], "ceiling": {"column": "RISK"}})
    assert list(out3["SG_ORG_SIZE"][:12]) == list(out["SG_ORG_SIZE"])
    assert counts3["n_beneficiaries"].sum() == 24  # 12 per dimension
    # size is the self-reported number, not the number enrolled: reversing it reverses the labels
    rev = d.assign(SELF_REPORTED_FFS_BENES=4000 - d["SELF_REPORTED_FFS_BENES"])
    out4, _ = assign_subgroups(rev, {**LOOSE, "enabled": ["org_size"]})
    assert list(out4["SG_ORG_SIZE"]) == list(d["ORG_ID"].map({**size, "O1": "large", "O4": "large", "O3": "small",
                                                               "O6": "small"}))
    # default ceiling: the organization's mean baseline modifiable share of risk: O1 .1, O2 .495, O3 .567,
    # O4 .5, O5 .5, O6 .333; median over organizations .4975
    out5, _ = assign_subgroups(d, {**LOOSE, "enabled": ["ceiling"]})
    assert list(out5["SG_CEILING"]) == ["far" if o in {"O3", "O4", "O5"} else "near" for o in d["ORG_ID"]]
    with pytest.raises(ValueError, match="not a baseline measure"):
        assign_subgroups(d, {**LOOSE, "enabled": ["ceiling"], "ceiling": {"column": "spend_ab"}})


def test_small_levels_merge_or_error():
    d = _tiny()
    # ages: <60: 1, 60-64: 2, 65-74: 6, 75+: 3 beneficiaries
    strict = {"enabled": ["age"], "age": {"cuts": [60, 65, 75]}, "min_beneficiaries": 3, "min_organizations_per_arm": 1}
    with pytest.raises(SubgroupTooSmallError, match="'age' level '<60' is too small: 1 beneficiaries"):
        assign_subgroups(d, {**strict, "small_levels": "error"})
    out, counts = assign_subgroups(d, {**strict, "small_levels": "merge"})
    # <60 (1) merges into its only neighbour 60-64 (2); the merged level (3) is large enough
    assert list(counts["level"]) == ["<60+60-64", "65-74", "75+"]
    assert list(counts["n_beneficiaries"]) == [3, 6, 3]
    assert list(out["SG_AGE"][:3]) == ["<60+60-64", "<60+60-64", "65-74"]
    _, kept = assign_subgroups(d, {**strict, "small_levels": "keep"})
    assert list(kept["small"]) == [True, True, False, False]
    # merging down to one level leaves no contrast: the dimension is not estimable (no column, no
    # levels, the reason recorded), not a crash of the whole subgroup step
    out, counts = assign_subgroups(d, {**strict, "age": {"cuts": [65, 75]}, "min_beneficiaries": 4})
    assert "SG_AGE" not in out and counts.empty
    assert "single level" in out.attrs["not_estimable"]["age"] and not any(ch.isdigit() for ch in
                                                                        out.attrs["not_estimable"]["age"])
    # race: "other" (3) merges with the next-smallest unordered level, black (3)
    out, counts = assign_subgroups(d, {"enabled": ["race"], "min_beneficiaries": 4, "min_organizations_per_arm": 1})
    assert set(counts["level"]) == {"white", "black+other"}
    assert counts.set_index("level").loc["black+other", "merged_from"] == "black+other"
    assert counts["n_beneficiaries"].sum() == 12
    out, _ = assign_subgroups(d, {"enabled": ["rural"], "min_beneficiaries": 1, "min_organizations_per_arm": 2})
    assert set(out.attrs["not_estimable"]) == {"rural"} and "SG_RURAL" not in out
    with pytest.raises(ValueError, match="unknown subgroup dimensions"):
        assign_subgroups(d, {"enabled": ["shoe_size"]})


@pytest.fixture(scope="module")
def tte_sg(tte):
    """The session time-to-event file with the default subgroups: (frame, counts)."""
    return assign_subgroups(tte)


def test_equation1_by_subgroup_recovers_the_effect_in_each_level(by, tte_sg, trial):
    frame, _ = tte_sg
    by_sg = by.merge(frame[["BENE_ID", "SG_SEX"]], on="BENE_ID")
    # the high-risk population keeps the fit small (the nested LMM's cost grows with rows x terms^2)
    r = equation1_by_subgroup(by_sg, "office_mh", "high", "sex")
    t = r.table
    assert list(t["level"]) == ["female", "male"] and "MALE" in r.dropped_covariates
    true_ratio = trial[1]["true_effects"]["office_visit_ratio"]  # +5% in everyone
    for _, row in t.iterrows():
        truth = (true_ratio - 1) * row["control_mean"]
        assert abs(row["estimate"] - truth) < 3 * row["se"], row["level"]
        assert row["lower"] < row["estimate"] < row["upper"] and 0 < row["se"] < 0.3
    assert t["n_beneficiaries"].sum() == by.loc[(by["STRATUM"] == "high") & (by["YEAR"] > 0) & (by["WEIGHT"] > 0)
                                                 & by["office_mh"].notna(), "BENE_ID"].nunique()
    assert t["n_obs"].sum() == r.n_obs
    h = r.heterogeneity
    assert h["df"] == 1 and 0 <= h["p"] <= 1 and h["chi2"] >= 0


@pytest.mark.parametrize("by_year,average", [(False, "simple"), (True, "beneficiary_years")])
def test_shared_statistics_give_the_fit_from_the_rows(by, tte_sg, by_year, average):
    """equation1_by_subgroup with shared= (the statistics every dimension of an outcome shares, bordered
    per dimension; run_subgroup_analysis's path) equals the fit from the rows: level estimates, CR2 SEs and
    covariance, control means, counts, heterogeneity test, dropped covariates and the size test to 1e-6 (estimates: of their SE),
    in a dimension that drops a covariate (sex: MALE), one with three levels and the size test (org_size; its
    model drops LOG_FFS_SIZE, the size term itself), and with a
    year x level cell without rows (no year-5 rows of one level: both leave the cell out). A dimension with
    rows without a level is fitted from the rows."""
    from mheval.models.equation1 import model_frame
    from mheval.subgroups.interaction import SharedStatistics

    frame, _ = tte_sg
    by_sg = by.merge(frame[["BENE_ID", "SG_SEX", "SG_ORG_SIZE", "SG_AGE"]], on="BENE_ID")
    d = model_frame(by_sg, "office_mh", "high")
    last = d["YEAR"].max()
    cut = model_frame(by_sg, "office_mh", "high")
    cut = cut[~((cut["YEAR"] == last) & (cut["SG_AGE"] == cut["SG_AGE"].iloc[0]))].reset_index(drop=True)
    for frm, dim in ((d, "sex"), (d, "org_size"), (cut, "age")):
        shared = SharedStatistics(frm, "office_mh", "high")
        assert shared.usable
        kw = dict(by_year=by_year, average=average, frame=frm)
        a = equation1_by_subgroup(frm, "office_mh", "high", dim, **kw)
        b = equation1_by_subgroup(frm, "office_mh", "high", dim, shared=shared, start=a.variance_ratios, **kw)
        num = [c for c in a.table.columns if c != "level"]
        assert list(a.table["level"]) == list(b.table["level"]) and a.table.columns.equals(b.table.columns)
        # Started at the rows fit's variance ratios, the search still moves them by up to about 1e-6 relative
        # where the criterion is flat (the organization ratio with the stratum-only specification of this
        # 55-organization trial): estimates are then compared to 1e-6 of their SE, the rest to 1e-6 relative.
        se, ctl = a.table["se"].to_numpy(float), a.table["control_mean"].to_numpy(float)
        scale = {"estimate": se, "lower": se, "upper": se, "impact_percent": 100 * se / np.abs(ctl)}
        for c in num:
            x, y = b.table[c].to_numpy(float), a.table[c].to_numpy(float)
            assert np.allclose(x, y, rtol=1e-6, atol=0) or np.all(np.abs(x - y) <= 1e-6 * scale.get(c, 0)), (dim, c)
        assert np.allclose(b.cov, a.cov, rtol=1e-6, atol=0)
        assert b.heterogeneity["chi2"] == pytest.approx(a.heterogeneity["chi2"], rel=1e-6)
        assert b.dropped_covariates == a.dropped_covariates and b.n_obs == a.n_obs
        assert b.organization_terms_limited == a.organization_terms_limited
        assert b.overall_control_mean == pytest.approx(a.overall_control_mean, rel=1e-6)
        assert np.allclose(b.variance_ratios, a.variance_ratios, rtol=1e-6)
        assert shared.level_of_beneficiary(f"SG_{dim.upper()}", list(b.table["level"])) is not None  # the path taken
        if dim == "sex":
            assert "MALE" in b.dropped_covariates
        if dim == "org_size":
            sa, sb = a.size_interaction, b.size_interaction  # the size test, from the statistics too
            assert sa is not None and sb.keys() == sa.keys() and sb["model"] == sa["model"]
            assert np.allclose([sb[k] for k in sa if k not in ("model", "term")],
                               [sa[k] for k in sa if k not in ("model", "term")], rtol=1e-7, atol=0)
    # rows without a level: the shared statistics do not apply, the fit is the one from the rows
    part = d.copy()
    part.loc[part["BENE_ID"].isin(part["BENE_ID"].unique()[::7]), "SG_SEX"] = np.nan
    shared = SharedStatistics(part, "office_mh", "high")
    a = equation1_by_subgroup(part, "office_mh", "high", "sex", frame=part)
    b = equation1_by_subgroup(part, "office_mh", "high", "sex", frame=part, shared=shared)
    assert b.n_obs == a.n_obs == int(part["SG_SEX"].notna().sum())
    assert np.array_equal(a.table["estimate"], b.table["estimate"])


def test_cox_by_subgroup_recovers_the_hazard_ratio_and_tests_size(tte_sg, trial):
    frame, _ = tte_sg
    true_log_hr = np.log(trial[1]["true_effects"]["hr_death"])
    r = cox_by_subgroup(frame, "death", "high_medium", "sex")
    for _, row in r.table.iterrows():
        assert abs(row["estimate"] - true_log_hr) < 3 * row["se"], row["level"]
        assert row["hr"] == pytest.approx(np.exp(row["estimate"]))
    assert r.table["n_beneficiaries"].sum() == len(frame)
    assert r.table["n_events"].sum() == frame["DEATH"].sum()
    s = cox_by_subgroup(frame, "death", "high_medium", "org_size")
    assert s.heterogeneity["df"] == len(s.table) - 1
    assert list(s.table["level"]) == [lv for lv in ("small", "medium", "large") if lv in set(s.table["level"])]
    si = s.size_interaction
    assert si is not None and np.isfinite(si["coef"]) and si["se"] > 0 and 0 <= si["p"] <= 1
    # no true size x impact interaction in the synthetic trial
    assert abs(si["coef"] / si["se"]) < 3.5


def test_run_subgroup_analysis_pools_cox_levels(tte, tmp_path):
    from mheval.subgroups import run_subgroup_analysis

    cfg = {"definitions": {"enabled": ["risk", "org_size"]}, "survival_outcomes": ["death"],
           "bayes": {"sampler": {"draws": 1500, "tune": 600, "seed": 5, "target_accept": 0.95}}}
    out = run_subgroup_analysis(tte, None, cfg, ["high"], idata_dir=tmp_path)
    assert [s["dimension"] for s in out["skipped"]] == ["risk"]  # one stratum in the high-risk population
    t = out["impacts"]
    assert list(t["dimension"].unique()) == ["org_size"] and len(t) == 3
    assert (t["post_sd"] < t["se"]).all()  # pooling borrows strength
    assert ((t["cred_upper"] - t["cred_lower"]) < (t["upper"] - t["lower"])).all()
    assert out["diagnostics"][0]["attempts"][-1]["min_ess_bulk"] >= 400
    assert np.allclose(t["size"], np.log(0.95))  # P(HR < 0.95)
    assert ((0 <= t["prob_beyond_size"]) & (t["prob_beyond_size"] <= t["prob_below_0"])).all()
    assert out["tests"][0]["size_interaction"] is not None
    assert out["diagnostics"][0]["divergences"] == 0 and len(out["idata_files"]) == 1


def test_pooling_with_the_full_covariance_matches_the_closed_form():
    """Correlated level estimates (as one interaction model gives): the multivariate normal
    likelihood with fixed tau against its closed form; the closed form with a diagonal covariance
    is the independent one, and the correlation moves the posterior."""
    y = np.array([0.30, -0.10, 0.05])
    se = np.array([0.10, 0.20, 0.15])
    corr = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]])
    cov = corr * np.outer(se, se)
    tau = 0.1
    diag = closed_form_posterior(y, se, tau, mu_mean=0.0, mu_sd=1e3, cov=np.diag(se ** 2))
    indep = closed_form_posterior(y, se, tau, mu_mean=0.0, mu_sd=1e3)
    assert np.allclose(diag.to_numpy(), indep.to_numpy(), rtol=1e-10)
    cf = closed_form_posterior(y, se, tau, mu_mean=0.0, mu_sd=1e3, cov=cov)
    assert np.abs(cf["post_mean"] - indep["post_mean"]).max() > 0.01
    r = pool_subgroups(y, se, labels=list("abc"), tau=tau, prior_params={"mu_mean": 0.0, "mu_sd": 1e3}, cov=cov,
                       draws=1500, tune=800, chains=2, seed=1)
    ess = r.diagnostics["min_ess_bulk"]
    mcse = cf["post_sd"].to_numpy() / np.sqrt(ess)
    assert np.all(np.abs(r.table["post_mean"].to_numpy() - cf["post_mean"].to_numpy()) < 4 * mcse + 1e-3)
    assert np.allclose(r.table["post_sd"], cf["post_sd"], rtol=0.06)
    with pytest.raises(ValueError, match="squared standard errors"):
        pool_subgroups(y, 2 * se, cov=cov, tau=tau, draws=10, tune=10)


def _posterior_by_quadrature(y, se, cov, mu_sd, taus, log_prior):
    """Exact posterior mean and variance of theta (mu ~ Normal(0, mu_sd), tau on the grid ``taus`` with
    log prior density ``log_prior``): p(tau | y) from the prior and the marginal likelihood with mu
    integrated out; given tau, closed_form_posterior. Returns (mean, var, weights of the grid)."""
    from scipy import stats

    k = len(y)
    one = np.ones(k)
    V = np.diag(np.asarray(se) ** 2) if cov is None else cov
    logw = np.array([stats.multivariate_normal.logpdf(y, np.zeros(k), t ** 2 * np.eye(k) + V + mu_sd ** 2 * np.outer(one, one))
                     for t in taus]) + log_prior
    w = np.exp(logw - logw.max())
    w /= w.sum()
    cfs = [closed_form_posterior(y, se, t, mu_mean=0.0, mu_sd=mu_sd, cov=cov) for t in taus]
    mean = sum(wi * cf["post_mean"].to_numpy() for wi, cf in zip(w, cfs))
    var = sum(wi * (cf["post_sd"].to_numpy() ** 2 + cf["post_mean"].to_numpy() ** 2) for wi, cf in zip(w, cfs)) - mean ** 2
    return mean, var, w


def test_pooling_with_a_tau_prior_matches_quadrature():
    """tau with its half-normal prior, full covariance: the sampled posterior against the exact one by
    quadrature over tau (p(tau | y) from the prior and the marginal likelihood with mu integrated out;
    given tau, closed_form_posterior)."""
    from scipy import stats

    y = np.array([0.30, -0.10, 0.05])
    se = np.array([0.10, 0.20, 0.15])
    cov = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]]) * np.outer(se, se)
    mu_sd, tau_sd = 0.5, 0.2
    taus = np.linspace(1e-6, 6 * tau_sd, 4001)
    mean, var, w = _posterior_by_quadrature(y, se, cov, mu_sd, taus, stats.halfnorm.logpdf(taus, scale=tau_sd))
    tau_mean = w @ taus
    r = pool_subgroups(y, se, labels=list("abc"), prior_params={"mu_sd": mu_sd, "tau_sd": tau_sd}, cov=cov,
                       draws=2000, tune=1000, chains=2, seed=5, target_accept=0.95)
    ess = r.diagnostics["min_ess_bulk"]
    assert r.diagnostics["divergences"] == 0 and r.diagnostics["max_rhat"] <= 1.01
    assert np.all(np.abs(r.table["post_mean"].to_numpy() - mean) < 4 * np.sqrt(var / ess))
    assert np.allclose(r.table["post_sd"], np.sqrt(var), rtol=0.06)
    assert abs(r.hyper.loc["tau", "mean"] - tau_mean) < 4 * np.sqrt(w @ taus ** 2 - tau_mean ** 2) / np.sqrt(ess)


def test_joint_pooling_gives_each_set_its_own_posterior(tmp_path):
    """Several sets pooled in one NUTS run (pool_subgroups_jointly, as run_subgroup_analysis pools the
    dimensions of one outcome; different numbers of levels, half-normal, log-normal and fixed tau):
    each set's posterior against its exact one (quadrature over tau, closed form for fixed tau)."""
    from scipy import stats

    from mheval.subgroups import pool_subgroups_jointly

    y3, se3 = np.array([0.30, -0.10, 0.05]), np.array([0.10, 0.20, 0.15])
    cov3 = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]]) * np.outer(se3, se3)
    y2, se2 = np.array([-0.08, 0.04]), np.array([0.05, 0.07])
    y5, se5 = np.array([0.30, -0.10, 0.05, 0.50, -0.20]), np.array([0.10, 0.20, 0.15, 0.30, 0.25])
    fits = [{"estimates": y3, "ses": se3, "cov": cov3, "labels": list("abc"), "prior_params": {"mu_sd": 0.5, "tau_sd": 0.2},
             "seed": 11},
            {"estimates": y2, "ses": se2, "prior": "evidence", "seed": 12,
             "prior_params": {"mu_mean": 0.0, "mu_sd": 0.3, "tau_median": 0.05, "tau_log_sd": 0.7}},
            {"estimates": y5, "ses": se5, "tau": 0.1, "prior_params": {"mu_mean": 0.0, "mu_sd": 1e3}, "seed": 13},
            {"estimates": y2 + 0.05, "ses": se2, "prior_params": {"mu_sd": 0.5, "tau_sd": 0.1}, "seed": 14}]
    out = pool_subgroups_jointly(fits, draws=2000, tune=1000, chains=2, seed=5, target_accept=0.95)
    assert len(out) == 4 and list(out[0].table["label"]) == list("abc")
    taus = np.linspace(1e-6, 1.2, 801)  # the posteriors' tau mass lies well inside; a finer grid moves nothing here
    exact = [_posterior_by_quadrature(y3, se3, cov3, 0.5, taus, stats.halfnorm.logpdf(taus, scale=0.2))[:2],
             _posterior_by_quadrature(y2, se2, None, 0.3, taus, stats.lognorm.logpdf(taus, 0.7, scale=0.05))[:2],
             (lambda cf: (cf["post_mean"].to_numpy(), cf["post_sd"].to_numpy() ** 2))(
                 closed_form_posterior(y5, se5, 0.1, mu_mean=0.0, mu_sd=1e3)),
             _posterior_by_quadrature(y2 + 0.05, se2, None, 0.5, taus, stats.halfnorm.logpdf(taus, scale=0.1))[:2]]
    for r, (mean, var) in zip(out, exact):
        d = r.diagnostics
        assert d["divergences"] == 0 and d["max_rhat"] <= 1.01 and d["attempts"][0]["joint_fits"] == 4
        assert np.all(np.abs(r.table["post_mean"].to_numpy() - mean) < 4 * np.sqrt(var / d["min_ess_bulk"]))
        assert np.allclose(r.table["post_sd"], np.sqrt(var), rtol=0.06)
    assert out[2].hyper.loc["tau", "mean"] == 0.1  # fixed
    # each set's InferenceData holds its own variables only
    import arviz as az

    back = az.from_netcdf(str(save_inference_data(out[1], tmp_path / "set1.nc")))
    assert sorted(back.posterior.data_vars) == ["mu", "mu_z", "tau", "theta"] and back.posterior["theta"].shape == (2, 2000, 2)


def test_joint_pooling_gate_names_the_failing_set():
    from mheval.subgroups import pool_subgroups_jointly

    fits = [{"estimates": [0.3, -0.1, 0.05, 0.5], "ses": [0.1, 0.2, 0.15, 0.3], "labels": ["w", "x", "y", "z"]},
            {"estimates": [0.2, -0.2], "ses": [0.1, 0.1], "labels": ["u", "v"]}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PoolingDiagnosticsError, match="levels w, x, y, z") as e:
            pool_subgroups_jointly(fits, draws=20, tune=20, chains=2, seed=3, retries=1)
    assert "attempt 2 (tune=40, target_accept=0.99)" in str(e.value)


def test_pooling_with_fixed_tau_matches_the_closed_form(tmp_path):
    y = np.array([0.30, -0.10, 0.05, 0.50, -0.20])
    se = np.array([0.10, 0.20, 0.15, 0.30, 0.25])
    tau = 0.1
    r = pool_subgroups(y, se, labels=list("abcde"), tau=tau, prior_params={"mu_mean": 0.0, "mu_sd": 1e3},
                       draws=1500, tune=800, chains=2, seed=1, size=0.1, direction="decrease")
    cf = closed_form_posterior(y, se, tau, mu_mean=0.0, mu_sd=1e3)
    ess = r.diagnostics["min_ess_bulk"]
    mcse = cf["post_sd"].to_numpy() / np.sqrt(ess)
    assert np.all(np.abs(r.table["post_mean"].to_numpy() - cf["post_mean"].to_numpy()) < 4 * mcse + 1e-3)
    assert np.allclose(r.table["post_sd"], cf["post_sd"], rtol=0.06)
    assert r.hyper.loc["mu", "mean"] == pytest.approx(cf["mu_mean"][0], abs=4 * cf["mu_sd"][0] / np.sqrt(ess) + 2e-3)
    # credible intervals and probabilities against the normal closed form
    from scipy import stats

    lo = cf["post_mean"] - stats.norm.ppf(0.95) * cf["post_sd"]
    assert np.allclose(r.table["lower"], lo, atol=0.02)
    p0 = stats.norm.cdf(-cf["post_mean"] / cf["post_sd"])
    assert np.allclose(r.table["prob_below_0"], p0, atol=0.03)
    pb = stats.norm.cdf((-0.1 - cf["post_mean"]) / cf["post_sd"])
    assert np.allclose(r.table["prob_beyond_size"], pb, atol=0.03)
    assert r.diagnostics["divergences"] == 0 and r.diagnostics["max_rhat"] <= 1.01
    path = save_inference_data(r, tmp_path / "pooled.nc")
    import arviz as az

    back = az.from_netcdf(str(path))
    assert back.posterior["theta"].shape == (2, 1500, 5)


def test_pooling_lowers_mean_squared_error():
    rng = np.random.default_rng(7)
    k, mse_pooled, mse_unpooled = 8, [], []
    for rep in range(4):
        theta = rng.normal(-0.05, 0.05, k)
        se = rng.uniform(0.05, 0.15, k)
        y = rng.normal(theta, se)
        r = pool_subgroups(y, se, prior_params={"mu_sd": 0.5, "tau_sd": 0.1}, draws=1000, tune=500, chains=2,
                           seed=100 + rep, target_accept=0.95)
        mse_pooled.append(np.mean((r.table["post_mean"] - theta) ** 2))
        mse_unpooled.append(np.mean((y - theta) ** 2))
        assert r.table["post_mean"].std() < np.std(y, ddof=1)  # shrunk towards each other
    assert np.mean(mse_pooled) < 0.7 * np.mean(mse_unpooled)
    assert sum(p < u for p, u in zip(mse_pooled, mse_unpooled)) >= 3


def test_diagnostics_gate_raises_on_a_broken_run():
    y = np.array([0.3, -0.1, 0.05, 0.5])
    se = np.array([0.1, 0.2, 0.15, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PoolingDiagnosticsError, match="bulk ESS") as e:
            pool_subgroups(y, se, draws=20, tune=20, chains=2, seed=3, retries=1)
    msg = str(e.value)
    assert "attempt 2 (tune=40, target_accept=0.99)" in msg  # one retry with more tuning was tried
    assert e.value.diagnostics["min_ess_bulk"] < 400
    with pytest.raises(ValueError, match="evidence prior needs"):
        pool_subgroups(y, se, prior="evidence", prior_params={"mu_sd": 0.1})


def test_failed_diagnostics_stop_a_workflow_step_with_one_message(tmp_path, capsys):
    """run_step turns PoolingDiagnosticsError into one clear message and exit status 1."""
    from mheval.io import run_step
    from mheval.subgroups.bayes import PoolingDiagnosticsError

    def step():
        raise PoolingDiagnosticsError("subgroup pooling failed its convergence diagnostics: R-hat 1.05 > 1.01 for mu", {})

    with pytest.raises(SystemExit) as e:
        run_step(step, tmp_path / "step.log")
    assert e.value.code == 1
    log = (tmp_path / "step.log").read_text()
    assert "BAYESIAN DIAGNOSTICS FAILED" in log and "R-hat 1.05 > 1.01 for mu" in log and "Traceback" not in log


def test_pooling_logs_its_sampling_progress(caplog):
    """The NUTS iterations of a pooled fit are counted in the log (a line every progress_every
    seconds; 0: after each iteration), ending with the total chains x (tune + draws)."""
    with caplog.at_level(logging.INFO, logger="mheval.subgroups.bayes"):
        pool_subgroups(np.array([0.3, -0.1]), np.array([0.1, 0.2]), tau=0.1, prior_params={"mu_mean": 0.0, "mu_sd": 1.0},
                       draws=30, tune=20, chains=2, check=False, progress_every=0.0)
    lines = [r.getMessage() for r in caplog.records if "NUTS iterations" in r.getMessage()]
    assert any(" of 100 (" in m for m in lines)  # intermediate lines: i of chains x (tune + draws)
    assert lines[-1].startswith("pooling 2 subgroup levels, attempt 1: NUTS iterations: 100 of 100 done")
