"""Per-claim extraction in DuckDB SQL, one claim type and calendar-year file at a time.

Each job reads one yearly Parquet (or CSV) file and writes a slim claim summary: who, when,
processed when, paid how much, and which outcome definitions the claim meets. The runout is not
applied here (the processing date is kept), so a new runout recomputes only the downstream
beneficiary-year step, while a new or changed claims file recomputes only its own extraction.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import pandas as pd

from mheval.contract.read import columns_of, register_input
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS, spec
from mheval.outcomes.codes import code_event_lookup_sql, create_code_event_table, load_event_codes
from mheval.outcomes.events import diagnosis_columns
from mheval.sql import connect

log = logging.getLogger(__name__)

BASE_TYPES = ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice")


def load_code_set(path: str | Path) -> list[str]:
    """The ``code`` column of a code list CSV (as text, leading zeros kept)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)["code"].tolist()


def _year_file(data_dir: Path, name: str, year: int) -> str:
    s = spec(name)
    for ext in (".parquet", ".csv"):
        p = Path(data_dir) / (s.path.replace("{year}", str(year)) + ext)
        if p.exists():
            return str(p)
    return ""


EMPTY_CLAIMS_SQL = ("SELECT CAST(NULL AS VARCHAR) AS BENE_ID, CAST(NULL AS VARCHAR) AS CLM_ID, CAST(NULL AS VARCHAR) AS CLAIM_TYPE, "
                    "CAST(NULL AS DATE) AS FROM_DT, CAST(NULL AS DATE) AS THRU_DT, CAST(NULL AS DATE) AS ADMSN_DT, "
                    "CAST(NULL AS DATE) AS PROC_DT, CAST(NULL AS DOUBLE) AS PMT, CAST(NULL AS VARCHAR) AS CVD_EVENT, "
                    "CAST(NULL AS BOOLEAN) AS ED, CAST(NULL AS VARCHAR) AS OTHER_CVD WHERE FALSE")
# The claims columns a written extraction may leave out (its claim type never has them: writing a
# column of nulls or falses costs about as much as writing data) and the value a reader gives them
OPTIONAL_CLAIM_COLUMNS = {"ADMSN_DT": "CAST(NULL AS DATE)", "CVD_EVENT": "CAST(NULL AS VARCHAR)",
                          "ED": "FALSE", "OTHER_CVD": "CAST(NULL AS VARCHAR)"}
EMPTY_WRITTEN_CLAIMS_SQL = ("SELECT CAST(NULL AS VARCHAR) AS BENE_ID, CAST(NULL AS VARCHAR) AS CLM_ID, "
                            "CAST(NULL AS DATE) AS FROM_DT, CAST(NULL AS DATE) AS THRU_DT, "
                            "CAST(NULL AS DATE) AS PROC_DT, CAST(NULL AS DOUBLE) AS PMT WHERE FALSE")
# claim types whose claims are searched for other cardiovascular disease (hospital stays, ED visits)
OTHER_CVD_CLAIM_TYPES = ("inpatient", "outpatient")
EMPTY_OFFICE_SQL = ("SELECT CAST(NULL AS VARCHAR) AS BENE_ID, CAST(NULL AS VARCHAR) AS CLM_ID, CAST(NULL AS DATE) AS VISIT_DT, "
                    "CAST(NULL AS DATE) AS PROC_DT, CAST(NULL AS VARCHAR) AS NPI WHERE FALSE")


def register_code_set(con: duckdb.DuckDBPyConnection, path: str | Path, view: str) -> str:
    """Register the codes of the code list at ``path`` (:func:`load_code_set`) on ``con`` as the
    relation ``view`` with one column ``code``, to join on (code values never enter SQL text)."""
    con.register(view, pd.DataFrame({"code": load_code_set(path)}, dtype=object))
    return view


