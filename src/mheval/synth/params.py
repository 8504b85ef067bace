"""Default parameters of the synthetic Million Hearts trial.

Every number here is a knob of the data-generating process documented in docs/synthetic_trial.md.
Defaults are calibrated to the published trial (../shared/trial-facts.md) at scale 1.0. The workflow
passes overrides from config.yaml's ``synthetic:`` block; :func:`resolve_params` merges them.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULTS: dict[str, Any] = {
    "scale": 1.0,
    "seed": 20170101,
    # ---- design -------------------------------------------------------------------------
    "n_analyzed": 218_864,  # high + medium risk, eligible beneficiaries at scale 1.0
    "n_orgs_active": 342,  # organizations that enrolled anyone, at scale 1.0
    "n_orgs_randomized": 516,
    "org_scaling_exponent": 0.5,  # organizations scale as scale**0.5 (floor min_orgs_active)
    "min_orgs_active": 30,
    "org_size_sigma": 1.5,  # lognormal spread of organization sizes
    "intervention_size_ratio": 1.479,  # 130,578 / 88,286: intervention orgs enrolled more
    "share_enrolled_2017": 0.75,
    "enroll_start": "2017-01-01",
    "enroll_end": "2018-12-31",
    "study_end": "2021-12-31",
    "claims_history_start": "2007-01-01",
    # ---- population (candidates before risk selection) -----------------------------------
    "p_male": 0.47,
    "race_probs": {"white": 0.80, "black": 0.085, "hispanic": 0.045, "asian": 0.03,
                   "other": 0.02, "unknown": 0.02},
    "p_under65": 0.08,
    "p_smoker": 0.10,
    "p_diabetes": 0.27,
    "p_bp_treated": 0.60,
    "p_part_d": 0.70,
    "p_dual": 0.15,
    "high_risk_threshold": 0.30,
    "medium_risk_threshold": 0.15,
    # ---- planted exclusions (count as a share of n_analyzed) -----------------------------
    "exclusions": {
        "low_risk": 0.724,  # 42% of enrollees below 15% (trial-facts: 18% high, 40% medium)
        "age_out_of_range": 0.06,
        "incomplete_baseline": 0.02,
        "prior_mi_stroke": 0.05,
        "not_ffs_ab": 0.03,
        "esrd": 0.01,
        "hospice": 0.005,
    },
    # ---- registry mess with documented rules (share of analyzed beneficiaries) -----------
    "mess": {
        "realigned_later": 0.005,  # later seen at another organization
        "implausible_ldl": 0.002,  # LDL value outside plausible range (not a risk input)
        "duplicate_carrier_lines": 0.001,  # share of carrier lines duplicated exactly
        "interim_bills": 0.03,  # share of inpatient stays of 4+ days billed as two interim claims
        "transfers": 0.02,  # share of inpatient stays followed by a transfer to another hospital
    },
    # ---- outcomes in the control group (per 1,000 person-years) --------------------------
    "rates": {
        "event_high": 22.7,
        "event_medium": 14.6,
        "death_high": 36.5,  # before a first event; the post-event hazard brings it to about 39
        "death_medium": 24.5,
        "event_low": 6.0,
        "death_low": 12.0,
        "post_event_death_multiplier": 2.0,
        "ma_switch": 30.0,  # switches to Medicare Advantage
        "esrd_onset": 3.0,
        "recurrent_cvd_admission": 100.0,  # after a first event
    },
    "event_type_probs": {"mi": 0.40, "stroke": 0.40, "tia": 0.20},
    # ---- causes of death (National Death Index; mheval.synth.death_causes) ---------------
    # coronary or cerebrovascular share of deaths: with no prior event, calibrated to the published
    # composite (20.3 vs 17.0 per 1,000 person-years in control: about 3.3 CV deaths without a prior
    # event among about 27 deaths); higher within a year of a first MI, stroke or TIA, and later
    "cv_death": {
        "share_no_event": 0.12,
        "share_within_year_of_event": 0.50,
        "share_later_after_event": 0.30,
        # NDI link mess (shares of deaths): no NDI record; NDI date 1-3 days off; 30-200 days off
        "ndi_unmatched": 0.02,
        "ndi_date_within_tolerance": 0.01,
        "ndi_date_mismatch": 0.003,
    },
    "event_risk_exponent": 0.75,  # hazard proportional to risk**exponent within a stratum
    # gamma frailty variance of organizations: sized so that at scale 1.0 the 90% interval of the
    # hazard ratio is about as wide as published (benchmarks/results/pipeline_scale1.json)
    "frailty_var_event": 0.005,
    "frailty_var_death": 0.002,
    "health_sigma": 0.8,  # lognormal health-status multiplier on utilization
    # organization-level lognormal multiplier (mean 1) on every beneficiary's utilization (the health
    # multiplier): practice patterns differ between organizations, so spending and utilization vary
    # by organization and Equation 1's organization variance is not zero. Sized so that at scale 1.0
    # the 90% interval of the Part A and B spending impact is about as wide as published (about
    # +-$18.8 per beneficiary per month; docs/synthetic_trial.md "Organizations")
    "org_utilization_sigma": 0.14,
    # informative cluster size: correlation between an organization's log size and its log
    # utilization multiplier and log event frailty (0: size says nothing about outcomes)
    "org_size_outcome_correlation": 0.0,
    # ---- utilization per FFS person-year and payment (mean USD) --------------------------
    "utilization": {
        "inpatient": [0.26, 17000.0],
        "snf": [0.05, 13900.0],
        "hha": [0.10, 3500.0],
        "outpatient": [4.0, 530.0],
        "ed": [0.45, 1200.0],
        "carrier": [7.0, 415.0],
        "office": [4.5, 145.0],
        "hist_inpatient": [0.08, 15000.0],
    },
    "payment_sigma": 1.0,  # lognormal spread of claim payments
    "cvd_event_payment": {"mi": 21000.0, "stroke": 17000.0, "tia": 6500.0},
    "post_acute_probs": {"snf": 0.35, "hha": 0.30},
    "p_office_at_org": 0.65,
    "processing_lag_days": {"median": 21.0, "sigma": 0.9},
    # ---- medications (Part D enrollees) --------------------------------------------------
    "p_statin_baseline": 0.45,
    "p_antihypertensive_baseline": 0.60,
    "p_aspirin_baseline": 0.35,
    # initiation or intensification hazards per year in the control group: first 6 months, later
    "med_change_rate_early": 0.50,
    "med_change_rate_late": 0.12,
    # ---- intervention effects (truth) -----------------------------------------------------
    "effects": {
        "hr_event": 0.96,
        "hr_death": 0.96,
        # subgroup-specific hazard ratios of the first event by risk stratum (null: hr_event for all);
        # truth.json records the hazard ratio each stratum got
        "hr_event_by_stratum": {"high": None, "medium": None},
        "spending_ratio": 1.0,  # no effect on total spending
        "hospitalization_ratio": 1.038,
        "ed_ratio": 1.029,
        "office_visit_ratio": 1.05,
        "med_change_ratio": 1.30,  # hazard ratio of initiation or intensification
        # risk-factor changes at follow-up visits (intervention vs control), which lower the
        # predicted risk; truth.json records the realized change in predicted risk
        "sbp_change_high": -3.0,
        "tc_change_high": -8.0,
        "sbp_change_medium": -1.0,
        "tc_change_medium": -3.0,
    },
    # ---- payments and survey -------------------------------------------------------------
    "payments": {"risk_assessment": 10.0, "care_management": 10.0, "control_data": 20.0},
    "survey": {"waves": 3, "response_rate": 0.72},
}


def _merge(base: dict, override: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        where = f"{path}{key}"
        if key not in base:
            raise KeyError(f"unknown synthetic parameter '{where}'; known: {sorted(base)}")
        if isinstance(base[key], dict) and key not in ("race_probs",):
            if not isinstance(value, dict):
                raise TypeError(f"synthetic parameter '{where}' must be a mapping")
            out[key] = _merge(base[key], value, where + ".")
        else:
            out[key] = value
    return out


def resolve_params(overrides: dict | None = None) -> dict:
    """Return the full parameter set: :data:`DEFAULTS` updated with ``overrides``.

    Unknown keys raise ``KeyError`` so that a typo in config.yaml cannot pass silently.
    """
    return _merge(DEFAULTS, overrides or {})
