"""Medicare enrollment by month from the MBSF, in DuckDB: FFS Parts A and B, Part D, dual, ESRD."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from mheval.contract.read import input_files, present_columns, register_input

PART_A = ("1", "3", "A", "C")
PART_B = ("2", "3", "B", "C")
FFS_HMO = ("0", "4")
ESRD_STATUS = ("11", "21", "31")
NO_PART_D = ("0", "N", "X", "*", "")
NOT_DUAL = ("00", "09", "NA")
UNKNOWN_DUAL = ("99", "")  # and null or an absent column: unknown, kept missing (never "not dual")


def _in(col: str, values: tuple) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


ENROLLMENT_FLAGS = ("FFS_AB", "PART_D", "DUAL", "ESRD")


def register_monthly_enrollment(con: duckdb.DuckDBPyConnection, data_dir: str | Path,
                                name: str = "enroll_month", flags: tuple[str, ...] = ENROLLMENT_FLAGS) -> str:
    """Create view ``name``: one row per beneficiary and month with FFS_AB, PART_D, DUAL, ESRD.

    FFS_AB means Part A and Part B entitlement and no Medicare Advantage (HMO_IND 0 or 4) that
    month, following the CCW codes in ../shared/claims-reference.md. DUAL is null when the dual
    status is unknown (DUAL_STUS_CD 99, empty, or the column absent): unknown stays unknown.
    ESRD comes from the monthly MDCR_STATUS_CODE (11, 21, 31); a month without one (empty, or the
    column absent, as in DE-SynPUF) takes the year's ESRD_IND ('Y': ESRD in every such month).

    ``flags``: the flags the view carries (of :data:`ENROLLMENT_FLAGS`). With all of them the view is
    one scan of the MBSF per month, so a query reads only the columns it uses; with fewer it is one
    scan whose rows give their 12 months side by side (at scale 1.0 about half the CPU time of a
    query on FFS_AB alone).
    """
    unknown = set(flags) - set(ENROLLMENT_FLAGS)
    if unknown:
        raise ValueError(f"unknown enrollment flags {sorted(unknown)}; known: {list(ENROLLMENT_FLAGS)}")
    src = register_input(con, "mbsf", data_dir=data_dir)
    present = set(present_columns(input_files(data_dir, "mbsf")))
    by_month = []
    for m in range(1, 13):
        mm = f"{m:02d}"
        buyin, hmo = f"MDCR_ENTLMT_BUYIN_IND_{mm}", f"HMO_IND_{mm}"
        ptd, dual, st = f"PTD_CNTRCT_ID_{mm}", f"DUAL_STUS_CD_{mm}", f"MDCR_STATUS_CODE_{mm}"
        dual_sql = "CAST(NULL AS BOOLEAN)" if dual not in present else (
            f"CASE WHEN {dual} IS NULL OR {_in(f'trim({dual})', UNKNOWN_DUAL)} THEN NULL "
            f"ELSE NOT ({_in(dual, NOT_DUAL)}) END")
        esrd_ind = "coalesce(ESRD_IND = 'Y', FALSE)" if "ESRD_IND" in present else "FALSE"
        esrd_sql = esrd_ind if st not in present else (
            f"CASE WHEN {st} IS NULL OR trim({st}) = '' THEN {esrd_ind} ELSE {_in(st, ESRD_STATUS)} END")
        sql = {"FFS_AB": f"({_in(buyin, PART_A)}) AND ({_in(buyin, PART_B)}) AND ({_in(hmo, FFS_HMO)})",
               "PART_D": "NOT (" + _in(f"coalesce({ptd}, '')", NO_PART_D) + ")", "DUAL": dual_sql, "ESRD": esrd_sql}
        by_month.append({k: v for k, v in sql.items() if k in flags})
    if set(flags) == set(ENROLLMENT_FLAGS):
        selects = [f"""SELECT BENE_ID, make_date(CAST(BENE_ENROLLMT_REF_YR AS INTEGER), {m}, 1) AS MONTH,
            {', '.join(f'{v} AS {k}' for k, v in cols.items())} FROM {src}""" for m, cols in enumerate(by_month, 1)]
        con.execute(f"CREATE OR REPLACE VIEW {name} AS " + " UNION ALL ".join(selects))
        return name
    lists = ", ".join(f"unnest([{', '.join(cols[k] for cols in by_month)}]) AS {k}" for k in by_month[0])
    con.execute(f"""CREATE OR REPLACE VIEW {name} AS
        SELECT BENE_ID, make_date(CAST(BENE_ENROLLMT_REF_YR AS INTEGER), _M, 1) AS MONTH, {', '.join(by_month[0])}
        FROM (SELECT BENE_ID, BENE_ENROLLMT_REF_YR, unnest(range(1, 13)) AS _M, {lists} FROM {src})""")
    return name


def death_dates(con: duckdb.DuckDBPyConnection, data_dir: str | Path) -> pd.DataFrame:
    """BENE_ID and DEATH_DT (the latest non-missing death date over the MBSF years)."""
    src = register_input(con, "mbsf", data_dir=data_dir)
    return con.execute(f"SELECT BENE_ID, max(BENE_DEATH_DT) AS DEATH_DT FROM {src} GROUP BY BENE_ID").df()


def status_in_month(con: duckdb.DuckDBPyConnection, people: pd.DataFrame, date_col: str,
                    view: str = "enroll_month") -> pd.DataFrame:
    """Enrollment status in the month of ``people[date_col]`` (missing MBSF row -> False, and DUAL
    unknown). DUAL is 1.0, 0.0 or NaN (unknown dual status)."""
    con.register("_people", people[["BENE_ID", date_col]].set_axis(["BENE_ID", "_DT"], axis=1))
    out = con.execute(f"""SELECT p.BENE_ID, coalesce(e.FFS_AB, FALSE) AS FFS_AB, coalesce(e.PART_D, FALSE) AS PART_D,
                                CAST(e.DUAL AS DOUBLE) AS DUAL, coalesce(e.ESRD, FALSE) AS ESRD
                         FROM _people p LEFT JOIN {view} e
                         ON e.BENE_ID = p.BENE_ID AND e.MONTH = date_trunc('month', p._DT)""").df()
    con.unregister("_people")
    return out


def ffs_coverage_end(con: duckdb.DuckDBPyConnection, people: pd.DataFrame, date_col: str,
                     view: str = "enroll_month") -> pd.DataFrame:
    """Last day of continuous FFS Parts A and B coverage from the month of ``date_col`` on.

    Returns BENE_ID, FFS_END_DT: the end of the month before the first later month without FFS
    Parts A and B (or without an MBSF row); NaT when coverage continues through the data.
    """
    con.register("_people", people[["BENE_ID", date_col]].set_axis(["BENE_ID", "_DT"], axis=1))
    out = con.execute(f"""
        WITH start AS (SELECT BENE_ID, date_trunc('month', _DT) AS m0 FROM _people),
        last_month AS (SELECT max(MONTH) AS mmax FROM {view}),
        gaps AS (
            SELECT s.BENE_ID, min(e.MONTH) AS first_gap FROM start s JOIN {view} e
            ON e.BENE_ID = s.BENE_ID AND e.MONTH > s.m0 AND NOT e.FFS_AB GROUP BY s.BENE_ID),
        covered AS (
            SELECT s.BENE_ID, max(e.MONTH) AS last_row FROM start s JOIN {view} e
            ON e.BENE_ID = s.BENE_ID AND e.MONTH >= s.m0 GROUP BY s.BENE_ID)
        SELECT s.BENE_ID,
          CASE WHEN g.first_gap IS NOT NULL THEN CAST(g.first_gap - INTERVAL 1 DAY AS DATE)
               WHEN c.last_row IS NOT NULL AND c.last_row < (SELECT mmax FROM last_month)
                    THEN CAST(c.last_row + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)
               ELSE NULL END AS FFS_END_DT
        FROM start s LEFT JOIN gaps g USING (BENE_ID) LEFT JOIN covered c USING (BENE_ID)""").df()
    con.unregister("_people")
    return out
