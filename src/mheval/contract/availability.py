"""Optional inputs: which inputs a run has, and which outcomes they allow.

The registry and the Medicare beneficiary summary (MBSF) are required: without them there is no
trial, and an empty one is an input error. Every other input is optional (:data:`OPTIONAL_INPUTS`).
An optional input is **unavailable** when

1. it is declared so in config (``data.unavailable: [snf, hha, hospice]``);
2. the input layout lacks it (:data:`LAYOUT_LACKS`; ``data.layout``, default ``contract``);
3. with ``data.source: files``, it has no file, or every file of it has no rows (an empty file with
   the right columns is the way to say "not available here");
4. a file it depends on is unavailable (revenue-center lines without outpatient claims, carrier
   lines without carrier claims, Part D events without the NDC reference and vice versa).

:func:`available_inputs` evaluates these rules (the workflow calls it when it builds the DAG);
:data:`OUTCOME_NEEDS` says which inputs each outcome needs, and :func:`restrict_config` drops the
outcomes that need an unavailable input from the run (no rules are scheduled for them) and returns
the reason for each, which the report's data section and the impact tables show ("not estimable:
needs SNF, home health, hospice claims, unavailable").

Which outcome needs what (also in docs/data_contract.md):

===================================  ================================================================
outcome                              needs
===================================  ================================================================
spend_ab (Part A and B spending)     all six claim types: inpatient, outpatient, carrier, SNF, home
                                     health, hospice (a total without a claim type is not the
                                     outcome, and is not estimated)
spend_ab_mh                          the same and the CMS payments file
spend_cvd                            all six claim types (the event plus every Part A and B claim
                                     of the following 90 days) and outpatient revenue-center lines
                                     (the CVD ED visits that open a window)
hosp_all, hosp_cvd, hosp_cvd_event,  inpatient
any_hosp
ed_all, ed_cvd, ed_cvd_event         outpatient revenue-center lines (ED revenue centers) and
                                     inpatient (an ED visit followed by an admission is part of the
                                     stay)
office_mh                            carrier lines (HCPCS and performing NPI per line)
med_statin, med_antihypertensive,    Part D events and the NDC reference
med_<drug>_<window>
sbp, ldl                             nothing optional (registry)
event (first MI, stroke or TIA),     inpatient; searched in the available ``outcomes.event_claim_types``
event_within_window                  (a configured type that is unavailable is left out and noted)
event_cvdeath (the same, or a         inpatient and the National Death Index cause of death (``ndi``)
coronary or cerebrovascular death)
death, risk_pct                      nothing optional (MBSF; registry)
survey (Equation 3)                  the provider survey
===================================  ================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from mheval.contract.layouts.desynpuf import LACKS as DESYNPUF_LACKS

CLAIM_TYPES = ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice")
OPTIONAL_INPUTS = CLAIM_TYPES + ("outpatient_revenue", "carrier_line", "pde", "ndc", "payments", "survey", "ndi")
REQUIRED_INPUTS = ("organizations", "providers", "demographics", "alignment", "visits", "clinical", "mbsf")

NAMES = {"inpatient": "inpatient claims", "outpatient": "outpatient claims", "carrier": "carrier claims",
         "snf": "SNF claims", "hha": "home health claims", "hospice": "hospice claims",
         "outpatient_revenue": "outpatient revenue-center lines", "carrier_line": "carrier lines",
         "pde": "Part D events", "ndc": "the NDC drug reference", "payments": "CMS model payments",
         "survey": "the provider survey", "ndi": "the National Death Index cause of death"}

# inputs a layout does not have (DE-SynPUF: /work/shared/desynpuf-layout.md). Carrier lines are
# available in DE-SynPUF: its carrier claims carry 13 lines across the row, which the layout
# adapter turns into a line file. Columns it lacks (processing date, dual status, Medicare status
# codes) have their own documented rules in validation and are listed for the record.
LAYOUT_LACKS = {
    "contract": (),
    "ccw": (),
    "desynpuf": tuple(DESYNPUF_LACKS),  # one source: the DE-SynPUF adapter's list, with its reasons
}
LAYOUT_LACKS_COLUMNS = {
    "contract": (),
    "ccw": (),
    "desynpuf": ("NCH_WKLY_PROC_DT (processing date)", "DUAL_STUS_CD (dual status)",
                 "MDCR_STATUS_CODE (Medicare status codes)"),
}

# an input is unavailable when one it depends on is
DEPENDS_ON = {"outpatient_revenue": ("outpatient",), "carrier_line": ("carrier",), "pde": ("ndc",), "ndc": ("pde",)}

ALL_CLAIMS = CLAIM_TYPES
OUTCOME_NEEDS: dict[str, tuple[str, ...]] = {
    "spend_ab": ALL_CLAIMS,
    "spend_ab_mh": ALL_CLAIMS + ("payments",),
    "spend_cvd": ALL_CLAIMS + ("outpatient_revenue",),
    "hosp_all": ("inpatient",),
    "hosp_cvd": ("inpatient",),
    "hosp_cvd_event": ("inpatient",),
    "any_hosp": ("inpatient",),
    "ed_all": ("inpatient", "outpatient", "outpatient_revenue"),
    "ed_cvd": ("inpatient", "outpatient", "outpatient_revenue"),
    "ed_cvd_event": ("inpatient", "outpatient", "outpatient_revenue"),
    "office_mh": ("carrier", "carrier_line"),
    "med_statin": ("pde", "ndc"),
    "med_antihypertensive": ("pde", "ndc"),
    "event": ("inpatient",),
    "event_within_window": ("inpatient",),
    "event_cvdeath": ("inpatient", "ndi"),
    "death": (),
    "risk_pct": (),
    "sbp": (),
    "ldl": (),
    "survey": ("survey",),
}


@dataclass(frozen=True)
class Availability:
    """Whether an input is available, and if not, why (in words)."""

    available: bool
    reason: str = ""


def files_are_empty(files: list[Path]) -> bool:
    """True when every file (Parquet or CSV with a header) has no data rows."""
    import pyarrow.parquet as pq

    for f in files:
        f = Path(f)
        if f.suffix == ".parquet":
            if pq.read_metadata(f).num_rows > 0:
                return False
        else:
            with open(f, encoding="utf-8", errors="replace") as h:
                h.readline()
                if any(line.strip() for line in h):
                    return False
    return True


def available_inputs(config: dict, data_dir: str | Path | None = None,
                     find_files: Callable[[str], list[Path]] | None = None) -> dict[str, Availability]:
    """The availability of every optional input (:data:`OPTIONAL_INPUTS`) under the rules of the
    module docstring.

    Parameters
    ----------
    config : the workflow config (uses ``data.source``, ``data.unavailable``, ``data.layout``).
    data_dir : the input directory (default ``data.dir``); its files are looked at only with
        ``data.source: files`` (the synthetic trial writes every input).
    find_files : maps an input name to its files (default: the contract's file names,
        :func:`mheval.contract.read.input_files`); a layout adapter passes its own finder. Without
        one, files in another layout than ``contract`` are not looked at (only config and
        :data:`LAYOUT_LACKS` decide).
    """
    from mheval.contract.read import input_files

    data = config.get("data", {})
    data_dir = Path(data_dir if data_dir is not None else data.get("dir", "."))
    declared = set(data.get("unavailable") or ())
    unknown = declared - set(OPTIONAL_INPUTS)
    if unknown:
        raise ValueError(f"data.unavailable: {sorted(unknown)} are not optional inputs; "
                         f"optional: {list(OPTIONAL_INPUTS)}")
    layout = data.get("layout", "contract")
    lacks = set(LAYOUT_LACKS.get(layout, ()))
    # the files are looked at under the contract's names, or with the finder of a layout adapter
    look = data.get("source") == "files" and data_dir.exists() and (layout == "contract" or find_files is not None)
    find = find_files or (lambda name: input_files(data_dir, name))
    out: dict[str, Availability] = {}
    for name in OPTIONAL_INPUTS:
        if name in declared:
            out[name] = Availability(False, "declared unavailable in config (data.unavailable)")
        elif name in lacks:
            out[name] = Availability(False, f"not in the {layout} layout")
        elif look and not (files := find(name)):
            out[name] = Availability(False, "no file in the input directory")
        elif look and files_are_empty(files):
            out[name] = Availability(False, "empty file (no rows)")
        else:
            out[name] = Availability(True)
    changed = True
    while changed:  # dependencies, to a fixed point
        changed = False
        for name, parents in DEPENDS_ON.items():
            gone = [p for p in parents if not out[p].available]
            if out[name].available and gone:
                out[name] = Availability(False, f"needs {NAMES[gone[0]]}, unavailable")
                changed = True
    return out


def unavailable_inputs(availability: dict[str, Availability]) -> list[str]:
    """The names of the unavailable inputs, in :data:`OPTIONAL_INPUTS` order."""
    return [n for n in OPTIONAL_INPUTS if not availability[n].available]


def outcome_needs(outcome: str) -> tuple[str, ...]:
    """The optional inputs ``outcome`` needs (:data:`OUTCOME_NEEDS`); a medication window outcome
    ``med_<drug>_<window>`` (config ``models.medication_window_outcomes``) needs what
    ``med_statin`` needs."""
    if outcome not in OUTCOME_NEEDS and outcome.startswith("med_"):
        return OUTCOME_NEEDS["med_statin"]
    return OUTCOME_NEEDS.get(outcome, ())


def outcome_reason(outcome: str, availability: dict[str, Availability]) -> str:
    """Why ``outcome`` cannot be estimated for want of inputs ("" when it can), e.g. "needs SNF
    claims, home health claims, hospice claims, unavailable"."""
    missing = [n for n in outcome_needs(outcome) if not availability[n].available]
    if not missing:
        return ""
    return "needs " + ", ".join(NAMES[n] for n in missing) + ", unavailable"


