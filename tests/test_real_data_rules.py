"""Real CMS files in: CSV with the diagnosis positions they carry, messages naming the file that
holds the bad rows, and the documented real-data rules (negative payments, ESRD from ESRD_IND,
unknown dual status, missing processing dates, NPI check digits, plausible dates across files).

Each test changes a copy of the tiny synthetic trial (or builds a file by hand) and checks the
answer against a count or value worked out from the change itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from mheval.cohort import build_cohort
from mheval.cohort.enrollment import register_monthly_enrollment, status_in_month
from mheval.cohort.tables import balance_for_populations
from mheval.contract import InputValidationError, read_input, validate_inputs
from mheval.contract.spec import npi_check_digit, npi_valid
from mheval.models.covariates import adjustment_covariates
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import diagnosis_columns, event_claims
from mheval.outcomes.extract import extract_claims


@pytest.fixture
def data(tiny, tmp_path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(tiny, d)
    return d


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    for c in df.columns:  # Parquet DATE columns come back as Python dates
        if c.endswith("_DT") or c.endswith("_DT_ID"):
            df[c] = pd.to_datetime(df[c])
    return df


def _to_csv(folder: Path, change=lambda name, df: df):
    """Rewrite every Parquet file of ``folder`` as CSV (ISO dates), after ``change(name, df)``."""
    for f in sorted(folder.glob("*.parquet")):
        df = change(f.name, pd.read_parquet(f))  # dates stay Python dates (or text): written as YYYY-MM-DD
        f.unlink()
        df.to_csv(f.with_suffix(".csv"), index=False)


def _problems(d: Path, **kw):
    with pytest.raises(InputValidationError) as info:
        validate_inputs(d, **kw)
    text = str(info.value)
    assert "DuckDB" not in text and "Binder" not in text and "Traceback" not in text
    return info.value.problems, text


def _analyzed(d: Path, cfg: dict) -> pd.DataFrame:
    people, _, _ = build_cohort(d, cfg)
    return people


# ---------------------------------------------------------------- CSV and diagnosis positions ----------

def test_csv_claims_with_8_positions_and_no_discharge_status_validate_and_extract(data, cfg):
    codes = load_event_codes(cfg["outcomes"]["codes"])
    clean, _ = extract_claims(data, "inpatient", 2018, codes, cfg)
    target = clean.loc[clean["CVD_EVENT"].isna(), "CLM_ID"].iloc[0]

    def eight_positions(name, df):
        df = df.drop(columns=[c for c in df.columns if c.startswith("ICD_DGNS_CD")][2:] + ["PTNT_DSCHRG_STUS_CD"])
        for i in range(3, 9):
            df[f"ICD_DGNS_CD{i}"] = None
        if name == "inpatient_2018.parquet":  # a heart attack coded in the last position only
            df.loc[df["CLM_ID"].astype(str) == target, "ICD_DGNS_CD8"] = "I214"
        return df

    _to_csv(data / "claims/inpatient", eight_positions)
    raw = pd.read_csv(data / "claims/inpatient/inpatient_2018.csv", dtype=str)
    assert "PTNT_DSCHRG_STUS_CD" not in raw.columns and "ICD_DGNS_CD9" not in raw.columns
    report = validate_inputs(data)
    assert report["rows"]["inpatient"] == sum(len(pd.read_csv(f)) for f in (data / "claims/inpatient").glob("*.csv"))
    files = sorted((data / "claims/inpatient").glob("*.csv"))
    assert diagnosis_columns(files, "any") == ["PRNCPAL_DGNS_CD"] + [f"ICD_DGNS_CD{i}" for i in range(1, 9)]
    claims, _ = extract_claims(data, "inpatient", 2018, codes, cfg)
    assert len(claims) == len(raw)
    got = claims.set_index("CLM_ID")["CVD_EVENT"]
    assert got[target] == "mi"
    others = clean.set_index("CLM_ID")["CVD_EVENT"].drop(target)
    pd.testing.assert_series_equal(got.drop(target).sort_index(), others.sort_index(), check_names=False)


def test_any_number_of_diagnosis_positions_in_parquet(data, cfg):
    codes = load_event_codes(cfg["outcomes"]["codes"])
    f = data / "claims/inpatient/inpatient_2018.parquet"
    df = _read(f)
    clean, _ = extract_claims(data, "inpatient", 2018, codes, cfg)
    target = clean.loc[clean["CVD_EVENT"].isna(), "CLM_ID"].iloc[0]
    df["ICD_DGNS_CD30"] = np.where(df["CLM_ID"].astype(str) == target, "I214", None)
    df["ICD_DGNS_CD29"] = None  # an empty position (Parquet null type) is no type error
    df.to_parquet(f, index=False)
    validate_inputs(data)
    claims, _ = extract_claims(data, "inpatient", 2018, codes, cfg)
    assert claims.set_index("CLM_ID").loc[target, "CVD_EVENT"] == "mi"
    # position 30 is checked like the others
    df.loc[df.index[:2], "ICD_DGNS_CD30"] = "I21.4"
    df.to_parquet(f, index=False)
    problems, _ = _problems(data)
    [p] = problems
    assert (Path(p.file).name, p.column, p.n_rows, p.examples) == ("inpatient_2018.parquet", "ICD_DGNS_CD30", 2, ["I21.4"])


# ---------------------------------------------------------------- per-file messages ---------------------

def _corrupt_2009_from_date(data: Path, fmt: str) -> None:
    f = data / "claims/inpatient/inpatient_2009.parquet"
    df = _read(f)
    df["CLM_FROM_DT"] = df["CLM_FROM_DT"].dt.strftime("%Y-%m-%d")
    df.loc[df.index[:3], "CLM_FROM_DT"] = "2019-13-45"
    df.to_parquet(f, index=False)
    if fmt == "csv":
        _to_csv(data / "claims/inpatient")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_bad_date_names_the_file_column_count_and_examples(data, fmt):
    _corrupt_2009_from_date(data, fmt)
    problems, text = _problems(data)
    [p] = problems  # one problem, in the file that holds the rows: no other file is blamed
    assert Path(p.file).name == f"inpatient_2009.{fmt}"
    assert (p.column, p.n_rows, p.examples) == ("CLM_FROM_DT", 3, ["2019-13-45"])
    assert "not of type date" in p.rule
    assert f"inpatient_2009.{fmt}, column CLM_FROM_DT: 3 rows is not of type date" in text and "'2019-13-45'" in text


def test_messages_name_the_original_file_and_column_through_provenance(data):
    _corrupt_2009_from_date(data, "parquet")
    staged = "claims/inpatient/inpatient_2009.parquet"
    original = "DE1_0_2008_to_2010_Inpatient_Claims_Sample_1.csv"
    problems, text = _problems(data, provenance={staged: original, (staged, "CLM_FROM_DT"): "CLM_FROM_DT_RAW"})
    [p] = problems
    assert (p.source_file, p.source_column) == (original, "CLM_FROM_DT_RAW")
    assert f"{original} (read as " in text and "column CLM_FROM_DT_RAW (contract column CLM_FROM_DT)" in text


# ---------------------------------------------------------------- negative payments ---------------------

def test_negative_payments_are_accepted_summed_and_counted(data, cfg):
    before = validate_inputs(data)["mess"]["negative_payment_claims"]["outpatient"]
    f = data / "claims/outpatient/outpatient_2018.parquet"
    df = _read(f)
    df.loc[df.index[:4], "CLM_PMT_AMT"] = [-125.5, -10.0, -0.01, -3000.0]
    df.to_parquet(f, index=False)
    lf = data / "claims/carrier_line/carrier_line_2018.parquet"
    lines = _read(lf)
    lines.loc[lines.index[:2], "LINE_NCH_PMT_AMT"] = -40.0
    lines.to_parquet(lf, index=False)
    report = validate_inputs(data)
    assert report["mess"]["negative_payment_claims"]["outpatient"] == before + 4
    assert report["by_file"]["outpatient"]["negative_payment_claims"]["outpatient_2018.parquet"] == 4
    assert f"outpatient: {before + 4:,} claims have a negative payment (CMS adjustments); summed as they are" in report["warnings"]
    claims, _ = extract_claims(data, "outpatient", 2018, load_event_codes(cfg["outcomes"]["codes"]), cfg)
    assert int((claims["PMT"] < 0).sum()) == 4
    assert claims["PMT"].sum() == pytest.approx(df["CLM_PMT_AMT"].sum())  # negatives summed as they are


# ---------------------------------------------------------------- ESRD and dual status ------------------

def _mbsf(path: Path, rows: list[dict], status: bool, dual: bool) -> None:
    out = []
    for r in rows:
        rec = {"BENE_ID": r["id"], "BENE_ENROLLMT_REF_YR": 2018, "ESRD_IND": r["esrd_ind"]}
        for m in range(1, 13):
            mm = f"{m:02d}"
            rec |= {f"MDCR_ENTLMT_BUYIN_IND_{mm}": "3", f"HMO_IND_{mm}": "0", f"PTD_CNTRCT_ID_{mm}": "0"}
            if status:
                rec[f"MDCR_STATUS_CODE_{mm}"] = r["status"][m - 1]
            if dual:
                rec[f"DUAL_STUS_CD_{mm}"] = r["dual"]
        out.append(rec)
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(out).to_parquet(path / "mbsf_2018.parquet", index=False)


def _status(d: Path, month: str) -> pd.DataFrame:
    con = duckdb.connect()
    register_monthly_enrollment(con, d)
    ids = pd.read_parquet(d / "medicare/mbsf/mbsf_2018.parquet")["BENE_ID"]
    people = pd.DataFrame({"BENE_ID": ids, "DT": pd.Timestamp(month)})
    return status_in_month(con, people, "DT").set_index("BENE_ID")


def test_esrd_from_esrd_ind_when_status_codes_are_absent_or_empty(tmp_path):
    a = tmp_path / "a"
    _mbsf(a / "medicare/mbsf", [{"id": "Y", "esrd_ind": "Y"}, {"id": "N", "esrd_ind": "0"}], status=False, dual=False)
    st = _status(a, "2018-03-10")
    assert st.loc["Y", "ESRD"] and not st.loc["N", "ESRD"]
    b = tmp_path / "b"
    _mbsf(b / "medicare/mbsf", [
        {"id": "code", "esrd_ind": "0", "status": ["11"] * 12, "dual": "00"},     # the monthly code decides
        {"id": "gap", "esrd_ind": "Y", "status": ["10", "10", None, "", *["10"] * 8], "dual": "00"},
    ], status=True, dual=True)
    assert _status(b, "2018-01-05").loc["code", "ESRD"]
    gap = {m: _status(b, f"2018-{m:02d}-01").loc["gap", "ESRD"] for m in (1, 3, 4, 5)}
    assert gap == {1: False, 3: True, 4: True, 5: False}


def test_unknown_dual_status_stays_unknown(tmp_path):
    rows = [{"id": i, "esrd_ind": "0", "status": ["10"] * 12, "dual": cd}
            for i, cd in (("full", "02"), ("qmb", "01"), ("not", "00"), ("na", "NA"), ("unk", "99"), ("empty", ""),
                          ("null", None))]
    _mbsf(tmp_path / "medicare/mbsf", rows, status=True, dual=True)
    dual = _status(tmp_path, "2018-06-01")["DUAL"]
    assert dual[["full", "qmb"]].tolist() == [1.0, 1.0] and dual[["not", "na"]].tolist() == [0.0, 0.0]
    assert dual[["unk", "empty", "null"]].isna().all()
    absent = tmp_path / "absent"
    _mbsf(absent / "medicare/mbsf", rows[:1], status=True, dual=False)
    assert _status(absent, "2018-06-01")["DUAL"].isna().all()
    # the models adjust with an unknown-status indicator instead of reading unknown as "not dual"
    x = adjustment_covariates(pd.DataFrame({"AGE": 70.0, "SEX": "male", "RACE": "white", "DUAL": [1.0, 0.0, np.nan],
                                            "RISK": 0.2, "smoking": 0, "diabetes": 0, "antihypertensive": 0,
                                            "STRATUM": "high", "RURAL": False, "HEALTH_SYSTEM": False,
                                            "ORG_TYPE": "primary_care"}), "high",
                               {"beneficiary": ["age", "sex", "race", "dual", "cvd_risk_factors"],
                                "organization": ["rural", "health_system", "org_type"]})
    assert x["DUAL"].tolist() == [1.0, 0.0, 0.0] and x["DUAL_UNKNOWN"].tolist() == [0.0, 0.0, 1.0]



def test_monthly_enrollment_with_fewer_flags_gives_the_same_months(tmp_path):
    """The one-scan view of a subset of flags (FFS_AB alone, as the time-to-event and beneficiary-year
    steps use it; ESRD with DUAL) has, month by month, the values of the full view: entitlement and
    Medicare Advantage changing within the year (the months must not shift), ESRD from the monthly code or
    ESRD_IND, unknown dual status; and an unknown flag is refused."""
    rows = [{"id": "x", "esrd_ind": "Y", "status": ["11", "", None, *["10"] * 9], "dual": "99"},
            {"id": "y", "esrd_ind": "0", "status": ["10"] * 12, "dual": "02"}]
    _mbsf(tmp_path / "medicare/mbsf", rows, status=True, dual=True)
    mbsf = tmp_path / "medicare/mbsf/mbsf_2018.parquet"
    df = pd.read_parquet(mbsf)
    df.loc[0, ["MDCR_ENTLMT_BUYIN_IND_02", "HMO_IND_05", "MDCR_ENTLMT_BUYIN_IND_12"]] = ["A", "1", "0"]
    df.loc[1, ["HMO_IND_01", "MDCR_ENTLMT_BUYIN_IND_07"]] = ["H", "B"]
    df.to_parquet(mbsf, index=False)
    con = duckdb.connect()
    register_monthly_enrollment(con, tmp_path)
    full = con.execute("SELECT * FROM enroll_month ORDER BY BENE_ID, MONTH").df()
    ffs_months = full.loc[full["FFS_AB"], "MONTH"].dt.month
    assert ffs_months[full["BENE_ID"] == "x"].tolist() == [1, 3, 4, 6, 7, 8, 9, 10, 11]
    assert ffs_months[full["BENE_ID"] == "y"].tolist() == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    for flags in (("FFS_AB",), ("DUAL", "ESRD")):
        register_monthly_enrollment(con, tmp_path, name="lean", flags=flags)
        lean = con.execute("SELECT * FROM lean ORDER BY BENE_ID, MONTH").df()
        pd.testing.assert_frame_equal(lean, full[["BENE_ID", "MONTH", *flags]])
    with pytest.raises(ValueError, match="unknown enrollment flags"):
        register_monthly_enrollment(con, tmp_path, flags=("FFS",))

def test_esrd_ind_excludes_and_unknown_dual_is_counted_and_shown(data, cfg):
    clean = _analyzed(data, cfg)
    analyzed = clean.loc[clean["EXCLUSION"] == "", "BENE_ID"]
    esrd_ids, unknown_ids = set(analyzed.iloc[:5]), set(analyzed.iloc[5:17])
    for f in sorted((data / "medicare/mbsf").glob("*.parquet")):
        df = _read(f)
        df = df.drop(columns=[c for c in df.columns if c.startswith("MDCR_STATUS_CODE_")])  # as in DE-SynPUF
        df.loc[df["BENE_ID"].isin(esrd_ids), "ESRD_IND"] = "Y"
        for m in range(1, 13):
            df.loc[df["BENE_ID"].isin(unknown_ids), f"DUAL_STUS_CD_{m:02d}"] = "99"
        df.to_parquet(f, index=False)
    report = validate_inputs(data)
    n_mbsf = sum(len(pd.read_parquet(f, columns=["BENE_ID"])) for f in (data / "medicare/mbsf").glob("*.parquet"))
    n_unknown = sum(int(pd.read_parquet(f, columns=["BENE_ID"])["BENE_ID"].isin(unknown_ids).sum())
                    for f in (data / "medicare/mbsf").glob("*.parquet"))
    assert report["mess"]["esrd_from_esrd_ind_months"]["mbsf"] == 12 * n_mbsf
    assert report["mess"]["dual_unknown_months"]["mbsf"] == 12 * n_unknown

    people, _, qc = build_cohort(data, cfg)
    p = people.set_index("BENE_ID")
    assert (p.loc[sorted(esrd_ids), "EXCLUSION"] == "esrd").all()
    # nobody excluded for ESRD by the status codes escapes when only ESRD_IND is left
    was_esrd = clean.loc[clean["EXCLUSION"] == "esrd", "BENE_ID"]
    assert (p.loc[was_esrd, "EXCLUSION"] == "esrd").all()
    assert p.loc[sorted(unknown_ids), "DUAL"].isna().all()
    assert qc["dual_status_unknown"] == {"enrollees": len(unknown_ids), "analyzed": len(unknown_ids)}

    cohort = people[people["EXCLUSION"] == ""]
    table = balance_for_populations(cohort)
    rows = table[table["population"] == "high_medium"].set_index("variable")
    unknown = cohort["BENE_ID"].isin(unknown_ids)
    for arm, col in ((1, "intervention"), (0, "control")):
        in_arm = cohort["MH"] == arm
        assert rows.loc["Dual status unknown", col] == pytest.approx(100 * unknown[in_arm].mean())
        known = cohort.loc[in_arm & ~unknown, "DUAL"]
        assert rows.loc["Dually eligible for Medicaid, of those with known status", col] == pytest.approx(100 * known.mean())


# ---------------------------------------------------------------- processing date ----------------------

def test_missing_processing_date_falls_back_to_through_date_plus_lag(data, cfg):
    cfg["claims"]["processing_lag_days"] = 45
    in_f = data / "claims/inpatient/inpatient_2018.parquet"
    inp = _read(in_f).drop(columns=["NCH_WKLY_PROC_DT"])  # absent, as in DE-SynPUF
    inp.to_parquet(in_f, index=False)
    out_f = data / "claims/outpatient/outpatient_2018.parquet"
    out = _read(out_f)
    out.loc[out.index[:5], "NCH_WKLY_PROC_DT"] = pd.NaT  # empty on a few claims
    out.to_parquet(out_f, index=False)

    report = validate_inputs(data, processing_lag_days=45)
    imputed = report["mess"]["processing_date_imputed"]
    assert (imputed["inpatient"], imputed["outpatient"]) == (len(inp), 5)
    assert (f"inpatient: {len(inp):,} claims have no processing date (NCH_WKLY_PROC_DT); each is taken as "
            "processed 45 days after its through date (claims.processing_lag_days)") in report["warnings"]

    codes = load_event_codes(cfg["outcomes"]["codes"])
    claims, _ = extract_claims(data, "inpatient", 2018, codes, cfg)
    lag = pd.to_datetime(claims["PROC_DT"]) - pd.to_datetime(claims["THRU_DT"])
    assert len(claims) == len(inp) and (lag == pd.Timedelta(days=45)).all()
    op, _ = extract_claims(data, "outpatient", 2018, codes, cfg)
    expected = out["NCH_WKLY_PROC_DT"].fillna(out["CLM_THRU_DT"] + pd.Timedelta(days=45))
    got = pd.to_datetime(op.set_index("CLM_ID").loc[out["CLM_ID"].astype(str), "PROC_DT"])
    assert (got.to_numpy() == expected.to_numpy()).all()

    # the runout rule uses the fallback date: a 2018 inpatient event counts iff through + 45 <= runout
    runout = "2018-07-31"
    ev = event_claims(duckdb.connect(), data, codes, ["inpatient"], "any", "2015-10-01", runout_date=runout,
                      processing_lag_days=45)
    events_2018 = claims[claims["CVD_EVENT"].notna()]
    keep = pd.to_datetime(events_2018["THRU_DT"]) + pd.Timedelta(days=45) <= pd.Timestamp(runout)
    assert keep.any() and (~keep).any()
    assert set(ev["CLM_ID"]) & set(events_2018["CLM_ID"]) == set(events_2018.loc[keep, "CLM_ID"])


# ---------------------------------------------------------------- NPIs ---------------------------------

def test_npi_check_digit_of_cms_example():
    # CMS, "Requirements for NPI check digit": 123456789 -> 3 (Luhn over 80840123456789)
    assert npi_check_digit("123456789") == "3"
    assert npi_valid("1234567893") and not npi_valid("1234567890") and not npi_valid("123456789")


def test_invalid_npi_check_digit_fails_unless_switched_off(data):
    providers = read_input(data, "providers")
    assert providers["NPI"].map(npi_valid).all()  # the synthetic generator writes valid NPIs
    wrong = lambda npi: npi[:9] + str((int(npi[9]) + 1) % 10)
    f = data / "registry/providers.parquet"
    df = _read(f)
    df.loc[df.index[:2], "NPI"] = df.loc[df.index[:2], "NPI"].map(wrong)
    df.to_parquet(f, index=False)
    lf = data / "claims/carrier_line/carrier_line_2019.parquet"
    lines = _read(lf)
    lines.loc[lines.index[:3], "PRF_PHYSN_NPI"] = "1234567890"
    lines.to_parquet(lf, index=False)
    problems, _ = _problems(data)
    got = {(Path(p.file).name, p.column, p.n_rows) for p in problems if "check digit" in p.rule}
    assert got == {("providers.parquet", "NPI", 2), ("carrier_line_2019.parquet", "PRF_PHYSN_NPI", 3)}
    assert len(problems) == 2
    validate_inputs(data, check_npi=False)


# ---------------------------------------------------------------- plausible dates -----------------------

def test_birth_in_2030_fails(data):
    f = data / "registry/demographics.parquet"
    df = _read(f)
    df.loc[df.index[:2], "BIRTH_DT"] = pd.Timestamp("2030-01-01")
    df.to_parquet(f, index=False)
    problems, _ = _problems(data)
    match = [p for p in problems if Path(p.file).name == "demographics.parquet" and p.column == "BIRTH_DT"]
    assert len(match) == 1 and match[0].n_rows == 2 and "on or after the registry enrollment date" in match[0].rule
    assert all("BIRTH_DT 2030-01-01" in e for e in match[0].examples)


def test_dates_across_files_are_plausible(data):
    demo = _read(data / "registry/demographics.parquet")
    f = data / "claims/inpatient/inpatient_2010.parquet"
    claims = _read(f)
    who = claims["BENE_ID"].iloc[0]
    theirs = claims.loc[claims["BENE_ID"] == who, "CLM_FROM_DT"]
    birth = theirs.min() + pd.Timedelta(days=1)  # born the day after their first 2010 claim
    demo.loc[demo["BENE_ID"] == who, "BIRTH_DT"] = birth
    demo.to_parquet(data / "registry/demographics.parquet", index=False)
    m = data / "medicare/mbsf/mbsf_2019.parquet"
    mbsf = _read(m)
    dead = mbsf["BENE_ID"].iloc[3]
    mbsf.loc[mbsf.index[3], "BENE_DEATH_DT"] = mbsf.loc[mbsf.index[3], "BENE_BIRTH_DT"] - pd.Timedelta(days=1)
    mbsf.loc[mbsf.index[4], "BENE_BIRTH_DT"] = pd.Timestamp("2030-06-01")
    mbsf.to_parquet(m, index=False)
    problems, _ = _problems(data)
    got = {(Path(p.file).name, p.column, p.rule): p for p in problems}
    early = got[("inpatient_2010.parquet", "CLM_FROM_DT",
                 "service date before the beneficiary's birth date (BIRTH_DT in demographics)")]
    assert early.n_rows == int((theirs < birth).sum())
    assert got[("mbsf_2019.parquet", "BENE_DEATH_DT", "death date before the birth date (BENE_BIRTH_DT)")].examples[0].startswith(dead)
    assert got[("mbsf_2019.parquet", "BENE_BIRTH_DT",
                "birth date on or after the registry enrollment date (ENROLL_DT in alignment)")].n_rows == 1
