"""Impact tables built from the model result files."""

from __future__ import annotations

import numpy as np
import pandas as pd

POPULATION_LABELS = {"high": "High risk", "medium": "Medium risk", "high_medium": "High + medium risk"}


def hazard_ratio_table(results: list[dict], min_cell: int = 11) -> pd.DataFrame:
    """Rows per outcome and population: events, person-years and rate per 1,000 person-years by
    arm, hazard ratio with its interval and p-value, and P(HR < 1) (shaped like the trial's
    published Table 3). Event counts from 1 to ``min_cell - 1`` are suppressed together with the
    rate that would reveal them."""
    rows = []
    for r in results:
        row = {"outcome": r["outcome_label"], "population": POPULATION_LABELS.get(r["population"], r["population"])}
        for arm in ("intervention", "control"):
            c = r["crude"][arm]
            small = 0 < c["events"] < min_cell
            row[f"n_events_{arm}"] = np.nan if small else c["events"]
            row[f"person_years_{arm}"] = round(c["person_years"])
            row[f"rate_per_1000py_{arm}"] = np.nan if small else c["rate_per_1000py"]
        pct = int(round(100 * (1 - r["alpha"])))
        row["hazard_ratio"] = r["hr"]
        row[f"ci{pct}_lower"] = r["lower"]
        row[f"ci{pct}_upper"] = r["upper"]
        row["p_value"] = r["p"]
        row["prob_reduction"] = r["prob_hr_below_1"]
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in out.columns:
        if c.startswith("n_events_"):
            out[c] = out[c].astype("Int64")
    return out
