"""Medication starts within 6 months and 3 years of enrollment (issue 14): the window on hand-built Part D
fills, and recovery of the synthetic world's effect by Equation 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mheval.analysis.beneficiary_year import medication_changes
from mheval.models.equation2 import (medication_outcome_label, medication_window_frame, medication_window_impact,
                                     parse_medication_outcome)

D = pd.Timestamp
ENROLL = D("2017-03-01")
RUNOUT = D("2030-01-01")


def _day(k: int) -> pd.Timestamp:
    return ENROLL + pd.Timedelta(days=k)


def _fills() -> pd.DataFrame:
    rows = []

    def fill(b, day, cls, intensity=0):
        rows.append((b, _day(day), _day(day + 10), cls, intensity))

    fill("M1", 182, "statin", 2)          # statin started on day 182: the last day of 6 months
    fill("M2", 183, "statin", 2)          # day 183: after 6 months, within 3 years
    for k in (-300, -210, -120, -30):     # M3, M4: moderate statin users at baseline
        fill("M3", k, "statin", 2)
        fill("M4", k, "statin", 2)
        fill("M5", k, "ace_inhibitor")    # M5: ACE inhibitor at baseline
    fill("M3", 100, "statin", 3)          # M3: intensified to high intensity on day 100
    fill("M4", 60, "statin", 2)           # M4: same intensity: no change
    fill("M5", 50, "calcium_channel_blocker")  # M5: an added class on day 50
    fill("M5", 60, "ace_inhibitor")
    fill("M9", -1, "statin", 2)           # M9: started the day before enrollment: not in the window
    fill("M9", 10, "statin", 2)
    fill("M6", 150, "statin", 2)          # M6 died on day 100: a later fill is not observed
    return pd.DataFrame(rows, columns=["BENE_ID", "SRVC_DT", "PROC_DT", "DRUG_CLASS", "INTENSITY"])


def _tte() -> pd.DataFrame:
    benes = ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10"]
    t = pd.DataFrame({"BENE_ID": benes, "ENROLL_DT": ENROLL, "PART_D": 1, "DEATH_DT": pd.NaT, "FFS_END_DT": pd.NaT,
                      "FU_END_DT": D("2021-12-31")})
    t.loc[t["BENE_ID"] == "M6", "DEATH_DT"] = _day(100)     # died in the window without a change: known 0
    t.loc[t["BENE_ID"] == "M7", "FFS_END_DT"] = _day(100)   # left FFS in the window: not observable
    t.loc[t["BENE_ID"] == "M8", "PART_D"] = 0                # no Part D at enrollment
    t.loc[t["BENE_ID"] == "M10", "FU_END_DT"] = _day(100)   # follow-up ends in the window
    return t


@pytest.fixture(scope="module")
def changes():
    return medication_changes(_fills(), RUNOUT)


def _within(frame):
    return frame.set_index("BENE_ID")["WITHIN"].to_dict()


def test_six_month_window_on_hand_built_fills(changes):
    frame, counts = medication_window_frame(_tte(), changes, "statin", 6)
    assert _within(frame) == {"M1": 1, "M2": 0, "M3": 1, "M4": 0, "M5": 0, "M6": 0, "M9": 0}
    assert counts == {"eligible": 10, "not_part_d": 1, "included": 7, "excluded_loss_of_ffs": 1,
                      "excluded_end_of_follow_up": 1}
    anti, _ = medication_window_frame(_tte(), changes, "antihypertensive", 6)
    assert _within(anti)["M5"] == 1 and sum(_within(anti).values()) == 1
    either, _ = medication_window_frame(_tte(), changes, "any", 6)
    assert {b for b, v in _within(either).items() if v} == {"M1", "M3", "M5"}


def test_three_year_window_and_the_runout(changes):
    frame, _ = medication_window_frame(_tte(), changes, "statin", 36)
    assert {b for b, v in _within(frame).items() if v} == {"M1", "M2", "M3"}
    # a fill paid after the runout is not a change
    late = medication_changes(_fills(), _day(150))
    frame, _ = medication_window_frame(_tte(), late, "statin", 36)
    assert {b for b, v in _within(frame).items() if v} == {"M3"}


def test_outcome_names():
    assert parse_medication_outcome("med_any_6m") == ("any", 6)
    assert parse_medication_outcome("med_antihypertensive_36m") == ("antihypertensive", 36)
    assert medication_outcome_label("med_any_36m") == \
        "Statin or antihypertensive initiation or intensification within 3 years of enrollment"
    with pytest.raises(ValueError, match="med_<any|statin|antihypertensive>_<months>m"):
        parse_medication_outcome("med_aspirin_6m")
    from mheval.report.impact_tables import bayesian_readings, outcome_label

    assert outcome_label("med_statin_6m") == \
        "Statin initiation or intensification within 6 months of enrollment, percent (impact in pp)"
    r = {"outcome": "med_any_6m", "population": "high", "estimable": False, "reason": "no events"}
    assert bayesian_readings([r]) == ["High risk: the impact on statin or antihypertensive initiation or "
                                      "intensification within 6 months of enrollment is not estimable (no events)."]


def test_six_month_starts_recover_the_true_effect(trial, tte, config):
    """The world's initiation-or-intensification hazard is 0.5 a year in the first 6 months (x 1.30 in
    the intervention arm), per drug class, independently: within 6 months, either class
    1 - exp(-0.5) = 39.3% in control and 1 - exp(-0.65) = 47.8% in the intervention arm (+8.4 pp)."""
    from mheval.outcomes.extract import extract_fills

    fills = pd.concat([f for y in range(2016, 2023) if len(f := extract_fills(trial[0], y, config["outcomes"]["drugs"]))],
                      ignore_index=True)
    changes = medication_changes(fills, RUNOUT)
    frame, counts = medication_window_frame(tte, changes, "any", 6)
    control = frame.loc[frame["MH"] == 0, "WITHIN"].mean()
    assert control == pytest.approx(1 - np.exp(-0.5), abs=0.04)
    assert counts["not_part_d"] == int((tte["PART_D"] != 1).sum())
    r = medication_window_impact(tte, changes, "med_any_6m", "high_medium")
    a = r["average"]
    true_pp = 100 * (np.exp(-0.5) - np.exp(-0.5 * trial[1]["true_effects"]["med_change_ratio"]))
    assert a["impact"] == pytest.approx(true_pp, abs=3 * a["se"])
    assert a["lower"] > 0 and r["counts"]["included"] == r["n_obs"]


def test_no_changes_is_not_estimable(tte):
    none = pd.DataFrame({"BENE_ID": pd.Series(dtype=object), "CHANGE_DT": pd.Series(dtype="datetime64[ns]"),
                         "DRUG": pd.Series(dtype=object)})
    r = medication_window_impact(tte, none, "med_statin_6m", "high")
    assert r["estimable"] is False and r["reason"].startswith("no events"), r
    assert r["outcome_label"] == "Statin initiation or intensification within 6 months of enrollment"
