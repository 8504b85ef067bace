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
  (:mod:`mheval.models.equation4`)
- :func:`fit_nested_lmm`: linear mixed model with nested organization and beneficiary intercepts,
  precision weights and REML, as lme4's lmer (Equation 1)
- :func:`fit_nested_glmm`, :func:`marginal_effect`: multilevel logistic regression by Laplace, as
  lme4's glmer, and average marginal effects in percentage points (binary outcomes, Equation 2)

Each name is imported from its submodule on first use (:func:`mheval.lazy.lazy_exports`): importing
one submodule, as every workflow script does, does not import the others' libraries.
"""

from mheval.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "adjusted_incidence": ["adjusted_cumulative_incidence"],
    "competing_risks": ["aalen_johansen", "competing_cumulative_incidence"],
    "cox_engine": ["CoxFit", "fit_cox"],
    "equation4": ["design_matrix", "survival_impact"],
    "frailty_cox": ["FrailtyCoxResult", "fit_frailty_cox"],
    "marginal_cox": ["CoxResult", "crude_rates", "fit_marginal_cox"],
    "nested_glmm": ["MarginalEffects", "NestedGLMMResult", "fit_nested_glmm", "marginal_effect"],
    "nested_lmm": ["NestedLMMResult", "fit_nested_lmm"],
    "ph_test": ["fit_by_follow_up_year", "schoenfeld_test"],
    "result": ["ModelResult"],
    "wald": ["wald_interval"],
})