def _same_key_type(con: duckdb.DuckDBPyConnection, left: str, right: str, column: str = "CLM_ID") -> bool:
    """Whether ``column`` has one type in the views ``left`` and ``right`` (then the two join on it as it
    is: equal as values exactly when equal as text; otherwise both are compared as text)."""
    return con.table(left).project(column).types == con.table(right).project(column).types


def _enum_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], values, type_name: str) -> None:
    """Give the text ``columns`` of the small temporary table ``table`` the ENUM type ``type_name`` of
    ``values`` (every name they can take; any other raises DuckDB's conversion error). A query taking a
    text column from such a lookup carries small integers, and DuckDB writes an ENUM as the same Parquet
    text column, its dictionary taken from the type instead of built by hashing every value (an
    outpatient year's event and other-CVD columns: 0.09 -> 0.05 CPU s). The names reach DuckDB as a
    registered relation, never as SQL text; the identifiers are this module's own."""
    con.register(f"{type_name}_values", pd.DataFrame({"v": pd.Series(sorted(set(values)), dtype=object)}))
    con.execute(f"CREATE OR REPLACE TYPE {type_name} AS ENUM (SELECT v FROM {type_name}_values)")
    for c in columns:
        con.execute(f"ALTER TABLE {table} ALTER {c} TYPE {type_name}")


