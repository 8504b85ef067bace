"""Render the data contract as Markdown (docs/data_contract.md is this output)."""

from __future__ import annotations

from mheval.contract.spec import FILES, FileSpec

GROUP_TITLES = {"registry": "Registry (the trial's data registry)", "medicare": "Medicare enrollment",
                "claims": "Medicare claims", "reference": "Reference files", "cms": "CMS model files",
                "ndi": "Cause of death (National Death Index)"}

INTRO = """# Input data contract

Generated from `src/mheval/contract/spec.py` by `python -m mheval.contract > docs/data_contract.md`;
a test fails if this file and the spec disagree. Do not edit by hand.

All inputs live under one directory (`data.dir` in config/config.yaml). Parquet is the primary format;
a CSV file with the same name (`.csv` instead of `.parquet`) is read when no Parquet file exists,
with dates as ISO `YYYY-MM-DD` and booleans as `true`/`false` or `1`/`0`. Yearly files (claims,
MBSF) are one file per calendar year, `{name}_{year}`: claims by the year of `CLM_THRU_DT`
(Part D by `SRVC_DT`), and any number of years may be present. Column names follow the CMS
Chronic Conditions Warehouse (CCW) research identifiable files; ICD codes are written without the
decimal point, as in the CCW. Extra columns are allowed and ignored.

Types: `string`; `id` (string or integer identifier); `date`; `integer`; `number`; `boolean`.
A column marked *optional* may be absent; *nullable* columns may hold missing values.

`validate_inputs` enforces every rule below and the cross-file rules at the end, and stops the run
with one message listing every problem (file, column, number of rows, examples).
"""

CROSS = """## Cross-file rules

Errors (the run stops):
- every organization in alignment, providers, payments and survey exists in organizations;
  each organization has exactly one arm (ORG_ID is the key of organizations);
- every aligned beneficiary has demographics and at least one MBSF row;
- no beneficiary is enrolled at two organizations on the same (first) enrollment date;
- plausible dates across files: birth (demographics BIRTH_DT and MBSF BENE_BIRTH_DT) before the
  registry enrollment date; no death date (MBSF) before the registry enrollment date or before the
  birth date; no claim (CLM_FROM_DT; Part D SRVC_DT) before the beneficiary's birth date;
- every claim's BENE_ID is a registry beneficiary; every claim line's CLM_ID is in its base claims;
- claim dates are ordered: CLM_FROM_DT <= CLM_THRU_DT <= NCH_WKLY_PROC_DT;
- every NDI record's BENE_ID is a registry beneficiary, and no NDI death date is before the birth date.

Documented mess (handled by a rule and counted in results/qc/validation_report.json):
- a beneficiary enrolled again later at another organization: the first enrollment counts (intent to treat);
- a registry clinical value outside its plausible range (config `validation.plausible`): set to missing;
- exact duplicate claim lines: one copy is kept;
- National Death Index records against the MBSF death dates (`mheval.contract.ndi`, counted under
  `ndi_link` by class). The MBSF date always ends follow-up; the NDI gives the underlying cause. Dates
  equal (`agree`) or at most `outcomes.death_date_tolerance_days` (default 7) apart
  (`within_tolerance`): the NDI cause is used with the MBSF date. Further apart (`date_mismatch`) or no
  NDI record for an MBSF death (`no_ndi_record`): a death of unknown cause, never a coronary or
  cerebrovascular death (the composite outcome censors it). A death in the NDI only
  (`no_enrollment_death`): not a death for the analysis. Each class with a count is also a warning.

## Real-data rules

Real CMS files differ from the embedded synthetic trial in documented ways; each is handled by a
rule, counted in results/qc/validation_report.json (`mess`, per input, and `by_file`) and, when it
applies, stated in its `warnings`:
- **Each file on its own.** Every yearly file is checked separately, so a message names the file
  that holds the bad rows, the column, the number of rows and examples. A value that is not of its
  column's type (e.g. the text `2019-13-45` in a date column) is reported as such, in words. Staged
  files (the CCW and DE-SynPUF layouts) are reported under their original file and column names
  (`validate_inputs(..., provenance=...)`).
- **Diagnosis positions.** Any number of positions `ICD_DGNS_CD1..N` may be present (real files
  carry 8, 10, 12 or 25), in CSV and Parquet alike; outcomes search the positions present.
  Optional columns may be absent from CSV files too.
- **Negative payments.** Claim, revenue-center and line payments may be negative (CMS
  adjustments). They are accepted and summed as they are, as CMS does; the number of claims with a
  negative payment (`CLM_PMT_AMT` < 0) is counted by claim type (`negative_payment_claims`).
- **ESRD.** ESRD in a month comes from `MDCR_STATUS_CODE_mm` (11, 21, 31). A month without a status
  code (the column absent, as in DE-SynPUF, or empty) takes the year's `ESRD_IND` (`Y`: ESRD in
  every such month of the year); such months are counted (`esrd_from_esrd_ind_months`).
- **Unknown dual status.** `DUAL_STUS_CD_mm` 99, empty or absent means unknown. It stays unknown:
  missing in the cohort, counted (`dual_unknown_months` here; `dual_status_unknown` in
  results/qc/cohort_qc.json), shown as "Dual status unknown" in the balance table (the dual
  percentage is then of those with a known status), and adjusted for in the models by an
  unknown-status indicator. It is never read as "not dual".
- **Processing date.** A claim without `NCH_WKLY_PROC_DT` (the column absent, or empty) is taken as
  processed `claims.processing_lag_days` days (default 30) after its `CLM_THRU_DT` for the runout
  rule; such claims are counted (`processing_date_imputed`) with a warning.
- **NPIs.** NPIs are checked by shape (10 digits, first 1 or 2) and by their check digit: the last
  digit is the Luhn check digit of `80840` followed by the first nine digits (CMS's NPI standard;
  e.g. 1234567893 is valid). Set `data.check_npi: false` for files with scrambled NPIs (DE-SynPUF);
  the embedded synthetic trial writes valid NPIs.
"""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _file_md(s: FileSpec) -> str:
    fmt = ".parquet (or .csv)"
    lines = [f"### `{s.name}`: `{s.path}{fmt}`", "", s.description, "",
             f"Key: {', '.join('`' + k + '`' for k in s.key)}" + ("" if s.required else ". This file is optional."), "",
             "| column | type | meaning | rules |", "|---|---|---|---|"]
    for c in s.columns:
        rules = []
        if not c.required:
            rules.append("optional")
        if c.nullable:
            rules.append("nullable")
        if c.allowed is not None:
            rules.append("one of " + ", ".join(f"`{a}`" for a in c.allowed if a != ""))
        if c.pattern:
            rules.append(f"pattern `{c.pattern}`")
        if c.min is not None:
            rules.append(f">= {c.min:g}")
        if c.max is not None:
            rules.append(f"<= {c.max:g}")
        lines.append(f"| `{c.name}` | {c.type} | {_cell(c.meaning)} | {_cell('; '.join(rules))} |")
    return "\n".join(lines) + "\n"


def contract_markdown() -> str:
    """The whole contract as a Markdown document."""
    parts = [INTRO]
    for group, title in GROUP_TITLES.items():
        parts.append(f"## {title}\n")
        parts += [_file_md(s) for s in FILES if s.group == group]
    parts.append(CROSS)
    from mheval.contract.availability import optional_inputs_markdown

    parts.append(optional_inputs_markdown())

    from mheval.contract.layouts.docs import layouts_markdown

    parts.append(layouts_markdown())
    return "\n".join(parts)
