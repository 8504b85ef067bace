"""Impact tables and the sentences of the flat-prior Bayesian reading."""

import numpy as np
import pytest

from mheval.report.impact_tables import bayesian_readings, probability_phrase


@pytest.mark.parametrize("p, text", [
    (0.75, "a 75 percent probability"), (0.08, "an 8 percent probability"), (0.11, "an 11 percent probability"),
    (0.18, "an 18 percent probability"), (0.83, "an 83 percent probability"), (0.81, "an 81 percent probability"),
    (0.018, "a 2 percent probability"), (0.002, "less than a 1 percent probability"),
    (0.998, "more than a 99 percent probability"), (0.0, "less than a 1 percent probability"),
    (1.0, "more than a 99 percent probability"), (0.995, "more than a 99 percent probability"),
    (0.005, "a 1 percent probability"),
])
def test_probability_phrase(p, text):
    assert probability_phrase(p) == text


def test_bayesian_reading_sentence():
    # P(impact <= -25) = Phi((-25 + 46.4) / 31.45) = 0.752, P(impact <= 0) = Phi(46.4 / 31.45) = 0.930
    r = {"outcome": "spend_cvd", "population": "high", "size_percent": 5,
         "average": {"impact": -46.4, "se": 31.45, "control_mean": 500.0}}
    assert bayesian_readings([r]) == ["High risk: a 75 percent probability that the model reduced CVD-related spending "
                                      "by 5 percent or more (a 93 percent probability of any reduction)."]


def test_probability_of_size_matches_normal_posterior():
    from scipy import stats

    from mheval.report.impact_tables import probability_of_size_curves
    mixed = [{"outcome": "spend_cvd", "population": "high",
              "average": {"control_mean": 500.0, "impact": -30.0, "se": 20.0}}]
    surv = [{"outcome": "event", "outcome_label": "First heart attack, stroke or TIA", "population": "high",
             "log_hr": -0.05, "se": 0.03}]
    c = probability_of_size_curves(mixed, surv, sizes=[0, 5, 10])
    m = c[c["outcome"] == "spend_cvd"].set_index("size")["probability"]
    # 5% of 500 = 25: P(impact <= -25) with impact ~ N(-30, 20)
    assert m[5] == pytest.approx(stats.norm.cdf((-25 + 30) / 20))
    assert m[0] == pytest.approx(stats.norm.cdf(30 / 20))
    s = c[c["outcome"] == "event"].set_index("size")["probability"]
    assert s[10] == pytest.approx(stats.norm.cdf((np.log(0.9) + 0.05) / 0.03))
    assert (np.diff(m.to_numpy()) < 0).all()


def test_probability_of_size_uses_the_rows_t_reference():
    """A row with df (CR2/CR3 Equation 1 impacts, a hazard ratio with a t(G - 2) interval) is read with t(df),
    as its interval and its prob_reduction_at_least_size are: the curve at the row's size equals that value."""
    from scipy import stats

    from mheval.report.impact_tables import probability_of_size_curves
    mixed = [{"outcome": "spend_cvd", "population": "high",
              "average": {"control_mean": 500.0, "impact": -30.0, "se": 20.0, "df": 6.0}}]
    surv = [{"outcome": "event", "outcome_label": "First heart attack, stroke or TIA", "population": "high",
             "log_hr": -0.05, "se": 0.03, "df": 45.0}]
    c = probability_of_size_curves(mixed, surv, sizes=[5, 10])
    m = c[c["outcome"] == "spend_cvd"].set_index("size")["probability"]
    assert m[5] == pytest.approx(stats.t.cdf((-25 + 30) / 20, 6))
    assert m[5] != pytest.approx(stats.norm.cdf((-25 + 30) / 20), rel=1e-3)
    s = c[c["outcome"] == "event"].set_index("size")["probability"]
    assert s[10] == pytest.approx(stats.t.cdf((np.log(0.9) + 0.05) / 0.03, 45))
