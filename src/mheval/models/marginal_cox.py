"""Marginal Cox model with cluster-robust (sandwich) standard errors by organization.

The sensitivity analysis of Equation 4 (evaluation design report, section V.B): the
population-averaged hazard ratio of intervention vs control, with a variance that accounts for
randomization by organization (Lin and Wei 1989). Fitted with :func:`mheval.models.cox_engine.fit_cox`
(Efron ties), which agrees with lifelines and statsmodels and runs in seconds at the trial's size,
where their sandwich estimators take many minutes (see that module).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models.cox_engine import fit_cox


@dataclass
class CoxResult:
    """Coefficients, robust standard errors and the treatment hazard ratio of a Cox fit."""

    params: pd.Series
    bse: pd.Series
    n: int
    n_events: int
    n_clusters: int
    treatment: str
    log_likelihood: float

    def hazard_ratios(self, alpha: float = 0.10) -> pd.DataFrame:
        """Hazard ratios with (1 - alpha) confidence intervals and two-sided p-values."""
        z = stats.norm.ppf(1 - alpha / 2)
        out = pd.DataFrame({"hr": np.exp(self.params), "lower": np.exp(self.params - z * self.bse),
                            "upper": np.exp(self.params + z * self.bse),
                            "p": 2 * stats.norm.sf(np.abs(self.params / self.bse))})
        return out

    def summary(self, alpha: float = 0.10) -> pd.DataFrame:
        """Coefficient table: coef, se, z, p, hazard ratio and interval."""
        hr = self.hazard_ratios(alpha)
        return pd.DataFrame({"coef": self.params, "se": self.bse, "z": self.params / self.bse}).join(hr)


def fit_marginal_cox(data: pd.DataFrame, duration: str, event: str, covariates: list[str],
                     cluster: str, treatment: str = "MH") -> CoxResult:
    """Fit a Cox model with sandwich standard errors clustered on ``cluster``.

    ``covariates`` must include ``treatment``; categorical covariates should be dummy-coded by
    the caller. Columns with no variation are dropped (and not reported).
    """
    cols = [c for c in covariates if data[c].nunique(dropna=False) > 1 or c == treatment]
    df = data[[duration, event, cluster] + cols].copy()
    if df.isna().any().any():
        bad = df.columns[df.isna().any()].tolist()
        raise ValueError(f"missing values in model columns {bad}")
    fit = fit_cox(df[duration].to_numpy(), df[event].to_numpy(), df[cols].to_numpy(), cluster=df[cluster].to_numpy())
    if not fit.converged:
        raise RuntimeError(f"Cox model did not converge in {fit.n_iter} iterations")
    return CoxResult(params=pd.Series(fit.params, index=cols), bse=pd.Series(np.sqrt(np.diag(fit.robust_cov)), index=cols),
                     n=len(df), n_events=int(df[event].sum()), n_clusters=int(df[cluster].nunique()),
                     treatment=treatment, log_likelihood=fit.loglik)


def crude_rates(data: pd.DataFrame, duration: str, event: str, arm: str = "MH") -> dict:
    """Events, person-years and crude rate per 1,000 person-years by arm."""
    out = {}
    for value, name in ((1, "intervention"), (0, "control")):
        d = data[data[arm] == value]
        py = float(d[duration].sum())
        ev = int(d[event].sum())
        out[name] = {"n": len(d), "events": ev, "person_years": py,
                     "rate_per_1000py": 1000 * ev / py if py > 0 else float("nan")}
    return out
