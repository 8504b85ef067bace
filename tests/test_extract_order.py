"""Extraction keeps the claims file's order (documented in write_extraction) although the diagnosis
lookups are hash joins: a LEFT hash join emits a chunk's rows without a match (a missing secondary
diagnosis) after those with one, which reorders the claims unless the extraction keeps the file's order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims, write_extraction


def _inpatient(path, n=3000, seed=3):
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(10**9, 10**9 + n))  # claim ids in no particular order
    dates = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    # distinct codes, every 7th principal code an MI, every 3rd claim without a secondary diagnosis
    principal = [f"I21{i % 10}" if i % 7 == 0 else f"Z{i:05d}" for i in range(n)]
    df = pd.DataFrame({"BENE_ID": [f"B{i % 500}" for i in range(n)], "CLM_ID": ids, "NCH_CLM_TYPE_CD": "60",
                       "CLM_FROM_DT": dates, "CLM_THRU_DT": dates, "CLM_ADMSN_DT": dates,
                       "NCH_WKLY_PROC_DT": dates + pd.Timedelta(days=9), "CLM_PMT_AMT": np.arange(n, dtype=float),
                       "PRNCPAL_DGNS_CD": principal, "ICD_DGNS_CD1": [None if i % 3 == 0 else f"Y{i:05d}" for i in range(n)]})
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return df


def test_claims_come_in_the_files_order_with_their_events(tmp_path, config):
    d = tmp_path / "data"
    src = _inpatient(d / "claims/inpatient/inpatient_2018.parquet")
    codes = load_event_codes(config["outcomes"]["codes"])
    claims, _ = extract_claims(d, "inpatient", 2018, codes, config)
    assert claims["CLM_ID"].tolist() == src["CLM_ID"].astype(str).tolist()
    mi = src["PRNCPAL_DGNS_CD"].str.startswith("I21")
    assert (claims["CVD_EVENT"] == "mi").tolist() == mi.tolist()
    assert claims["PMT"].tolist() == src["CLM_PMT_AMT"].tolist()
    write_extraction(d, "inpatient", 2018, codes, config, tmp_path / "c.parquet", tmp_path / "o.parquet")
    written = pd.read_parquet(tmp_path / "c.parquet")
    assert written["CLM_ID"].tolist() == src["CLM_ID"].tolist()  # in the input's own type, in its order
