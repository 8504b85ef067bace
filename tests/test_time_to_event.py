"""The time-to-event file: events, deaths and censoring, and the claims runout."""

from __future__ import annotations

import pandas as pd
import pytest

from mheval.analysis import build_time_to_event, follow_up_end


@pytest.fixture(scope="module")
def analyzed(cohort):
    people = cohort[0]
    return people[people["EXCLUSION"] == ""].reset_index(drop=True)


def test_events_and_deaths_match_truth_with_full_runout(trial, analyzed, config):
    cfg = {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}}
    tte = build_time_to_event(trial[0], analyzed, cfg)
    truth = trial[1]
    by_arm = tte.groupby("MH")[["EVENT", "DEATH"]].sum()
    assert by_arm.loc[1, "EVENT"] == truth["n_first_events_observed"]["intervention"]
    assert by_arm.loc[0, "EVENT"] == truth["n_first_events_observed"]["control"]
    assert by_arm.loc[1, "DEATH"] == truth["n_deaths"]["intervention"]
    assert by_arm.loc[0, "DEATH"] == truth["n_deaths"]["control"]
    assert set(tte["EVENT_CENSOR"]) <= {"event", "death", "loss_of_ffs", "end_of_follow_up"}
    assert (tte["T_EVENT"] > 0).all() and (tte["T_EVENT"] <= tte["T_DEATH"] + 1e-9).all()


def test_earlier_runout_excludes_late_claims_and_shortens_follow_up(trial, analyzed, config):
    late = build_time_to_event(trial[0], analyzed, {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}})
    # a runout right after the study end: follow-up is the same, but late-processed claims drop out
    tight = build_time_to_event(trial[0], analyzed, {**config, "claims": {"runout_date": "2022-01-15", "runout_lag_days": 0}})
    assert tight["FU_END_DT"].iloc[0] == late["FU_END_DT"].iloc[0] == pd.Timestamp("2021-12-31")
    assert tight["EVENT"].sum() < late["EVENT"].sum()
    # an earlier runout ends follow-up earlier: fewer events and less person-time
    early = build_time_to_event(trial[0], analyzed, {**config, "claims": {"runout_date": "2020-06-30", "runout_lag_days": 90}})
    assert early["FU_END_DT"].iloc[0] == pd.Timestamp("2020-04-01")
    assert early["EVENT"].sum() < tight["EVENT"].sum()
    assert early["T_DEATH"].sum() < late["T_DEATH"].sum()


def test_follow_up_end_is_capped_at_study_end(config):
    cfg = {**config, "claims": {"runout_date": "2023-06-30", "runout_lag_days": 90}}
    assert follow_up_end(cfg) == pd.Timestamp(config["study"]["end_date"])
    cfg = {**config, "claims": {"runout_date": "2021-06-30", "runout_lag_days": 90}}
    assert follow_up_end(cfg) == pd.Timestamp("2021-04-01")


def test_principal_only_finds_fewer_events(trial, analyzed, config):
    base = {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}}
    anyp = build_time_to_event(trial[0], analyzed, base)
    principal = build_time_to_event(trial[0], analyzed, {**base, "outcomes": {**config["outcomes"], "event_positions": "principal"}})
    # the world puts 15% of event codes in the second position
    assert principal["EVENT"].sum() < anyp["EVENT"].sum()
    assert principal["EVENT"].sum() > 0.7 * anyp["EVENT"].sum()
