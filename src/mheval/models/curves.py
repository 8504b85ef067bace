"""Cumulative incidence curves by arm (Kaplan-Meier, unadjusted) for figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from mheval.models.covariates import POPULATIONS
from mheval.models.equation4 import OUTCOMES

GRID = np.round(np.arange(0, 5.01, 0.05), 2)


def cumulative_incidence_by_arm(tte: pd.DataFrame, outcome: str, population: str, alpha: float = 0.10,
                                min_cell: int = 11) -> pd.DataFrame:
    """1 - Kaplan-Meier by arm on a 0.05-year grid to 5 years, with pointwise (1 - alpha) bands.

    Carries no counts. The curve stops where fewer than ``min_cell`` beneficiaries remain at
    risk in an arm, so that no step reveals a small number of people.
    """
    duration, event, label = OUTCOMES[outcome]
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])]
    rows = []
    for mh, arm in ((1, "intervention"), (0, "control")):
        d = df[df["MH"] == mh]
        if len(d) == 0:
            continue
        km = KaplanMeierFitter(alpha=alpha).fit(d[duration], d[event])
        times = np.sort(d[duration].to_numpy(float))
        times = times[~np.isnan(times)]
        at_risk = len(times) - np.searchsorted(times, GRID, side="left")  # durations >= each grid time
        s = km.survival_function_at_times(GRID).to_numpy()
        ci = km.confidence_interval_survival_function_
        lo = np.interp(GRID, ci.index.to_numpy(), ci.iloc[:, 0].to_numpy())
        hi = np.interp(GRID, ci.index.to_numpy(), ci.iloc[:, 1].to_numpy())
        keep = at_risk >= min_cell
        rows.append(pd.DataFrame({"outcome": outcome, "outcome_label": label, "population": population,
                                  "arm": arm, "years": GRID[keep], "cumulative_incidence": 1 - s[keep],
                                  "lower": 1 - hi[keep], "upper": 1 - lo[keep]}))
    return pd.concat(rows, ignore_index=True)
