"""Equation 1 for binary outcomes: outcome columns by hand, and the impact on the synthetic trial."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mheval.models.binary_impact import ame_row, binary_columns, binary_impact
from mheval.models.estimability import NotEstimable


def test_binary_columns_by_hand():
    by = pd.DataFrame({"BENE_ID": ["a", "a", "a", "b", "b"], "YEAR": [0, 1, 2, 0, 1],
                       "hosp_all": [0.0, 2.4, np.nan, 1.0, 0.0], "med_statin": [1.0, 0.0, 0.0, np.nan, 1.0],
                       "med_antihypertensive": [0.0, 0.0, 1.0, 0.0, 0.0]})
    b = binary_columns(by)
    assert b["any_hosp"].tolist()[:2] == [0.0, 1.0] and np.isnan(b["any_hosp"].iloc[2])
    assert b["any_hosp"].tolist()[3:] == [1.0, 0.0]
    assert b["med_statin_y0"].tolist()[:3] == [1.0, 1.0, 1.0] and b["med_statin_y0"].isna().tolist()[3:] == [True, True]
    assert b["any_hosp_y0"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_medication_change_impact_is_recovered(by):
    """The synthetic trial multiplies the hazard of a first statin initiation or intensification by
    1.30 in intervention organizations, so year 1 (when most first changes happen) shows more changes."""
    r = binary_impact(by, "med_statin", "high_medium")
    year1 = r["by_year"][0]
    assert year1["period"] == "year 1"
    assert year1["lower"] > 0 and year1["impact"] < 15
    assert abs(year1["intervention_mean"] - year1["control_mean"] - year1["impact"]) < 1e-9
    assert [row["period"] for row in r["by_year"]] == [f"year {t}" for t in range(1, len(r["by_year"]) + 1)]
    assert r["n_organizations"] > 20 and r["converged"]
    # the average over years is the design's simple mean of the yearly marginal effects
    assert r["average_weighting"] == "simple"
    assert r["average"]["impact"] == pytest.approx(np.mean([row["impact"] for row in r["by_year"]]), rel=1e-10)


def test_any_hospitalization_truth_matches_the_data_and_the_estimate(trial, by):
    """truth.json's true average marginal effect of any hospitalization (the generator's inpatient model
    integrated: routine stays at the hospitalization ratio, first CVD events at the event hazard ratio)
    predicts the share of fully observed years with a stay in each arm, and the cloglog Equation 1's
    average marginal effect recovers it within its standard error."""
    truth = trial[1]["binary_effects"]["any_hosp"]
    d = binary_columns(by)
    full = d[(d["YEAR"] > 0) & (d["WEIGHT"] == 1) & d["STRATUM"].isin(["high", "medium"])]
    for arm, name in ((0, "control"), (1, "intervention")):
        observed = full.loc[full["MH"] == arm, "any_hosp"].mean()
        # organizations' utilization multipliers make the arms' shares vary by about a point around the model
        assert observed == pytest.approx(truth["expected_share_full_years"][name], abs=0.02), name
    assert 0.2 < truth["average_simple"] < 1.5  # a 3.8% higher admission rate on a share of about 20%
    r = binary_impact(by, "any_hosp", "high_medium")
    assert abs(r["average"]["impact"] - truth["average_simple"]) < 2.6 * r["average"]["se"]
    assert len(truth["ame_pp_by_year"]) == len(r["by_year"])


def test_cr2_default_keeps_the_multilevel_model_based_effects_beside(by):
    """Default cov_type "CR2": the published rows are the marginal cloglog model's AMEs with CR2 SEs and
    Satterthwaite df (t reference: the 90% interval is wider than +-1.645 SE); the multilevel fit's rows are
    kept as multilevel_model_based, identical to what cov_type="model" publishes."""
    r = binary_impact(by, "any_hosp", "high_medium")
    m = binary_impact(by, "any_hosp", "high_medium", cov_type="model")
    assert r["cov_type"] == "CR2" and m["cov_type"] == "model" and "multilevel_model_based" not in m
    for row in [r["average"]] + r["by_year"]:
        assert 1 < row["df"] < r["n_organizations"]
        assert row["upper"] - row["impact"] == pytest.approx(row["se"] * stats.t.ppf(0.95, row["df"]), rel=1e-9)
        assert row["prob_below_0"] == pytest.approx(stats.t.cdf(-row["impact"] / row["se"], row["df"]), rel=1e-9)
    ml = r["multilevel_model_based"]
    assert m["average"]["df"] is None
    # the same multilevel fit, started from the GLM's coefficients instead of its own looser GLM start:
    # equal to the optimizer's tolerance
    for a, b in zip([ml["average"]] + ml["by_year"], [m["average"]] + m["by_year"]):
        assert a.keys() == b.keys() and a["period"] == b["period"]
        for k in ("impact", "se", "lower", "upper", "p", "control_mean"):
            assert a[k] == pytest.approx(b[k], rel=1e-8), k
    # both target the population-averaged effect for a full year: close, not equal
    assert r["average"]["impact"] == pytest.approx(m["average"]["impact"], abs=m["average"]["se"])
    assert r["average"]["impact"] != m["average"]["impact"]


def test_unknown_cov_type_and_singular_df():
    with pytest.raises(ValueError, match="binary_cov_type"):
        binary_impact(pd.DataFrame(), "any_hosp", "high_medium", cov_type="CR1")
    row = pd.Series({"estimate": -1.0, "se": 0.5, "control": 20.0, "lower": -2.0, "upper": 0.0, "p": 0.1,
                     "intervention": 19.0, "n": 100, "df": np.nan})
    with pytest.raises(NotEstimable, match="degrees of freedom"):
        ame_row("average", row, 5.0)
