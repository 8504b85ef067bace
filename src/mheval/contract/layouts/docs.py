"""The input layouts as Markdown (the "Input layouts" part of docs/data_contract.md)."""

from __future__ import annotations

from mheval.contract.layouts import ccw, contract, desynpuf

INTRO = """## Input layouts (`data.layout`)

`data.layout` says in which layout the files under `data.dir` are (`data.source: files`):

- `contract` (the default): the data contract above; validation reads the files where they are.
- `ccw`: the CCW research identifiable files as CMS delivers them.
- `desynpuf`: CMS's DE-SynPUF files (2008-2010 synthetic Medicare claims) under their own names.

For `ccw` and `desynpuf`, the workflow's first step, `stage_inputs`, converts the files into the
contract under `results/inputs/` (`data.dir` is only read, never written) with the adapters in
`src/mheval/contract/layouts/` (`stage_inputs(layout, data_dir, out_dir, config)`), and writes
`results/inputs/provenance.json`: for every contract file the original file(s), for every contract
column the original column, the rules applied and what they did (e.g. segments merged).
`validate_inputs` then checks the staged contract files and names **the original file and column**
in every message (the staged contract file and column follow in brackets). A value that cannot be
read at all (a date that is not a date, a number that is not a number) is reported by the adapter
itself, with the original file, column, number of rows and examples. Every original file is a
declared input of `stage_inputs`, so replacing one reruns what depends on it.

In every layout the registry, the CMS payments, the survey, the NDC reference and the National
Death Index cause of death keep the contract's form and paths under `data.dir` (`registry/*.parquet`,
`cms/*.parquet`, `reference/ndc.parquet`, `ndi/cause_of_death.parquet`, or CSV); CMS's CCW delivers
NDI-linked data keyed by `BENE_ID`, to be written in that form. Write the synthetic trial in a layout with
`python -m mheval.synth --scale 0.02 --out DIR --layout {contract,ccw,desynpuf}`.
"""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def _rules(rules: list[str]) -> str:
    return "Rules:\n" + "\n".join(f"- {r}" for r in rules) + "\n"


def layouts_markdown() -> str:
    """Every layout: its files, the column mapping and the rules for what it lacks."""
    parts = [INTRO, "### `contract`\n", _rules(contract.RULES)]
    parts.append("### `ccw`\n")
    parts.append(ccw.__doc__.split("\n\n", 1)[1].strip().replace("``", "`").replace(":data:", "") + "\n")
    lines = ["| contract input | CCW file names (then `_YYYY`, `.csv` or `.parquet`) |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join('`' + s + '`' for s in stems)} |" for name, stems in ccw.NAMES.items()]
    parts.append("\n".join(lines) + "\n")
    aliases = [f"`{k}` is `{v}`" for a in ccw.ALIASES.values() for k, v in a.items()]
    parts.append("Every other column has the contract's (CCW) name; " + "; ".join(aliases) + ".\n")
    parts.append(_rules(ccw.RULES))
    parts.append("### `desynpuf`\n")
    lines = ["| contract input | DE-SynPUF file (regular expression, anywhere under `data.dir`) |", "|---|---|"]
    lines += [f"| `{name}` | `{_cell(pat)}` |" for name, pat in desynpuf.PATTERNS.items()]
    lines.append("| `carrier_line` | the carrier files' 13 lines across the row |")
    parts.append("\n".join(lines) + "\n")
    parts.append("Not in DE-SynPUF (the outcomes that need them cannot be estimated from these files):\n"
                 + "\n".join(f"- `{k}`: {v}" for k, v in desynpuf.LACKS.items()) + "\n")
    for name, cols in desynpuf.COLUMN_MAP.items():
        lines = [f"Column mapping, `{name}`:", "", "| contract column | DE-SynPUF column | rule |", "|---|---|---|"]
        lines += [f"| `{c}` | {_cell(src)} | {_cell(rule)} |" for c, (src, rule) in cols.items()]
        parts.append("\n".join(lines) + "\n")
    parts.append(_rules(desynpuf.RULES))
    parts.append("The synthetic trial written with `--layout desynpuf` keeps its own dates (2007-2022; ICD-10 codes "
                 "from 2015-10-01) under the DE-SynPUF names and columns, the file names carrying the years they span. "
                 "Staged back, it gives the same analysis data as the contract trial except for what DE-SynPUF "
                 "cannot hold:\n" + "\n".join(f"- {x}" for x in desynpuf.ROUND_TRIP_LOSSES) + "\n")
    return "\n".join(parts)
