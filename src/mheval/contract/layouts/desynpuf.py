"""The ``desynpuf`` layout: CMS's 2008-2010 DE-SynPUF files under their own names.

Files are found anywhere under ``data.dir`` by their CMS names (``DE1_0_2008_Beneficiary_Summary_File_
Sample_1.csv`` and the 2009 and 2010 files; ``DE1_0_2008_to_2010_Inpatient_Claims_Sample_1.csv``,
``..._Outpatient_Claims_...``, ``..._Carrier_Claims_Sample_1A.csv``/``1B``, ``..._Prescription_Drug_
Events_...``; several samples may be present). Every column is read as text, so identifiers, NDCs,
ICD-9 codes and NPIs keep their leading zeros; dates are ``YYYYMMDD``. What DE-SynPUF lacks is made
up by the documented rules in :data:`RULES` (also in docs/data_contract.md); the registry, the
payments, the survey and the NDC reference keep the contract's form under ``data.dir``.
"""

from __future__ import annotations

import re
from pathlib import Path


from mheval.contract.errors import InputError
from mheval.sql import connect
from mheval.contract.layouts import engine as E
from mheval.contract.layouts.provenance import Provenance

LAYOUT = "desynpuf"
DATE_FORMATS = ("%Y%m%d",)
PATTERNS = {
    "mbsf": r"DE1_0_(?P<year>\d{4})_Beneficiary_Summary_File_Sample_\d+\.csv",
    "inpatient": r"DE1_0_\d{4}_to_\d{4}_Inpatient_Claims_Sample_\d+\.csv",
    "outpatient": r"DE1_0_\d{4}_to_\d{4}_Outpatient_Claims_Sample_\d+\.csv",
    "carrier": r"DE1_0_\d{4}_to_\d{4}_Carrier_Claims_Sample_\d+[AB]?\.csv",
    "pde": r"DE1_0_\d{4}_to_\d{4}_Prescription_Drug_Events_Sample_\d+\.csv",
}
N_DX = {"inpatient": 10, "outpatient": 10, "carrier": 8}
N_CARRIER_LINES = 13
CLAIM_TYPE_CODE = {"inpatient": "60", "outpatient": "40", "carrier": "71"}
PART_D_PLACEHOLDER = "S0000"
DEFAULT_PROC_LAG_DAYS = 30  # as validation's fallback for a missing processing date
# contract inputs DE-SynPUF has no file for (see the degenerate/optional-inputs rules)
LACKS = {
    "outpatient_revenue": "DE-SynPUF has no revenue-center lines (no emergency-department revenue centers)",
    "snf": "DE-SynPUF has no skilled nursing facility claims",
    "hha": "DE-SynPUF has no home health claims",
    "hospice": "DE-SynPUF has no hospice claims",
    "ndi": "DE-SynPUF has no cause of death (no National Death Index link)",
}
_CLAIM = {
    "BENE_ID": ("DESYNPUF_ID", ""),
    "CLM_ID": ("CLM_ID", "segments sharing it merged"),
    "CLM_FROM_DT": ("CLM_FROM_DT", "earliest segment"),
    "CLM_THRU_DT": ("CLM_THRU_DT", "latest segment"),
    "NCH_WKLY_PROC_DT": ("CLM_THRU_DT", "plus claims.processing_lag_days"),
    "CLM_PMT_AMT": ("CLM_PMT_AMT", "summed over segments"),
    "NCH_PRMRY_PYR_CLM_PD_AMT": ("NCH_PRMRY_PYR_CLM_PD_AMT", "summed over segments"),
    "PRVDR_NUM": ("PRVDR_NUM", "first segment (extra column)"),
    "AT_PHYSN_NPI": ("AT_PHYSN_NPI", "first segment (extra column)"),
    "PRNCPAL_DGNS_CD": ("ICD9_DGNS_CD_1", "first segment"),
    "ICD_DGNS_CD1..25": ("ICD9_DGNS_CD_1..10", "distinct codes in segment and position order"),
}
# contract column -> (original column, rule); "X_01..12" / "X1..25" stand for each month / position
#: What a trial in the data contract loses when written in the DE-SynPUF layout and read back
#: (:func:`mheval.synth.layouts.write_layout`, ``--layout desynpuf``), beyond :data:`LACKS`.
ROUND_TRIP_LOSSES = [
    "no outpatient revenue-center lines, SNF, home health or hospice claims (DE-SynPUF has none)",
    "no National Death Index cause of death (the NDI file is not written)",
    "monthly enrollment becomes yearly month counts (the adapter puts them at the end of the year)",
    "no dual status, monthly Medicare status, processing date, Part D paid date, brand/generic code, "
    "discharge status or place of service; state buy-in codes (A, C) become 1 and 3",
    "at most 10 diagnosis positions (8 on carrier claims) and 13 carrier lines; exact duplicate carrier "
    "lines are written once; inpatient stays of 6 days or more are written as two segments sharing CLM_ID",
]
COLUMN_MAP = {
    "mbsf": {
        "BENE_ID": ("DESYNPUF_ID", ""),
        "BENE_ENROLLMT_REF_YR": ("the year in the file name", "DE1_0_YYYY_Beneficiary_Summary_File_..."),
        "BENE_BIRTH_DT": ("BENE_BIRTH_DT", "YYYYMMDD"),
        "BENE_SEX_IDENT_CD": ("BENE_SEX_IDENT_CD", "1 male, 2 female (CCW codes)"),
        "BENE_RACE_CD": ("BENE_RACE_CD", "1 white, 2 black, 3 other, 5 Hispanic (CCW codes)"),
        "BENE_DEATH_DT": ("BENE_DEATH_DT", "YYYYMMDD; empty: alive"),
        "ESRD_IND": ("BENE_ESRD_IND", "'Y' or '0'"),
        "BENE_HI_CVRAGE_TOT_MONS": ("BENE_HI_CVRAGE_TOT_MONS", ""),
        "BENE_SMI_CVRAGE_TOT_MONS": ("BENE_SMI_CVRAGE_TOT_MONS", ""),
        "BENE_HMO_CVRAGE_TOT_MONS": ("BENE_HMO_CVRAGE_TOT_MONS", ""),
        "MDCR_ENTLMT_BUYIN_IND_01..12": ("BENE_HI_CVRAGE_TOT_MONS+BENE_SMI_CVRAGE_TOT_MONS",
                                         "months counted back from December or death: 3 A and B, 1 A, 2 B, 0"),
        "HMO_IND_01..12": ("BENE_HMO_CVRAGE_TOT_MONS", "months counted back: 1, else 0"),
        "PTD_CNTRCT_ID_01..12": ("PLAN_CVRG_MOS_NUM", f"months counted back: '{PART_D_PLACEHOLDER}', else '0'"),
        "DUAL_STUS_CD_01..12": ("(none)", "missing: dual status unknown"),
        "MDCR_STATUS_CODE_01..12": ("(none)", "missing"),
    },
    "inpatient": {**_CLAIM, "NCH_CLM_TYPE_CD": ("(file type)", "60"),
                  "CLM_ADMSN_DT": ("CLM_ADMSN_DT", "earliest segment"),
                  "NCH_BENE_DSCHRG_DT": ("NCH_BENE_DSCHRG_DT", "latest segment"),
                  "CLM_DRG_CD": ("CLM_DRG_CD", "last segment that has one")},
    "outpatient": {**_CLAIM, "NCH_CLM_TYPE_CD": ("(file type)", "40")},
    "carrier": {
        "BENE_ID": ("DESYNPUF_ID", ""), "CLM_ID": ("CLM_ID", ""), "NCH_CLM_TYPE_CD": ("(file type)", "71"),
        "CLM_FROM_DT": ("CLM_FROM_DT", ""), "CLM_THRU_DT": ("CLM_THRU_DT", ""),
        "NCH_WKLY_PROC_DT": ("CLM_THRU_DT", "plus claims.processing_lag_days"),
        "CLM_PMT_AMT": ("LINE_NCH_PMT_AMT_1..13", "sum of the line payments"),
        "PRNCPAL_DGNS_CD": ("ICD9_DGNS_CD_1", ""), "ICD_DGNS_CD1..8": ("ICD9_DGNS_CD_1..8", "same position"),
        "CARR_CLM_BLG_NPI_NUM": ("(none)", "missing"),
    },
    "carrier_line": {
        "BENE_ID": ("DESYNPUF_ID", ""), "CLM_ID": ("CLM_ID", ""),
        "LINE_NUM": ("n of the ..._n columns", "1..13, filled lines only"),
        "PRF_PHYSN_NPI": ("PRF_PHYSN_NPI_n", ""), "TAX_NUM": ("TAX_NUM_n", ""), "HCPCS_CD": ("HCPCS_CD_n", ""),
        "LINE_NCH_PMT_AMT": ("LINE_NCH_PMT_AMT_n", ""), "LINE_1ST_EXPNS_DT": ("CLM_FROM_DT", "the claim's from date"),
        "LINE_PLACE_OF_SRVC_CD": ("(none)", "missing"),
    },
    "pde": {
        "PDE_ID": ("PDE_ID", ""), "BENE_ID": ("DESYNPUF_ID", ""), "SRVC_DT": ("SRVC_DT", "YYYYMMDD"),
        "PD_DT": ("(none)", "missing: the runout uses SRVC_DT"), "PROD_SRVC_ID": ("PROD_SRVC_ID", "11-digit NDC as text"),
        "QTY_DSPNSD_NUM": ("QTY_DSPNSD_NUM", ""), "DAYS_SUPLY_NUM": ("DAYS_SUPLY_NUM", ""),
        "TOT_RX_CST_AMT": ("TOT_RX_CST_AMT", ""), "BRND_GNRC_CD": ("(none)", "missing"),
        "PTNT_PAY_AMT": ("PTNT_PAY_AMT", "extra column"),
    },
}


