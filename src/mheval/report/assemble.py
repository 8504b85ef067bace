"""Assemble the self-contained HTML report from the results files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mheval.io import read_json
from mheval.report.html import build_html_report, software_versions

METHODS = (
    "Organizations were randomized; beneficiaries are analyzed by intent to treat from their first "
    "registry enrollment. The analysis population is beneficiaries aged 40-79 at enrollment with a "
    "complete baseline risk assessment, in Medicare fee-for-service Parts A and B, without ESRD or "
    "hospice, with no heart attack or stroke in claims since the lookback start, and with a 10-year "
    "ASCVD risk (2013 ACC/AHA pooled cohort equations) of at least 15 percent.\n\n"
    "Time-to-event impacts (Equation 4) are hazard ratios of intervention vs control from a Cox model with "
    "a shared gamma frailty per organization (the unit of randomization), adjusted for beneficiary and "
    "organization characteristics fixed before randomization (one specification for every model); the "
    "marginal Cox model with standard errors clustered by "
    "organization is the sensitivity analysis. Proportional hazards are checked with scaled Schoenfeld "
    "residuals. Adjusted cumulative incidence is standardized over the analysis sample with bands from a "
    "cluster bootstrap over organizations; the unadjusted curves are Kaplan-Meier estimates.\n\n"
    "Spending, service use and predicted risk (Equation 1) come from mixed models with organization and "
    "beneficiary random intercepts by follow-up year; binary yearly outcomes from the multilevel "
    "complementary log-log analogue with the share of the year observed as exposure (an offset), reported "
    "as average marginal effects in percentage points for a full year; the event within a fixed window "
    "from Equation 2 (one observation per beneficiary, organization intercept). Organization survey "
    "outcomes follow Equation 3.\n\n"
    "Intervals are 90 percent; the probability of a reduction reads each estimate as a posterior under a "
    "flat prior. Subgroup impacts are partially pooled with a Bayesian hierarchical model.\n\n"
    "Published tables and figures follow CMS's cell-size policy: no count from 1 to 10 is shown, "
    "nor anything from which one could be derived."
)


# how the average impact over follow-up years is formed (config models.average_weighting)
AVERAGE_TEXT = {"simple": "the simple mean of the yearly impacts, the design report's 1/T times their sum",
                "beneficiary_years": "the yearly impacts weighted by each year's beneficiary-years"}


def small(n: int, min_cell: int = 11) -> str:
    """A count as text, or 'fewer than min_cell' when it is from 1 to min_cell - 1."""
    return f"fewer than {min_cell}" if 0 < n < min_cell else f"{n:,}"


def _optional_tables(tables: dict, keys: list[tuple[str, str]]) -> list[tuple[str, pd.DataFrame]]:
    """(caption, table) for each key present in ``tables``."""
    return [(caption, pd.read_csv(tables[k])) for k, caption in keys if tables.get(k)]


def _readings(path) -> str:
    """The Bayesian-reading sentences (one per line, Markdown bullets) as report text."""
    if not path:
        return ""
    return "\n\n".join(line[2:] for line in Path(path).read_text().splitlines() if line.startswith("- "))


def _availability_lines(availability: dict | None, left_out: dict | None, notes: list | None) -> list[str]:
    """The data section's lines on unavailable inputs and the outcomes left out of the run."""
    from mheval.contract.availability import NAMES
    from mheval.report.impact_tables import outcome_label

    lines = [f"Unavailable input: {NAMES.get(n, n)} ({why})." for n, why in (availability or {}).items()]
    lines += [f"Left out of the run, not estimable: {'provider survey (Equation 3)' if o == 'survey' else outcome_label(o)}"
              f" ({why})." for o, why in (left_out or {}).items()]
    return lines + list(notes or [])


