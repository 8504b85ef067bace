"""Risk at registry visits: indicators per visit, recomputed 10-year risk, reported-score checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.risk.pooled_cohort import pooled_cohort_risk

RISK_INPUTS = ["total_cholesterol", "hdl", "systolic_bp", "smoking", "diabetes", "antihypertensive"]


def visit_indicators(visits: pd.DataFrame, clinical: pd.DataFrame, plausible: dict) -> tuple[pd.DataFrame, int]:
    """One row per visit with its indicators as columns (long clinical file pivoted).

    Values outside ``plausible`` (indicator -> (low, high)) are set to missing, as documented in
    the data contract. Returns (frame, number of values set to missing).
    """
    c = clinical.copy()
    n_bad = 0
    for ind, (lo, hi) in plausible.items():
        m = (c["INDICATOR"] == ind) & ((c["VALUE"] < lo) | (c["VALUE"] > hi))
        n_bad += int(m.sum())
        c.loc[m, "VALUE"] = np.nan
    wide = c.pivot_table(index="VISIT_ID", columns="INDICATOR", values="VALUE", aggfunc="first", dropna=False,
                         observed=True)  # INDICATOR may be categorical: only the indicators present
    out = visits.merge(wide, left_on="VISIT_ID", right_index=True, how="left")
    return out, n_bad


def visit_risk(wide: pd.DataFrame, age: pd.Series, sex: pd.Series, race: pd.Series) -> np.ndarray:
    """Pooled-cohort 10-year risk at each visit from its reported indicators (NaN if incomplete).

    Inputs within plausible ranges but outside the equations' ranges are clipped, as for the
    baseline risk. ``age``, ``sex`` and ``race`` are aligned with ``wide``'s rows.
    """
    complete = wide[RISK_INPUTS].notna().all(axis=1).to_numpy() & age.notna().to_numpy()
    risk = np.full(len(wide), np.nan)
    if complete.any():
        w = wide.loc[complete]
        risk[complete] = pooled_cohort_risk(np.clip(age[complete], 40, 79), sex[complete], race[complete],
                                            w["total_cholesterol"], w["hdl"], w["systolic_bp"],
                                            w["antihypertensive"] > 0, w["smoking"] > 0, w["diabetes"] > 0,
                                            out_of_range="clip")
    return risk


def reported_risk_check(reported: pd.Series, computed: pd.Series, tolerance: float) -> dict:
    """Compare registry-reported scores with recomputed ones: how many differ by more than
    ``tolerance`` (absolute, as a fraction)."""
    m = reported.notna() & computed.notna()
    diff = (reported[m] - computed[m]).abs()
    return {"compared": int(m.sum()), "beyond_tolerance": int((diff > tolerance).sum()), "tolerance": tolerance}
