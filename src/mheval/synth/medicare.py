"""Master Beneficiary Summary File rows (one per beneficiary and calendar year), vectorized."""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTHS = [f"{m:02d}" for m in range(1, 13)]


def _month_index(d: np.ndarray) -> np.ndarray:
    """Months since 1970-01 (NaT -> a large sentinel)."""
    m = d.astype("datetime64[M]").astype("int64")
    return np.where(np.isnat(d), 10 ** 6, m)


def make_mbsf(rng: np.random.Generator, b: pd.DataFrame, first_year: int, last_year: int):
    """MBSF base + monthly enrollment columns for every year a beneficiary is alive and entitled.

    Codes follow the CCW: MDCR_ENTLMT_BUYIN_IND (0 none, 1 A only, 3 A and B, A/C state buy-in),
    HMO_IND (0 FFS, 1 Medicare Advantage), PTD_CNTRCT_ID ("0" none, S.... stand-alone plan,
    H.... MA-PD), DUAL_STUS_CD ("00" not dual, "02" full dual), MDCR_STATUS_CODE (10 aged,
    11 aged with ESRD, 20 disabled, 21 disabled with ESRD).

    Yields (year, dict of column arrays), one year at a time to keep memory bounded. The death
    date is reported from the year of death on (blank in earlier years' files).
    """
    ent_m = _month_index(b["ent_dt"].to_numpy().astype("datetime64[D]"))
    death = b["death_dt"].to_numpy().astype("datetime64[D]")
    death_m = _month_index(death)
    ma1 = _month_index(b["ma_before_dt"].to_numpy().astype("datetime64[D]"))
    ma2 = _month_index(b["ffs_end_dt"].to_numpy().astype("datetime64[D]"))
    esrd_m = _month_index(b["esrd_dt"].to_numpy().astype("datetime64[D]"))
    part_b = b["part_b"].to_numpy()
    dual = b["dual"].to_numpy()
    part_d = b["part_d"].to_numpy()
    disabled = b["age_enroll"].to_numpy() < 65
    n = len(b)
    pdp = np.char.add("S", (5000 + rng.integers(0, 900, n)).astype(str))
    mapd = np.char.add("H", (1000 + rng.integers(0, 900, n)).astype(str))
    sex = np.where(b["male"].to_numpy(), "1", "2")
    race_map = {"white": "1", "black": "2", "other": "3", "asian": "4", "hispanic": "5",
                "native": "6", "unknown": "0"}
    race = b["race"].map(race_map).to_numpy()
    death_year = death.astype("datetime64[Y]").astype("int64") + 1970
    for year in range(first_year, last_year + 1):
        y0 = (year - 1970) * 12
        rows = np.flatnonzero((ent_m <= y0 + 11) & (death_m >= y0))
        if len(rows) == 0:
            continue
        m = y0 + np.arange(12)[None, :]
        alive = m <= death_m[rows, None]
        entitled = (m >= ent_m[rows, None]) & alive
        in_ma = ((m >= ma1[rows, None]) | (m >= ma2[rows, None])) & entitled
        with_b = entitled & part_b[rows, None]
        buyin = np.where(~entitled, "0", np.where(with_b, np.where(dual[rows, None], "C", "3"),
                                                  np.where(dual[rows, None], "A", "1")))
        hmo = np.where(in_ma, "1", "0")
        ptd = np.where(entitled & part_d[rows, None], np.where(in_ma, mapd[rows, None], pdp[rows, None]), "0")
        dual_cd = np.where(entitled & dual[rows, None], "02", "00")
        esrd = (m >= esrd_m[rows, None]) & entitled
        status = np.where(~entitled, "00", np.where(disabled[rows, None], np.where(esrd, "21", "20"),
                                                     np.where(esrd, "11", "10")))
        data = {
            "BENE_ID": b["BENE_ID"].to_numpy()[rows],
            "BENE_ENROLLMT_REF_YR": np.full(len(rows), year, dtype="int64"),
            "BENE_BIRTH_DT": b["birth_dt"].to_numpy().astype("datetime64[D]")[rows],
            "BENE_SEX_IDENT_CD": sex[rows],
            "BENE_RACE_CD": race[rows],
            "BENE_DEATH_DT": np.where(death_year[rows] <= year, death[rows], np.datetime64("NaT")),
            "ESRD_IND": np.where(esrd.any(axis=1), "Y", "0"),
            "BENE_HI_CVRAGE_TOT_MONS": entitled.sum(axis=1).astype("int64"),
            "BENE_SMI_CVRAGE_TOT_MONS": with_b.sum(axis=1).astype("int64"),
            "BENE_HMO_CVRAGE_TOT_MONS": in_ma.sum(axis=1).astype("int64"),
        }
        for prefix, mat in (("MDCR_ENTLMT_BUYIN_IND", buyin), ("HMO_IND", hmo),
                            ("PTD_CNTRCT_ID", ptd), ("DUAL_STUS_CD", dual_cd),
                            ("MDCR_STATUS_CODE", status)):
            for j, mm in enumerate(MONTHS):
                data[f"{prefix}_{mm}"] = mat[:, j]
        yield year, data