def extraction_sql(data_dir: str | Path, claim_type: str, year: int, codes: pd.DataFrame, cfg: dict,
                   con: duckdb.DuckDBPyConnection) -> tuple[str, str, dict]:
    """The SQL of one claim type and year's extraction: (claims query, office-visits query, parameters).

    The claims query takes ``parameters`` (the office query takes none). Missing files give typed
    empty queries. Registers on ``con`` the input files as views and the code lists as relations
    (:func:`register_code_set`), so no file name or code value is written into the SQL. A missing
    processing date is CLM_THRU_DT plus ``cfg["claims"]["processing_lag_days"]`` (see
    :func:`mheval.contract.read.register_input`). May create temporary tables on ``con``: the event
    each distinct diagnosis code of the file carries (:func:`mheval.outcomes.codes.create_code_event_table`:
    the code lists' regular expressions run once per distinct code, not once per claim) and the ED claims,
    and the view :data:`CLAIM_DATES` that the office query reads. The claims are not sorted: the
    lookups' hash joins may move some from the file's order (:func:`write_extraction`).
    Claim identifiers are joined as they are when both files give them one type (else as text). The
    event columns (CVD_EVENT, OTHER_CVD) come out as an ENUM of the code lists' names (:func:`_enum_columns`:
    written to Parquet as text; :func:`claims_columns_sql` casts them to text for frames).
    """
    oc = cfg["outcomes"]
    unavailable = set(cfg.get("data", {}).get("unavailable") or ())  # optional inputs left out (availability.py)
    path = _year_file(Path(data_dir), claim_type, year)
    if not path:
        return EMPTY_WRITTEN_CLAIMS_SQL, EMPTY_OFFICE_SQL, {}
    columns = columns_of(Path(path))
    src = register_input(con, claim_type, [Path(path)], view="claims_src",
                         processing_lag_days=cfg.get("claims", {}).get("processing_lag_days",
                                                                      DEFAULT_PROCESSING_LAG_DAYS))
    lists: dict[str, tuple[pd.DataFrame, list[str]]] = {}  # column prefix: (code list, diagnosis columns)
    if claim_type in oc["event_claim_types"]:
        lists["event"] = (codes, diagnosis_columns([Path(path)], oc["event_positions"]))
    if claim_type in OTHER_CVD_CLAIM_TYPES and oc.get("other_cvd_codes"):
        lists["other"] = (load_event_codes(oc["other_cvd_codes"]),
                          diagnosis_columns([Path(path)], oc.get("other_cvd_positions", "principal")))
    lists = {k: v for k, v in lists.items() if not v[0].empty}
    dx = list(dict.fromkeys(c for _, cols in lists.values() for c in cols))  # every searched column, once
    rev = (_year_file(Path(data_dir), "outpatient_revenue", year)
           if claim_type == "outpatient" and "outpatient_revenue" not in unavailable else "")
    # no sort after the hash joins below, which may move claims from the file's order (one thread: the same
    # order on every run); the order-restoring sort was a fifth of an outpatient job (write_extraction)
    joins, params, events = "", {}, {}
    if dx:
        table = create_code_event_table(con, {k: v[0] for k, v in lists.items()}, src, dx)
        _enum_columns(con, table, [f"{k}_{era}" for k in lists for era in ("icd10", "icd9")],
                      [e for v in lists.values() for e in v[0]["event"]], "claim_event")
        alias = {c: f"dx{i}" for i, c in enumerate(dx)}
        joins = "".join(f' LEFT JOIN {table} {alias[c]} ON {alias[c]}.code = {src}."{c}"' for c in dx)
        events = {k: code_event_lookup_sql(k, [alias[c] for c in cols], date_expr=f"{src}.CLM_FROM_DT")
                  for k, (_, cols) in lists.items()}
        params["icd10_start"] = str(oc.get("icd10_start", "2015-10-01"))
    optional = {}  # the columns this claim type can have (the others are left out: OPTIONAL_CLAIM_COLUMNS)
    if "CLM_ADMSN_DT" in columns:
        optional["ADMSN_DT"] = f"CAST({src}.CLM_ADMSN_DT AS DATE)"
    if "event" in events:
        optional["CVD_EVENT"] = events["event"]
    if rev:
        rev_src = register_input(con, "outpatient_revenue", [Path(rev)], view="revenue_src")
        ed_codes = register_code_set(con, oc["ed_revenue_centers"], "ed_revenue_codes")
        key = "CLM_ID" if _same_key_type(con, src, rev_src) else "CAST(CLM_ID AS VARCHAR)"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE ed_claims AS SELECT DISTINCT {key} AS CLM_ID
                        FROM {rev_src} WHERE REV_CNTR IN (SELECT code FROM {ed_codes})""")
        optional["ED"] = f"{key.replace('CLM_ID', f'{src}.CLM_ID')} IN (SELECT CLM_ID FROM ed_claims)"
    if "other" in events:
        optional["OTHER_CVD"] = events["other"]
    extra = "".join(f", {expr} AS {name}" for name, expr in optional.items())
    # CLM_ID in the file's own type (an integer stays one: a third of the cost of writing it as text)
    claims = f"""
        SELECT {src}.BENE_ID, {src}.CLM_ID,
               CAST({src}.CLM_FROM_DT AS DATE) AS FROM_DT, CAST({src}.CLM_THRU_DT AS DATE) AS THRU_DT,
               CAST({src}.NCH_WKLY_PROC_DT AS DATE) AS PROC_DT, CAST({src}.CLM_PMT_AMT AS DOUBLE) AS PMT{extra}
        FROM {src}{joins}"""
    office = EMPTY_OFFICE_SQL
    lines = _year_file(Path(data_dir), "carrier_line", year) if claim_type == "carrier" and "carrier_line" not in unavailable else ""
    if lines:
        line_src = register_input(con, "carrier_line", [Path(lines)], view="line_src")
        hcpcs = register_code_set(con, oc["office_visit_hcpcs"], "office_hcpcs_codes")
        # each claim's processing date, as the claims query gives it (write_extraction reads it back from
        # the written claims file instead: a narrower, faster read, use_written_claim_dates)
        con.sql(f"SELECT CLM_ID, CAST(NCH_WKLY_PROC_DT AS DATE) AS PROC_DT FROM {src}").create_view(CLAIM_DATES, replace=True)
        on = ("c.CLM_ID = l.CLM_ID" if _same_key_type(con, CLAIM_DATES, line_src)
              else "CAST(c.CLM_ID AS VARCHAR) = CAST(l.CLM_ID AS VARCHAR)")
        # one row per office E&M line, duplicates kept and in no particular order: the one reader
        # (build_beneficiary_year) counts distinct visits (beneficiary, claim, date) with a participating
        # NPI, so exact duplicate lines count once there; a DISTINCT and a sort here took a third of the job
        office = f"""
            SELECT l.BENE_ID, l.CLM_ID, CAST(l.LINE_1ST_EXPNS_DT AS DATE) AS VISIT_DT,
                   c.PROC_DT, l.PRF_PHYSN_NPI AS NPI
            FROM {line_src} l JOIN {CLAIM_DATES} c ON {on}
            WHERE l.HCPCS_CD IN (SELECT code FROM {hcpcs})"""
    return claims, office, params


# the view of each claim's CLM_ID and processing date (PROC_DT) that the office-visit query joins the lines to
CLAIM_DATES = "claim_dates"


def use_written_claim_dates(con: duckdb.DuckDBPyConnection, claims_path: str | Path) -> bool:
    """Point the office-visit query of :func:`extraction_sql` (the view :data:`CLAIM_DATES`) at the
    claims file ``claims_path`` just written from the same connection's claims query, whose CLM_ID and
    PROC_DT are the same values: reading them back from that narrow file takes half the CPU of reading
    them again from the input (carrier 2018 at scale 1.0: 0.06 vs 0.12 s). Does nothing and returns
    False where the query has no such view (no line file) or the file's types differ from the view's."""
    try:  # (not a duckdb_views() query: its first call on a connection takes 7 ms, a fifth of a small job)
        view = con.table(CLAIM_DATES)
    except duckdb.CatalogException:
        return False
    written = con.read_parquet(str(claims_path)).project("CLM_ID, PROC_DT")
    if written.types != view.types:
        return False
    written.create_view(CLAIM_DATES, replace=True)
    return True


def claims_columns_sql(relation: str, columns, claim_type: str) -> str:
    """A query giving every column of the claims summary (:func:`extract_claims`: BENE_ID, CLM_ID as
    text, CLAIM_TYPE, ..., OTHER_CVD) from the relation ``relation`` of one claim type's written
    extraction, whose column names are ``columns``: CLAIM_TYPE is ``claim_type`` (one of
    :data:`BASE_TYPES`) unless the relation has it (files written before it was left out), the
    columns it leaves out get :data:`OPTIONAL_CLAIM_COLUMNS`' values (null, ED false)."""
    columns = set(columns)
    if "CLAIM_TYPE" in columns:
        ctype = "CAST(CLAIM_TYPE AS VARCHAR)"
    elif claim_type in BASE_TYPES:  # a fixed name, never data: safe as a literal
        ctype = f"CAST('{claim_type}' AS VARCHAR)"
    else:
        raise ValueError(f"claims of {relation}: claim type {claim_type!r} is not one of {', '.join(BASE_TYPES)}")
    opt = {c: (f"CAST({c} AS {'BOOLEAN' if c == 'ED' else 'DATE' if c == 'ADMSN_DT' else 'VARCHAR'})"
               if c in columns else default) for c, default in OPTIONAL_CLAIM_COLUMNS.items()}
    return f"""SELECT BENE_ID, CAST(CLM_ID AS VARCHAR) AS CLM_ID, {ctype} AS CLAIM_TYPE, FROM_DT, THRU_DT,
                      {opt['ADMSN_DT']} AS ADMSN_DT, PROC_DT, PMT, {opt['CVD_EVENT']} AS CVD_EVENT,
                      {opt['ED']} AS ED, {opt['OTHER_CVD']} AS OTHER_CVD FROM {relation}"""


