"""Write a trial held in the data contract in another input layout (``ccw``, ``desynpuf``).

The inverse of the adapters in :mod:`mheval.contract.layouts`, so that they are tested round trip:
contract -> layout files -> adapter -> contract gives back the same analysis data, up to what the
layout cannot hold (documented in docs/data_contract.md and
:data:`mheval.contract.layouts.desynpuf.ROUND_TRIP_LOSSES`). The registry,
payments, survey, NDC reference and NDI cause of death are copied in the contract's form, as every
layout keeps them (DE-SynPUF has no NDI file).
Dates are not shifted: DE-SynPUF-layout files of the synthetic trial hold its 2007-2022 dates (and
its ICD-10 codes after 2015-10-01) under the DE-SynPUF names and columns, the file names carrying
the years they span (e.g. ``DE1_0_2016_to_2022_Inpatient_Claims_Sample_1.csv``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mheval.contract.layouts.desynpuf import LACKS as DESYNPUF_LACKS
from mheval.contract.layouts.engine import contract_form_files
from mheval.sql import connect
from mheval.contract.read import input_files

CCW_NAMES = {"mbsf": "mbsf_abcd_summary", "inpatient": "inpatient_claims", "outpatient": "outpatient_claims",
             "outpatient_revenue": "outpatient_revenue_center", "carrier": "bcarrier_claims",
             "carrier_line": "bcarrier_line", "snf": "snf_claims", "hha": "hha_claims", "hospice": "hospice_claims",
             "pde": "pde"}
SPLIT_DAYS = 6  # inpatient claims this long are written as two DE-SynPUF segments


def write_layout(contract_dir: str | Path, layout: str, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write the contract files under ``contract_dir`` in ``layout`` into ``out_dir``.

    ``fmt`` is ``csv`` or ``parquet`` for ``ccw`` (DE-SynPUF is CSV). Returns the files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if layout == "ccw":
        written = _ccw(Path(contract_dir), out, fmt)
    elif layout == "desynpuf":
        written = _desynpuf(Path(contract_dir), out)
    elif layout == "contract":
        written = []
    else:
        raise ValueError(f"unknown layout '{layout}'")
    lacks = set(DESYNPUF_LACKS) if layout == "desynpuf" else set()
    for name, files in contract_form_files(contract_dir).items():
        if name in lacks:  # DE-SynPUF has no cause of death: the NDI file is not written
            continue
        for f in files:
            dest = out / Path(f).relative_to(contract_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            written.append(dest)
    return written


def _copy(con, sql: str, path: Path, fmt: str = "csv") -> Path:
    opts = "(FORMAT parquet, COMPRESSION zstd)" if fmt == "parquet" else "(FORMAT csv, HEADER)"
    con.execute(f"COPY ({sql}) TO '{str(path).replace(chr(39), chr(39) * 2)}' {opts}")
    return path


def _view(con, files: list[Path], name: str) -> None:
    con.read_parquet([str(f) for f in files], union_by_name=True).create_view(name, replace=True)


def _ymd(col: str) -> str:
    return f"strftime(CAST({col} AS DATE), '%Y%m%d')"


def _ccw(contract_dir: Path, out: Path, fmt: str) -> list[Path]:
    """One CCW-named file per contract yearly file; dates as YYYYMMDD text in CSV; the MBSF's sex
    column under its MBSF A/B/C/D name SEX_IDENT_CD."""
    con = connect()
    written = []
    for name, stem in CCW_NAMES.items():
        for f in input_files(contract_dir, name):
            year = f.stem.rsplit("_", 1)[1]
            _view(con, [f], "t")
            cols = con.execute("SELECT * FROM t LIMIT 0").description
            sel = []
            for c, typ, *_ in cols:
                expr = _ymd(f'"{c}"') if fmt == "csv" and str(typ) == "DATE" else f'"{c}"'
                sel.append(f'{expr} AS "{"SEX_IDENT_CD" if c == "BENE_SEX_IDENT_CD" else c}"')
            written.append(_copy(con, f"SELECT {', '.join(sel)} FROM t", out / f"{stem}_{year}.{fmt}", fmt))
    return written


def _years(files: list[Path]) -> tuple[str, str]:
    ys = sorted(f.stem.rsplit("_", 1)[1] for f in files)
    return ys[0], ys[-1]


def _desynpuf(contract_dir: Path, out: Path) -> list[Path]:
    con = connect()
    written = []
    # ---- beneficiary summaries, one per MBSF year
    mbsf = input_files(contract_dir, "mbsf")
    months = lambda prefix, codes: " + ".join(  # noqa: E731
        f"CAST({prefix}_{m:02d} IN ({codes}) AS INTEGER)" for m in range(1, 13))
    for f in mbsf:
        year = f.stem.rsplit("_", 1)[1]
        _view(con, [f], "m")
        sp = ", ".join(f"'2' AS {c}" for c in ("SP_ALZHDMTA", "SP_CHF", "SP_CHRNKIDN", "SP_CNCR", "SP_COPD", "SP_DEPRESSN",
                                              "SP_DIABETES", "SP_ISCHMCHT", "SP_OSTEOPRS", "SP_RA_OA", "SP_STRKETIA"))
        pay = ", ".join(f"'0.00' AS {k}_{t}" for t in ("IP", "OP", "CAR") for k in ("MEDREIMB", "BENRES", "PPPYMT"))
        no_d = "coalesce(PTD_CNTRCT_ID_{m}, '0') NOT IN ('0', 'N', 'X', '*', '')"
        part_d = " + ".join(f"CAST({no_d.format(m=f'{m:02d}')} AS INTEGER)" for m in range(1, 13))
        sql = f"""SELECT BENE_ID AS DESYNPUF_ID, {_ymd('BENE_BIRTH_DT')} AS BENE_BIRTH_DT,
            {_ymd('BENE_DEATH_DT')} AS BENE_DEATH_DT, BENE_SEX_IDENT_CD, BENE_RACE_CD, ESRD_IND AS BENE_ESRD_IND,
            '' AS SP_STATE_CODE, '' AS BENE_COUNTY_CD,
            {months('MDCR_ENTLMT_BUYIN_IND', "'1', '3', 'A', 'C'")} AS BENE_HI_CVRAGE_TOT_MONS,
            {months('MDCR_ENTLMT_BUYIN_IND', "'2', '3', 'B', 'C'")} AS BENE_SMI_CVRAGE_TOT_MONS,
            {months('HMO_IND', "'1', '2', 'A', 'B', 'C'")} AS BENE_HMO_CVRAGE_TOT_MONS,
            {part_d} AS PLAN_CVRG_MOS_NUM, {sp}, {pay} FROM m ORDER BY BENE_ID"""
        written.append(_copy(con, sql, out / f"DE1_0_{year}_Beneficiary_Summary_File_Sample_1.csv"))
    # ---- inpatient and outpatient claims, segments for long stays
    for name, title in (("inpatient", "Inpatient"), ("outpatient", "Outpatient")):
        files = input_files(contract_dir, name)
        if not files:
            continue
        _view(con, files, "c")
        present = {d[0] for d in con.execute("SELECT * FROM c LIMIT 0").description}
        dx = [f"ICD_DGNS_CD{i}" for i in range(1, 11) if f"ICD_DGNS_CD{i}" in present]
        dx_sel = ", ".join(f'{c} AS ICD9_DGNS_CD_{i}' for i, c in enumerate(dx, 1))
        ip = name == "inpatient"
        split = f"(date_diff('day', CLM_FROM_DT, CLM_THRU_DT) >= {SPLIT_DAYS})" if ip else "FALSE"
        mid = "CAST(CLM_FROM_DT + to_days(CAST(date_diff('day', CLM_FROM_DT, CLM_THRU_DT) // 2 AS INTEGER)) AS DATE)"
        def ipcols(seg: int) -> str:
            if not ip:
                return ""
            return (f", {_ymd('CLM_ADMSN_DT')} AS CLM_ADMSN_DT, "
                    f"{'NULL' if seg == 1 else _ymd('NCH_BENE_DSCHRG_DT')} AS NCH_BENE_DSCHRG_DT, "
                    f"{'NULL' if seg == 1 else 'CLM_DRG_CD'} AS CLM_DRG_CD")
        one = f"""SELECT BENE_ID AS DESYNPUF_ID, CAST(CLM_ID AS VARCHAR) AS CLM_ID, 1 AS SEGMENT,
            {_ymd('CLM_FROM_DT')} AS CLM_FROM_DT, {_ymd('CLM_THRU_DT')} AS CLM_THRU_DT, '' AS PRVDR_NUM,
            CLM_PMT_AMT, 0.0 AS NCH_PRMRY_PYR_CLM_PD_AMT {ipcols(2)}, {dx_sel} FROM c WHERE NOT {split}"""
        first = f"""SELECT BENE_ID, CAST(CLM_ID AS VARCHAR), 1, {_ymd('CLM_FROM_DT')}, {_ymd(mid)}, '',
            round(CLM_PMT_AMT / 2, 2), 0.0 {ipcols(1)}, {dx_sel} FROM c WHERE {split}"""
        second = f"""SELECT BENE_ID, CAST(CLM_ID AS VARCHAR), 2, {_ymd(mid + " + 1")}, {_ymd('CLM_THRU_DT')}, '',
            CLM_PMT_AMT - round(CLM_PMT_AMT / 2, 2), 0.0 {ipcols(2)}, {dx_sel} FROM c WHERE {split}"""
        sql = f"{one} UNION ALL {first} UNION ALL {second} ORDER BY CLM_ID, SEGMENT" if ip else one
        y0, y1 = _years(files)
        written.append(_copy(con, sql, out / f"DE1_0_{y0}_to_{y1}_{title}_Claims_Sample_1.csv"))
    # ---- carrier: lines across the row, split in two files (A, B) as CMS does
    files, lines = input_files(contract_dir, "carrier"), input_files(contract_dir, "carrier_line")
    if files and lines:
        _view(con, files, "car")
        _view(con, lines, "lin")
        present = {d[0] for d in con.execute("SELECT * FROM car LIMIT 0").description}
        dx = ", ".join(f"c.ICD_DGNS_CD{i} AS ICD9_DGNS_CD_{i}" for i in range(1, 9) if f"ICD_DGNS_CD{i}" in present)
        wide = []
        for v in ("PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_NCH_PMT_AMT"):
            wide += [f"max(l.{v}) FILTER (WHERE l.LINE_NUM = {n}) AS {v}_{n}" for n in range(1, 14)]
        for v in ("LINE_BENE_PTB_DDCTBL_AMT", "LINE_BENE_PRMRY_PYR_PD_AMT", "LINE_COINSRNC_AMT", "LINE_ALOWD_CHRG_AMT"):
            wide += [f"0.0 AS {v}_{n}" for n in range(1, 14)]
        wide_sql = f"""SELECT c.BENE_ID AS DESYNPUF_ID,
            CAST(c.CLM_ID AS VARCHAR) AS CLM_ID, {_ymd('c.CLM_FROM_DT')} AS CLM_FROM_DT,
            {_ymd('c.CLM_THRU_DT')} AS CLM_THRU_DT, {dx}, {', '.join(wide)}
            FROM car c LEFT JOIN (SELECT DISTINCT * FROM lin) l ON CAST(l.CLM_ID AS VARCHAR) = CAST(c.CLM_ID AS VARCHAR)
            WHERE CAST(right(CAST(c.CLM_ID AS VARCHAR), 1) AS INTEGER) % 2 = {{parity}} GROUP BY ALL ORDER BY CLM_ID"""
        y0, y1 = _years(files)
        # two files, as CMS splits the carrier claims: A even claim numbers, B odd (streamed, no window)
        for parity, tag in ((0, "A"), (1, "B")):
            written.append(_copy(con, wide_sql.format(parity=parity),
                                 out / f"DE1_0_{y0}_to_{y1}_Carrier_Claims_Sample_1{tag}.csv"))
    # ---- Part D events
    files = input_files(contract_dir, "pde")
    if files:
        _view(con, files, "p")
        y0, y1 = _years(files)
        written.append(_copy(con, f"""SELECT BENE_ID AS DESYNPUF_ID, CAST(PDE_ID AS VARCHAR) AS PDE_ID,
            {_ymd('SRVC_DT')} AS SRVC_DT, PROD_SRVC_ID, QTY_DSPNSD_NUM, DAYS_SUPLY_NUM, 0.0 AS PTNT_PAY_AMT,
            TOT_RX_CST_AMT FROM p ORDER BY PDE_ID""", out / f"DE1_0_{y0}_to_{y1}_Prescription_Drug_Events_Sample_1.csv"))
    return written
