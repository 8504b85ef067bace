"""Hospital stays: inpatient claims combined into hospitalizations before they are counted.

One hospitalization can be billed as several inpatient claims: interim bills of a long stay (claim
frequency codes 2, 3, 4: each covers part of the stay, the next starting the day after the last
ended, all carrying the same admission date), overlapping or adjusted claims, and transfers to
another hospital (discharged from one, admitted to the next the same day or the day after).
Counting claim rows counts such a hospitalization two or more times.

Rule (documented in docs/analysis_files.md):

1. Each inpatient claim spans from its admission date (``CLM_ADMSN_DT``; ``CLM_FROM_DT`` when the
   admission date is missing or later) to its through date (``CLM_THRU_DT``).
2. A beneficiary's claims, in order of that start, belong to one stay as long as each starts no
   later than the day after the latest through date so far: overlapping claims, contiguous claims
   and interim bills (same admission date) join; so does an admission on the day of or the day
   after a discharge (a transfer). A gap of two or more days starts a new stay. Claims of
   different beneficiaries are never combined.
3. A stay is a CVD stay if any of its claims carries an MI, stroke or TIA code in the diagnosis
   positions that ``outcomes.event_positions`` searches (the claim's ``CVD_EVENT``). It is a
   stay for any cardiovascular disease (``STAY_ANY_CVD``) if, in addition, any of its claims
   carries other cardiovascular disease (the claim's ``OTHER_CVD``: heart failure, other ischemic
   heart disease, arrhythmia, hypertension, ... of config/codes/other_cvd.csv).
4. A stay is dated by the earliest ``CLM_FROM_DT`` of its claims (for the beneficiary-year it
   counts in) and ends at the latest ``CLM_THRU_DT`` (the discharge that post-acute care follows).
   Spending is not affected: every claim's payment is still summed.

Sources: a MedPAR record, CMS's stay-level file, summarizes the final-action claims of one
beneficiary from admission to discharge at one provider, matching claims on beneficiary, admission
date and provider (ResDAC, MedPAR record layout: "may include one claim or multiple claims"; about
5% of inpatient stays span several claims). CMS's readmission measures and AHRQ HCUP's Nationwide
Readmissions Database combine a discharge and an admission to another hospital on the same day
(HCUP) or the same or next day (CMS) into one acute episode, so that a transfer is not a second
hospitalization. The contract carries no provider number, and none is needed here: a claim at the
same provider and a claim at another provider join the stay under the same one-day rule, so the
provider never changes the count. The price of not reading it: a readmission to the same
hospital the day after discharge joins the earlier stay (one hospitalization, not two), as HCUP
does for same-day stays whatever the hospital.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from mheval.sql import connect

STAY_COLUMNS = ["BENE_ID", "STAY_NUM", "STAY_FROM_DT", "STAY_THRU_DT", "STAY_CVD", "STAY_ANY_CVD", "N_CLAIMS"]

# One row per inpatient claim of the relation ``inpatient_claims`` (BENE_ID, CLM_ID, FROM_DT,
# THRU_DT, ADMSN_DT, CVD_EVENT, OTHER_CVD) with the stay it belongs to: STAY_NUM (1, 2, ... within
# the beneficiary), STAY_FROM_DT, STAY_THRU_DT, STAY_CVD, STAY_ANY_CVD and FIRST_CLAIM (one claim per
# stay is TRUE).
STAY_CLAIMS_SQL = """
WITH ip AS (
    SELECT BENE_ID, CAST(CLM_ID AS VARCHAR) AS CLM_ID, CAST(FROM_DT AS DATE) AS FROM_DT,
           CAST(THRU_DT AS DATE) AS THRU_DT, CVD_EVENT IS NOT NULL AS CVD,
           CVD_EVENT IS NOT NULL OR OTHER_CVD IS NOT NULL AS ANY_CVD,
           least(CAST(FROM_DT AS DATE), coalesce(CAST(ADMSN_DT AS DATE), CAST(FROM_DT AS DATE))) AS S,
           greatest(CAST(THRU_DT AS DATE), CAST(FROM_DT AS DATE)) AS E
    FROM inpatient_claims),
