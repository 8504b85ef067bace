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


def test_written_event_and_drug_class_columns_are_plain_text(tmp_path, config):
    """The extraction carries events and drug classes as DuckDB ENUMs (cheaper to write); the files must
    still hold plain text columns with the same values as the frames (readers see str, not categories)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mheval.outcomes.extract import extract_fills, write_fills

    d = tmp_path / "data"
    (d / "claims/inpatient").mkdir(parents=True)
    dates = [D("2018-03-01"), D("2018-04-01"), D("2018-05-01")]
    pd.DataFrame({"BENE_ID": ["B1", "B2", "B3"], "CLM_ID": [1, 2, 3], "NCH_CLM_TYPE_CD": "60",
                  "CLM_FROM_DT": dates, "CLM_THRU_DT": dates, "NCH_WKLY_PROC_DT": dates, "CLM_PMT_AMT": [1.0, 2.0, 3.0],
                  "PRNCPAL_DGNS_CD": ["I214", "I500", "J189"], "ICD_DGNS_CD1": ["I634", None, None]}
                 ).to_parquet(d / "claims/inpatient/inpatient_2018.parquet", index=False)
    codes = load_event_codes(config["outcomes"]["codes"])
    write_extraction(d, "inpatient", 2018, codes, config, tmp_path / "c.parquet", tmp_path / "o.parquet")
    schema = pq.read_schema(tmp_path / "c.parquet")
    assert schema.field("CVD_EVENT").type == pa.string() and schema.field("OTHER_CVD").type == pa.string()
    written = pd.read_parquet(tmp_path / "c.parquet")
    assert written["CVD_EVENT"].tolist() == ["mi", None, None]  # the principal MI decides over the stroke code
    assert written["OTHER_CVD"].tolist()[1] == "heart_failure" and written["OTHER_CVD"].isna().tolist() == [True, False, True]
    frame, _ = extract_claims(d, "inpatient", 2018, codes, config)
    assert frame["CVD_EVENT"].tolist() == written["CVD_EVENT"].tolist()
    # Part D: two fills of a statin, one of an antihypertensive, one of another drug (dropped)
    drugs = pd.read_csv(config["outcomes"]["drugs"], dtype=str, keep_default_na=False)
    statin, other = drugs[drugs["drug_class"] == "statin"].iloc[0], drugs[drugs["drug_class"] != "statin"].iloc[0]
    (d / "claims/pde").mkdir(parents=True)
    (d / "reference").mkdir()
    pd.DataFrame({"PROD_SRVC_ID": ["1", "2", "3"], "GNN": [statin["generic_name"].upper(), other["generic_name"], "aspirin"],
                  "STRENGTH_MG": [float(statin["min_strength_mg"]), float(other["min_strength_mg"]), 81.0]}
                 ).to_parquet(d / "reference/ndc.parquet", index=False)
    pd.DataFrame({"BENE_ID": ["B1", "B2", "B3", "B1"], "PROD_SRVC_ID": ["1", "2", "3", "1"], "SRVC_DT": dates + [dates[0]],
                  "PD_DT": dates + [dates[1]]}).to_parquet(d / "claims/pde/pde_2018.parquet", index=False)
    write_fills(d, 2018, config["outcomes"]["drugs"], tmp_path / "f.parquet")
    assert pq.read_schema(tmp_path / "f.parquet").field("DRUG_CLASS").type == pa.string()
    fills = pd.read_parquet(tmp_path / "f.parquet")
    assert fills["DRUG_CLASS"].tolist() == ["statin", other["drug_class"], "statin"]
    frame = extract_fills(d, 2018, config["outcomes"]["drugs"])
    assert frame["DRUG_CLASS"].dtype == object and frame["DRUG_CLASS"].tolist() == fills["DRUG_CLASS"].tolist()
