"""Group indices shared by the nested mixed-model engines (beneficiaries within organizations)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Nesting:
    """Observation weights and the beneficiary and organization index of every row.

    ``bene_idx`` (row -> beneficiary), ``org_of_bene`` (beneficiary -> organization), the code
    arrays and ``one_level`` (no beneficiary intercept: each row is its own "beneficiary")."""

    w: np.ndarray
    bene_codes: np.ndarray
    bene_idx: np.ndarray
    org_codes: np.ndarray
    org_of_bene: np.ndarray
    one_level: bool


def nesting(d: pd.DataFrame, org: str, bene: str | None, weights: str | None) -> Nesting:
    """Check and index the rows of ``d``: positive finite weights (1 when ``weights`` is None) and
    beneficiaries nested in organizations (a beneficiary in two organizations is an error)."""
    w = d[weights].to_numpy(float) if weights else np.ones(len(d))
    if (w <= 0).any() or not np.isfinite(w).all():
        raise ValueError(f"weights in '{weights}' must be positive and finite; drop rows with zero weight first")
    one_level = bene is None
    bene_values = np.arange(len(d)) if one_level else d[bene].to_numpy()
    bene_codes, bene_idx = np.unique(bene_values, return_inverse=True)
    org_codes, org_idx = np.unique(d[org].to_numpy(), return_inverse=True)
    org_of_bene = np.zeros(len(bene_codes), dtype=np.intp)
    org_of_bene[bene_idx] = org_idx
    if (org_of_bene[bene_idx] != org_idx).any():
        raise ValueError(f"'{bene}' is not nested in '{org}': a beneficiary appears in two organizations")
    return Nesting(w, bene_codes, bene_idx.astype(np.intp), org_codes, org_of_bene, one_level)
