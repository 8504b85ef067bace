"""Wald summaries shared by the model results: coefficient tables and interval columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def wald_table(params: pd.Series, bse: pd.Series, alpha: float = 0.10, df=None) -> pd.DataFrame:
    """coef, se, z, two-sided p and the (1 - alpha) normal interval (lower, upper) per term; with
    ``df`` (per term, e.g. Satterthwaite) the p-values and intervals use t(df), and a df column."""
    if df is None:
        z = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"coef": params, "se": bse, "z": params / bse, "p": 2 * stats.norm.sf(np.abs(params / bse)),
                             "lower": params - z * bse, "upper": params + z * bse})
    q = stats.t.ppf(1 - alpha / 2, df)
    return pd.DataFrame({"coef": params, "se": bse, "z": params / bse, "df": df,
                         "p": 2 * stats.t.sf(np.abs(params / bse), df), "lower": params - q * bse, "upper": params + q * bse})
