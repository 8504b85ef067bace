"""Degenerate outcomes on hand-built data: every model family gives a not-estimable result with its
reason (never a crash, never an SE of 0, never a percent of a zero mean), and every table shows it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mheval.models.estimability import Limits, NotEstimable, check_estimable, check_standard_error


def _people(orgs_per_arm: int = 4, per_org: int = 12, seed: int = 0) -> pd.DataFrame:
    """Beneficiaries of a hand-built trial with the Equation 1 covariates (high-risk stratum)."""
    rng = np.random.default_rng(seed)
    rows = []
    for mh in (1, 0):
        for o in range(orgs_per_arm):
            org = f"{'I' if mh else 'C'}{o}"
            for b in range(per_org):
                rows.append({"BENE_ID": f"{org}-{b}", "ORG_ID": org, "MH": mh, "STRATUM": "high"})
    p = pd.DataFrame(rows)
    n = len(p)
    p["AGE"] = rng.integers(55, 80, n)
    p["SEX"] = rng.choice(["male", "female"], n)
    p["RACE"] = rng.choice(["white", "black"], n)
    p["DUAL"] = rng.integers(0, 2, n)
    p["RISK"] = rng.uniform(0.3, 0.6, n)
    p["smoking"] = rng.integers(0, 2, n)
    p["diabetes"] = rng.integers(0, 2, n)
    p["antihypertensive"] = rng.integers(0, 2, n)
    org_rural = {o: i % 2 for i, o in enumerate(p["ORG_ID"].unique())}
    p["RURAL"] = p["ORG_ID"].map(org_rural)
    p["HEALTH_SYSTEM"] = 1 - p["RURAL"]
    p["ORG_TYPE"] = "primary_care"
    # the rest of models.covariates, constant here (dropped by the fits): the tests are about estimability
    p = p.assign(ENROLL_DT=pd.Timestamp("2017-06-01"), PART_D=1.0, HCC_SCORE=1.0, RAND_STRATUM="all", REGION="South",
                 SELF_REPORTED_FFS_BENES=1000, OTHER_CMS_MODELS="")
    return p


def _by(people: pd.DataFrame, values: dict[str, np.ndarray] | None = None, seed: int = 1) -> pd.DataFrame:
    """Beneficiary-years 0-3 with outcome columns; ``values`` overrides an outcome (all rows)."""
    rng = np.random.default_rng(seed)
    by = people.loc[people.index.repeat(4)].reset_index(drop=True)
    by["YEAR"] = np.tile(np.arange(4), len(people))
    by["WEIGHT"] = 1.0
    n = len(by)
    by["spend_ab"] = rng.gamma(2.0, 500.0, n)
    by["hosp_all"] = rng.poisson(0.3, n).astype(float)
    by["med_statin"] = rng.binomial(1, 0.3, n).astype(float)
    by["med_antihypertensive"] = rng.binomial(1, 0.3, n).astype(float)
    for k, v in (values or {}).items():
        by[k] = v
    for o in ("spend_ab", "hosp_all"):
        by[f"{o}_y0"] = by["BENE_ID"].map(by.loc[by["YEAR"] == 0].set_index("BENE_ID")[o])
    return by


def _tte(people: pd.DataFrame, events: np.ndarray, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = people.copy()
    t["T_EVENT"] = rng.uniform(0.5, 4.0, len(t))
    t["EVENT"] = events.astype(int)
    t["T_DEATH"] = t["T_EVENT"]
    t["DEATH"] = 0
    t["EVENT_CENSOR"] = np.where(t["EVENT"] == 1, "event", "end_of_follow_up")
    return t


# ------------------------------------------------------------------ the checks themselves


@pytest.mark.parametrize("y, kind, reason", [
    ([0, 0, 0, 0, 0, 0, 0, 0], "continuous", "no events"),
    ([3, 3, 3, 3, 3, 3, 3, 3], "continuous", "no variance: the outcome is 3"),
    ([1, 1, 1, 1, 0, 0, 0, 0], "binary", "no observations with the outcome in the control arm"),
    ([1, 1, 1, 1, 1, 1, 1, 1], "binary", "no variance"),
    ([0, 0, 0, 0, 1, 1, 1, 1], "events", "no events in the intervention arm"),
])
def test_check_estimable_reasons(y, kind, reason):
    arm = [1, 1, 1, 1, 0, 0, 0, 0]
    org = ["a", "b", "a", "b", "c", "d", "c", "d"]
    with pytest.raises(NotEstimable, match=reason):
        check_estimable(y, arm, org, kind, Limits(min_events_per_arm=1, min_organizations_per_arm=2))


def test_check_estimable_thresholds():
    arm = [1] * 6 + [0] * 6
    org = ["a", "b"] * 3 + ["c", "d"] * 3
    y = [1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]  # two events in the intervention arm, three in control
    check_estimable(y, arm, org, "events", Limits(min_events_per_arm=2))
    with pytest.raises(NotEstimable, match="fewer than 3 events in the intervention arm"):
        check_estimable(y, arm, org, "events", Limits(min_events_per_arm=3))
    with pytest.raises(NotEstimable, match="fewer than 3 organizations in the intervention arm"):
        check_estimable(y, arm, org, "events", Limits(min_events_per_arm=1, min_organizations_per_arm=3))
    with pytest.raises(NotEstimable, match="no beneficiaries in the control arm"):
        check_estimable(y[:6], arm[:6], org[:6], "events", Limits(min_events_per_arm=1))
    with pytest.raises(ValueError):
        check_estimable([0, 2, 1, 0], [1, 1, 0, 0], ["a", "b", "c", "d"], "binary", Limits(1))


@pytest.mark.parametrize("se", [0.0, -1.0, np.nan, np.inf, [0.3, 0.0]])
def test_zero_or_non_finite_standard_error_is_not_estimable(se):
    with pytest.raises(NotEstimable, match="singular information matrix"):
        check_standard_error(se)
    check_standard_error([0.3, 1e-6])


def test_limits_from_config():
    assert Limits.from_config({"min_events_per_arm": 9}) == Limits(9, 2)
    assert Limits.from_config(None) == Limits()


# ------------------------------------------------------------------ every model family


def _assert_not_estimable(r: dict, reason: str):
    assert r["estimable"] is False and reason in r["reason"], r
    assert "average" not in r and "se" not in r and "hr" not in r


def test_equation1_all_zero_outcome_is_not_estimable():
    from mheval.models.equation1 import equation1_impact

    people = _people()
    r = equation1_impact(_by(people, {"spend_ab": 0.0}), "spend_ab", "high")
    _assert_not_estimable(r, "no events")
    assert r["outcome"] == "spend_ab" and r["population"] == "high"


def test_equation1_constant_outcome_and_one_org_per_arm():
    from mheval.models.equation1 import equation1_impact

    _assert_not_estimable(equation1_impact(_by(_people(), {"spend_ab": 250.0}), "spend_ab", "high"),
                          "no variance: the outcome is 250")
    one = _people(orgs_per_arm=1, per_org=30)
    _assert_not_estimable(equation1_impact(_by(one), "spend_ab", "high"),
                          "fewer than 2 organizations in the intervention arm")


def test_equation1_events_in_one_arm_only():
    from mheval.models.equation1 import equation1_impact

    people = _people()
    by = _by(people)
    by["hosp_all"] = np.where(by["MH"] == 1, by["hosp_all"], 0.0)
    _assert_not_estimable(equation1_impact(by, "hosp_all", "high"),
                          "no observations with a nonzero value in the control arm")


def test_equation1_estimable_outcome_still_estimated():
    from mheval.models.equation1 import equation1_impact

    r = equation1_impact(_by(_people()), "spend_ab", "high")
    assert r["estimable"] is True and r["average"]["se"] > 0 and np.isfinite(r["average"]["impact"])


def test_binary_all_zero_and_one_arm_only():
    from mheval.models.binary_impact import binary_impact

    people = _people()
    _assert_not_estimable(binary_impact(_by(people, {"med_statin": 0.0}), "med_statin", "high"), "no events")
    by = _by(people)
    by["med_statin"] = np.where(by["MH"] == 1, by["med_statin"], 0.0)
    r = binary_impact(by, "med_statin", "high")
    _assert_not_estimable(r, "in the control arm")
    assert r["outcome_label"].startswith("Statin")


def test_fixed_window_and_survival_without_events():
    from mheval.models.equation2 import fixed_window_impact
    from mheval.models.equation4 import survival_impact

    people = _people()
    tte = _tte(people, np.zeros(len(people)))
    _assert_not_estimable(fixed_window_impact(tte, "high"), "no events")
    r = survival_impact(tte, "event", "high")
    _assert_not_estimable(r, "no events")
    assert r["outcome_label"] == "First heart attack, stroke or TIA"
    one_arm = _tte(people, (people["MH"] == 1).to_numpy() & (np.arange(len(people)) % 3 == 0))
    _assert_not_estimable(survival_impact(one_arm, "event", "high"), "no events in the control arm")


def test_adjusted_incidence_raises_not_estimable():
    from mheval.models.equation4 import adjusted_incidence

    people = _people()
    with pytest.raises(NotEstimable, match="no events"):
        adjusted_incidence(_tte(people, np.zeros(len(people))), "event", "high", n_boot=20)


def test_subgroups_skip_a_not_estimable_outcome_with_its_reason():
    from mheval.subgroups.run import run_subgroup_analysis

    people = _people(orgs_per_arm=6)
    tte = _tte(people, np.zeros(len(people)))
    tte["ENROLL_DT"] = pd.Timestamp("2017-06-01")
    res = run_subgroup_analysis(tte, None, {"definitions": {"enabled": ["sex"], "min_organizations_per_arm": 2},
                                            "survival_outcomes": ["event"]}, ["high"])
    assert res["impacts"].empty
    assert [s["reason"] for s in res["skipped"]] == ["no events: the outcome is 0 for everyone"]


# ------------------------------------------------------------------ tables and figures


def _results():
    from mheval.models.equation1 import equation1_impact
    from mheval.models.equation4 import survival_impact

    people = _people()
    ok = equation1_impact(_by(people), "spend_ab", "high")
    zero = equation1_impact(_by(people, {"hosp_all": 0.0}), "hosp_all", "high")
    surv = survival_impact(_tte(people, np.zeros(len(people))), "event", "high")
    return ok, zero, surv


def test_tables_render_not_estimable_rows():
    from mheval.report.impact_tables import (bayesian_readings, continuous_impact_table, hazard_ratio_table,
                                             left_out_results, ph_test_table, probability_of_size_curves)

    ok, zero, surv = _results()
    t = continuous_impact_table([ok, zero])
    assert list(t["note"]) == ["", "not estimable: no events: the outcome is 0 for every observation"]
    assert t.loc[1, ["impact", "control_mean", "impact_percent", "p_value"]].isna().all()
    assert t.loc[0, "impact"] == pytest.approx(ok["average"]["impact"])
    sentences = bayesian_readings([ok, zero])
    assert "percent probability" in sentences[0]
    assert len(sentences) == 2 + len(ok["by_year"])  # the average, each year, then the not-estimable one
    assert sentences[-1] == ("High risk: the impact on hospitalizations is not estimable "
                            "(no events: the outcome is 0 for every observation).")
    hr = hazard_ratio_table([surv] + left_out_results({"death": "needs something, unavailable"}, ["high"], alpha=0.1))
    assert list(hr["note"]) == ["not estimable: no events: the outcome is 0 for everyone",
                                "not estimable: needs something, unavailable"]
    assert "hazard_ratio" not in hr or hr["hazard_ratio"].isna().all()
    assert ph_test_table([surv])["note"].iloc[0].startswith("not estimable")
    curves = probability_of_size_curves([ok, zero], [surv])
    assert set(curves["outcome"]) == {"spend_ab"}


def test_figures_skip_and_annotate(tmp_path):
    from mheval.report.figures import plot_impacts_by_year, plot_probability_of_size

    ok, zero, _ = _results()
    paths = [tmp_path / "a.png"]
    plot_impacts_by_year([ok, zero], paths)
    assert paths[0].stat().st_size > 1000
    plot_impacts_by_year([zero], [tmp_path / "b.png"])
    plot_probability_of_size(pd.DataFrame(columns=["label", "population", "size", "probability"]), [tmp_path / "c.png"],
                             "title")
    assert (tmp_path / "b.png").exists() and (tmp_path / "c.png").exists()


def test_subgroup_table_and_forest_of_skipped_fits(tmp_path):
    from mheval.report.figures import plot_subgroup_forest
    from mheval.report.impact_tables import subgroup_table

    r = {"alpha": 0.1, "impacts": [], "skipped": [{"model": "cox", "outcome": "event", "population": "high",
                                                   "dimension": "sex", "reason": "no events: the outcome is 0 for everyone"}]}
    t = subgroup_table([r])
    assert t.to_dict(orient="records") == [{"outcome": "First heart attack, stroke or TIA", "scale": "hazard ratio",
                                            "population": "High risk", "dimension": "sex",
                                            "note": "not estimable: no events: the outcome is 0 for everyone"}]
    plot_subgroup_forest(t, [tmp_path / "f.png"], "title", "x")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_a_covariate_separating_the_events_is_not_estimable_not_a_crash():
    """Monotone likelihood (every event in one level of a covariate: the coefficient runs to infinity),
    as at scale 0.004 in the medium-risk population: the marginal Cox model raises NotEstimable (which
    estimate_or_note, around every driver, turns into a not-estimable result), not a RuntimeError."""
    import warnings

    from mheval.models.estimability import NotEstimable
    from mheval.models.marginal_cox import fit_marginal_cox

    rng = np.random.default_rng(1)
    n = 200
    d = pd.DataFrame({"T": rng.exponential(1, n), "MH": rng.integers(0, 2, n), "x": rng.integers(0, 2, n),
                      "ORG": rng.integers(0, 20, n)})
    d["E"] = ((d["x"] == 1) & (rng.random(n) < 0.5)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NotEstimable, match="did not converge"):
            fit_marginal_cox(d, "T", "E", ["MH", "x"], "ORG", treatment="MH")


def test_exactly_collinear_covariates_are_dropped_before_the_fit():
    """Files without dual status make the unknown-dual flag equal to another indicator (here a
    missing-baseline flag): the second of two identical columns, and a sum of year terms, are dropped
    (the design would be rank deficient); a merely correlated column is kept."""
    from mheval.models.covariates import independent_covariates

    rng = np.random.default_rng(2)
    n = 400
    d = pd.DataFrame({"YEAR": rng.integers(1, 4, n), "MH": rng.integers(0, 2, n), "a": rng.normal(size=n)})
    d["flag"] = (rng.random(n) < 0.3).astype(float)
    d["same_flag"] = d["flag"]
    d["year_sum"] = 2.0 * (d["YEAR"] == 1) + (d["YEAR"] == 2)  # a combination of the year terms
    d["near"] = d["a"] + 1e-3 * rng.normal(size=n)
    kept, dropped = independent_covariates(d, ["a", "flag", "same_flag", "year_sum", "near"])
    assert kept == ["a", "flag", "near"] and dropped == ["same_flag", "year_sum"]
