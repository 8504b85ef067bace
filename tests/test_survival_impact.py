"""Equation 4 on the synthetic trial: frailty (primary) and marginal (sensitivity) Cox models."""

import numpy as np
import pytest

from mheval.models import survival_impact


@pytest.mark.parametrize("outcome, population", [("event", "high_medium"), ("event", "medium"), ("death", "high")])
def test_survival_impact_on_the_synthetic_trial(tte, outcome, population):
    """Both models run on every population; with small frailty variances the conditional and the
    marginal hazard ratios nearly agree, and the true conditional hazard ratio (0.96) is inside a
    wide band."""
    r = survival_impact(tte, outcome, population)
    assert np.isfinite([r["log_hr"], r["se"], r["theta"]]).all() and r["theta"] >= 0
    assert r["lower"] < r["hr"] < r["upper"]
    assert abs(r["log_hr"] - r["marginal"]["log_hr"]) < 0.5 * r["se"]
    assert 0.6 < r["hr"] < 1.4
    crude = r["crude"]
    assert crude["intervention"]["n"] + crude["control"]["n"] == r["n"]
    assert crude["intervention"]["events"] + crude["control"]["events"] == r["n_events"]


def test_proportional_hazards_check_and_by_year_fallback(tte):
    """The test is reported for the treatment term and globally; the by-year model runs only when
    one of them rejects (forced here with a level of 1), and its years cover follow-up."""
    r = survival_impact(tte, "event", "high_medium", ph_alpha=1e-12)
    assert not r["ph_test"]["rejects"] and r["by_year"] == []
    assert 0 <= r["ph_test"]["treatment"]["p"] <= 1 and r["ph_test"]["global"]["df"] >= 10
    forced = survival_impact(tte, "event", "high_medium", ph_alpha=1.0)
    assert forced["ph_test"]["rejects"]
    assert [y["year"] for y in forced["by_year"]] == [1, 2, 3, 4, 5]
    assert all(y["lower"] < y["hr"] < y["upper"] for y in forced["by_year"])


def test_bias_corrected_marginal_variance_beside_the_uncorrected(tte):
    """The marginal model's corrected variance (Mancl-DeRouen, t(G - 2)) is reported with the
    uncorrected sandwich kept for comparison; the frailty fit converged, so it is estimable."""
    from scipy import stats

    r = survival_impact(tte, "event", "high_medium", cox_cov_type="md", n_perm=9, seed=2)
    m, u = r["marginal"], r["marginal_uncorrected"]
    assert m["cov_type"] == "md" and m["df"] == r["n_organizations"] - 2 and u["df"] is None
    assert m["log_hr"] == u["log_hr"] and m["se"] != u["se"]
    q = stats.t.ppf(1 - r["alpha"] / 2, m["df"])
    assert m["upper"] == pytest.approx(np.exp(m["log_hr"] + q * m["se"]))
    assert r["estimable"] and r["reason"] is None and r["converged"]
    assert isinstance(r["theta_at_boundary"], bool)
    rt = r["randomization"]  # statistic: the marginal log HR, refitted for each re-randomization
    assert rt["statistic"] == pytest.approx(m["log_hr"], rel=1e-6) and rt["n_valid"] + rt["n_failed"] == 9
    assert r["p_randomization"] == rt["p"] and 0.1 <= rt["p"] <= 1


def test_frailty_variance_at_zero_publishes_the_marginal_corrected_interval(tte, monkeypatch):
    """With theta at its boundary the frailty fit is the ordinary Cox fit, whose model-based SE ignores
    the clustering: the published interval uses the frailty estimate with the marginal model's corrected
    variance and t(G - 2) reference; the model-based numbers are kept."""
    from scipy import stats

    r = survival_impact(tte, "death", "high_medium", cox_cov_type="mbn")
    assert r["theta_at_boundary"] and r["interval"] == "marginal (mbn)"
    m, mb = r["marginal"], r["model_based"]
    assert r["se"] == m["se"] and r["df"] == m["df"] == r["n_organizations"] - 2
    assert r["log_hr"] == mb["log_hr"] and mb["se"] != r["se"] and mb["df"] is None
    q = stats.t.ppf(1 - r["alpha"] / 2, r["df"])
    assert r["upper"] == pytest.approx(np.exp(r["log_hr"] + q * r["se"]))
    assert r["prob_hr_below_1"] == pytest.approx(stats.t.cdf(-r["log_hr"] / r["se"], r["df"]))

    # theta away from zero (the flag forced on the same fit): the frailty model's own variance is published
    import dataclasses

    from mheval.models import equation4 as si

    fit = si.fit_frailty_cox
    monkeypatch.setattr(si, "fit_frailty_cox", lambda *a, **k: dataclasses.replace(fit(*a, **k), theta_at_boundary=False))
    c = survival_impact(tte, "death", "high_medium", cox_cov_type="mbn")
    assert c["interval"] == "frailty" and "model_based" not in c and c["df"] is None
    assert (c["log_hr"], c["se"]) == (mb["log_hr"], mb["se"])
    # the uncorrected sandwich never replaces the model-based interval (it covers less with few organizations)
    monkeypatch.undo()
    u = survival_impact(tte, "death", "high_medium", cox_cov_type="robust")
    assert u["theta_at_boundary"] and u["interval"] == "frailty" and (u["log_hr"], u["se"]) == (mb["log_hr"], mb["se"])