def column_sources(name: str) -> dict[str, str]:
    """{contract column: original column} of input ``name``, every month and position spelled out
    (for the provenance record; keys joined by '+' stand for a composite key)."""
    out = {}
    for col, (src, _) in COLUMN_MAP.get(name, {}).items():
        m = re.fullmatch(r"(.*?)(_?)(\d+)\.\.(\d+)", col)
        if m:
            same = re.fullmatch(r"(.*?)(\d+)\.\.(\d+)", src)  # position by position when the ranges agree
            for i in range(int(m.group(3)), int(m.group(4)) + 1):
                key = f"{m.group(1)}{m.group(2)}{i:02d}" if m.group(2) else f"{m.group(1)}{i}"
                agree = same and same.group(2, 3) == m.group(3, 4)
                out[key] = f"{same.group(1)}{i}" if agree else src
        else:
            out[col] = src
    if name in ("carrier_line",):
        out["CLM_ID+LINE_NUM"] = "CLM_ID+n"
    return out


RULES = [
    "Files are found anywhere under data.dir by their CMS names; several samples are combined.",
    "DESYNPUF_ID is BENE_ID; every column is read as text (leading zeros kept); dates are YYYYMMDD, an "
    "empty field is missing, and any other value is an error naming the file and column.",
    "MBSF: BENE_ENROLLMT_REF_YR is the year in the beneficiary summary's file name. Monthly enrollment is "
    "made from the yearly month counts: the months counted are the last ones of the year, ending in "
    "December, or in the month of death when the beneficiary died that year (a count larger than the "
    "months alive is capped). Part A months from BENE_HI_CVRAGE_TOT_MONS and Part B months from "
    "BENE_SMI_CVRAGE_TOT_MONS give MDCR_ENTLMT_BUYIN_IND (3 both, 1 A only, 2 B only, 0 none); "
    "BENE_HMO_CVRAGE_TOT_MONS gives HMO_IND (1 in those months, else 0); PLAN_CVRG_MOS_NUM gives Part D "
    f"(PTD_CNTRCT_ID the placeholder '{PART_D_PLACEHOLDER}' in those months, else '0').",
    "MBSF: BENE_ESRD_IND ('Y'/'0') is ESRD_IND; DE-SynPUF has no monthly Medicare status or dual status, "
    "so MDCR_STATUS_CODE_01..12 and DUAL_STUS_CD_01..12 are missing (unknown), not 'not dual'. "
    "BENE_SEX_IDENT_CD (1 male, 2 female) and BENE_RACE_CD (1 white, 2 black, 3 other, 5 Hispanic) are "
    "the CCW codes and are kept as they are.",
    "Claims: rows sharing a CLM_ID (SEGMENT 1, 2, ...) are one claim: from date the earliest, through "
    "date the latest, payments summed, admission date the earliest and discharge date the latest, "
    "provider and attending NPI from the first segment, DRG from the last segment that has one, the "
    "principal diagnosis is ICD9_DGNS_CD_1 of the first segment, and ICD_DGNS_CD1..25 are the distinct "
    "ICD9_DGNS_CD_n codes in segment and position order.",
    "Claims: NCH_CLM_TYPE_CD is 60 (inpatient), 40 (outpatient) or 71 (carrier); DE-SynPUF has no "
    "processing date, so NCH_WKLY_PROC_DT is CLM_THRU_DT plus claims.processing_lag_days (default "
    f"{DEFAULT_PROC_LAG_DAYS}) days.",
    "Carrier: the 13 lines across the row become carrier_line rows (LINE_NUM 1..13) where HCPCS_CD_n, "
    "PRF_PHYSN_NPI_n or TAX_NUM_n is filled or LINE_NCH_PMT_AMT_n is not zero; LINE_1ST_EXPNS_DT is the "
    "claim's CLM_FROM_DT (DE-SynPUF has no line dates), LINE_PLACE_OF_SRVC_CD is missing, and the claim's "
    "CLM_PMT_AMT is the sum of its line payments. ICD9_DGNS_CD_1..8 are the claim's diagnoses.",
    "Part D: DESYNPUF_ID, PDE_ID, SRVC_DT, PROD_SRVC_ID (11-digit NDC, text), QTY_DSPNSD_NUM, "
    "DAYS_SUPLY_NUM and TOT_RX_CST_AMT as they are; DE-SynPUF has no paid date (PD_DT missing: the runout "
    "uses the fill date) and no brand/generic code.",
    "Outpatient HCPCS_CD_1..45, inpatient HCPCS codes and procedure codes, the chronic-condition flags and "
    "the yearly payment summaries are not used.",
]


