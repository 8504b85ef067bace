"""Other cardiovascular disease in hospitalizations and ED visits, and CVD spending as the event plus
every Part A and B claim in the following 90 days, on hand-built claims (issue 14, item 2)."""

from __future__ import annotations

import pandas as pd
import pytest

from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import BASE_TYPES, extract_claims
from test_stays import write_ffs_mbsf

D = pd.Timestamp
ENROLL = D("2014-01-01")
TYPE_CODE = {"inpatient": "60", "outpatient": "40", "carrier": "71", "snf": "20", "hha": "10", "hospice": "50"}

# (beneficiary, claim type, claim, from, through, principal, second diagnosis, payment, ED revenue center)
CLAIMS = [
    # H1: heart failure stay (principal I50.9, 2016): a CVD hospitalization, not an MI/stroke/TIA one
    ("H1", "inpatient", 1, "2016-03-01", "2016-03-05", "I509", None, 9000.0, False),
    # H1: pneumonia stay with hypertension only in the second position: not CVD (principal only)
    ("H1", "inpatient", 2, "2016-06-01", "2016-06-04", "J189", "I10", 7000.0, False),
    # H1: ICD-9 heart failure (428.0) before the ICD-10 switch: CVD
    ("H1", "inpatient", 3, "2014-05-01", "2014-05-03", "4280", None, 8000.0, False),
    # H1: ICD-9 code on a 2016 claim is not a code (the date decides the revision)
    ("H1", "inpatient", 4, "2016-09-01", "2016-09-02", "4280", None, 5000.0, False),
    # H1: ED visit for atrial fibrillation (I48.91): a CVD ED visit; ED visit for transient global
    # amnesia (G45.4): neither list
    ("H1", "outpatient", 5, "2016-10-01", "2016-10-01", "I4891", None, 600.0, True),
    ("H1", "outpatient", 6, "2016-11-01", "2016-11-01", "G454", None, 400.0, True),
    # S1: MI stay 2016-02-01 to 2016-02-05 (discharge = day 0 of the 90-day window, through 2016-05-05)
    ("S1", "inpatient", 10, "2016-02-01", "2016-02-05", "I214", None, 20000.0, False),
    ("S1", "carrier", 11, "2016-01-31", "2016-01-31", "R079", None, 50.0, False),    # the day before: out
    ("S1", "carrier", 12, "2016-02-02", "2016-02-02", "I214", None, 300.0, False),   # during the stay: in
    ("S1", "snf", 13, "2016-02-05", "2016-02-25", "I214", None, 6000.0, False),      # day 0: in
    ("S1", "hospice", 14, "2016-03-01", "2016-03-30", "C349", None, 1000.0, False),  # day 25: in
    ("S1", "outpatient", 15, "2016-05-05", "2016-05-05", "E119", None, 200.0, False),  # day 90: in
    ("S1", "hha", 16, "2016-05-06", "2016-06-20", "I214", None, 3000.0, False),      # day 91: out
    # S2: a second MI stay inside the first window (day 40): its window runs to 2016-06-24, and a
    # claim in both windows counts once
    ("S2", "inpatient", 21, "2016-02-01", "2016-02-05", "I214", None, 20000.0, False),
    ("S2", "inpatient", 22, "2016-03-16", "2016-03-26", "I219", None, 15000.0, False),
    ("S2", "carrier", 23, "2016-04-01", "2016-04-01", "I10", None, 80.0, False),     # both windows: once
    ("S2", "carrier", 24, "2016-06-24", "2016-06-24", "I10", None, 70.0, False),     # day 90 of the second: in
    ("S2", "carrier", 25, "2016-06-25", "2016-06-25", "I10", None, 60.0, False),     # day 91 of the second: out
    # T1: TIA seen in the ED only (2016-04-10): the ED visit opens the window
    ("T1", "outpatient", 30, "2016-04-10", "2016-04-10", "G459", None, 700.0, True),
    ("T1", "carrier", 31, "2016-07-09", "2016-07-09", "I10", None, 90.0, False),     # day 90: in
    ("T1", "carrier", 32, "2016-07-10", "2016-07-10", "I10", None, 40.0, False),     # day 91: out
]
BENES = ["H1", "S1", "S2", "T1"]