ordered AS (
    SELECT *, max(E) OVER (PARTITION BY BENE_ID ORDER BY S, E, CLM_ID
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS PREV_END
    FROM ip),
numbered AS (
    SELECT *, sum(CASE WHEN PREV_END IS NULL OR S > PREV_END + 1 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY BENE_ID ORDER BY S, E, CLM_ID ROWS UNBOUNDED PRECEDING) AS STAY_NUM
    FROM ordered)
SELECT BENE_ID, CLM_ID, CAST(STAY_NUM AS INTEGER) AS STAY_NUM,
       min(FROM_DT) OVER st AS STAY_FROM_DT, max(THRU_DT) OVER st AS STAY_THRU_DT, bool_or(CVD) OVER st AS STAY_CVD,
       bool_or(ANY_CVD) OVER st AS STAY_ANY_CVD,
       row_number() OVER (PARTITION BY BENE_ID, STAY_NUM ORDER BY FROM_DT, CLM_ID) = 1 AS FIRST_CLAIM
FROM numbered
WINDOW st AS (PARTITION BY BENE_ID, STAY_NUM)
"""


def register_stay_claims(con: duckdb.DuckDBPyConnection) -> None:
    """Create the view ``stay_claims`` on ``con`` over its relation ``inpatient_claims`` (BENE_ID,
    CLM_ID, FROM_DT, THRU_DT, ADMSN_DT, CVD_EVENT, OTHER_CVD): one row per claim with its stay,
    STAY_NUM, STAY_FROM_DT, STAY_THRU_DT, STAY_CVD, STAY_ANY_CVD and FIRST_CLAIM (TRUE on one claim
    of each stay)."""
    con.execute("CREATE OR REPLACE TEMP VIEW stay_claims AS " + STAY_CLAIMS_SQL)


def hospital_stays(claims: pd.DataFrame) -> pd.DataFrame:
    """Combine inpatient claims into hospital stays by the rule in this module's docstring.

    ``claims`` has one row per inpatient claim: BENE_ID, CLM_ID, FROM_DT, THRU_DT, CVD_EVENT (event
    type or missing) and optionally ADMSN_DT and OTHER_CVD (other cardiovascular disease category) (as in the extraction output,
    :func:`mheval.outcomes.extract.extract_claims`; rows of other claim types, if a CLAIM_TYPE
    column is present, are ignored). Returns one row per stay: BENE_ID, STAY_NUM, STAY_FROM_DT,
    STAY_THRU_DT, STAY_CVD, STAY_ANY_CVD, N_CLAIMS, sorted by beneficiary and date.
    """
    ip = claims[claims["CLAIM_TYPE"] == "inpatient"] if "CLAIM_TYPE" in claims.columns else claims
    ip = ip.assign(ADMSN_DT=ip["ADMSN_DT"] if "ADMSN_DT" in ip.columns else pd.NaT,
                   OTHER_CVD=ip["OTHER_CVD"].astype(object) if "OTHER_CVD" in ip.columns else None)
    con = connect()
    con.register("inpatient_claims", ip[["BENE_ID", "CLM_ID", "FROM_DT", "THRU_DT", "ADMSN_DT", "CVD_EVENT", "OTHER_CVD"]])
    register_stay_claims(con)
    return con.execute("""SELECT BENE_ID, STAY_NUM, any_value(STAY_FROM_DT) AS STAY_FROM_DT,
            any_value(STAY_THRU_DT) AS STAY_THRU_DT, any_value(STAY_CVD) AS STAY_CVD,
            any_value(STAY_ANY_CVD) AS STAY_ANY_CVD, count(*) AS N_CLAIMS
        FROM stay_claims GROUP BY BENE_ID, STAY_NUM ORDER BY BENE_ID, STAY_NUM""").df()
