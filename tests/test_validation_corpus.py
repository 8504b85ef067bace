"""A corpus of deliberately broken inputs: each stops validation with its own clear message
naming the file, the column, how many rows fail and examples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mheval.contract import InputValidationError, validate_inputs


def _rw(path: Path, change):
    df = pd.read_parquet(path)
    for c in df.columns:  # Parquet DATE columns come back as Python dates
        if c.endswith("_DT") or c.endswith("_DT_ID"):
            df[c] = pd.to_datetime(df[c])
    df = change(df)
    df.to_parquet(path, index=False)


def _first(d: Path, sub: str) -> Path:
    return sorted((d / sub).glob("*.parquet"))[-2]  # a full year (not the last, partial one)


def missing_column(d):
    _rw(d / "registry/demographics.parquet", lambda df: df.drop(columns=["SEX"]))
    return "demographics.parquet", "SEX", "required column"


def wrong_type(d):
    _rw(d / "registry/alignment.parquet", lambda df: df.assign(ENROLL_DT=df["ENROLL_DT"].dt.strftime("%d/%m/%Y")))
    return "alignment.parquet", "ENROLL_DT", "expected date"


def duplicate_key(d):
    _rw(d / "registry/demographics.parquet", lambda df: pd.concat([df, df.head(3).assign(SEX="female")]))
    return "demographics.parquet", "BENE_ID", "duplicate key"


def two_orgs_at_enrollment(d):
    def change(df):
        extra = df.head(2).copy()
        other = df["ORG_ID"].drop_duplicates()
        extra["ORG_ID"] = [o for o in other if o not in set(extra["ORG_ID"])][:1] * 2
        return pd.concat([df, extra])
    _rw(d / "registry/alignment.parquet", change)
    return "alignment.parquet", "ORG_ID", "two organizations on the same enrollment date"


def org_in_both_arms(d):
    def change(df):
        extra = df.head(1).copy()
        extra["ARM"] = "control" if extra["ARM"].iloc[0] == "intervention" else "intervention"
        return pd.concat([df, extra])
    _rw(d / "registry/organizations.parquet", change)
    return "organizations.parquet", "ARM", "both arms"


def impossible_dates(d):
    f = _first(d, "claims/inpatient")
    _rw(f, lambda df: df.assign(CLM_THRU_DT=df["CLM_THRU_DT"].where(df.index >= 4, df["CLM_FROM_DT"] - pd.Timedelta(days=3))))
    return f.name, "CLM_THRU_DT", "before CLM_FROM_DT"  # the file holding the rows, not a glob


def death_before_enrollment(d):
    align = pd.read_parquet(d / "registry/alignment.parquet")
    victims = set(align["BENE_ID"].head(4))
    for f in (d / "medicare/mbsf").glob("*.parquet"):
        _rw(f, lambda df: df.assign(BENE_DEATH_DT=df["BENE_DEATH_DT"].where(~df["BENE_ID"].isin(victims), pd.Timestamp("2016-06-01"))))
    return "mbsf", "BENE_DEATH_DT", "death date before the registry enrollment date"


def negative_payment(d):
    _rw(d / "cms/payments.parquet", lambda df: df.assign(AMOUNT=df["AMOUNT"].where(df.index >= 2, -50.0)))
    return "payments.parquet", "AMOUNT", "fails the rule"


def malformed_icd(d):
    f = _first(d, "claims/inpatient")
    _rw(f, lambda df: df.assign(PRNCPAL_DGNS_CD=df["PRNCPAL_DGNS_CD"].where(df.index >= 5, "I21.4")))
    return f.name, "PRNCPAL_DGNS_CD", "malformed"


def malformed_npi(d):
    _rw(d / "registry/providers.parquet", lambda df: df.assign(NPI=df["NPI"].where(df.index >= 2, "12345")))
    return "providers.parquet", "NPI", "fails the rule"


def unknown_npi_org(d):
    _rw(d / "registry/providers.parquet", lambda df: df.assign(ORG_ID=df["ORG_ID"].where(df.index >= 3, "ORG9999")))
    return "providers.parquet", "ORG_ID", "organizations not found"


def empty_file(d):
    _rw(d / "registry/visits.parquet", lambda df: df.head(0))
    return "visits.parquet", None, "is empty"


def truncated_parquet(d):
    p = d / "registry/demographics.parquet"
    p.write_bytes(p.read_bytes()[: 200])
    return "demographics.parquet", None, "cannot be read"


def missing_file(d):
    (d / "cms/payments.parquet").unlink()
    return "payments.parquet", None, "is missing"


def value_not_allowed(d):
    _rw(d / "registry/demographics.parquet", lambda df: df.assign(SEX=df["SEX"].where(df.index >= 6, "M")))
    return "demographics.parquet", "SEX", "allowed values"


def claim_unknown_beneficiary(d):
    f = _first(d, "claims/outpatient")
    _rw(f, lambda df: df.assign(BENE_ID=df["BENE_ID"].where(df.index >= 3, "B9999999999")))
    return f.name, "BENE_ID", "not in the registry"


def payment_unknown_org(d):
    _rw(d / "cms/payments.parquet", lambda df: df.assign(ORG_ID=df["ORG_ID"].where(df.index >= 1, "ORG8888")))
    return "payments.parquet", "ORG_ID", "organizations not found"


def aligned_without_demographics(d):
    _rw(d / "registry/demographics.parquet", lambda df: df.iloc[5:])
    return "alignment.parquet", "BENE_ID", "beneficiaries in demographics not found"


def orphan_claim_line(d):
    f = _first(d, "claims/carrier_line")
    _rw(f, lambda df: df.assign(CLM_ID=df["CLM_ID"].where(df.index >= 2, 123 + df.index.to_series())))
    return f.name, "CLM_ID", "not in carrier"


def processed_before_service(d):
    f = _first(d, "claims/outpatient")
    _rw(f, lambda df: df.assign(NCH_WKLY_PROC_DT=df["NCH_WKLY_PROC_DT"].where(df.index >= 7, df["CLM_THRU_DT"] - pd.Timedelta(days=10))))
    return f.name, "NCH_WKLY_PROC_DT", "before CLM_THRU_DT"


def no_medicare_enrollment(d):
    align = pd.read_parquet(d / "registry/alignment.parquet")
    gone = set(align["BENE_ID"].head(3))
    for f in (d / "medicare/mbsf").glob("*.parquet"):
        _rw(f, lambda df: df[~df["BENE_ID"].isin(gone)])
    return "alignment.parquet", "BENE_ID", "no Medicare enrollment"


def csv_bad_date(d):
    p = d / "registry/visits.parquet"
    df = pd.read_parquet(p)
    df["VISIT_DT"] = pd.to_datetime(df["VISIT_DT"]).dt.strftime("%Y-%m-%d")
    df.loc[:2, "VISIT_DT"] = "2017-13-45"
    p.unlink()
    df.to_csv(d / "registry/visits.csv", index=False)
    return "visits.csv", "VISIT_DT", "not of type date"


def null_key(d):
    _rw(d / "registry/alignment.parquet", lambda df: df.assign(ENROLL_DT=df["ENROLL_DT"].where(df.index >= 2, pd.NaT)))
    return "alignment.parquet", "ENROLL_DT", "missing values"


CASES = [missing_column, wrong_type, duplicate_key, two_orgs_at_enrollment, org_in_both_arms, impossible_dates,
         death_before_enrollment, negative_payment, malformed_icd, malformed_npi, unknown_npi_org, empty_file,
         truncated_parquet, missing_file, value_not_allowed, claim_unknown_beneficiary, payment_unknown_org,
         aligned_without_demographics, orphan_claim_line, processed_before_service, no_medicare_enrollment,
         csv_bad_date, null_key]


@pytest.mark.parametrize("breaker", CASES, ids=[c.__name__ for c in CASES])
def test_broken_input_gives_its_own_clear_error(tiny, tmp_path, breaker):
    d = tmp_path / "data"
    shutil.copytree(tiny, d)
    file_part, column, rule = breaker(d)
    with pytest.raises(InputValidationError) as info:
        validate_inputs(d)
    problems = info.value.problems
    match = [p for p in problems if file_part in p.file and rule in p.rule and (column is None or p.column == column)]
    assert match, f"expected a problem with {file_part}/{column}/{rule!r}, got:\n{info.value}"
    p = match[0]
    if p.n_rows is not None and p.n_rows > 0:
        assert f"{p.n_rows:,} row" in str(info.value)
    # one message, readable, with no traceback text in it
    assert "Traceback" not in str(info.value) and str(info.value).startswith(f"{len(problems)} problem")


def test_corpus_has_at_least_15_kinds():
    assert len(CASES) >= 15


def test_clean_inputs_pass(tiny):
    report = validate_inputs(tiny)
    assert report["rows"]["demographics"] > 0