def find_files(data_dir: str | Path) -> dict[str, list[Path]]:
    """DE-SynPUF files anywhere under ``data_dir``, by contract input: {name: sorted paths}."""
    found: dict[str, list[Path]] = {k: [] for k in PATTERNS}
    for p in sorted(Path(data_dir).rglob("*")):
        for name, pat in PATTERNS.items():
            if p.is_file() and re.fullmatch(pat, p.name, flags=re.I):
                found[name].append(p)
    return found


def files_by_input(data_dir: str | Path) -> dict[str, list[Path]]:
    """{contract input: its DE-SynPUF files under ``data_dir``} (carrier lines come from the carrier
    files), and the contract-form files."""
    found = find_files(data_dir)
    return {**found, "carrier_line": list(found["carrier"]), **E.contract_form_files(data_dir)}



def stage_inputs(data_dir: str | Path, out_dir: str | Path, config: dict | None = None) -> Provenance:
    """Convert the DE-SynPUF files under ``data_dir`` into the data contract under ``out_dir``.

    Returns (and writes to ``out_dir/provenance.json``) the record of which original file and
    column each contract file and column came from. Raises InputValidationError naming the
    original file and column of every value that cannot be read; ``data_dir`` is only read.
    """
    lag = int(((config or {}).get("claims") or {}).get("processing_lag_days", DEFAULT_PROC_LAG_DAYS))
    out_dir = Path(out_dir)
    E.clear_staged(out_dir)
    prov = Provenance(LAYOUT, str(data_dir), str(out_dir), rules=list(RULES))
    files = find_files(data_dir)
    con = connect()
    problems: list[InputError] = []
    if not files["mbsf"]:
        problems.append(InputError(str(Path(data_dir) / "DE1_0_YYYY_Beneficiary_Summary_File_Sample_N.csv"), None,
                                   None, [], "is missing: no DE-SynPUF beneficiary summary found under data.dir"))
    steps = [("mbsf", _mbsf), ("inpatient", _claims), ("outpatient", _claims), ("carrier", _carrier), ("pde", _pde)]
    jobs = [lambda n=name, s=step: s(con, n, files[n], out_dir, prov, lag) for name, step in steps if files[name]]
    return E.run_jobs(jobs, problems, data_dir, out_dir, prov)


