"""Hand-built claims give the expected beneficiary-year outcomes (issue: claims outcomes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims, write_extraction

D = pd.Timestamp


def _claims(rows, extra_cols=()):
    df = pd.DataFrame(rows)
    for c in ("CLM_FROM_DT", "CLM_THRU_DT", "NCH_WKLY_PROC_DT"):
        df[c] = pd.to_datetime(df[c])
    for c in ("ICD_DGNS_CD1", "ICD_DGNS_CD2", "ICD_DGNS_CD3"):
        if c not in df:
            df[c] = None
    return df


def _write(df, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def hand(tmp_path_factory, config):
    d = tmp_path_factory.mktemp("hand")
    base = dict(NCH_CLM_TYPE_CD="60", ICD_DGNS_CD1=None)
    ip = _claims([
        # B1: MI as principal diagnosis, admitted 2017-06-10
        dict(BENE_ID="B1", CLM_ID=1, CLM_FROM_DT="2017-06-10", CLM_THRU_DT="2017-06-14", NCH_WKLY_PROC_DT="2017-07-07",
             CLM_PMT_AMT=20000.0, PRNCPAL_DGNS_CD="I214", **{k: v for k, v in base.items() if k != "ICD_DGNS_CD1"}),
        # B2: stroke code in the third position, processed after the runout: does not count
        dict(BENE_ID="B2", CLM_ID=2, CLM_FROM_DT="2017-11-05", CLM_THRU_DT="2017-11-08", NCH_WKLY_PROC_DT="2022-05-06",
             CLM_PMT_AMT=15000.0, PRNCPAL_DGNS_CD="J189", ICD_DGNS_CD3="I639", NCH_CLM_TYPE_CD="60"),
        # B2: ICD-9 code used after the ICD-10 switch is not an event (dates decide the revision)
        dict(BENE_ID="B2", CLM_ID=3, CLM_FROM_DT="2017-10-01", CLM_THRU_DT="2017-10-03", NCH_WKLY_PROC_DT="2017-10-20",
             CLM_PMT_AMT=9000.0, PRNCPAL_DGNS_CD="41071", NCH_CLM_TYPE_CD="60"),
    ])
    _write(ip, d / "claims/inpatient/inpatient_2017.parquet")
    snf = _claims([dict(BENE_ID="B1", CLM_ID=11, CLM_FROM_DT="2017-06-20", CLM_THRU_DT="2017-07-10",
                        NCH_WKLY_PROC_DT="2017-08-04", CLM_PMT_AMT=5000.0, PRNCPAL_DGNS_CD="I214", NCH_CLM_TYPE_CD="20")])
    _write(snf, d / "claims/snf/snf_2017.parquet")
    hha = _claims([dict(BENE_ID="B1", CLM_ID=21, CLM_FROM_DT="2017-10-01", CLM_THRU_DT="2017-10-30",
                        NCH_WKLY_PROC_DT="2017-11-10", CLM_PMT_AMT=1000.0, PRNCPAL_DGNS_CD="I10", NCH_CLM_TYPE_CD="10")])
    _write(hha, d / "claims/hha/hha_2017.parquet")
    op = _claims([
        dict(BENE_ID="B1", CLM_ID=31, CLM_FROM_DT="2017-06-09", CLM_THRU_DT="2017-06-09", NCH_WKLY_PROC_DT="2017-06-30",
             CLM_PMT_AMT=800.0, PRNCPAL_DGNS_CD="R079", NCH_CLM_TYPE_CD="40"),  # ED the day before admission
        dict(BENE_ID="B2", CLM_ID=32, CLM_FROM_DT="2017-08-01", CLM_THRU_DT="2017-08-01", NCH_WKLY_PROC_DT="2017-08-18",
             CLM_PMT_AMT=700.0, PRNCPAL_DGNS_CD="G459", NCH_CLM_TYPE_CD="40"),  # TIA in the ED
        dict(BENE_ID="B2", CLM_ID=33, CLM_FROM_DT="2017-09-01", CLM_THRU_DT="2017-09-01", NCH_WKLY_PROC_DT="2017-09-15",
             CLM_PMT_AMT=500.0, PRNCPAL_DGNS_CD="G454", NCH_CLM_TYPE_CD="40"),  # transient global amnesia: not TIA
        dict(BENE_ID="B2", CLM_ID=34, CLM_FROM_DT="2017-09-20", CLM_THRU_DT="2017-09-20", NCH_WKLY_PROC_DT="2017-10-06",
             CLM_PMT_AMT=200.0, PRNCPAL_DGNS_CD="E119", NCH_CLM_TYPE_CD="40"),  # clinic visit, not ED
    ])
    _write(op, d / "claims/outpatient/outpatient_2017.parquet")
    rev = pd.DataFrame({"BENE_ID": ["B1", "B2", "B2", "B2"], "CLM_ID": [31, 32, 33, 34], "CLM_LINE_NUM": [1, 1, 1, 1],
                        "REV_CNTR": ["0450", "0981", "0456", "0510"], "HCPCS_CD": ["99284", "99283", "99283", "G0463"],
                        "REV_CNTR_PMT_AMT_AMT": [800.0, 700.0, 500.0, 200.0]})
    _write(rev, d / "claims/outpatient_revenue/outpatient_revenue_2017.parquet")
    for year, rows in ((2016, [("B2", 41, "2016-12-01", "N1", "99213", 90.0)]),
                       (2017, [("B1", 42, "2017-04-01", "N1", "99213", 100.0), ("B1", 43, "2017-05-01", "N2", "99214", 120.0)])):
        car = _claims([dict(BENE_ID=b, CLM_ID=c, CLM_FROM_DT=dt, CLM_THRU_DT=dt, NCH_WKLY_PROC_DT=dt, CLM_PMT_AMT=p,
                            PRNCPAL_DGNS_CD="I10", NCH_CLM_TYPE_CD="71") for b, c, dt, n, h, p in rows])
        _write(car, d / f"claims/carrier/carrier_{year}.parquet")
        lines = pd.DataFrame([dict(BENE_ID=b, CLM_ID=c, LINE_NUM=1, PRF_PHYSN_NPI=n, HCPCS_CD=h, LINE_NCH_PMT_AMT=p,
                                   LINE_1ST_EXPNS_DT=D(dt)) for b, c, dt, n, h, p in rows])
        lines = pd.concat([lines, lines.head(1)])  # an exact duplicate line counts once
        _write(lines, d / f"claims/carrier_line/carrier_line_{year}.parquet")
    # MBSF: both in FFS Parts A and B every month of 2016-2018; B2 dies 2017-12-31
    rows = []
    for b in ("B1", "B2"):
        for y in (2016, 2017, 2018):
            r = {"BENE_ID": b, "BENE_ENROLLMT_REF_YR": y, "BENE_DEATH_DT": D("2017-12-31") if b == "B2" and y >= 2017 else pd.NaT}
            for m in range(1, 13):
                r.update({f"MDCR_ENTLMT_BUYIN_IND_{m:02d}": "3", f"HMO_IND_{m:02d}": "0", f"PTD_CNTRCT_ID_{m:02d}": "0",
                          f"DUAL_STUS_CD_{m:02d}": "00", f"MDCR_STATUS_CODE_{m:02d}": "10"})
            rows.append(r)
    mbsf = pd.DataFrame(rows)
    for y in (2016, 2017, 2018):
        _write(mbsf[mbsf["BENE_ENROLLMT_REF_YR"] == y], d / f"medicare/mbsf/mbsf_{y}.parquet")
    providers = pd.DataFrame({"NPI": ["N1", "N2"], "ORG_ID": ["O1", "O1"], "START_DT": [D("2015-01-01"), D("2018-01-01")],
                              "END_DT": [pd.NaT, pd.NaT]})
    tte = pd.DataFrame({"BENE_ID": ["B1", "B2"], "ORG_ID": ["O1", "O1"], "MH": [1, 1],
                        "ENROLL_DT": [D("2017-03-01")] * 2, "DEATH_DT": [pd.NaT, D("2017-12-31")],
                        "FFS_END_DT": [pd.NaT, pd.NaT], "FU_END_DT": [D("2021-12-31")] * 2})
    codes = load_event_codes(config["outcomes"]["codes"])
    claims, office = [], []
    for ct in ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice"):
        for y in (2016, 2017):
            c, o = extract_claims(d, ct, y, codes, config)
            claims.append(c)
            office.append(o)
    claims = pd.concat([c for c in claims if len(c)], ignore_index=True)
    office = pd.concat([o for o in office if len(o)], ignore_index=True)
    by = build_beneficiary_year(tte, claims, office, providers, d, config)
    return by.set_index(["BENE_ID", "YEAR"]), claims, d, tte, providers


def test_event_codes_by_position_and_revision(hand):
    claims = hand[1].set_index("CLM_ID")
    assert claims.loc["1", "CVD_EVENT"] == "mi"
    assert claims.loc["2", "CVD_EVENT"] == "stroke"  # third position counts with event_positions: any
    assert claims.loc["3", "CVD_EVENT"] is None  # ICD-9 410.71 on a 2017 claim is not an ICD-10 code
    assert claims.loc["32", "CVD_EVENT"] == "tia" and claims.loc["33", "CVD_EVENT"] is None  # G45.4 excluded


def test_outcomes_of_a_beneficiary_with_an_mi(hand):
    r = hand[0].loc[("B1", 1)]
    assert r["WEIGHT"] == pytest.approx(1.0)
    # 20,000 stay + 5,000 SNF (6 days after discharge) + 1,000 home health + 800 ED + 100 + 120 carrier
    assert r["spend_ab"] == pytest.approx(27020.0)
    # the stay and the SNF within 90 days; the home health 109 days later is not CVD spending
    assert r["spend_cvd"] == pytest.approx(25000.0)
    assert (r["hosp_all"], r["hosp_cvd"]) == (1, 1)
    assert r["ed_all"] == 0  # the ED visit the day before the admission belongs with the stay
    assert r["office_mh"] == 1  # N2 did not participate yet; the duplicate line counts once


def test_partial_year_after_death_and_runout_cutoff(hand):
    r = hand[0].loc[("B2", 1)]
    w = 306 / 365  # alive 2017-03-01 to 2017-12-31 of a 365-day year
    assert r["WEIGHT"] == pytest.approx(w)
    # ED TIA 700 + ED 500 + clinic 200 + stay 9,000 (the late-processed 15,000 stay is excluded)
    assert r["spend_ab"] == pytest.approx((700 + 500 + 200 + 9000) / w)
    # CVD spending: the TIA ED visit (2017-08-01) and every claim starting in the 90 days after it
    # (ED 2017-09-01, clinic 2017-09-20, stay 2017-10-01 = day 61)
    assert r["spend_cvd"] == pytest.approx((700 + 500 + 200 + 9000) / w)
    assert r["ed_all"] == pytest.approx(2 / w) and r["ed_cvd"] == pytest.approx(1 / w)
    assert r["ed_cvd_event"] == pytest.approx(1 / w)
    assert r["hosp_cvd"] == 0
    assert np.isnan(hand[0].loc[("B2", 2), "spend_ab"])  # not observed after death
    assert hand[0].loc[("B2", 2), "WEIGHT"] == 0


def test_baseline_year(hand):
    r = hand[0].loc[("B2", 0)]
    assert r["WEIGHT"] == pytest.approx(1.0)  # 12 FFS months before the enrollment month
    assert r["office_mh"] == 1 and r["spend_ab"] == pytest.approx(90.0)
    assert hand[0].loc[("B2", 1), "office_mh_y0"] == 1


def test_written_extractions_give_the_same_outcomes(hand, config, tmp_path):
    """The workflow's path: extractions written to Parquet (office lines neither sorted nor made
    distinct there) give the same beneficiary-year file; the duplicate office line is in the written
    file and still counts once."""
    by, _, d, tte, providers = hand
    codes = load_event_codes(config["outcomes"]["codes"])
    claims, office = [], []
    for ct in ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice"):
        for y in (2016, 2017):
            claims.append(tmp_path / f"claims/{ct}_{y}.parquet")
            office.append(tmp_path / f"office/{ct}_{y}.parquet")
            write_extraction(d, ct, y, codes, config, claims[-1], office[-1])
    lines = pd.read_parquet(tmp_path / "office/carrier_2017.parquet")
    assert sorted(lines["CLM_ID"].tolist()) == [42, 42, 43]  # the exact duplicate of claim 42's line is kept
    written = build_beneficiary_year(tte, claims, [p for p in office if "carrier" in p.name], providers, d, config)
    pd.testing.assert_frame_equal(written.set_index(["BENE_ID", "YEAR"]), by)
    assert written.set_index(["BENE_ID", "YEAR"]).loc[("B1", 1), "office_mh"] == 1
