"""ACC/AHA pooled cohort equations, risk strata, the modifiable share of risk, and risk at visits."""

from mheval.risk.pooled_cohort import (
    OPTIMAL_LEVELS,
    PCE_COEFFICIENTS,
    PCE_GROUPS,
    VALID_RANGES,
    modifiable_share,
    optimal_risk,
    pooled_cohort_risk,
    risk_stratum,
)
from mheval.risk.visits import RISK_INPUTS, reported_risk_check, visit_indicators, visit_risk

__all__ = [
    "OPTIMAL_LEVELS",
    "PCE_COEFFICIENTS",
    "PCE_GROUPS",
    "RISK_INPUTS",
    "VALID_RANGES",
    "modifiable_share",
    "optimal_risk",
    "pooled_cohort_risk",
    "reported_risk_check",
    "risk_stratum",
    "visit_indicators",
    "visit_risk",
]
