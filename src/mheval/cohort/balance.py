"""Baseline balance: intervention vs control means (or percentages) and standardized differences."""

from __future__ import annotations

import numpy as np
import pandas as pd


def standardized_difference(x1: np.ndarray, x0: np.ndarray) -> float:
    """(mean1 - mean0) / sqrt((var1 + var0) / 2), the usual balance metric (Austin 2009)."""
    x1, x0 = np.asarray(x1, float), np.asarray(x0, float)
    x1, x0 = x1[~np.isnan(x1)], x0[~np.isnan(x0)]
    if len(x1) < 2 or len(x0) < 2:
        return float("nan")
    pooled = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    return float((x1.mean() - x0.mean()) / pooled) if pooled > 0 else 0.0


def balance_table(df: pd.DataFrame, variables: dict[str, tuple[str, str]], arm_col: str = "MH",
                  population: str = "") -> pd.DataFrame:
    """One row per variable: intervention and control mean (percent for binary variables) and
    the standardized difference.

    ``variables`` maps a column to (label, kind) with kind "mean" or "percent".
    """
    rows = []
    t, c = df[df[arm_col] == 1], df[df[arm_col] == 0]
    for col, (label, kind) in variables.items():
        x1, x0 = t[col].astype(float).to_numpy(), c[col].astype(float).to_numpy()
        scale = 100.0 if kind == "percent" else 1.0
        rows.append({"population": population, "variable": label, "statistic": kind,
                     "intervention": scale * np.nanmean(x1) if len(x1) else np.nan,
                     "control": scale * np.nanmean(x0) if len(x0) else np.nan,
                     "std_difference": standardized_difference(x1, x0)})
    return pd.DataFrame(rows)
