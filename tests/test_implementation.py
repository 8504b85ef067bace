"""Implementation analyses (non-randomized comparisons) and spending net of model payments, by
hand-computed known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_estimability import _by, _people

from mheval.models.equation1 import equation1_impact
from mheval.models.implementation import (group_impacts, implementation_table, net_spending_pbpm, payment_tiers,
                                          survey_measure_groups)

ORGS = pd.DataFrame({"ORG_ID": ["A", "B", "C", "D", "K"],
                     "ARM": ["intervention"] * 4 + ["control"]})


def test_payment_tiers_by_hand():
    pay = pd.DataFrame([
        ("A", "2017H1", "CVD_CM", 1, 60.0), ("A", "2018H1", "CVD_CM", 1, 60.0), ("A", "2018H2", "CVD_CM", 2, 100.0),
        ("B", "2017H1", "CVD_CM", 1, 60.0), ("B", "2018H1", "CVD_CM", 2, 60.0),   # $30 each: the $5 tier
        ("C", "2017H1", "CVD_CM", 1, 60.0),                                         # nothing after year 1: $0
        ("D", "2017H1", "CVD_RA", 3, 30.0),                                         # no high-risk beneficiary
        ("K", "2018H2", "CONTROL_DATA", 4, 80.0)],
        columns=["ORG_ID", "PERIOD", "PAYMENT_TYPE", "N_BENEFICIARIES", "AMOUNT"])
    tiers, counts = payment_tiers(pay, ORGS, "2018H1")
    t = tiers.set_index("ORG_ID")
    # A: $60 and $50 per covered beneficiary (> $30): $10 both halves; B: $5 then $0 (mean 2.5: $5); C: $0, $0
    assert t["MEAN_RATE"].to_dict() == {"A": 10.0, "B": 2.5, "C": 0.0}
    assert t["GROUP"].to_dict() == {"A": "$10", "B": "$5", "C": "$0"}
    assert counts["without_care_management_payments"] == 1 and counts["periods"] == ["2018H1", "2018H2"]


def test_survey_measure_groups_by_hand():
    s = pd.DataFrame({"ORG_ID": ["A", "A", "B", "C", "K", "A", "B", "C"],
                      "ITEM": ["TOOL"] * 5 + ["PCT"] * 3, "WAVE": [1, 2, 1, 1, 1, 1, 1, 1],
                      "VALUE": [1.0, 0.0, 0.0, 1.0, 1.0, 80.0, 20.0, 50.0]})
    g = survey_measure_groups(s, ORGS, "TOOL").set_index("ORG_ID")["GROUP"].to_dict()
    assert g == {"A": "yes", "B": "no", "C": "yes", "D": "no survey response"}  # A: mean 0.5; control K not split
    p = survey_measure_groups(s, ORGS, "PCT").set_index("ORG_ID")["GROUP"].to_dict()
    assert p == {"A": "at or above median", "B": "below median", "C": "at or above median", "D": "no survey response"}


def test_group_impacts_compare_each_group_with_all_controls():
    people = _people(orgs_per_arm=4, per_org=12)
    by = _by(people)
    # plant +2,000 in follow-up years at I0 and I1 only
    hi = by["ORG_ID"].isin(["I0", "I1"]) & (by["YEAR"] > 0)
    by.loc[hi, "spend_ab"] += 2000.0
    groups = pd.DataFrame({"ORG_ID": ["I0", "I1", "I2", "I3"], "GROUP": ["hi", "hi", "lo", "lo"]})
    rows = {r["group"]: r for r in group_impacts(by, groups, "planted", "spend_ab", "high")}
    assert rows["hi"]["n_organizations_intervention"] == 2
    assert abs(rows["hi"]["impact"] - 2000) < 3 * rows["hi"]["se"]
    assert abs(rows["lo"]["impact"]) < 3 * rows["lo"]["se"]
    assert rows["hi"]["design"].startswith("non-randomized comparison")
    # one group of every intervention organization is the randomized comparison itself
    one = group_impacts(by, groups.assign(GROUP="all"), "all", "spend_ab", "high")[0]
    assert one["impact"] == pytest.approx(equation1_impact(by, "spend_ab", "high")["average"]["impact"])
    t = implementation_table(list(rows.values()))
    assert (t["design"].str.contains("non-randomized")).all() and list(t["group"]) == ["hi", "lo"]


def test_net_spending_pbpm_by_hand():
    d = pd.Timestamp
    tte = pd.DataFrame({"BENE_ID": ["i1", "i2", "c1"], "ORG_ID": ["A", "A", "K"], "MH": [1, 1, 0],
                        "RISK": [0.40, 0.20, 0.40], "ENROLL_DT": [d("2017-01-01"), d("2017-01-01"), d("2017-01-01")],
                        "DEATH_DT": pd.NaT, "FFS_END_DT": pd.NaT,
                        "FU_END_DT": [d("2017-12-31"), d("2017-12-31"), d("2017-12-31")]})
    pay = pd.DataFrame([("A", "2017H1", "CVD_RA", 2, 20.0), ("A", "2017H1", "CVD_CM", 1, 60.0),
                        ("A", "2017H2", "CVD_CM", 1, 60.0), ("K", "2017H2", "CONTROL_DATA", 1, 20.0)],
                       columns=["ORG_ID", "PERIOD", "PAYMENT_TYPE", "N_BENEFICIARIES", "AMOUNT"])
    spend = {"outcome": "spend_ab", "population": "high_medium", "alpha": 0.1, "estimable": True,
             "average": {"impact": 120.0, "se": 60.0, "df": 8.0, "lower": 10.0, "upper": 230.0, "p": 0.1}}
    r = net_spending_pbpm(spend, pay, tte)
    months = 2 * (364 / (365.25 / 12))  # two intervention beneficiaries, 2017-01-01 to 2017-12-31
    assert r["payments_pbpm_intervention"] == pytest.approx(140.0 / months)  # $20 RA + $120 CM
    assert r["payments_pbpm_control"] == pytest.approx(20.0 / (364 / (365.25 / 12)))
    assert r["spending_impact_pbpm"] == pytest.approx(10.0)
    assert r["impact"] == pytest.approx(10.0 + 140.0 / months)
    assert (r["lower"], r["upper"]) == pytest.approx((10 / 12 + 140 / months, 230 / 12 + 140 / months))


def test_unavailable_payments_and_survey_make_their_rows_not_estimable(tmp_path):
    from mheval.models.implementation import implementation_rows

    (tmp_path / "registry").mkdir()
    ORGS.to_parquet(tmp_path / "registry" / "organizations.parquet", index=False)
    spend = {"outcome": "spend_ab", "population": "high", "alpha": 0.1, "estimable": True,
             "average": {"impact": 1.0, "se": 1.0, "lower": 0.0, "upper": 2.0, "p": 0.5}}
    rows = implementation_rows(tmp_path, pd.DataFrame(), pd.DataFrame(), [spend],
                               {"outcomes": ["spend_ab"], "populations": ["high"], "survey_items": ["TOOL"]},
                               unavailable={"payments": "not in the layout", "survey": "an empty file"})
    t = implementation_table(rows)
    assert list(t["measure"]) == ["payment tier reached", "survey: TOOL", "spending net of model payments"]
    assert list(t["note"]) == ["not estimable: needs the CMS payments, unavailable (not in the layout)",
                               "not estimable: needs the provider survey, unavailable (an empty file)",
                               "not estimable: needs the CMS payments, unavailable (not in the layout)"]