def extract_claims(data_dir: str | Path, claim_type: str, year: int, codes: pd.DataFrame, cfg: dict,
                   con: duckdb.DuckDBPyConnection | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summarize the claims of one type and year, as DataFrames.

    Returns (claims, office_visits). ``claims`` has one row per claim: BENE_ID, CLM_ID (text),
    CLAIM_TYPE, FROM_DT, THRU_DT, ADMSN_DT (CLM_ADMSN_DT where the file has it, for combining
    inpatient claims into stays: :mod:`mheval.outcomes.stays`), PROC_DT (NCH_WKLY_PROC_DT), PMT
    (CLM_PMT_AMT), CVD_EVENT (mi, stroke, tia or null, from the diagnosis positions set by
    ``outcomes.event_positions``), ED (outpatient claims with an emergency-department revenue
    center) and OTHER_CVD (inpatient and outpatient claims: the category of other cardiovascular
    disease, e.g. heart_failure, of the code list ``outcomes.other_cvd_codes`` found in the positions
    ``outcomes.other_cvd_positions``, principal by default; null otherwise). ``office_visits``
    (carrier only) has one row per E&M office line, in no particular order: BENE_ID, CLM_ID, VISIT_DT,
    PROC_DT, NPI; exact duplicate lines are kept here and count once where visits are counted
    (:func:`mheval.analysis.beneficiary_year.build_beneficiary_year` counts distinct beneficiary, claim
    and visit date), CLM_ID in the line file's own type (an integer stays one; readers compare it as
    text). A missing year file gives empty frames.
    The written files (:func:`write_extraction`) hold fewer columns; :func:`register_claims` reads
    them back as these.
    """
    con = con or connect()
    claims_sql, office_sql, params = extraction_sql(data_dir, claim_type, year, codes, cfg, con)
    narrow = con.sql(claims_sql, params=params or None)
    return (con.execute(claims_columns_sql("narrow", narrow.columns, claim_type)).df(),
            con.execute(office_sql).df())


def register_claims(con: duckdb.DuckDBPyConnection, name: str, paths) -> None:
    """Make ``name`` (a fixed view name) a view of the claims of the written extractions ``paths``
    (:func:`write_extraction`) with every column of :func:`extract_claims`: each file's claim type
    comes from its Parquet metadata (``claim_type``), the columns it leaves out get their defaults
    (:func:`claims_columns_sql`). The file names go to DuckDB as values, never as SQL text."""
    parts = []
    for i, path in enumerate(paths):
        rel = con.read_parquet(str(path))
        meta = dict(con.execute("SELECT CAST(key AS VARCHAR), CAST(value AS VARCHAR) FROM parquet_kv_metadata(?)",
                                [str(path)]).fetchall())
        if "CLAIM_TYPE" not in rel.columns and "claim_type" not in meta:
            raise ValueError(f"{path}: no claim type (neither a CLAIM_TYPE column nor the Parquet metadata "
                             f"claim_type of write_extraction); {rel.aggregate('count(*)').fetchall()[0][0]} rows")
        rel.create_view(f"{name}_file{i}", replace=True)
        parts.append(claims_columns_sql(f"{name}_file{i}", rel.columns, meta.get("claim_type", "")))
    con.execute(f"CREATE OR REPLACE VIEW {name} AS " + ("\nUNION ALL ".join(parts) if parts else EMPTY_CLAIMS_SQL))


# Parquet settings of the extraction outputs: zstd at its fastest level (about as small as the default
# level 3 here, and a third less writing time), no Bloom filters (nothing downstream looks claims up
# by value: every later step reads whole files), Parquet 2 encodings (delta for integers, dates and
# text, byte-stream split for payments) and a dictionary only for a column with at most 1,024 distinct
# values in a row group (event names, drug classes, weekly processing dates): building one for the
# beneficiary ids took a third of writing a carrier file. Files about as large as before, read by the
# beneficiary-year step as fast (benchmarks/results/extract.md)
PARQUET_OPTIONS = ("FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, WRITE_BLOOM_FILTER false, "
                   "PARQUET_VERSION v2, DICTIONARY_SIZE_LIMIT 1024")


def copy_to_parquet(con: duckdb.DuckDBPyConnection, sql: str, params: dict, path: str | Path,
                    claim_type: str | None = None) -> int:
    """Write the result of ``sql`` (with ``params``) straight from DuckDB to the Parquet file ``path``
    (:data:`PARQUET_OPTIONS`; the folder is created) and return the number of rows written. With
    ``claim_type`` (one of :data:`BASE_TYPES`), the file's metadata says it (``claim_type``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # the output path is a parameter-free literal DuckDB needs in COPY; it is quoted, not data
    target = str(path).replace("'", "''")
    options = PARQUET_OPTIONS
    if claim_type is not None:
        if claim_type not in BASE_TYPES:
            raise ValueError(f"{path}: claim type {claim_type!r} is not one of {', '.join(BASE_TYPES)}")
        options += f", KV_METADATA {{claim_type: '{claim_type}'}}"  # a fixed name, never data
    return con.execute(f"COPY ({sql}) TO '{target}' ({options})", params).fetchall()[0][0]


