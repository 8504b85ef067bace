"""SQL takes values as parameters or registered relations: a quote in a code value, a date or a
path neither breaks a query nor changes what it does."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from mheval.analysis.beneficiary_year import _register
from mheval.contract.read import register_input
from mheval.outcomes.codes import claim_event_sql
from mheval.outcomes.events import event_claims
from mheval.outcomes.extract import extract_claims, register_claims

D = pd.Timestamp


def _claims(path):
    df = pd.DataFrame({"BENE_ID": ["B1", "B2"], "CLM_ID": [1, 2], "NCH_CLM_TYPE_CD": "40",
                       "CLM_FROM_DT": [D("2018-03-01"), D("2018-04-01")], "CLM_THRU_DT": [D("2018-03-01"), D("2018-04-01")],
                       "NCH_WKLY_PROC_DT": [D("2018-03-09"), D("2018-04-13")], "CLM_PMT_AMT": [100.0, 200.0],
                       "PRNCPAL_DGNS_CD": ["I214", "J189"], "ICD_DGNS_CD1": [None, None]})
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return df


def test_quoted_data_dir_and_code_values(tmp_path, config):
    d = tmp_path / "o'brien's data; DROP TABLE x; --"
    _claims(d / "claims/outpatient/outpatient_2018.parquet")
    rev = pd.DataFrame({"BENE_ID": ["B1", "B2"], "CLM_ID": [1, 2], "CLM_LINE_NUM": [1, 1],
                        "REV_CNTR": ["0450", "04'50"], "REV_CNTR_PMT_AMT_AMT": [100.0, 200.0]})
    (d / "claims/outpatient_revenue").mkdir(parents=True)
    rev.to_parquet(d / "claims/outpatient_revenue/outpatient_revenue_2018.parquet", index=False)
    # an ED code list with a quoted value: it must match only itself, not break the IN list
    ed = tmp_path / "ed's codes.csv"
    ed.write_text("code,source\n0450,x\n04'50') OR (TRUE,y\n")
    cfg = {**config, "outcomes": {**config["outcomes"], "ed_revenue_centers": str(ed)}}
    codes = pd.DataFrame({"event": ["mi'"], "code_system": ["icd10"], "pattern": ["^I21"], "source": ["s"]})
    claims, _ = extract_claims(d, "outpatient", 2018, codes, cfg)
    got = claims.set_index("BENE_ID")
    assert got.loc["B1", "CVD_EVENT"] == "mi'" and pd.isna(got.loc["B2", "CVD_EVENT"])
    assert got["ED"].to_dict() == {"B1": True, "B2": False}
    # the written extraction goes through the same parameters (output path with a quote too)
    from mheval.outcomes.extract import write_extraction
    out = tmp_path / "it's out"
    write_extraction(d, "outpatient", 2018, codes, cfg, out / "c.parquet", out / "o.parquet")
    con = duckdb.connect()
    register_claims(con, "written", [out / "c.parquet"])  # the claim type and left-out columns restored
    pd.testing.assert_frame_equal(con.execute("SELECT * FROM written").df(), claims, check_dtype=False)
    # the file itself: no CLAIM_TYPE column (its metadata says it), no ADMSN_DT (outpatient files have none)
    assert "CLAIM_TYPE" not in pd.read_parquet(out / "c.parquet").columns
    assert "ADMSN_DT" not in pd.read_parquet(out / "c.parquet").columns


def test_event_claims_dates_are_parameters(tmp_path, config):
    d = tmp_path / "it's"
    _claims(d / "claims/inpatient/inpatient_2018.parquet")
    codes = pd.DataFrame({"event": ["mi", "other"], "code_system": ["icd10", "icd10"], "pattern": ["^I21", "^J1"],
                          "source": ["s", "s"]})
    con = duckdb.connect()
    ev = event_claims(con, d, codes, ["inpatient"], "any", "2015-10-01", runout_date="2018-04-01")
    assert ev[["BENE_ID", "EVENT"]].values.tolist() == [["B1", "mi"]]  # B2 processed after the runout
    with pytest.raises(duckdb.Error):  # a date that is not a date is an error, never SQL
        event_claims(con, d, codes, ["inpatient"], "any", "2015-10-01", runout_date="2018-04-01' OR TRUE --")


def test_identifiers_are_checked_against_their_whitelist(tmp_path):
    codes = pd.DataFrame({"event": ["mi"], "code_system": ["icd10"], "pattern": ["^I21"], "source": ["s"]})
    with pytest.raises(ValueError, match="not diagnosis columns"):
        claim_event_sql(codes, ["PRNCPAL_DGNS_CD", 'x" FROM y; --'], "2015-10-01")
    con = duckdb.connect()
    with pytest.raises(KeyError):
        register_input(con, "no_such_input", [tmp_path / "a.parquet"])
    with pytest.raises(ValueError, match="identifier"):
        register_input(con, "inpatient", [tmp_path / "a.parquet"], view="v; DROP TABLE t")


def test_file_list_with_quotes(tmp_path):
    paths = []
    for i, name in enumerate(["a'b.parquet", 'c"d.parquet']):
        p = tmp_path / name
        pd.DataFrame({"x": [i]}).to_parquet(p, index=False)
        paths.append(p)
    con = duckdb.connect()
    _register(con, "files_in", paths, "SELECT CAST(NULL AS BIGINT) AS x WHERE FALSE")
    assert sorted(con.execute("SELECT x FROM files_in").df()["x"]) == [0, 1]