def _load(con, name: str, files: list[Path], needed: list[str], checks: list[tuple[str, str]]):
    """Raw view of ``files`` and the problems: missing needed columns, values that do not parse."""
    present = E.raw_view(con, files, f"raw_{name}")
    problems = []
    for f in files:
        cols = E.header(f)
        problems += E.require(cols, needed, f, LAYOUT)
    if problems:
        return present, problems
    return present, E.check_values(con, f"raw_{name}", checks, DATE_FORMATS, LAYOUT)


def _p(col: str, kind: str) -> str:
    return E.parse(col, kind, DATE_FORMATS)


def _mbsf(con, name, files, out_dir, prov, lag) -> list[InputError]:
    counts = {"BENE_HI_CVRAGE_TOT_MONS": "a", "BENE_SMI_CVRAGE_TOT_MONS": "b", "BENE_HMO_CVRAGE_TOT_MONS": "hmo",
              "PLAN_CVRG_MOS_NUM": "d"}
    needed = ["DESYNPUF_ID", "BENE_BIRTH_DT", "BENE_DEATH_DT", "BENE_SEX_IDENT_CD", "BENE_RACE_CD", "BENE_ESRD_IND",
              *counts]
    checks = [("BENE_BIRTH_DT", "date"), ("BENE_DEATH_DT", "date"), *((c, "integer") for c in counts)]
    _, problems = _load(con, name, files, needed, checks)
    if problems:
        return problems
    year = f"CAST(regexp_extract({E.FILE_COL}, 'DE1_0_([0-9]{{4}})_Beneficiary', 1) AS BIGINT)"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mb AS SELECT {E.FILE_COL}, {E.text('DESYNPUF_ID')} AS BENE_ID,
        {year} AS YR, {_p('BENE_BIRTH_DT', 'date')} AS BIRTH, {_p('BENE_DEATH_DT', 'date')} AS DEATH,
        {E.text('BENE_SEX_IDENT_CD')} AS SEX, {E.text('BENE_RACE_CD')} AS RACE, {E.text('BENE_ESRD_IND')} AS ESRD,
        {', '.join(f"{_p(c, 'integer')} AS {a}" for c, a in counts.items())} FROM raw_{name}""")
    # the last month counted: December, or the month of death in the year of death
    end = "(CASE WHEN DEATH IS NULL OR year(DEATH) > YR THEN 12 WHEN year(DEATH) < YR THEN 0 ELSE month(DEATH) END)"
    cov = lambda a, m: f"({m} <= {end} AND {m} > {end} - coalesce({a}, 0))"  # noqa: E731
    monthly = []
    for m in range(1, 13):
        mm = f"{m:02d}"
        monthly += [f"CASE WHEN {cov('a', m)} AND {cov('b', m)} THEN '3' WHEN {cov('a', m)} THEN '1' "
                    f"WHEN {cov('b', m)} THEN '2' ELSE '0' END AS MDCR_ENTLMT_BUYIN_IND_{mm}",
                    f"CASE WHEN {cov('hmo', m)} THEN '1' ELSE '0' END AS HMO_IND_{mm}",
                    f"CASE WHEN {cov('d', m)} THEN '{PART_D_PLACEHOLDER}' ELSE '0' END AS PTD_CNTRCT_ID_{mm}",
                    f"CAST(NULL AS VARCHAR) AS DUAL_STUS_CD_{mm}", f"CAST(NULL AS VARCHAR) AS MDCR_STATUS_CODE_{mm}"]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mbsf_out AS SELECT BENE_ID, YR AS BENE_ENROLLMT_REF_YR,
        BIRTH AS BENE_BIRTH_DT, SEX AS BENE_SEX_IDENT_CD, RACE AS BENE_RACE_CD, DEATH AS BENE_DEATH_DT, ESRD AS ESRD_IND,
        a AS BENE_HI_CVRAGE_TOT_MONS, b AS BENE_SMI_CVRAGE_TOT_MONS, hmo AS BENE_HMO_CVRAGE_TOT_MONS,
        {', '.join(monthly)}, make_date(YR, 1, 1) AS _YEAR_DT, {E.FILE_COL} FROM mb""")
    E.write_yearly(con, "mbsf_out", "mbsf", "_YEAR_DT", out_dir, prov, exclude=("_YEAR_DT",))
    prov.columns["mbsf"] = column_sources("mbsf")
    return []


