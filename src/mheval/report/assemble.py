"""Assemble the self-contained HTML report from the results files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mheval.io import read_json
from mheval.models.cluster_robust import variance_words
from mheval.report.html import build_html_report, software_versions
from mheval.report.tables import Display, results_display

def methods_text(config: dict) -> str:
    """The "Methods in brief" text, every threshold from ``config`` (ages from ``cohort.age_min`` and
    ``age_max``, the risk cut-offs from ``cohort.risk_medium`` and ``risk_high``, the interval level
    from ``models.alpha``, the cell-size rule from ``report.min_cell``)."""
    cohort, models = config["cohort"], config["models"]
    pct = int(round(100 * (1 - float(models["alpha"]))))
    min_cell = int(config["report"]["min_cell"])
    binary_cov = models.get("binary_cov_type", "CR2")
    binary_robust = binary_cov != "model"  # binary impacts: population-averaged, cluster-robust
    return (
        "Organizations were randomized; beneficiaries are analyzed by intent to treat from their first "
        f"registry enrollment. The analysis population is beneficiaries aged {cohort['age_min']}-{cohort['age_max']} "
        "at enrollment with a complete baseline risk assessment, in Medicare fee-for-service Parts A and B, "
        "without ESRD or hospice, with no heart attack or stroke in claims since the lookback start "
        f"({config['study']['claims_lookback_start']}), and with a 10-year ASCVD risk (2013 ACC/AHA pooled cohort "
        f"equations) of at least {100 * float(cohort['risk_medium']):g} percent (high risk: "
        f"{100 * float(cohort['risk_high']):g} percent or more; medium risk: the rest).\n\n"
        "Time-to-event outcomes: the first heart attack, stroke or TIA in claims; the same or a coronary or "
        "cerebrovascular death (the underlying cause of death from the National Death Index, in the code list "
        "of outcomes.cv_death_codes, on the Medicare death date; a death of another or unknown cause ends "
        "follow-up without the event); and death from any cause.\n\n"
        "Time-to-event impacts (Equation 4) are hazard ratios of intervention vs control from a Cox model with "
        "a shared gamma frailty per organization (the unit of randomization), adjusted for beneficiary and "
        "organization characteristics fixed before randomization (one specification for every model); the "
        "marginal Cox model with standard errors clustered by "
        "organization is the sensitivity analysis. Proportional hazards are checked with scaled Schoenfeld "
        "residuals. Cumulative incidence treats death without the event as a competing risk (Aalen-Johansen): "
        "unadjusted by arm, and standardized over the analysis sample from cause-specific Cox models for the "
        "event and for death without it, with bands from a cluster bootstrap over organizations; 1 - S, which "
        "treats those deaths as censored, is a labelled sensitivity analysis only, as are the unadjusted "
        "Kaplan-Meier curves.\n\n"
        "Spending, service use and predicted risk (Equation 1) come from mixed models with organization and "
        "beneficiary random intercepts by follow-up year; binary yearly outcomes from the "
        + ("population-averaged (marginal) complementary log-log regression"
           if binary_robust else "multilevel complementary log-log analogue")
        + " with the share of the year observed as exposure (an offset), reported "
        "as average marginal effects in percentage points for a full year; the event within a fixed window "
        "from Equation 2 (one observation per beneficiary"
        + ("; population-averaged logistic regression" if binary_robust else ", organization intercept") + "). "
        + f"Equation 1's continuous impacts have {variance_words(models.get('lmm_cov_type', 'CR2'))}"
        + (f"; binary impacts have {variance_words(binary_cov)}, the multilevel models' model-based estimates "
           "kept in the result files for comparison. " if binary_robust else ". ")
        + "Organization survey outcomes follow Equation 3.\n\n"
        f"Intervals are {pct} percent (models.alpha = {float(models['alpha']):g}); the probability of a reduction "
        "reads each estimate as a posterior under a flat prior. Subgroup impacts are partially pooled with a "
        "Bayesian hierarchical model.\n\n"
        f"Published tables and figures follow CMS's cell-size policy: no count from 1 to {min_cell - 1} is shown, "
        "nor anything from which one could be derived; such cells are shown as \u2014."
    )


# how the average impact over follow-up years is formed (config models.average_weighting)
AVERAGE_TEXT = {"simple": "the simple mean of the yearly impacts, the design report's 1/T times their sum",
                "beneficiary_years": "the yearly impacts weighted by each year's beneficiary-years"}


def small(n: int, min_cell: int = 11) -> str:
    """A count as text, or 'fewer than min_cell' when it is from 1 to min_cell - 1."""
    return f"fewer than {min_cell}" if 0 < n < min_cell else f"{n:,}"


def _table(tables: dict, key: str, name: str, config: dict) -> tuple:
    """The table file ``tables[key]`` (a CSV) with its display definition, for the report."""
    df = pd.read_csv(tables[key])
    return df, results_display(name, df, config)


GLANCE_TEXT = ("The trial's primary results in the layout of its published Table 3: for each outcome and "
               "population, events, person-years and the crude rate per 1,000 person-years in each arm, and the "
               "hazard ratio of intervention vs control with its interval; then the spending impacts per "
               "beneficiary per month. Details, sensitivity analyses and the other outcomes follow.")


def glance_tables(hr: pd.DataFrame, impacts: pd.DataFrame, config: dict) -> list[tuple]:
    """The "Results at a glance" tables: the hazard-ratio table's Table 3 columns (events,
    person-years and rate per arm; hazard ratio with its interval; the note) as one more rendering
    of ``hazard_ratios``, and the spending impacts per beneficiary per month
    (:func:`mheval.report.impact_tables.spending_per_beneficiary_month`)."""
    from mheval.report.impact_tables import spending_per_beneficiary_month

    pct = int(round(100 * (1 - float(config["models"]["alpha"]))))
    full = results_display("hazard_ratios", hr, config)
    keep = [c for c in full.columns if c.sources[0] in ("outcome", "population", "note", "hazard_ratio")
            or c.sources[0].startswith(("n_events_", "person_years_", "rate_per_1000py_"))]
    glance = Display(full.name, f"Table 3 layout: events, rates and hazard ratios by outcome ({pct}% CI)", keep,
                     [n for n in full.notes if not n.startswith(("Marginal Cox", "Frailty"))], full.row_decimals,
                     full.not_applicable, full.min_cell)
    pbpm = spending_per_beneficiary_month(impacts)
    spend = results_display("impacts_pbpm", pbpm, config,
                            caption=f"Spending impacts per beneficiary per month, USD ({pct}% CI)")
    spend.notes = [f"Per beneficiary per month: the annual means and impacts of the impact table divided by 12 "
                   "(the same models; the percent impact and probabilities are unchanged). Impact: intervention "
                   "minus control, regression-adjusted; a negative impact is a saving."]
    return [(hr, glance), (pbpm, spend)]


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
    impacts = pd.read_csv(tables["impacts"])
    sections = [
        {"heading": "Results at a glance", "text": GLANCE_TEXT, "tables": glance_tables(hr, impacts, config)},
        {"heading": "Methods in brief", "text": methods_text(config)},
        {"heading": "Data", "text": data_text},
        {"heading": "Cohort", "tables": [_table(tables, "flow", "cohort_flow", config)]
                                        + [_table(tables, k, n, config) for k, n in (("org_flow", "organization_flow"),)
                                           if tables.get(k)],
         "figures": [("Cohort flow", figures["flow"])]
                    + ([("Organization flow", figures["org_flow"])] if figures.get("org_flow") else [])},
        {"heading": "Baseline balance", "tables": [_table(tables, "balance", "balance", config)]},
        {"heading": "Impacts on heart attacks, strokes and deaths",
         "text": "Hazard ratios from the Cox model with a shared gamma frailty per organization (conditional on the "
                 "organization); the marginal Cox model with cluster-robust standard errors is the sensitivity "
                 "analysis (population-averaged). Crude rates are per 1,000 person-years.",
         "tables": [(hr, results_display("hazard_ratios", hr, config))]
                   + [_table(tables, k, n, config) for k, n in (("ph", "ph_tests"), ("by_year_hr", "hazard_ratios_by_year"),
                                                               ("adjusted", "adjusted_incidence")) if tables.get(k)],
         "figures": [(f"Cumulative incidence, death a competing risk ({Path(p).stem.split('_')[-1]})", p)
                     for p in figures.get("adjusted", [])]
                    + [(f"Sensitivity: 1 - Kaplan-Meier, deaths censored ({Path(p).stem.split('_')[-1]})", p)
                       for p in figures["incidence"]]},
        {"heading": "Impacts on spending and service use (Equation 1)",
         "text": "Average impact over follow-up years ("
                 f"{AVERAGE_TEXT[config['models'].get('average_weighting', 'simple')]}) "
                 "from a mixed model with organization and beneficiary random intercepts, each beneficiary-year "
                 "weighted by the share of the year observed; means are regression-adjusted.\n\n"
                 "Read as a Bayesian posterior under a flat prior:\n\n" + _readings(tables.get("readings")),
         "tables": [(impacts, results_display("impacts", impacts, config))]
                   + [_table(tables, k, n, config) for k, n in (("prior_sensitivity", "prior_sensitivity"),)
                      if tables.get(k)],
         "figures": [("Impact by follow-up year", figures["by_year"])]
                    + ([("Probability of a reduction at least as large as each size", figures["probability"])]
                       if figures.get("probability") else [])},
        {"heading": "Subgroup impacts",
         "text": "Impacts within subgroups from interaction models, unpooled and partially pooled by a Bayesian "
                 "hierarchical model (each level's impact drawn from a common normal distribution whose mean and "
                 "spread are estimated). Pooling pulls noisy levels toward the overall impact.",
         "tables": [_table(tables, k, n, config) for k, n in (("subgroups", "subgroups"),
                                                             ("subgroup_tests", "subgroup_tests")) if tables.get(k)],
         "figures": [(f"Subgroup impacts ({Path(p).stem.removeprefix('subgroups_')})", p)
                     for p in figures.get("subgroups", [])]},
        {"heading": "Impacts on organizations' care delivery (Equation 3)",
         "text": "Provider-survey items, one impact per survey wave. Nonresponse weights come from a logistic "
                 "response model per wave over every randomized organization (arm and organization "
                 "characteristics) and are used as sampling weights: weighted least squares with organization "
                 "characteristics and organization averages of beneficiary covariates, CR2 cluster-robust "
                 "standard errors with Satterthwaite degrees of freedom.",
         "tables": [_table(tables, "survey", "survey_impacts", config)]},
        {"heading": "Implementation analyses (non-randomized comparisons)",
         "text": "NON-RANDOMIZED COMPARISONS: intervention organizations split by the care-management payment tier "
                 "they reached or by a survey implementation measure, each group compared with all control "
                 "organizations. The groups formed after randomization, so their differences are descriptive, "
                 "not causal. The spending row nets the intervention arm's model payments per beneficiary per "
                 "month out of the randomized spending impact.",
         "tables": [_table(tables, k, n, config) for k, n in (("implementation", "implementation"),)
                    if tables.get(k)]},
    ]
    if disclosure:
        from mheval.disclosure import Rule, suppression_note

        note = suppression_note([r for p in disclosure for r in read_json(p)], Rule.from_config(config))
        sections.append({"heading": "Disclosure control", "text": note})
    meta = {"Claims runout date": str(config["claims"]["runout_date"]),
            "Software versions": "\n".join(f"{k} {v}" for k, v in software_versions().items()),
            "Configuration": yaml.safe_dump(config, sort_keys=True)}
    return build_html_report(config["report"]["title"], sections, metadata=meta)
