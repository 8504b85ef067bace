"""Render the data contract as Markdown (docs/data_contract.md is this output)."""

from __future__ import annotations

from mheval.contract.spec import FILES, FileSpec

GROUP_TITLES = {"registry": "Registry (the trial's data registry)", "medicare": "Medicare enrollment",
                "claims": "Medicare claims", "reference": "Reference files", "cms": "CMS model files"}

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
- no death date (MBSF) before the registry enrollment date;
- every claim's BENE_ID is a registry beneficiary; every claim line's CLM_ID is in its base claims;
- claim dates are ordered: CLM_FROM_DT <= CLM_THRU_DT <= NCH_WKLY_PROC_DT.

Documented mess (handled by a rule and counted in results/qc/validation_report.json):
- a beneficiary enrolled again later at another organization: the first enrollment counts (intent to treat);
- a registry clinical value outside its plausible range (config `validation.plausible`): set to missing;
- exact duplicate claim lines: one copy is kept.
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
    from mheval.contract.layouts.docs import layouts_markdown

    parts.append(layouts_markdown())
    return "\n".join(parts)