def _dx_list(n: int) -> str:
    return "list_filter([" + ", ".join(E.text(f"ICD9_DGNS_CD_{i}") for i in range(1, n + 1)) + "], lambda x: x IS NOT NULL)"


def _claims(con, name, files, out_dir, prov, lag) -> list[InputError]:
    """Inpatient or outpatient claims: segments merged, diagnoses in contract positions."""
    inpatient = name == "inpatient"
    needed = ["DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "CLM_PMT_AMT", "ICD9_DGNS_CD_1"]
    dates = ["CLM_FROM_DT", "CLM_THRU_DT"] + (["CLM_ADMSN_DT", "NCH_BENE_DSCHRG_DT"] if inpatient else [])
    checks = [(d, "date") for d in dates] + [("CLM_PMT_AMT", "number"), ("NCH_PRMRY_PYR_CLM_PD_AMT", "number"),
                                              ("SEGMENT", "integer")]
    present, problems = _load(con, name, files, needed + (["CLM_ADMSN_DT"] if inpatient else []), checks)
    if problems:
        return problems
    opt = lambda c, kind="text": _p(c, kind) if c in present else "NULL"  # noqa: E731
    n_dx = sum(f"ICD9_DGNS_CD_{i}" in present for i in range(1, N_DX[name] + 1))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE seg AS SELECT {E.FILE_COL}, {E.text('DESYNPUF_ID')} AS BENE_ID,
        {E.text('CLM_ID')} AS CLM_ID, coalesce({opt('SEGMENT', 'integer')}, 1) AS SEG,
        {_p('CLM_FROM_DT', 'date')} AS FROM_DT, {_p('CLM_THRU_DT', 'date')} AS THRU_DT,
        {_p('CLM_PMT_AMT', 'number')} AS PMT, {opt('NCH_PRMRY_PYR_CLM_PD_AMT', 'number')} AS PRPYR,
        {opt('PRVDR_NUM')} AS PRVDR_NUM, {opt('AT_PHYSN_NPI')} AS AT_PHYSN_NPI,
        {opt('CLM_ADMSN_DT', 'date')} AS ADM, {opt('NCH_BENE_DSCHRG_DT', 'date')} AS DIS,
        {opt('CLM_DRG_CD')} AS DRG, {E.text('ICD9_DGNS_CD_1')} AS DX1, {_dx_list(n_dx)} AS DX
        FROM raw_{name}""")
    con.execute("""CREATE OR REPLACE TEMP TABLE dx AS
        WITH u AS (SELECT CLM_ID, SEG, unnest(DX) AS code, generate_subscripts(DX, 1) AS pos FROM seg),
        f AS (SELECT CLM_ID, code, min(SEG * 1000 + pos) AS ord FROM u GROUP BY ALL)
        SELECT CLM_ID, list(code ORDER BY ord) AS DXS FROM f GROUP BY CLM_ID""")
    dx_cols = ", ".join(f"d.DXS[{i}] AS ICD_DGNS_CD{i}" for i in range(1, 26))
    extra = """, min(ADM) AS CLM_ADMSN_DT, max(DIS) AS NCH_BENE_DSCHRG_DT,
               arg_max(DRG, SEG) FILTER (WHERE DRG IS NOT NULL) AS CLM_DRG_CD""" if inpatient else ""
    extra_out = ", c.CLM_ADMSN_DT, c.NCH_BENE_DSCHRG_DT, c.CLM_DRG_CD" if inpatient else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE claims_out AS
        WITH c AS (SELECT CLM_ID, BENE_ID, min(FROM_DT) AS FROM_DT, max(THRU_DT) AS THRU_DT, sum(PMT) AS PMT,
                          sum(PRPYR) AS PRPYR, arg_min(PRVDR_NUM, SEG) AS PRVDR_NUM,
                          arg_min(AT_PHYSN_NPI, SEG) AS AT_PHYSN_NPI, arg_min(DX1, SEG) AS DX1,
                          count(*) AS N_SEG, min({E.FILE_COL}) AS {E.FILE_COL} {extra}
                   FROM seg GROUP BY CLM_ID, BENE_ID)
        SELECT c.BENE_ID, c.CLM_ID, '{CLAIM_TYPE_CODE[name]}' AS NCH_CLM_TYPE_CD, c.FROM_DT AS CLM_FROM_DT,
               c.THRU_DT AS CLM_THRU_DT, CAST(c.THRU_DT + INTERVAL ({lag}) DAY AS DATE) AS NCH_WKLY_PROC_DT,
               c.PMT AS CLM_PMT_AMT, c.PRPYR AS NCH_PRMRY_PYR_CLM_PD_AMT, c.PRVDR_NUM, c.AT_PHYSN_NPI,
               c.DX1 AS PRNCPAL_DGNS_CD, {dx_cols} {extra_out}, c.N_SEG AS _N_SEG, c.{E.FILE_COL}
        FROM c LEFT JOIN dx d USING (CLM_ID)""")
    prov.counts[f"{name}_claims_with_several_segments"] = int(
        con.execute("SELECT count(*) FROM claims_out WHERE _N_SEG > 1").fetchall()[0][0])
    con.execute("ALTER TABLE claims_out DROP COLUMN _N_SEG")
    E.write_yearly(con, "claims_out", name, "CLM_THRU_DT", out_dir, prov)
    prov.columns[name] = column_sources(name)
    return []