def write_extraction(data_dir: str | Path, claim_type: str, year: int, codes: pd.DataFrame, cfg: dict,
                     claims_path: str | Path, office_path: str | Path) -> None:
    """Run one extraction and write both results straight from DuckDB to Parquet (no pandas).

    The claims file holds the columns of :func:`extract_claims` that its claim type can have:
    BENE_ID, CLM_ID (in the input's type: an integer stays one), FROM_DT, THRU_DT, PROC_DT, PMT, and
    ADMSN_DT, CVD_EVENT, ED, OTHER_CVD only where the input has them or the type is searched for them;
    the claim type is in the file's Parquet metadata, not a column. :func:`register_claims` reads the
    files back with every column. Every claim of the input once, in the order of the one-thread query
    (the same on every run): the input file's, except where the diagnosis and ED hash joins of
    inpatient and outpatient claims move some (tests/test_extract_order.py). Not sorted back: the one
    reader (:func:`mheval.analysis.beneficiary_year.build_beneficiary_year`) groups and joins, and only
    its payment sums depend on the order, in their last bits (scale 1.0: 2 of 1.3 M beneficiary-years,
    2.9e-11; benchmarks/results/extract.md); the office-visit lines
    are neither sorted nor made distinct (their one reader counts distinct visits), their processing
    dates read back from the claims file just written (:func:`use_written_claim_dates`).
    Parquet settings: :data:`PARQUET_OPTIONS`. Logs the rows written and the time taken."""
    t0 = time.perf_counter()
    con = connect()
    claims_sql, office_sql, params = extraction_sql(data_dir, claim_type, year, codes, cfg, con)
    n_claims = copy_to_parquet(con, claims_sql, params, claims_path, claim_type=claim_type)
    if office_sql != EMPTY_OFFICE_SQL:
        use_written_claim_dates(con, claims_path)
    n_office = copy_to_parquet(con, office_sql, {}, office_path)
    log.info("%s %d: %d claims and %d office-visit lines written in %.1f s", claim_type, year, n_claims,
             n_office, time.perf_counter() - t0)


