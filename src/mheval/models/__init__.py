"""Impact models.

- :func:`fit_marginal_cox`: Cox model with cluster-robust standard errors (lifelines)
- :func:`crude_rates`: events per 1,000 person-years by arm
- :func:`survival_impact`: the hazard-ratio impact of one outcome in one population
- :func:`fit_cox`: the vectorized Cox engine (Efron/Breslow, cluster-robust), as R's coxph
- :func:`fit_nested_lmm`: linear mixed model with nested organization and beneficiary intercepts,
  precision weights and REML, as lme4's lmer
"""

from mheval.models.cox_engine import CoxFit, fit_cox
from mheval.models.marginal_cox import CoxResult, crude_rates, fit_marginal_cox
from mheval.models.nested_lmm import NestedLMMResult, fit_nested_lmm
from mheval.models.survival_impact import design_matrix, survival_impact

__all__ = [
           "CoxFit",
           "CoxResult",
           "NestedLMMResult",
           "crude_rates",
           "design_matrix",
           "fit_cox",
           "fit_marginal_cox",
           "fit_nested_lmm",
           "survival_impact",
]