def _write(df: pd.DataFrame, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cvd")
    c = pd.DataFrame(CLAIMS, columns=["BENE_ID", "TYPE", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "PRNCPAL_DGNS_CD",
                                      "ICD_DGNS_CD2", "CLM_PMT_AMT", "ED"])
    for col in ("CLM_FROM_DT", "CLM_THRU_DT"):
        c[col] = pd.to_datetime(c[col])
    c["NCH_WKLY_PROC_DT"] = c["CLM_THRU_DT"] + pd.Timedelta(days=10)
    c["ICD_DGNS_CD1"] = c["PRNCPAL_DGNS_CD"]
    for (t, year), g in c.groupby([c["TYPE"], c["CLM_THRU_DT"].dt.year]):
        out = g.drop(columns=["TYPE", "ED"]).assign(NCH_CLM_TYPE_CD=TYPE_CODE[t])
        if t == "inpatient":
            out["CLM_ADMSN_DT"] = out["CLM_FROM_DT"]
        _write(out, d / f"claims/{t}/{t}_{year}.parquet")
        if t == "outpatient":
            _write(pd.DataFrame({"BENE_ID": g["BENE_ID"], "CLM_ID": g["CLM_ID"], "CLM_LINE_NUM": 1,
                                 "REV_CNTR": g["ED"].map({True: "0450", False: "0510"}), "HCPCS_CD": "99283",
                                 "REV_CNTR_PMT_AMT_AMT": g["CLM_PMT_AMT"]}),
                   d / f"claims/outpatient_revenue/outpatient_revenue_{year}.parquet")
    write_ffs_mbsf(d, BENES, range(2013, 2018))
    return d


def _extract(d, config):
    codes = load_event_codes(config["outcomes"]["codes"])
    parts = [extract_claims(d, t, y, codes, config)[0] for t in BASE_TYPES for y in (2014, 2016)]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def _years(d, config, window_days=None):
    cfg = {**config, "claims": {"runout_date": "2030-01-01"}}
    if window_days is not None:
        cfg["outcomes"] = {**config["outcomes"], "cvd_spending_window_days": window_days}
    tte = pd.DataFrame({"BENE_ID": BENES, "ORG_ID": "O1", "MH": 1, "ENROLL_DT": ENROLL, "DEATH_DT": pd.NaT,
                        "FFS_END_DT": pd.NaT, "FU_END_DT": D("2017-12-31")})
    providers = pd.DataFrame({"NPI": ["N1"], "ORG_ID": ["O1"], "START_DT": [D("2010-01-01")], "END_DT": [pd.NaT]})
    by = build_beneficiary_year(tte, _extract(d, cfg), pd.DataFrame(columns=["BENE_ID", "CLM_ID", "VISIT_DT", "PROC_DT", "NPI"]),
                                providers, d, cfg)
    # follow-up years 1-3 are whole 365.25-day years here (weight 1): sums over the years are counts
    return by[by["YEAR"] > 0].groupby("BENE_ID")[["hosp_all", "hosp_cvd", "hosp_cvd_event", "ed_all", "ed_cvd",
                                                  "ed_cvd_event", "spend_ab", "spend_cvd"]].sum()


def test_other_cvd_codes_are_applied_by_revision_and_position(files, config):
    c = _extract(files, config).set_index("CLM_ID")
    assert c.loc["1", "OTHER_CVD"] == "heart_failure" and c.loc["1", "CVD_EVENT"] is None
    assert c.loc["2", "OTHER_CVD"] is None  # hypertension in the second position: principal only
    assert c.loc["3", "OTHER_CVD"] == "heart_failure"  # ICD-9 428.0 in 2014
    assert c.loc["4", "OTHER_CVD"] is None  # ICD-9 428.0 on a 2016 claim
    assert c.loc["5", "OTHER_CVD"] == "arrhythmia" and c.loc["6", "OTHER_CVD"] is None
    # the first-event outcome is unchanged: MI, stroke and TIA only
    assert c.loc["10", "CVD_EVENT"] == "mi" and c.loc["10", "OTHER_CVD"] is None
    assert c.loc["30", "CVD_EVENT"] == "tia"
    # with positions "any", hypertension in the second position counts
    cfg = {**config, "outcomes": {**config["outcomes"], "other_cvd_positions": "any"}}
    assert _extract(files, cfg).set_index("CLM_ID").loc["2", "OTHER_CVD"] == "hypertension"


def test_a_heart_failure_stay_is_a_cvd_hospitalization(files, config):
    h1 = _years(files, config).loc["H1"]
    # stays: heart failure (I50.9), pneumonia with I10 second, heart failure (428.0, 2014), 428.0 in 2016
    assert h1["hosp_all"] == 4
    assert h1["hosp_cvd"] == 2 and h1["hosp_cvd_event"] == 0
    assert h1["ed_all"] == 2 and h1["ed_cvd"] == 1 and h1["ed_cvd_event"] == 0
    y = _years(files, config)
    assert y.loc["S1", "hosp_cvd"] == y.loc["S1", "hosp_cvd_event"] == 1
    assert y.loc["S2", "hosp_cvd"] == y.loc["S2", "hosp_cvd_event"] == 2


def test_cvd_spending_is_the_event_and_every_claim_of_the_following_90_days(files, config):
    y = _years(files, config)
    # S1: stay 20,000 + carrier during the stay 300 + SNF from the discharge day 6,000 + hospice 1,000 +
    # outpatient on day 90 200; not the carrier the day before admission (50), the home health on day 91 (3,000)
    assert y.loc["S1", "spend_cvd"] == pytest.approx(20000 + 300 + 6000 + 1000 + 200)
    assert y.loc["S1", "spend_ab"] == pytest.approx(20000 + 300 + 6000 + 1000 + 200 + 50 + 3000)
    # S2: both stays, the carrier in both windows once, the carrier on day 90 of the second; not day 91
    assert y.loc["S2", "spend_cvd"] == pytest.approx(20000 + 15000 + 80 + 70)
    assert y.loc["S2", "spend_ab"] == pytest.approx(20000 + 15000 + 80 + 70 + 60)
    # T1: the ED visit for a TIA and the carrier claim on day 90, not the one on day 91
    assert y.loc["T1", "spend_cvd"] == pytest.approx(700 + 90)
    # H1: heart failure is a CVD hospitalization but not a CVD event: no CVD-event spending
    assert y.loc["H1", "spend_cvd"] == 0


def test_the_window_length_comes_from_config(files, config):
    y = _years(files, config, window_days=30)
    # 30 days: S1's stay, the carrier during it, the SNF (day 0), the hospice (day 25), not the day-90
    # outpatient claim; S2's stays and the carrier of 2016-04-01 (day 6 after the second stay)
    assert y.loc["S1", "spend_cvd"] == pytest.approx(20000 + 300 + 6000 + 1000)
    assert y.loc["S2", "spend_cvd"] == pytest.approx(20000 + 15000 + 80)
    assert y.loc["T1", "spend_cvd"] == pytest.approx(700)
