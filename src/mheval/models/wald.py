"""Wald inference, written once: the reference distribution, intervals, p-values and coefficient tables.

Every Wald interval in the library goes through :func:`wald_interval` (directly, or through
:class:`mheval.models.result.ModelResult`): an estimate b with standard error se has the two-sided
(1 - alpha) interval b -/+ q se and p-value 2 P(|T| > |b / se|), where T is standard normal
(``df`` None) or Student t with ``df`` degrees of freedom (e.g. CR2's Satterthwaite df, or G - 2
for the small-sample marginal Cox model). ``df`` may be a number or one per estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special


@dataclass(frozen=True)
class Reference:
    """The reference distribution of b / se: standard normal (``df`` None) or Student t with ``df``
    degrees of freedom (a number, or an array with one per estimate). ``cdf``, ``sf`` and ``ppf`` are
    scipy.stats's ``norm`` / ``t(df)`` methods, computed by the same scipy.special functions scipy.stats
    calls (ndtr, ndtri; stdtr, stdtrit), so the values are identical; importing scipy.stats would cost a
    workflow job about 0.4 CPU s for these three functions."""

    df: float | np.ndarray | None = None

    def cdf(self, x):
        """P(T <= x)."""
        x = np.asarray(x, float)
        return special.ndtr(x) if self.df is None else special.stdtr(self.df, x)

    def sf(self, x):
        """P(T > x) = P(T <= -x), the symmetric reference's upper tail (as scipy.stats computes it)."""
        return self.cdf(-np.asarray(x, float))

    def ppf(self, q):
        """The q quantile."""
        q = np.asarray(q, float)
        return special.ndtri(q) if self.df is None else special.stdtrit(self.df, q)


def reference(df=None) -> Reference:
    """The reference distribution of b / se: the standard normal, or t(df) (``df`` a number or an
    array, one per estimate); :class:`Reference`, with scipy.stats's cdf, sf and ppf."""
    return Reference(None if df is None else np.asarray(df, float) if np.ndim(df) else float(df))


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
