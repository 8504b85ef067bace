"""Written extractions hold only the columns their claim type can have (the claim type is in the
file's metadata, CLM_ID in the input's type); register_claims reads them back with every column."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims, register_claims, write_extraction

D = pd.Timestamp


def _carrier(path):
    df = pd.DataFrame({"BENE_ID": ["B1", "B2"], "CLM_ID": [7, 12], "NCH_CLM_TYPE_CD": "71",
                       "CLM_FROM_DT": [D("2018-03-01"), D("2018-04-01")], "CLM_THRU_DT": [D("2018-03-02"), D("2018-04-01")],
                       "NCH_WKLY_PROC_DT": [D("2018-03-09"), D("2018-04-13")], "CLM_PMT_AMT": [50.0, 80.0],
                       "PRNCPAL_DGNS_CD": ["I214", "J189"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def test_carrier_file_is_narrow_and_reads_back_whole(tmp_path, config):
    _carrier(tmp_path / "data/claims/carrier/carrier_2018.parquet")
    cfg = {**config, "outcomes": {**config["outcomes"], "event_claim_types": ["inpatient", "outpatient"]}}
    codes = load_event_codes(config["outcomes"]["codes"])
    write_extraction(tmp_path / "data", "carrier", 2018, codes, cfg, tmp_path / "c.parquet", tmp_path / "o.parquet")
    written = pd.read_parquet(tmp_path / "c.parquet")
    assert list(written.columns) == ["BENE_ID", "CLM_ID", "FROM_DT", "THRU_DT", "PROC_DT", "PMT"]
    assert written["CLM_ID"].tolist() == [7, 12]  # an integer stays one
    # an extraction written before the columns were left out (CLAIM_TYPE column, CLM_ID text) reads the same
    old = tmp_path / "old.parquet"
    pd.DataFrame({"BENE_ID": ["B3"], "CLM_ID": ["x9"], "CLAIM_TYPE": ["outpatient"], "FROM_DT": [D("2018-05-01")],
                  "THRU_DT": [D("2018-05-01")], "ADMSN_DT": [pd.NaT], "PROC_DT": [D("2018-05-11")], "PMT": [9.0],
                  "CVD_EVENT": ["mi"], "ED": [True], "OTHER_CVD": [None]}).to_parquet(old, index=False)
    con = duckdb.connect()
    register_claims(con, "claims_in", [tmp_path / "c.parquet", old])
    got = con.execute("SELECT * FROM claims_in").df()
    assert got["CLM_ID"].tolist() == ["7", "12", "x9"] and got["CLAIM_TYPE"].tolist() == ["carrier"] * 2 + ["outpatient"]
    assert got["ED"].tolist() == [False, False, True] and got["CVD_EVENT"].isna().tolist() == [True, True, False]
    assert got["ADMSN_DT"].isna().all() and got["OTHER_CVD"].isna().all()
    frame, _ = extract_claims(tmp_path / "data", "carrier", 2018, codes, cfg)
    pd.testing.assert_frame_equal(got.iloc[:2], frame, check_dtype=False)


def test_file_without_claim_type_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"BENE_ID": ["B1"], "CLM_ID": [1], "FROM_DT": [D("2018-01-01")], "THRU_DT": [D("2018-01-01")],
                  "PROC_DT": [D("2018-01-05")], "PMT": [1.0]}).to_parquet(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.parquet: no claim type.*1 rows"):
        register_claims(duckdb.connect(), "claims_in", [bad])
