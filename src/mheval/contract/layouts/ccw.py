"""The ``ccw`` layout: CCW research identifiable files as CMS delivers them.

Files are found anywhere under ``data.dir`` by their CCW names, case-insensitive, CSV or Parquet,
with the year at the end of the name: ``mbsf_abcd_summary_2017`` (MBSF base with the monthly
``MDCR_ENTLMT_BUYIN_IND_01..12``, ``HMO_IND_01..12``, ``PTD_CNTRCT_ID_01..12``, ``DUAL_STUS_CD_01..12``
and ``MDCR_STATUS_CODE_01..12``), ``inpatient_claims_2017``, ``outpatient_claims_2017`` with
``outpatient_revenue_center_2017``, ``bcarrier_claims_2017`` with ``bcarrier_line_2017``,
``snf_claims_2017``, ``hha_claims_2017``, ``hospice_claims_2017`` and ``pde_2017`` (the CCW's short
names such as ``inp_claimsk_2017`` too; all names in :data:`NAMES`). Column names are the CCW's, which the
contract uses, in any case. Every column is read as text (leading zeros kept); dates may be
``YYYYMMDD``, ``YYYY-MM-DD`` or SAS ``DDMONYYYY`` (``15JAN2017``), or Parquet dates and timestamps.
"""

from __future__ import annotations

import re
from pathlib import Path


from mheval.contract.errors import InputError
from mheval.sql import connect
from mheval.contract.layouts import engine as E
from mheval.contract.layouts.provenance import Provenance
from mheval.contract.spec import spec

LAYOUT = "ccw"
# contract input -> CCW file name stems (before _YYYY), longest first
NAMES = {
    "mbsf": ("mbsf_abcd_summary", "mbsf_ab_summary", "mbsf_base", "mbsf"),
    "inpatient": ("inpatient_claims", "inp_claimsk", "inp_claims"),
    "outpatient": ("outpatient_claims", "op_claimsk", "op_claims"),
    "outpatient_revenue": ("outpatient_revenue_center", "op_revenuek", "op_revenue"),
    "carrier": ("bcarrier_claims", "car_claimsk", "car_claims"),
    "carrier_line": ("bcarrier_line", "car_linek", "car_line"),
    "snf": ("snf_claims", "snf_claimsk"),
    "hha": ("hha_claims", "hha_claimsk"),
    "hospice": ("hospice_claims", "hosp_claimsk", "hospice_claimsk"),
    "pde": ("pde_saf", "pde"),
}
# CCW names that differ from the contract's: {input: {CCW column: contract column}}
ALIASES = {"mbsf": {"SEX_IDENT_CD": "BENE_SEX_IDENT_CD", "BENE_ESRD_IND": "ESRD_IND"}}
RULES = [
    "Files are found anywhere under data.dir by their CCW names (case-insensitive, CSV or Parquet), the "
    "calendar year at the end of the name; the year in the name is the contract file's year.",
    "Column names are the CCW's in any case; SEX_IDENT_CD (MBSF A/B/C/D) is BENE_SEX_IDENT_CD. A missing "
    "BENE_ENROLLMT_REF_YR is the year in the file name.",
    "Every column is read as text (leading zeros kept); dates may be YYYYMMDD, YYYY-MM-DD or DDMONYYYY; "
    "a value that does not parse is an error naming the original file and column. Extra columns are kept.",
]


def _match(path: Path) -> tuple[str, int] | None:
    stem = path.name.lower()
    for ext in (".csv", ".parquet"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    else:
        return None
    for name, stems in NAMES.items():
        for s in stems:
            m = re.fullmatch(re.escape(s) + r"(?:_k)?_(?P<year>(?:19|20)\d{2})", stem)
            if m:
                return name, int(m.group("year"))
    return None


def find_files(data_dir: str | Path) -> dict[str, dict[int, list[Path]]]:
    """CCW files anywhere under ``data_dir``: {contract input: {year: paths}}."""
    found: dict[str, dict[int, list[Path]]] = {}
    for p in sorted(Path(data_dir).rglob("*")):
        hit = _match(p) if p.is_file() else None
        if hit:
            found.setdefault(hit[0], {}).setdefault(hit[1], []).append(p)
    return found


def files_by_input(data_dir: str | Path) -> dict[str, list[Path]]:
    """{contract input: its CCW files under ``data_dir``}, and the contract-form files."""
    out = {name: [p for ps in by_year.values() for p in ps] for name, by_year in find_files(data_dir).items()}
    return {**out, **E.contract_form_files(data_dir)}



def stage_inputs(data_dir: str | Path, out_dir: str | Path, config: dict | None = None) -> Provenance:
    """Convert the CCW files under ``data_dir`` into the data contract under ``out_dir``: one contract
    file per original file (or per year, when a year comes in several files), typed by the contract.
    Returns (and writes to ``out_dir/provenance.json``) the record of the original files and columns.
    Raises InputValidationError naming the original file and column of every unreadable value."""
    out_dir = Path(out_dir)
    E.clear_staged(out_dir)
    prov = Provenance(LAYOUT, str(data_dir), str(out_dir), rules=list(RULES))
    con = connect()
    jobs = [lambda n=name, y=year, f=files: _stage_one(con, n, y, f, out_dir, prov)
            for name, by_year in find_files(data_dir).items() for year, files in sorted(by_year.items())]
    return E.run_jobs(jobs, [], data_dir, out_dir, prov)


def _stage_one(con, name: str, year: int, files: list[Path], out_dir: Path, prov: Provenance) -> list[InputError]:
    s = spec(name)
    aliases = ALIASES.get(name, {})
    problems = []
    present: set[str] = set()
    for f in files:
        cols = {aliases.get(c, c) for c in E.header(f)}
        present |= cols
        needed = [c.name for c in s.columns if c.required and not (name == "mbsf" and c.name == "BENE_ENROLLMT_REF_YR")]
        problems += E.require(cols, needed, f, LAYOUT)
    if problems:
        return problems
    raw = E.raw_view(con, files, "raw")
    back = {v: k for k, v in aliases.items() if k in raw}
    orig = lambda c: back.get(c, c)  # noqa: E731
    typed = {c.name: c.type for c in s.columns}
    checks = [(orig(c), typed[c]) for c in typed if c in present and typed[c] in ("date", "number", "integer")]
    problems = E.check_values(con, "raw", checks, E.CMS_DATE_FORMATS, LAYOUT)
    if problems:
        return problems
    select = []
    for c in sorted(raw):
        out = aliases.get(c, c)
        select.append(f'{E.parse(c, typed.get(out, "text"))} AS "{out}"')
    if name == "mbsf" and "BENE_ENROLLMT_REF_YR" not in present:
        select.append(f"CAST({year} AS BIGINT) AS BENE_ENROLLMT_REF_YR")
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {', '.join(select)}, make_date({year}, 1, 1) AS _YEAR_DT, "
                f"{E.FILE_COL} FROM raw")
    E.write_yearly(con, "staged", name, "_YEAR_DT", out_dir, prov, exclude=("_YEAR_DT",))
    cols = {v: k for k, v in aliases.items() if k in raw}
    if name == "mbsf" and "BENE_ENROLLMT_REF_YR" not in present:
        cols["BENE_ENROLLMT_REF_YR"] = "the year in the file name"
    prov.columns.setdefault(name, {}).update(cols)
    return []
