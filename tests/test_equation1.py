"""Equation 1 on the synthetic trial: impacts, adjusted means and the Bayesian reading."""

from __future__ import annotations

import pytest

from mheval.models.equation1 import equation1_impact


def test_office_visit_effect_recovered(by, trial):
    r = equation1_impact(by, "office_mh", "high_medium")
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
