"""The adjustment covariates shared by every impact model (beneficiary x_i and organization z_p)."""

from __future__ import annotations

import numpy as np
import pandas as pd

POPULATIONS = {"high": ("high",), "medium": ("medium",), "high_medium": ("high", "medium")}


def adjustment_covariates(df: pd.DataFrame, population: str) -> pd.DataFrame:
    """Covariates measured at enrollment, as numeric columns: age (per 10 years from 70), male,
    Black, dual status (with an indicator of unknown status), log baseline risk, smoking, diabetes, treated blood pressure, high risk (in
    pooled populations), rural, health-system owned, organization type, and the log number of the
    organization's analyzed beneficiaries when the frame carries it (``ORG_N_ENROLLED``)."""
    x = pd.DataFrame(index=df.index)
    x["AGE10"] = (df["AGE"] - 70) / 10
    x["MALE"] = (df["SEX"] == "male").astype(float)
    x["BLACK"] = (df["RACE"] == "black").astype(float)
    dual = df["DUAL"].astype(float)
    x["DUAL"] = dual.fillna(0.0)  # unknown dual status: its own indicator (dropped when constant)
    x["DUAL_UNKNOWN"] = dual.isna().astype(float)
    x["LOG_RISK"] = np.log(df["RISK"])
    x["SMOKER"] = (df["smoking"] > 0).astype(float)
    x["DIABETES"] = (df["diabetes"] > 0).astype(float)
    x["BP_TREATED"] = (df["antihypertensive"] > 0).astype(float)
    if len(POPULATIONS[population]) > 1:
        x["HIGH_RISK"] = (df["STRATUM"] == "high").astype(float)
    x["RURAL"] = df["RURAL"].astype(float)
    x["HEALTH_SYSTEM"] = df["HEALTH_SYSTEM"].astype(float)
    for t in ("cardiology", "multispecialty"):
        x[f"TYPE_{t.upper()}"] = (df["ORG_TYPE"] == t).astype(float)
    if "ORG_N_ENROLLED" in df.columns:
        x["LOG_ORG_SIZE"] = np.log(df["ORG_N_ENROLLED"])
    return x


def independent_covariates(d: pd.DataFrame, covs: list[str], year: str = "YEAR", treatment: str = "MH",
                           tol: float = 1e-9) -> tuple[list[str], list[str]]:
    """Split ``covs`` into (kept, dropped): a covariate is dropped when it is a linear combination of
    the year and year x treatment terms of Equations 1-2 and the covariates kept before it (greedy,
    in order; e.g. an unknown-dual indicator equal to a missing-baseline flag in files without dual
    status). Exact collinearity only: the squared residual of a column (scaled to unit length) on
    those before it must be below ``tol``. Works on the p x p Gram matrix (one pass over the rows)."""
    yrs = d[year].to_numpy()
    trt = d[treatment].to_numpy(float)
    levels = np.unique(yrs)
    base = [(yrs == t).astype(float) for t in levels] + [((yrs == t) * trt) for t in levels]
    X = np.column_stack(base + [d[c].to_numpy(float) for c in covs])
    norms = np.sqrt((X * X).sum(axis=0))
    X = X / np.where(norms > 0, norms, 1.0)
    G = X.T @ X
    keep = [j for j in range(len(base)) if norms[j] > 0]
    kept, dropped = [], []
    for k, c in enumerate(covs, start=len(base)):
        if norms[k] > 0:
            g = G[np.ix_(keep, [k])]
            coef = np.linalg.lstsq(G[np.ix_(keep, keep)], g, rcond=None)[0]
            resid = float(G[k, k] - (g.T @ coef)[0, 0])
        else:
            resid = 0.0
        if resid > tol:
            keep.append(k)
            kept.append(c)
        else:
            dropped.append(c)
    return kept, dropped