def restrict_config(config: dict, availability: dict[str, Availability]) -> tuple[dict, dict[str, str], list[str]]:
    """The config of the run that the available inputs allow.

    Returns ``(config, left_out, notes)``: a copy of ``config`` without the outcomes that need an
    unavailable input (``models.continuous_outcomes``, ``binary_outcomes``, ``survival_outcomes``,
    ``medication_window_outcomes``, ``clinical_outcomes``, the subgroup outcome lists), with ``outcomes.event_claim_types`` and
    ``cohort.prior_event_claim_types`` restricted to available claim types and ``data.unavailable``
    set to every unavailable input; ``left_out`` maps each configured outcome left out to its
    reason; ``notes`` are sentences for the report's data section.
    """
    cfg = copy.deepcopy(config)
    left_out: dict[str, str] = {}
    m, sg = cfg["models"], cfg.get("subgroups", {})
    lists = [(m, "continuous_outcomes"), (m, "binary_outcomes"), (m, "survival_outcomes"),
             (m, "medication_window_outcomes"), (m, "clinical_outcomes"),
             (sg, "equation1_outcomes"), (sg, "survival_outcomes")]
    for section, key in lists:
        kept = []
        for o in section.get(key) or []:
            why = outcome_reason(o, availability)
            if why:
                left_out[o] = why
            else:
                kept.append(o)
        if key in section:
            section[key] = kept
    for extra in ("event_within_window", "survey"):
        why = outcome_reason(extra, availability)
        if why:
            left_out[extra] = why
    notes = []
    for section, key in ((cfg["outcomes"], "event_claim_types"), (cfg["cohort"], "prior_event_claim_types")):
        types = section.get(key)
        if types is None:
            continue
        gone = [t for t in types if not availability[t].available]
        section[key] = [t for t in types if availability[t].available]
        if gone:
            notes.append(f"{key.replace('_', ' ').capitalize()} searched: "
                         f"{', '.join(section[key]) or 'none'}; left out: "
                         f"{', '.join(NAMES[t] for t in gone)} (unavailable).")
    if not availability["hospice"].available:
        notes.append("Hospice at enrollment is not an exclusion in this run: hospice claims are unavailable.")
    cfg.setdefault("data", {})["unavailable"] = unavailable_inputs(availability)
    return cfg, left_out, notes