def _carrier(con, name, files, out_dir, prov, lag) -> list[InputError]:
    """Carrier claims: claim rows, and the 13 lines across each row as carrier_line rows."""
    needed = ["DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "ICD9_DGNS_CD_1"]
    lines = range(1, N_CARRIER_LINES + 1)
    checks = [("CLM_FROM_DT", "date"), ("CLM_THRU_DT", "date")] + [(f"LINE_NCH_PMT_AMT_{n}", "number") for n in lines]
    present, problems = _load(con, name, files, needed, checks)
    if problems:
        return problems
    opt = lambda c, kind="text": _p(c, kind) if c in present else "NULL"  # noqa: E731
    fields = ("PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_NCH_PMT_AMT")
    # one pass over the rows: the 13 groups of line columns unpivoted into rows (DuckDB UNPIVOT)
    inner = ", ".join([f'"{f}_{n}"' if f"{f}_{n}" in present else f'CAST(NULL AS VARCHAR) AS "{f}_{n}"'
                       for n in lines for f in fields])
    groups = ", ".join(f"({', '.join(f'{f}_{n}' for f in fields)}) AS \"{n}\"" for n in lines)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE lines_out AS
        SELECT BENE_ID, CLM_ID, CAST(LINE_NUM AS BIGINT) AS LINE_NUM, {E.text('npi')} AS PRF_PHYSN_NPI,
               {E.text('tax')} AS TAX_NUM, {E.text('hcpcs')} AS HCPCS_CD,
               coalesce({_p('pmt', 'number')}, 0) AS LINE_NCH_PMT_AMT, FROM_DT AS LINE_1ST_EXPNS_DT,
               CAST(NULL AS VARCHAR) AS LINE_PLACE_OF_SRVC_CD, THRU_DT AS _THRU, {E.FILE_COL}
        FROM (SELECT {E.text('DESYNPUF_ID')} AS BENE_ID, {E.text('CLM_ID')} AS CLM_ID,
                     {_p('CLM_FROM_DT', 'date')} AS FROM_DT, {_p('CLM_THRU_DT', 'date')} AS THRU_DT, {E.FILE_COL}, {inner}
              FROM raw_{name}) UNPIVOT INCLUDE NULLS ((npi, tax, hcpcs, pmt) FOR LINE_NUM IN ({groups}))
        WHERE {E.text('hcpcs')} IS NOT NULL OR {E.text('npi')} IS NOT NULL OR {E.text('tax')} IS NOT NULL
              OR coalesce({_p('pmt', 'number')}, 0) <> 0""")
    n_dx = sum(f"ICD9_DGNS_CD_{i}" in present for i in range(1, N_DX[name] + 1))
    dx_cols = ", ".join(f"{E.text(f'ICD9_DGNS_CD_{i}')} AS ICD_DGNS_CD{i}" for i in range(1, n_dx + 1))
    pmt = " + ".join(f"coalesce({opt(f'LINE_NCH_PMT_AMT_{n}', 'number')}, 0)" for n in lines)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE carrier_out AS SELECT {E.text('DESYNPUF_ID')} AS BENE_ID,
        {E.text('CLM_ID')} AS CLM_ID, '{CLAIM_TYPE_CODE[name]}' AS NCH_CLM_TYPE_CD,
        {_p('CLM_FROM_DT', 'date')} AS CLM_FROM_DT, {_p('CLM_THRU_DT', 'date')} AS CLM_THRU_DT,
        CAST({_p('CLM_THRU_DT', 'date')} + INTERVAL ({lag}) DAY AS DATE) AS NCH_WKLY_PROC_DT,
        CAST(round({pmt}, 2) AS DOUBLE) AS CLM_PMT_AMT, {E.text('ICD9_DGNS_CD_1')} AS PRNCPAL_DGNS_CD, {dx_cols},
        CAST(NULL AS VARCHAR) AS CARR_CLM_BLG_NPI_NUM, {E.FILE_COL} FROM raw_{name}""")
    E.write_yearly(con, "carrier_out", "carrier", "CLM_THRU_DT", out_dir, prov)
    E.write_yearly(con, "lines_out", "carrier_line", "_THRU", out_dir, prov, exclude=("_THRU",))
    prov.counts["carrier_lines_from_wide_rows"] = int(con.execute("SELECT count(*) FROM lines_out").fetchall()[0][0])
    prov.columns["carrier"] = column_sources("carrier")
    prov.columns["carrier_line"] = column_sources("carrier_line")
    return []


