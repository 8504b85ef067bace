"""Hospital stays from hand-built inpatient claims: interim bills, overlaps and transfers count once."""

from __future__ import annotations

import pandas as pd
import pytest

from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims
from mheval.outcomes.stays import hospital_stays

D = pd.Timestamp

# (beneficiary, claim, from, through, admission, principal diagnosis, payment)
CLAIMS = [
    # B1: a long stay billed as three interim bills (same admission date; the third follows a
    # missing bill, so only the shared admission date ties it to the stay), all non-CVD
    ("B1", 1, "2018-01-01", "2018-01-31", "2018-01-01", "J189", 30000.0),
    ("B1", 2, "2018-02-01", "2018-02-28", "2018-01-01", "J189", 25000.0),
    ("B1", 3, "2018-03-10", "2018-03-15", "2018-01-01", "J189", 5000.0),
    # B2: overlapping claims (one inside another, one overlapping its end) are one stay; the MI is
    # on the second claim only, so the stay is a CVD stay
    ("B2", 4, "2018-05-01", "2018-05-10", "2018-05-01", "J189", 9000.0),
    ("B2", 5, "2018-05-05", "2018-05-08", "2018-05-05", "I214", 1000.0),
    ("B2", 6, "2018-05-09", "2018-05-12", "2018-05-09", "I10", 2000.0),
    # B3: MI, transferred to another hospital the day of discharge, then to a third the day after
    ("B3", 7, "2018-06-01", "2018-06-05", "2018-06-01", "I214", 12000.0),
    ("B3", 8, "2018-06-05", "2018-06-09", "2018-06-05", "I214", 15000.0),
    ("B3", 9, "2018-06-10", "2018-06-20", "2018-06-10", "Z5189", 8000.0),
    # B4: two stays 3 days apart (discharged 07-05, admitted 07-08) count twice; so do two
    # stays 2 days apart (discharged 07-10, admitted 07-12)
    ("B4", 10, "2018-07-01", "2018-07-05", "2018-07-01", "I639", 11000.0),
    ("B4", 11, "2018-07-08", "2018-07-10", "2018-07-08", "J189", 7000.0),
    ("B4", 12, "2018-07-12", "2018-07-14", "2018-07-12", "J189", 6000.0),
    # B5 and B6: the same dates, different beneficiaries: never one stay
    ("B5", 13, "2018-08-01", "2018-08-04", "2018-08-01", "J189", 4000.0),
    ("B6", 14, "2018-08-01", "2018-08-04", "2018-08-01", "J189", 4000.0),
    ("B6", 15, "2018-08-04", "2018-08-06", None, "J189", 1000.0),  # no admission date: from date used
]
BENES = ["B1", "B2", "B3", "B4", "B5", "B6"]


def write_ffs_mbsf(d, benes, years):
    """Contract MBSF files under ``d``: every beneficiary alive and in FFS Parts A and B every month."""
    rows = []
    for b in benes:
        for y in years:
            r = {"BENE_ID": b, "BENE_ENROLLMT_REF_YR": y, "BENE_DEATH_DT": pd.NaT}
            for m in range(1, 13):
                r.update({f"MDCR_ENTLMT_BUYIN_IND_{m:02d}": "3", f"HMO_IND_{m:02d}": "0", f"PTD_CNTRCT_ID_{m:02d}": "0",
                          f"DUAL_STUS_CD_{m:02d}": "00", f"MDCR_STATUS_CODE_{m:02d}": "10"})
            rows.append(r)
    mbsf = pd.DataFrame(rows)
    (d / "medicare/mbsf").mkdir(parents=True, exist_ok=True)
    for y in years:
        mbsf[mbsf["BENE_ENROLLMT_REF_YR"] == y].to_parquet(d / f"medicare/mbsf/mbsf_{y}.parquet", index=False)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, config):
    """The claims written as a contract inpatient file, extracted as the workflow does."""
    d = tmp_path_factory.mktemp("stays")
    ip = pd.DataFrame(CLAIMS, columns=["BENE_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "CLM_ADMSN_DT",
                                       "PRNCPAL_DGNS_CD", "CLM_PMT_AMT"])
    for c in ("CLM_FROM_DT", "CLM_THRU_DT", "CLM_ADMSN_DT"):
        ip[c] = pd.to_datetime(ip[c])
    ip["NCH_WKLY_PROC_DT"] = ip["CLM_THRU_DT"] + pd.Timedelta(days=14)
    ip["NCH_CLM_TYPE_CD"] = "60"
    ip["ICD_DGNS_CD1"] = None
    (d / "claims/inpatient").mkdir(parents=True)
    ip.to_parquet(d / "claims/inpatient/inpatient_2018.parquet", index=False)
    write_ffs_mbsf(d, BENES, (2017, 2018, 2019))
    claims, _ = extract_claims(d, "inpatient", 2018, load_event_codes(config["outcomes"]["codes"]), config)
    return d, claims


