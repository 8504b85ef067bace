"""ACC/AHA pooled cohort equations, risk strata and the modifiable share of risk."""

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

__all__ = [
    "OPTIMAL_LEVELS",
    "PCE_COEFFICIENTS",
    "PCE_GROUPS",
    "VALID_RANGES",
    "modifiable_share",
    "optimal_risk",
    "pooled_cohort_risk",
    "risk_stratum",
]
