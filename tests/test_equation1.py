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


def test_no_effect_on_total_spending_is_not_rejected_too_often(by):
    r = equation1_impact(by, "spend_ab", "high_medium")
    a = r["average"]
    # the true effect is 0: the 90% interval covers it in most trials; |z| < 3 guards a gross bias
    assert abs(a["impact"] / a["se"]) < 3
    assert 0 <= a["prob_below_0"] <= 1 and a["prob_reduction_at_least_size"] <= a["prob_below_0"]


def test_predicted_risk_falls_in_high_risk_intervention(trial, cohort, config):
    from mheval.analysis import build_predicted_risk
    from mheval.models.equation1 import predicted_risk_frame

    people = cohort[0]
    analyzed = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    visits, _ = build_predicted_risk(trial[0], analyzed, config)
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
        assert pct["lower"] > 5  # a 30-point effect is detected in every wave
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