def _pde(con, name, files, out_dir, prov, lag) -> list[InputError]:
    needed = ["DESYNPUF_ID", "PDE_ID", "SRVC_DT", "PROD_SRVC_ID", "QTY_DSPNSD_NUM", "DAYS_SUPLY_NUM", "TOT_RX_CST_AMT"]
    checks = [("SRVC_DT", "date"), ("QTY_DSPNSD_NUM", "number"), ("DAYS_SUPLY_NUM", "integer"),
              ("TOT_RX_CST_AMT", "number"), ("PTNT_PAY_AMT", "number")]
    present, problems = _load(con, name, files, needed, checks)
    if problems:
        return problems
    ptnt = _p("PTNT_PAY_AMT", "number") if "PTNT_PAY_AMT" in present else "NULL"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE pde_out AS SELECT {E.text('PDE_ID')} AS PDE_ID,
        {E.text('DESYNPUF_ID')} AS BENE_ID, {_p('SRVC_DT', 'date')} AS SRVC_DT, CAST(NULL AS DATE) AS PD_DT,
        {E.text('PROD_SRVC_ID')} AS PROD_SRVC_ID, {_p('QTY_DSPNSD_NUM', 'number')} AS QTY_DSPNSD_NUM,
        {_p('DAYS_SUPLY_NUM', 'integer')} AS DAYS_SUPLY_NUM, {_p('TOT_RX_CST_AMT', 'number')} AS TOT_RX_CST_AMT,
        CAST(NULL AS VARCHAR) AS BRND_GNRC_CD, CAST({ptnt} AS DOUBLE) AS PTNT_PAY_AMT, {E.FILE_COL} FROM raw_{name}""")
    E.write_yearly(con, "pde_out", "pde", "SRVC_DT", out_dir, prov)
    prov.columns["pde"] = column_sources("pde")
    return []
