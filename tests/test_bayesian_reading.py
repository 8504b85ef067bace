"""The Bayesian reading in the outcome's desired direction and the conjugate prior sensitivity,
by hand-computed known answers."""

import numpy as np
import pytest
from scipy import stats

from mheval.report.bayesian_reading import (bayesian_readings, conjugate_normal, improvement_probabilities,
                                            outcome_direction, prior_sensitivity_table)

NOUNS = {"office_mh": "office visits", "spend_cvd": "CVD-related spending"}
POPS = {"high": "High risk"}


@pytest.mark.parametrize("outcome, expected", [
    ("office_mh", "increase"), ("med_start_6m", "increase"), ("med_start_3y", "increase"),
    ("spend_ab_pbpm", "decrease"), ("hosp_cvd", "decrease"), ("some_new_outcome", "decrease")])
def test_directions_default_and_patterns(outcome, expected):
    assert outcome_direction(outcome) == expected


def test_direction_from_config_map_and_default():
    assert outcome_direction("x_pbpm", {"*_pbpm": "increase"}) == "increase"
    assert outcome_direction("y", {}, default="increase") == "increase"
    with pytest.raises(ValueError, match="must be increase or decrease"):
        outcome_direction("y", {"y": "up"})


def test_improvement_probabilities_by_hand():
    row = {"impact": 0.3, "se": 0.2, "control_mean": 4.0}
    # increase: P(theta >= 0.05 * 4 = 0.2) = 1 - Phi((0.2 - 0.3) / 0.2) = Phi(0.5) = 0.6915
    assert improvement_probabilities(row, "increase", 5) == pytest.approx((stats.norm.cdf(0.5), stats.norm.cdf(1.5)))
    # the same estimate on a decrease outcome: P(theta <= -0.2) = Phi(-2.5), P(theta < 0) = Phi(-1.5)
    assert improvement_probabilities(row, "decrease", 5) == pytest.approx((stats.norm.cdf(-2.5), stats.norm.cdf(-1.5)))
    assert improvement_probabilities({**row, "df": 12}, "increase", 5)[0] == pytest.approx(stats.t(12).cdf(0.5))


def test_readings_know_the_direction_and_read_each_year():
    r = {"outcome": "office_mh", "population": "high", "size_percent": 5,
         "average": {"impact": 0.3, "se": 0.2, "control_mean": 4.0},
         "by_year": [{"period": "year 1", "impact": 0.3, "se": 0.2, "control_mean": 4.0},
                     {"period": "year 2", "impact": 2.0, "se": 0.1, "control_mean": 4.0}]}
    s = bayesian_readings([r], NOUNS, POPS)
    assert s == ["High risk: a 69 percent probability that the model increased office visits by 5 percent or more "
                 "(a 93 percent probability of any increase).",
                 "High risk, year 1: a 69 percent probability that the model increased office visits by 5 percent "
                 "or more (a 93 percent probability of any increase).",
                 "High risk, year 2: more than a 99 percent probability that the model increased office visits by "
                 "5 percent or more (more than a 99 percent probability of any increase)."]
    assert not any("100 percent" in x or " 0 percent" in x for x in s)


def test_conjugate_update_by_hand():
    # prior N(0, 2^2), estimate 3 with SE 1: precision 1 + 1/4 = 1.25; mean 3 / 1.25 = 2.4; sd sqrt(0.8)
    assert conjugate_normal(3.0, 1.0, 0.0, 2.0) == pytest.approx((2.4, np.sqrt(0.8)))
    # prior N(-1, 1), estimate 1 SE 1: equal precisions, mean 0, sd sqrt(1/2)
    assert conjugate_normal(1.0, 1.0, -1.0, 1.0) == pytest.approx((0.0, np.sqrt(0.5)))
    assert conjugate_normal(3.0, 1.0, None, None) == (3.0, 1.0)


def test_prior_sensitivity_table_by_hand():
    mixed = [{"outcome": "spend_cvd", "population": "high", "size_percent": 5,
              "average": {"impact": -30.0, "se": 20.0, "control_mean": 500.0}}]
    surv = [{"outcome": "event", "population": "high", "log_hr": -0.10, "se": 0.05}]
    priors = {"flat": None, "skeptical": {"relative": {"mean": 0.0, "sd": 0.04}, "log_hr": {"mean": 0.0, "sd": 0.05}}}
    t = prior_sensitivity_table(mixed, surv, priors, cred=0.90, nouns=NOUNS, population_labels=POPS)
    z = stats.norm.ppf(0.95)
    flat = t[(t["scale"] == "impact") & (t["prior"] == "flat")].iloc[0]
    assert flat["posterior_mean"] == -30.0 and flat["cred90_lower"] == pytest.approx(-30 - z * 20)
    assert flat["prob_improvement"] == pytest.approx(stats.norm.cdf(1.5))
    sk = t[(t["scale"] == "impact") & (t["prior"] == "skeptical")].iloc[0]
    # prior sd 0.04 * 500 = 20 = SE: the posterior halves the estimate, sd 20 / sqrt(2)
    assert sk["prior_sd"] == pytest.approx(20.0)
    assert sk["posterior_mean"] == pytest.approx(-15.0)
    assert sk["cred90_upper"] == pytest.approx(-15 + z * 20 / np.sqrt(2))
    # P(theta <= -25) under N(-15, 200)
    assert sk["prob_improvement_5pct"] == pytest.approx(stats.norm.cdf((-25 + 15) / np.sqrt(200)))
    hr = t[(t["scale"] == "hazard ratio") & (t["prior"] == "skeptical")].iloc[0]
    # log HR: prior N(0, 0.05^2), estimate -0.10 SE 0.05: posterior N(-0.05, 0.05^2 / 2)
    assert hr["posterior_mean"] == pytest.approx(np.exp(-0.05))
    assert hr["prob_improvement"] == pytest.approx(stats.norm.cdf(0.05 / (0.05 / np.sqrt(2))))
    assert hr["prob_improvement_5pct"] == pytest.approx(stats.norm.cdf((np.log(0.95) + 0.05) / (0.05 / np.sqrt(2))))


def test_impact_table_probabilities_follow_the_direction():
    from mheval.report.impact_tables import continuous_impact_table

    a = {"impact": 0.3, "se": 0.2, "control_mean": 4.0, "intervention_mean": 4.3, "lower": 0.0, "upper": 0.6,
         "impact_percent": 7.5, "p": 0.13, "prob_below_0": stats.norm.cdf(-1.5),
         "prob_reduction_at_least_size": stats.norm.cdf(-2.5)}
    rs = [{"outcome": o, "population": "high", "alpha": 0.1, "size_percent": 5, "average": a}
          for o in ("office_mh", "hosp_all")]
    t = continuous_impact_table(rs)
    assert list(t["desired_direction"]) == ["increase", "decrease"]
    # office visits: P(impact > 0) = Phi(1.5); hospitalizations, the same estimate: P(impact < 0) = Phi(-1.5)
    assert t["prob_any_improvement"].tolist() == pytest.approx([stats.norm.cdf(1.5), stats.norm.cdf(-1.5)])
    assert t["prob_improvement_5pct"].tolist() == pytest.approx([stats.norm.cdf(0.5), stats.norm.cdf(-2.5)])