def test_extraction_keeps_the_admission_date(extracted):
    claims = extracted[1].set_index("CLM_ID")
    assert claims.loc["3", "ADMSN_DT"] == D("2018-01-01")
    assert pd.isna(claims.loc["15", "ADMSN_DT"])


def test_stays_by_the_rule(extracted):
    stays = hospital_stays(extracted[1])
    got = {b: [(str(r.STAY_FROM_DT)[:10], str(r.STAY_THRU_DT)[:10], bool(r.STAY_CVD), int(r.N_CLAIMS))
               for r in g.itertuples()] for b, g in stays.groupby("BENE_ID")}
    assert got == {
        "B1": [("2018-01-01", "2018-03-15", False, 3)],  # interim bills of one stay: once
        "B2": [("2018-05-01", "2018-05-12", True, 3)],  # overlapping claims merged; CVD from any claim
        "B3": [("2018-06-01", "2018-06-20", True, 3)],  # transfers (same day, next day): once
        "B4": [("2018-07-01", "2018-07-05", True, 1), ("2018-07-08", "2018-07-10", False, 1),
               ("2018-07-12", "2018-07-14", False, 1)],  # gaps of 3 and 2 days: separate stays
        "B5": [("2018-08-01", "2018-08-04", False, 1)],
        "B6": [("2018-08-01", "2018-08-06", False, 2)],  # never merged with B5's identical dates
    }


def test_claim_order_does_not_matter(extracted):
    claims = extracted[1]
    shuffled = claims.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(hospital_stays(shuffled), hospital_stays(claims))


def _beneficiary_year(d, claims, config):
    tte = pd.DataFrame({"BENE_ID": BENES, "ORG_ID": "O1", "MH": 1, "ENROLL_DT": D("2017-12-01"),
                        "DEATH_DT": pd.NaT, "FFS_END_DT": pd.NaT, "FU_END_DT": D("2019-12-31")})
    office = pd.DataFrame({"BENE_ID": pd.Series(dtype=str), "CLM_ID": pd.Series(dtype=str),
                           "VISIT_DT": pd.Series(dtype="datetime64[ns]"), "PROC_DT": pd.Series(dtype="datetime64[ns]"),
                           "NPI": pd.Series(dtype=str)})
    providers = pd.DataFrame({"NPI": ["N1"], "ORG_ID": ["O1"], "START_DT": [D("2015-01-01")], "END_DT": [pd.NaT]})
    by = build_beneficiary_year(tte, claims, office, providers, d, config).set_index(["BENE_ID", "YEAR"])
    return by.xs(1, level="YEAR")  # 2017-12-01 to 2018-11-30, fully observed


def test_beneficiary_year_counts_stays_and_sums_every_claim(extracted, config):
    y1 = _beneficiary_year(*extracted, config)
    assert (y1["WEIGHT"] == 1.0).all()
    assert y1["hosp_all"].to_dict() == {"B1": 1, "B2": 1, "B3": 1, "B4": 3, "B5": 1, "B6": 1}
    assert y1["hosp_cvd"].to_dict() == {"B1": 0, "B2": 1, "B3": 1, "B4": 1, "B5": 0, "B6": 0}
    assert y1["spend_ab"].to_dict() == pytest.approx(
        {"B1": 60000.0, "B2": 12000.0, "B3": 35000.0, "B4": 24000.0, "B5": 4000.0, "B6": 5000.0})
    # every claim of a CVD stay is CVD spending (the B3 transfer's aftercare claim too), and so is
    # every claim starting in the 90 days after its discharge (B4's two later stays, 3 and 7 days on)
    assert y1["spend_cvd"].to_dict() == pytest.approx(
        {"B1": 0.0, "B2": 12000.0, "B3": 35000.0, "B4": 24000.0, "B5": 0.0, "B6": 0.0})


def test_extraction_without_admission_dates_still_combines_by_dates(extracted, config):
    """Claims extracted before ADMSN_DT existed (or from files without CLM_ADMSN_DT): contiguous,
    overlapping and transfer claims still combine; only B1's interim bill after a gap stays apart."""
    no_admsn = extracted[1].drop(columns="ADMSN_DT")
    expected = {"B1": 2, "B2": 1, "B3": 1, "B4": 3, "B5": 1, "B6": 1}
    assert hospital_stays(no_admsn).groupby("BENE_ID").size().to_dict() == expected
    assert _beneficiary_year(extracted[0], no_admsn, config)["hosp_all"].to_dict() == expected
