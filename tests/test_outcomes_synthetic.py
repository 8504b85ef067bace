"""On the synthetic trial, the beneficiary-year outcomes agree with the world's truth."""

from __future__ import annotations

import pandas as pd
import pytest



def test_one_row_per_beneficiary_and_year(by, cohort):
    n = (cohort[0]["EXCLUSION"] == "").sum()
    assert len(by) == 6 * n and by.groupby("BENE_ID").size().eq(6).all()
    assert by["WEIGHT"].between(0, 1).all()


def test_follow_up_spending_matches_truth(by, trial):
    """Weighted follow-up spending per month equals the world's (same claims, same windows up to
    the 365.25-day year boundaries)."""
    fu = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]
    for mh, arm in ((0, "control"), (1, "intervention")):
        d = fu[fu["MH"] == mh]
        pbpm = (d["spend_ab"] * d["WEIGHT"]).sum() / d["WEIGHT"].sum() / 12
        assert pbpm == pytest.approx(trial[1]["spending"][f"total_ab_pbpm_{arm}"], rel=0.01)


def test_cvd_hospitalizations_match_first_events_and_recurrences(by, trial):
    fu = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]
    stays = (fu["hosp_cvd_event"] * fu["WEIGHT"]).sum()
    first = sum(trial[1]["n_first_events_observed"].values())
    # every first MI/stroke and half the TIAs are admissions; recurrences add some
    assert 0.8 * first < stays < 1.5 * first
    # other cardiovascular disease (heart failure, arrhythmia, hypertension, ... as principal diagnosis:
    # 5 of the world's 16 background codes) adds stays: hosp_cvd counts every CVD stay
    all_cvd = (fu["hosp_cvd"] * fu["WEIGHT"]).sum()
    other = (fu["hosp_all"] * fu["WEIGHT"]).sum() - stays
    assert all_cvd - stays == pytest.approx(5 / 16 * other, rel=0.15)
    cvd_pbpm = (fu["spend_cvd"] * fu["WEIGHT"]).sum() / fu["WEIGHT"].sum() / 12
    assert 20 < cvd_pbpm < 60  # published control mean $40.72


def test_intervention_effects_on_utilization_have_the_true_sign(by, trial):
    fu = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]
    rate = lambda d, c: (d[c] * d["WEIGHT"]).sum() / d["WEIGHT"].sum()  # noqa: E731
    i, c = fu[fu["MH"] == 1], fu[fu["MH"] == 0]
    # office visits with participating providers: true ratio 1.05 (noisy at this scale)
    assert rate(i, "office_mh") / rate(c, "office_mh") == pytest.approx(1.05, abs=0.08)


def test_medication_changes_only_for_part_d_and_raised_by_the_intervention(by, trial):
    y1 = by[(by["YEAR"] == 1) & (by["WEIGHT"] > 0)]
    assert y1.loc[~y1["PART_D"].astype(bool), "med_statin"].isna().all()
    d = y1[y1["PART_D"].astype(bool)]
    assert d["med_statin"].isin([0, 1]).all()
    for drug in ("statin", "antihypertensive"):
        i, c = d.loc[d["MH"] == 1, f"med_{drug}"].mean(), d.loc[d["MH"] == 0, f"med_{drug}"].mean()
        # control: 1 - exp(-(0.5 * 0.5 + 0.12 * 0.5)) = 27% change within the first year; x1.30 hazard
        assert 0.18 < c < 0.36
        assert i > c


def test_model_payments_allocated_by_the_rules(by):
    fu = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]
    extra = lambda d: ((d["spend_ab_mh"] - d["spend_ab"]) * d["WEIGHT"]).sum() / d["WEIGHT"].sum() / 12  # noqa: E731
    i = fu[fu["MH"] == 1]
    # published: model payments about $1 per beneficiary per month; mostly $10/month for high risk
    assert 0.5 < extra(i) < 6
    assert extra(i[i["STRATUM"] == "high"]) > 3 * extra(i[i["STRATUM"] == "medium"])
    assert (fu["spend_ab_mh"] >= fu["spend_ab"] - 1e-9).all()


def test_planted_interim_bills_and_transfers_combine_into_stays(trial, config):
    """The generator bills some stays as two interim claims and adds transfers (truth.json
    inpatient_billing); the stay rule combines every one of them, and merges few other claims
    (stays that happen to overlap or follow within a day)."""
    from mheval.outcomes.codes import load_event_codes
    from mheval.outcomes.extract import extract_claims
    from mheval.outcomes.stays import hospital_stays

    codes = load_event_codes(config["outcomes"]["codes"])
    ip = pd.concat([extract_claims(trial[0], "inpatient", y, codes, config)[0] for y in range(2007, 2023)],
                   ignore_index=True)
    stays = hospital_stays(ip)
    planted = sum(trial[1]["inpatient_billing"].values())
    assert planted > 100
    assert 0 <= (len(ip) - len(stays)) - planted < 0.01 * len(stays)


def test_beneficiary_year_from_derived_medication_changes_equals_from_fills(by, by_inputs):
    """The workflow derives the medication changes once (rule medication_changes) and passes them in:
    the beneficiary-year file is the one built from the fills themselves, column by column."""
    import pandas as pd

    from mheval.analysis.beneficiary_year import build_beneficiary_year, medication_changes

    args, kw = by_inputs
    changes = medication_changes(kw["fills"], pd.Timestamp(args[5]["claims"]["runout_date"]))
    given = build_beneficiary_year(*args, payments=kw["payments"], changes=changes)
    assert (by["med_statin"] == 1).sum() > 0 and (by["med_antihypertensive"] == 1).sum() > 0
    pd.testing.assert_frame_equal(given, by, check_exact=True)
