"""One result interface for every model, in statsmodels' names.

Every model result of :mod:`mheval.models` (nested LMM and GLMM, frailty and marginal Cox, average
marginal effects; Equations 1-4 are built on them) derives from :class:`ModelResult` and so has:

- ``params``, ``bse``: pandas Series indexed by term name;
- ``cov_params()``: DataFrame indexed and labelled by term name;
- ``conf_int(alpha=0.05)``: DataFrame with columns 0 (lower) and 1 (upper), as statsmodels';
- ``tvalues``, ``pvalues``: Series, two-sided;
- ``llf``: the log-likelihood of the fit; ``nobs``: the number of observations used;
- ``summary(alpha=0.05)``: a DataFrame (coef, se, z or t [, df], p, lower, upper).

The reference distribution is t(df) where the result carries degrees of freedom (``df``: a number,
e.g. G - 2 for the small-sample marginal Cox variances, or a Series, e.g. CR2's Satterthwaite df
per coefficient) and standard normal otherwise (``df`` None). Intervals and p-values come from
:func:`mheval.models.wald.wald_interval`, written once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.models.wald import wald_interval, wald_table


class ModelResult:
    """Mixin giving statsmodels' inference interface from ``params``, ``bse``, ``df`` (None or the t
    reference's degrees of freedom) and ``cov_params()``; subclasses also carry ``llf`` and ``nobs``."""

    def _df_values(self):
        df = getattr(self, "df", None)  # a result without df: normal reference
        if df is None or np.ndim(df) == 0:
            return df
        return pd.Series(df, index=self.params.index).to_numpy(float)

    @property
    def tvalues(self) -> pd.Series:
        """params / bse (z or t statistics)."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of params = 0 against the reference distribution."""
        return wald_interval(self.params, self.bse, 0.05, self._df_values())[2]

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) Wald intervals params -/+ q bse, q from the reference distribution: a
        DataFrame indexed by term with columns 0 (lower) and 1 (upper), as statsmodels'."""
        lower, upper, _ = wald_interval(self.params, self.bse, alpha, self._df_values())
        return pd.DataFrame({0: lower, 1: upper}, index=self.params.index)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table: coef, se, z (t with df, and df), p and the (1 - alpha) interval."""
        return wald_table(self.params, self.bse, alpha, self._df_values())


class HazardRatioResult(ModelResult):
    """A Cox model's result: :class:`ModelResult` on the log hazard ratio scale, plus hazard ratios."""

    def hazard_ratios(self, alpha: float = 0.05) -> pd.DataFrame:
        """Hazard ratios exp(params) with the exponentiated (1 - alpha) intervals and p-values:
        columns hr, lower, upper, p."""
        ci = np.exp(self.conf_int(alpha))
        return pd.DataFrame({"hr": np.exp(self.params), "lower": ci[0], "upper": ci[1], "p": self.pvalues})

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """:meth:`ModelResult.summary` (log hazard ratios) with the hazard ratio and its interval
        (hr, hr_lower, hr_upper)."""
        out = super().summary(alpha)
        out["hr"], out["hr_lower"], out["hr_upper"] = np.exp(out["coef"]), np.exp(out["lower"]), np.exp(out["upper"])
        return out
