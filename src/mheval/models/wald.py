"""Wald inference, written once: the reference distribution, intervals, p-values and coefficient tables.

Every Wald interval in the library goes through :func:`wald_interval` (directly, or through
:class:`mheval.models.result.ModelResult`): an estimate b with standard error se has the two-sided
(1 - alpha) interval b -/+ q se and p-value 2 P(|T| > |b / se|), where T is standard normal
(``df`` None) or Student t with ``df`` degrees of freedom (e.g. CR2's Satterthwaite df, or G - 2
for the small-sample marginal Cox model). ``df`` may be a number or one per estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def reference(df=None):
    """The reference distribution of b / se: scipy's standard normal, or t(df) (``df`` a number or
    an array, one per estimate)."""
    if df is None:
        return stats.norm
    return stats.t(np.asarray(df, float) if np.ndim(df) else float(df))


def wald_interval(estimate, se, alpha: float = 0.05, df=None):
    """(lower, upper, p): the two-sided (1 - alpha) Wald interval estimate -/+ q se, q the
    1 - alpha/2 quantile of the reference (normal, or t(df)), and the two-sided p-value.
    Scalars give floats; arrays or Series give arrays or Series (elementwise)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    ref = reference(df)
    q = ref.ppf(1 - alpha / 2)
    p = 2 * ref.sf(np.abs(estimate / se))
    lower, upper = estimate - q * se, estimate + q * se
    if np.ndim(lower) == 0:
        return float(lower), float(upper), float(p)
    if isinstance(estimate, pd.Series):
        p = pd.Series(np.asarray(p, float), index=estimate.index)
    return lower, upper, p


def wald_table(params: pd.Series, bse: pd.Series, alpha: float = 0.05, df=None) -> pd.DataFrame:
    """Coefficient table, one row per term: coef, se, the statistic ("z", or "t" with ``df``, then
    a "df" column), two-sided "p" and the (1 - alpha) interval "lower", "upper"."""
    lower, upper, p = wald_interval(params, bse, alpha, df)
    out = pd.DataFrame({"coef": params, "se": bse})
    if df is None:
        out["z"] = params / bse
    else:
        out["t"] = params / bse
        out["df"] = np.broadcast_to(np.asarray(df, float), len(params)) if np.ndim(df) == 0 else np.asarray(df, float)
    out["p"], out["lower"], out["upper"] = np.asarray(p, float), lower, upper
    return out
