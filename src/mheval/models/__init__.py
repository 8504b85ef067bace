"""Impact models.

Every model result shares one interface in statsmodels' names (:class:`ModelResult`: params, bse,
cov_params(), conf_int(alpha), pvalues, llf, nobs, summary()); every Wald interval goes through
:func:`wald_interval`.

- :func:`fit_frailty_cox`: Cox model with a shared gamma frailty per cluster, as R's coxph + frailty()
- :func:`fit_marginal_cox`: Cox model with cluster-robust standard errors
- :func:`fit_cox`: the vectorized Cox engine (Efron/Breslow, weights, (start, stop] data,
  cluster-robust), as R's coxph
- :func:`schoenfeld_test`, :func:`fit_by_follow_up_year`: proportional hazards (cox.zph) and the
  hazard ratio by follow-up year (episode splitting)
- :func:`adjusted_cumulative_incidence`: standardized 1 - S (deaths censored; the sensitivity) with cluster-bootstrap bands
- :func:`competing_cumulative_incidence`, :func:`aalen_johansen`: cumulative incidence with death as a
  competing risk (Aalen-Johansen; standardized from cause-specific Cox models) with cluster-bootstrap bands
- :func:`survival_impact`, :func:`crude_rates`: Equation 4 for one outcome in one population
- :func:`fit_nested_lmm`: linear mixed model with nested organization and beneficiary intercepts,
  precision weights and REML, as lme4's lmer (Equation 1)
- :func:`fit_nested_glmm`, :func:`marginal_effect`: multilevel logistic regression by Laplace, as
  lme4's glmer, and average marginal effects in percentage points (binary outcomes, Equation 2)
"""

from mheval.models.adjusted_incidence import adjusted_cumulative_incidence
from mheval.models.competing_risks import aalen_johansen, competing_cumulative_incidence
from mheval.models.cox_engine import CoxFit, fit_cox
from mheval.models.frailty_cox import FrailtyCoxResult, fit_frailty_cox
from mheval.models.marginal_cox import CoxResult, crude_rates, fit_marginal_cox
from mheval.models.nested_glmm import MarginalEffects, NestedGLMMResult, fit_nested_glmm, marginal_effect
from mheval.models.nested_lmm import NestedLMMResult, fit_nested_lmm
from mheval.models.ph_test import fit_by_follow_up_year, schoenfeld_test
from mheval.models.result import ModelResult
from mheval.models.survival_impact import design_matrix, survival_impact
from mheval.models.wald import wald_interval

__all__ = [
    "CoxFit",
    "CoxResult",
    "FrailtyCoxResult",
    "MarginalEffects",
    "ModelResult",
    "NestedGLMMResult",
    "NestedLMMResult",
    "adjusted_cumulative_incidence",
    "aalen_johansen",
    "competing_cumulative_incidence",
    "crude_rates",
    "design_matrix",
    "fit_by_follow_up_year",
    "fit_cox",
    "fit_frailty_cox",
    "fit_marginal_cox",
    "fit_nested_glmm",
    "fit_nested_lmm",
    "marginal_effect",
    "schoenfeld_test",
    "survival_impact",
    "wald_interval",
]