def optional_inputs_markdown() -> str:
    """The "Optional inputs" section of docs/data_contract.md, from :data:`OPTIONAL_INPUTS`,
    :data:`LAYOUT_LACKS` and :data:`OUTCOME_NEEDS` (one source)."""
    lines = [
        "## Optional inputs\n",
        "The registry files and the MBSF are required; an empty required file is an input error. Every other "
        "input is optional: " + ", ".join(f"`{n}`" for n in OPTIONAL_INPUTS) + ". An optional input is "
        "unavailable when it is declared so in config (`data.unavailable: [snf, hha, hospice]`), when the input "
        "layout (`data.layout`) lacks it, when it has no file, or when every file of it has no rows (an empty file "
        "with the right columns says \"not available here\"), or when a file it depends on is unavailable "
        "(revenue-center lines need outpatient claims, carrier lines carrier claims, Part D events the NDC "
        "reference and vice versa). Unavailable inputs are not validated and not extracted; the outcomes that "
        "need them are left out of the run, shown in the tables as not estimable with the reason, and listed "
        "in the report's data section (`mheval.contract.availability`).\n",
        "| layout | lacks |",
        "|---|---|",
    ]
    for layout, lacks in LAYOUT_LACKS.items():
        cols = LAYOUT_LACKS_COLUMNS.get(layout, ())
        text = ", ".join([NAMES[n] for n in lacks] + list(cols)) or "nothing"
        lines.append(f"| `{layout}` | {text} |")
    lines += ["", "| outcome | needs |", "|---|---|"]
    for outcome, needs in OUTCOME_NEEDS.items():
        lines.append(f"| `{outcome}` | {', '.join(NAMES[n] for n in needs) or 'no optional input'} |")
    lines += ["", "The first-event outcome searches the available claim types of `outcomes.event_claim_types` "
              "(an unavailable one is left out, and the report says so); it needs inpatient claims. Columns a "
              "layout lacks (processing date, dual status, Medicare status codes) have their own documented rules "
              "and do not make an outcome unavailable.\n"]
    return "\n".join(lines)
