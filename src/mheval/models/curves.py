"""Cumulative incidence curves by arm (Kaplan-Meier, unadjusted) for figures.

The Kaplan-Meier estimate and its band are lifelines' ``KaplanMeierFitter`` (log-scale product,
Greenwood variance, exponential Greenwood "log-log" band), computed here in numpy by the same
operations (:func:`kaplan_meier`; equal to lifelines', tests): importing lifelines cost each of the
survival jobs about 0.7 CPU s, more than the curve.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from mheval.models.covariates import POPULATIONS
from mheval.models.equation4 import OUTCOMES

GRID = np.round(np.arange(0, 5.01, 0.05), 2)


class KaplanMeier(NamedTuple):
    """The Kaplan-Meier table at ``timeline`` (0 and every distinct duration, ascending)."""

    timeline: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def survival_at(self, times) -> np.ndarray:
        """S(t) at ``times`` (>= 0): the step function, right-continuous."""
        return self.survival[np.searchsorted(self.timeline, np.asarray(times, float), side="right") - 1]


def kaplan_meier(duration, event, alpha: float = 0.05) -> KaplanMeier:
    """Kaplan-Meier survival from right-censored ``duration`` (>= 0) and ``event`` (1/True an event),
    with the pointwise (1 - alpha) exponential Greenwood band, as lifelines' ``KaplanMeierFitter``
    (no entry times, unit weights): S(t) = exp(sum over t_j <= t of log(n_j - d_j) - log(n_j)), its
    Greenwood sum V(t) of d_j / (n_j (n_j - d_j)) (0 where everyone at risk has the event), and the
    band exp(-exp(log(-log S) -/+ z sqrt(V) / log S)), 1 where undefined (S = 1)."""
    t = np.asarray(duration, float)
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError("durations must be non-negative numbers (no NaN)")
    timeline, j = np.unique(np.r_[0.0, t], return_inverse=True)
    j = j[1:]
    removed = np.bincount(j, minlength=len(timeline))
    deaths = np.bincount(j, weights=np.asarray(event, float) != 0, minlength=len(timeline))
    at_risk = len(t) - np.r_[0, np.cumsum(removed)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.exp(np.cumsum(np.log(at_risk - deaths) - np.log(at_risk)))
        var = np.cumsum(np.where(at_risk == deaths, 0.0, deaths / (at_risk * (at_risk - deaths))))
        v, z = np.log(survival), special.ndtri(1 - alpha / 2)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(var) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(var) / v))
    return KaplanMeier(timeline, survival, np.nan_to_num(lower, nan=1.0), np.nan_to_num(upper, nan=1.0))


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
        km = kaplan_meier(d[duration], d[event], alpha)
        times = np.sort(d[duration].to_numpy(float))
        at_risk = len(times) - np.searchsorted(times, GRID, side="left")  # durations >= each grid time
        s = km.survival_at(GRID)
        lo = np.interp(GRID, km.timeline, km.lower)
        hi = np.interp(GRID, km.timeline, km.upper)
        keep = at_risk >= min_cell
        rows.append(pd.DataFrame({"outcome": outcome, "outcome_label": label, "population": population,
                                  "arm": arm, "years": GRID[keep], "cumulative_incidence": 1 - s[keep],
                                  "lower": 1 - hi[keep], "upper": 1 - lo[keep]}))
    return pd.concat(rows, ignore_index=True)
