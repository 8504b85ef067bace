"""Office-visit lines take each claim's processing date from the claims file the job has just written
(use_written_claim_dates): the same dates as the claims query's, a missing one filled from the claim's
through date plus the processing lag, and only lines of an office E&M code whose claim is in the file."""

from __future__ import annotations

import pandas as pd

from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims, extraction_sql, copy_to_parquet, use_written_claim_dates, write_extraction
from mheval.sql import connect

DAY = pd.Timestamp("2018-03-01")


def _carrier(d):
    claims = pd.DataFrame({"BENE_ID": ["B1", "B2", "B3"], "CLM_ID": [30, 10, 20], "NCH_CLM_TYPE_CD": "71",
                           "CLM_FROM_DT": DAY, "CLM_THRU_DT": [DAY, DAY, DAY + pd.Timedelta(days=2)],
                           "NCH_WKLY_PROC_DT": [DAY + pd.Timedelta(days=9), DAY + pd.Timedelta(days=16), pd.NaT],
                           "CLM_PMT_AMT": [10.0, 20.0, 30.0], "PRNCPAL_DGNS_CD": "I10"})
    lines = pd.DataFrame({"BENE_ID": ["B1", "B2", "B2", "B3", "B1"], "CLM_ID": [30, 10, 10, 20, 99],
                          "LINE_NUM": [1, 1, 2, 1, 1], "HCPCS_CD": ["99213", "99214", "80053", "99213", "99213"],
                          "LINE_1ST_EXPNS_DT": DAY, "PRF_PHYSN_NPI": ["N1", "N2", "N2", "N3", "N1"]})
    for name, df in (("carrier", claims), ("carrier_line", lines)):
        (d / f"claims/{name}").mkdir(parents=True)
        df.to_parquet(d / f"claims/{name}/{name}_2018.parquet", index=False)


def test_office_lines_take_their_claims_processing_dates(tmp_path, config):
    d = tmp_path / "data"
    _carrier(d)
    codes = load_event_codes(config["outcomes"]["codes"])
    write_extraction(d, "carrier", 2018, codes, config, tmp_path / "c.parquet", tmp_path / "o.parquet")
    office = pd.read_parquet(tmp_path / "o.parquet").sort_values("CLM_ID")
    lag = config["claims"]["processing_lag_days"]
    # claim 10's office line (not its lab line), 20's date filled from its through date, 30's; no claim 99
    assert office["CLM_ID"].tolist() == [10, 20, 30] and office["NPI"].tolist() == ["N2", "N3", "N1"]
    assert pd.to_datetime(office["PROC_DT"]).tolist() == [DAY + pd.Timedelta(days=16), DAY + pd.Timedelta(days=2 + lag),
                                                          DAY + pd.Timedelta(days=9)]
    _, frame = extract_claims(d, "carrier", 2018, codes, config)  # the claims query's own dates (no file)
    frame = frame.sort_values("CLM_ID")
    assert frame["CLM_ID"].tolist() == [10, 20, 30]
    assert pd.to_datetime(frame["PROC_DT"]).tolist() == pd.to_datetime(office["PROC_DT"]).tolist()


def test_the_office_query_reads_the_written_file(tmp_path, config):
    d = tmp_path / "data"
    _carrier(d)
    con = connect()
    claims, office, params = extraction_sql(d, "carrier", 2018, load_event_codes(config["outcomes"]["codes"]), config, con)
    copy_to_parquet(con, claims, params, tmp_path / "c.parquet", claim_type="carrier")
    # a claims file that is not this query's: its dates are the ones the office lines get
    pd.DataFrame({"BENE_ID": ["B1"], "CLM_ID": [30], "PROC_DT": [DAY.date()]}).to_parquet(tmp_path / "x.parquet", index=False)
    assert use_written_claim_dates(con, tmp_path / "x.parquet")
    got = con.execute(office).df()
    assert got["CLM_ID"].tolist() == [30] and pd.to_datetime(got["PROC_DT"]).tolist() == [DAY]
    # another type for CLM_ID (text): the view is left as it was
    pd.DataFrame({"CLM_ID": ["30"], "PROC_DT": [DAY.date()]}).to_parquet(tmp_path / "t.parquet", index=False)
    assert not use_written_claim_dates(con, tmp_path / "t.parquet")
    assert not use_written_claim_dates(connect(), tmp_path / "c.parquet")  # no office query on this connection
