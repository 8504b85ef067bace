"""Equation 1 on the synthetic trial: impacts, adjusted means and the Bayesian reading."""

from __future__ import annotations

import pytest

from mheval.models.equation1 import equation1_impact


@pytest.fixture(scope="module")
def office_model(by):
    """Equation 1 for office visits with the model-based variance (shared by two tests)."""
    return equation1_impact(by, "office_mh", "high_medium")


def test_office_visit_effect_recovered(office_model, trial):
    r = office_model
    a = r["average"]
    true_pct = 100 * (trial[1]["true_effects"]["office_visit_ratio"] - 1)  # +5%
    assert a["lower"] < a["impact"] < a["upper"]
    assert a["impact_percent"] == pytest.approx(true_pct, abs=4.0)
    assert a["intervention_mean"] == pytest.approx(a["control_mean"] + a["impact"])
    assert len(r["by_year"]) == 5 and r["n_organizations"] >= 30 and r["converged"]


@pytest.fixture(scope="module")
def spending_model(by):
    """Equation 1 for Part A and B spending (shared by two tests)."""
    return equation1_impact(by, "spend_ab", "high_medium")


def test_no_effect_on_total_spending_is_not_rejected_too_often(spending_model):
    r = spending_model
    a = r["average"]
    # the true effect is 0: the 90% interval covers it in most trials; |z| < 3 guards a gross bias
    assert abs(a["impact"] / a["se"]) < 3
    assert 0 <= a["prob_below_0"] <= 1 and a["prob_reduction_at_least_size"] <= a["prob_below_0"]


@pytest.fixture(scope="module")
def visits(trial, cohort, config):
    """The registry visits of the analyzed (predicted_risk.parquet) and the analyzed cohort."""
    from mheval.analysis import build_predicted_risk

    people = cohort[0]
    analyzed = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    return build_predicted_risk(trial[0], analyzed, config)[0], analyzed


def test_predicted_risk_falls_in_high_risk_intervention(visits, trial):
    from mheval.models.equation1 import predicted_risk_frame

    visits, analyzed = visits
    r = equation1_impact(predicted_risk_frame(visits, analyzed), "risk_pct", "high")
    y1 = next(row for row in r["by_year"] if row["period"] == "year 1")
    true_pp = 100 * trial[1]["registry"]["risk_change"]["high_year1"]  # about -1.5 points
    assert y1["impact"] == pytest.approx(true_pp, abs=3 * y1["se"] + 0.2)
    assert r["average"]["impact"] < 0


def test_equation3_survey_impacts_cover_the_truth(trial, cohort):
    from mheval.models.equation3 import survey_impacts

    people = cohort[0]
    r = survey_impacts(trial[0], people[people["EXCLUSION"] == ""])
    # every randomized organization is in the frame, also those that enrolled no one and never answer
    assert r["response"]["organizations"] == trial[1]["n_orgs_randomized"] > trial[1]["survey"]["n_frame"]
    # the world's response rate is among enrolling organizations: over every randomized one it is lower
    assert r["response"]["response_rate"] < trial[1]["survey"]["response_rate"]
    items = {(i["item"], i["wave"]): i for i in r["items"]}
    assert set(w for _, w in items) == {1, 2, 3}  # one impact per item and wave
    for wave in (1, 2, 3):
        pct = items[("PCT_RISK_ASSESSED", wave)]
        assert pct["cov_type"] == "CR2" and 1 < pct["df"] < pct["n_organizations"]
        # each wave's 90% interval, widened to 3 standard errors to keep the test stable, covers the truth
        assert abs(pct["impact"] - 30.0) < 3 * pct["se"]
        # a 30-point effect is detected in every wave where the CR2 interval has the degrees of freedom
        # to see it: on this small trial's 39-44 responding organizations the organization-term limit
        # (models.covariates.organizations_per_term) keeps the stratum and the 9 averages; wave 1's
        # Satterthwaite df are about 12 (SE about 10 points, with or without the other 6 z_p terms)
        assert pct["lower"] > 5 or pct["df"] < 15, pct
    assert all(i["estimable"] or i["reason"] for i in r["items"])


def test_cr2_impacts_keep_the_model_based_ones_and_add_a_randomization_p(by, office_model):
    from scipy import stats

    model = office_model
    r = equation1_impact(by, "office_mh", "high_medium", cov_type="CR2", n_perm=5, seed=1)
    assert r["cov_type"] == "CR2"
    for row, m in zip([r["average"], *r["by_year"]], [model["average"], *model["by_year"]]):
        assert row["impact"] == pytest.approx(m["impact"])
        assert row["se_model"] == pytest.approx(m["se"], rel=1e-6)  # the uncorrected SE is kept
        assert 1 < row["df"] < r["n_organizations"]
        q = stats.t.ppf(1 - r["alpha"] / 2, row["df"])
        assert row["upper"] == pytest.approx(row["impact"] + q * row["se"])
    rt = r["randomization"]
    assert rt["n_perm"] == 5 and rt["n_valid"] + rt["n_failed"] == 5
    assert rt["statistic"] == pytest.approx(r["average"]["impact"], rel=1e-6)  # GLS at the fitted variances
    assert r["average"]["p_randomization"] == rt["p"] and 1 / 6 <= rt["p"] <= 1