INTENSITY_RANK = {"low": 1, "moderate": 2, "high": 3}


EMPTY_FILLS_SQL = ("SELECT CAST(NULL AS VARCHAR) AS BENE_ID, CAST(NULL AS TIMESTAMP) AS SRVC_DT, "
                   "CAST(NULL AS TIMESTAMP) AS PROC_DT, CAST(NULL AS VARCHAR) AS DRUG_CLASS, "
                   "CAST(NULL AS BIGINT) AS INTENSITY WHERE FALSE")


def fills_sql(data_dir: str | Path, year: int, drugs_path: str | Path, con: duckdb.DuckDBPyConnection) -> str:
    """The query of one year's Part D statin and antihypertensive fills (:func:`extract_fills`), with
    the PDE and NDC inputs and the drug code list registered on ``con``; a missing file gives a typed
    empty query. The dates are timestamps (as pandas writes dates), the intensity a 64-bit integer. The
    fills come in the PDE file's order (one thread: the same on every run), not sorted: sorting them by
    beneficiary took half of the job, and every later step (:func:`mheval.analysis.beneficiary_year.medication_changes`)
    orders what it needs. DRUG_CLASS is an ENUM of the drug list's classes (written to Parquet as text;
    :func:`extract_fills` casts it to text)."""
    path = _year_file(Path(data_dir), "pde", year)
    ndc = _year_file(Path(data_dir), "ndc", year)
    if not path or not ndc:
        return EMPTY_FILLS_SQL
    drugs = pd.read_csv(drugs_path, dtype={"statin_intensity": str}, keep_default_na=False)
    # the class as a pandas categorical, which DuckDB reads as an ENUM: written as the same text column,
    # its dictionary taken from the type instead of built by hashing every fill's class (0.08 -> 0.01 CPU s a year)
    con.register("cv_drugs", drugs.assign(drug_class=pd.Categorical(drugs["drug_class"])))
    con.register("intensity_rank", pd.DataFrame({"statin_intensity": list(INTENSITY_RANK),
                                                 "rank": list(INTENSITY_RANK.values())}))
    pde, ndc_src = register_input(con, "pde", [Path(path)]), register_input(con, "ndc", [Path(ndc)])
    return f"""
        SELECT p.BENE_ID, CAST(CAST(p.SRVC_DT AS DATE) AS TIMESTAMP) AS SRVC_DT,
               CAST(CAST(coalesce(p.PD_DT, p.SRVC_DT) AS DATE) AS TIMESTAMP) AS PROC_DT,
               d.drug_class AS DRUG_CLASS, CAST(coalesce(r.rank, 0) AS BIGINT) AS INTENSITY
        FROM {pde} p JOIN {ndc_src} n USING (PROD_SRVC_ID)
        JOIN cv_drugs d ON lower(n.GNN) = d.generic_name
         AND n.STRENGTH_MG BETWEEN d.min_strength_mg AND d.max_strength_mg
        LEFT JOIN intensity_rank r ON r.statin_intensity = d.statin_intensity"""


