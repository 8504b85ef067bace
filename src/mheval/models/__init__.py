"""Impact models.

- :func:`fit_marginal_cox`: Cox model with cluster-robust standard errors (lifelines)
- :func:`crude_rates`: events per 1,000 person-years by arm
- :func:`survival_impact`: the hazard-ratio impact of one outcome in one population
"""

from mheval.models.marginal_cox import CoxResult, crude_rates, fit_marginal_cox
from mheval.models.survival_impact import design_matrix, survival_impact

__all__ = ["fit_marginal_cox", "crude_rates", "CoxResult", "survival_impact", "design_matrix"]