def test_spending_per_beneficiary_month_is_the_annual_impact_over_12(spending_model, trial):
    from mheval.models.equation1 import per_beneficiary_month

    r = spending_model
    m = per_beneficiary_month(r)
    assert m["outcome"] == "spend_ab_pbpm" and "coefficients" not in m
    for annual, monthly in zip([r["average"], *r["by_year"]], [m["average"], *m["by_year"]]):
        for k in ("impact", "se", "lower", "upper", "control_mean", "intervention_mean"):
            assert monthly[k] == pytest.approx(annual[k] / 12), k
        # the interval is the annual one scaled: same p-value, percent and probabilities
        for k in ("p", "impact_percent", "prob_below_0", "prob_reduction_at_least_size", "period"):
            assert monthly[k] == annual[k], k
    assert r["average"]["impact"] != 0
    # the control mean per month is the world's control spending per beneficiary per month
    assert m["average"]["control_mean"] == pytest.approx(trial[1]["spending"]["total_ab_pbpm_control"], rel=0.05)
    # a not-estimable result stays not estimable, renamed
    gone = per_beneficiary_month({"outcome": "spend_cvd", "population": "high", "estimable": False, "reason": "x"})
    assert gone == {"outcome": "spend_cvd_pbpm", "population": "high", "estimable": False, "reason": "x",
                    "unit": "USD per beneficiary per month (annual Equation 1 impact / 12)"}


@pytest.mark.parametrize("outcome, truth", [("sbp", "sbp_change_high"), ("ldl", "tc_change_high")])
def test_systolic_bp_and_ldl_changes_recover_the_true_effect(visits, trial, outcome, truth):
    """The world lowers systolic BP (3 mmHg) and total cholesterol (8 mg/dL, hence LDL = TC - HDL -
    noise by as much) at every follow-up visit of high-risk intervention beneficiaries."""
    from mheval.models.equation1 import clinical_frame

    visits, analyzed = visits
    d = clinical_frame(visits, analyzed, outcome)
    assert set(d["YEAR"]) <= {1, 2, 3, 4, 5} and d.groupby(["BENE_ID", "YEAR"]).size().eq(1).all()
    r = equation1_impact(d, outcome, "high")
    a, true = r["average"], trial[1]["true_effects"][truth]
    assert a["impact"] == pytest.approx(true, abs=3 * a["se"])
    assert a["upper"] < 0  # clearly detected at this scale
    if outcome == "sbp":
        # the impact on the change from baseline is the impact on the level: the baseline is a covariate
        change = d.assign(sbp_change=d["sbp"] - d["sbp_y0"], sbp_change_y0=d["sbp_y0"])
        assert d["sbp_y0"].notna().all()
        c = equation1_impact(change, "sbp_change", "high")["average"]
        assert c["impact"] == pytest.approx(a["impact"], rel=1e-4) and c["se"] == pytest.approx(a["se"], rel=1e-3)


def test_read_model_rows_gives_the_model_frame_of_the_whole_file(by, tmp_path):
    """Filtering the beneficiary-year file while reading (the population, follow-up years with weight)
    changes neither the model frame nor the binary outcomes' frame (which also needs the baseline year)."""
    import pandas as pd

    from mheval.models.binary_impact import binary_columns
    from mheval.models.equation1 import model_columns, model_frame, read_model_rows

    path = tmp_path / "by.parquet"
    by.to_parquet(path, index=False)
    cols = model_columns("office_mh", None, "RAND_STRATUM") + ["hosp_all", "med_statin", "NOT_IN_THE_FILE"]
    whole = by[[c for c in cols if c in by]]  # the whole file, these columns
    for population in ("high", "high_medium"):
        rows = read_model_rows(path, cols, population)
        assert 0 < len(rows) < len(by) and (rows["YEAR"] > 0).all() and "NOT_IN_THE_FILE" not in rows
        pd.testing.assert_frame_equal(model_frame(rows, "office_mh", population),
                                      model_frame(whole, "office_mh", population), check_exact=True)
        with_base = read_model_rows(path, cols, population, follow_up=False)
        assert (with_base["YEAR"] == 0).any()
        pd.testing.assert_frame_equal(model_frame(binary_columns(with_base), "med_statin", population),
                                      model_frame(binary_columns(whole), "med_statin", population), check_exact=True)