def extract_fills(data_dir: str | Path, year: int, drugs_path: str | Path,
                  con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Part D fills of statins and antihypertensives in one year's PDE file.

    The NDC reference input maps each PROD_SRVC_ID to a generic name and strength; the code list
    ``drugs_path`` (config/codes/cv_drugs.csv) maps generic name and strength range to a class and
    a statin intensity. One row per fill: BENE_ID, SRVC_DT, PROC_DT (PD_DT, the paid date, for the
    runout; the fill date when missing), DRUG_CLASS and INTENSITY (statins: 1 low, 2 moderate,
    3 high; 0 otherwise). Other drugs are dropped. Rows in the PDE file's order (:func:`fills_sql`).
    """
    con = con or connect()
    sql = fills_sql(data_dir, year, drugs_path, con)
    return con.execute(f"SELECT * REPLACE (CAST(DRUG_CLASS AS VARCHAR) AS DRUG_CLASS) FROM ({sql})").df()


def write_fills(data_dir: str | Path, year: int, drugs_path: str | Path, path: str | Path) -> None:
    """:func:`extract_fills` written straight from DuckDB to the Parquet file ``path`` (no pandas
    frame in between); logs the rows written and the time taken."""
    t0 = time.perf_counter()
    con = connect()
    n = copy_to_parquet(con, fills_sql(data_dir, year, drugs_path, con), {}, path)
    log.info("pde %d: %d fills written in %.1f s", year, n, time.perf_counter() - t0)