def assemble_report(tables: dict, figures: dict, validation: str, config: dict, availability: dict | None = None,
                    left_out: dict | None = None, notes: list | None = None, disclosure: list | None = None) -> str:
    """Build the report HTML from the table CSVs, figure PNGs, validation report and config.

    ``availability`` maps each unavailable optional input to its reason, ``left_out`` each outcome
    left out of the run to its reason and ``notes`` are further sentences, all from
    :mod:`mheval.contract.availability`; the data section lists them. With ``disclosure`` (the
    suppression summaries written with the protected tables), a note on how many cells were
    suppressed and why."""
    min_cell = config["report"]["min_cell"]
    val = read_json(validation)
    mess = val["mess"]
    dups = sum(mess["duplicate_claim_lines"].values())
    data_text = (
        f"Data source: {config['data']['source']} ({config['data']['dir']}). Claims runout date "
        f"{config['claims']['runout_date']}; follow-up ends {config['claims']['runout_lag_days']} days "
        f"before it and no later than {config['study']['end_date']}.\n"
        f"Input validation passed. Documented data rules applied: later enrollments at another "
        f"organization ignored ({small(mess['realigned_later'], min_cell)}); implausible clinical values "
        f"set to missing ({small(mess['implausible_clinical'], min_cell)}); exact duplicate claim lines "
        f"dropped ({small(dups, min_cell)})."
    )
    data_text += "".join("\n" + line for line in _availability_lines(availability, left_out, notes))
    hr = pd.read_csv(tables["hr"])
    sections = [
        {"heading": "Methods in brief", "text": METHODS},
        {"heading": "Data", "text": data_text},
        {"heading": "Cohort", "tables": [("Cohort flow by arm", pd.read_csv(tables["flow"]))],
         "figures": [("Cohort flow", figures["flow"])]},
        {"heading": "Baseline balance", "tables": [("Intervention vs control at enrollment", pd.read_csv(tables["balance"]))]},
        {"heading": "Impacts on heart attacks, strokes and deaths",
         "text": "Hazard ratios from the Cox model with a shared gamma frailty per organization (conditional on the "
                 "organization); the marginal Cox model with cluster-robust standard errors is the sensitivity "
                 "analysis (population-averaged). Crude rates are per 1,000 person-years.",
         "tables": [("Hazard ratios, intervention vs control (90% CI)", hr)]
                   + _optional_tables(tables, [("ph", "Proportional-hazards tests (scaled Schoenfeld residuals)"),
                                               ("by_year_hr", "Hazard ratio by follow-up year"),
                                               ("adjusted", "Adjusted cumulative incidence by follow-up year "
                                                            "(percent; difference in percentage points; 90% "
                                                            "cluster-bootstrap intervals)")]),
         "figures": [(f"Adjusted cumulative incidence ({Path(p).stem.split('_')[-1]})", p)
                     for p in figures.get("adjusted", [])]
                    + [(f"Cumulative incidence, unadjusted ({Path(p).stem.split('_')[-1]})", p)
                       for p in figures["incidence"]]},
        {"heading": "Impacts on spending and service use (Equation 1)",
         "text": "Average impact over follow-up years ("
                 f"{AVERAGE_TEXT[config['models'].get('average_weighting', 'simple')]}) "
                 "from a mixed model with organization and beneficiary random intercepts, each beneficiary-year "
                 "weighted by the share of the year observed; means are regression-adjusted.\n\n"
                 "Read as a Bayesian posterior under a flat prior:\n\n" + _readings(tables.get("readings")),
         "tables": [("Impacts, intervention vs control (90% CI)", pd.read_csv(tables["impacts"]))],
         "figures": [("Impact by follow-up year", figures["by_year"])]
                    + ([("Probability of a reduction at least as large as each size", figures["probability"])]
                       if figures.get("probability") else [])},
        {"heading": "Subgroup impacts",
         "text": "Impacts within subgroups from interaction models, unpooled and partially pooled by a Bayesian "
                 "hierarchical model (each level's impact drawn from a common normal distribution whose mean and "
                 "spread are estimated). Pooling pulls noisy levels toward the overall impact.",
         "tables": _optional_tables(tables, [("subgroups", "Subgroup impacts (90% intervals)"),
                                             ("subgroup_tests", "Heterogeneity and organization size x impact "
                                                                "interaction tests")]),
         "figures": [(f"Subgroup impacts ({Path(p).stem.removeprefix('subgroups_')})", p)
                     for p in figures.get("subgroups", [])]},
        {"heading": "Impacts on organizations' care delivery (Equation 3)",
         "text": "Provider-survey items of organizations that enrolled beneficiaries, by survey wave, with an "
                 "organization random intercept and nonresponse weights from a response model on organization "
                 "characteristics.",
         "tables": [("Survey impacts, intervention vs control (90% CI)", pd.read_csv(tables["survey"]))]},
    ]
    if disclosure:
        from mheval.disclosure import Rule, suppression_note

        note = suppression_note([r for p in disclosure for r in read_json(p)], Rule.from_config(config))
        sections.append({"heading": "Disclosure control", "text": note})
    meta = {"Claims runout date": str(config["claims"]["runout_date"]),
            "Software versions": "\n".join(f"{k} {v}" for k, v in software_versions().items()),
            "Configuration": yaml.safe_dump(config, sort_keys=True)}
    return build_html_report(config["report"]["title"], sections, metadata=meta)
