"""Linear mixed model with two nested random intercepts (beneficiaries within organizations).

Why it exists: Equation 1 needs organization and beneficiary random intercepts, observation
(precision) weights and REML on about 900,000 beneficiary-years. statsmodels' MixedLM takes no
observation weights and is far too slow with nested variance components (its issues #9097 and
#2452); lme4 is R. This engine exploits the block structure: with V = W^-1 + g_b Z_b Z_b' + g_o Z_o Z_o'
(in units of the residual variance), every quantity a' V^-1 b is a sum over rows, then over
beneficiaries (Sherman-Morrison) and over organizations (Woodbury), with no n x n matrix and no
Python loop over beneficiaries. The fixed effects and residual variance are profiled out and the
criterion is optimized over the two standard-deviation ratios theta = sqrt(g), as lme4 does. Each
evaluation costs O(B p^2) for B beneficiaries after one O(n p^2) pass.

It reproduces lme4's ``lmer(y ~ ... + (1|org) + (1|bene), weights = w, REML = TRUE)`` (tested in
tests/test_nested_lmm.py against values from benchmarks/r/lmer_reference.R, and against
statsmodels MixedLM on unweighted data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import optimize

from mheval.models.nesting import nesting
from mheval.models.wald import wald_table


@dataclass
class NestedLMMResult:
    """Fit of :func:`fit_nested_lmm`: params, bse, cov_params(), variance_components, llf."""

    params: pd.Series
    bse: pd.Series
    variance_components: dict
    llf: float
    reml: bool
    n_obs: int
    n_groups: dict
    converged: bool
    _cov: pd.DataFrame
    theta: np.ndarray
    cov_type: str = "model"
    df: pd.Series | None = None  # Satterthwaite df per coefficient (CR2); None: normal reference
    bse_model: pd.Series | None = None  # model-based SEs, kept beside the CR2 ones
    robust: object | None = None  # mheval.models.cluster_robust.ClusterRobust: df of any contrast

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (of ``cov_type``)."""
        return self._cov

    def summary(self, alpha: float = 0.10) -> pd.DataFrame:
        """Fixed effects with standard errors, z (t with CR2), p-values and (1 - alpha) intervals."""
        return wald_table(self.params, self.bse, alpha, df=self.df)


class _Blocks:
    """Row, beneficiary and organization sums that do not depend on the variance ratios."""

    def __init__(self, X, y, w, bene_idx, org_of_bene):
        self.n, self.p = X.shape
        self.w = w
        self.bene = bene_idx
        self.org_of_bene = org_of_bene
        nb, no = bene_idx.max() + 1, org_of_bene.max() + 1
        self.nb, self.no = nb, no
        Xy = np.column_stack([X, y])
        wXy = w[:, None] * Xy
        self.M = Xy.T @ wXy  # sum_i w_i z_i z_i'
        self.A = np.zeros((nb, self.p + 1))  # per-beneficiary sums of w z
        np.add.at(self.A, bene_idx, wXy)
        self.s = np.bincount(bene_idx, weights=w, minlength=nb)  # per-beneficiary sum of weights
        self.logw = np.log(w).sum()

    def criterion(self, theta, reml: bool):
        g_o, g_b = theta[0] ** 2, theta[1] ** 2
        db = 1.0 + g_b * self.s
        Ab = self.A / db[:, None]
        M = self.M - g_b * (self.A.T @ Ab)
        C = np.zeros((self.no, self.p + 1))
        np.add.at(C, self.org_of_bene, Ab)
        t = np.bincount(self.org_of_bene, weights=self.s / db, minlength=self.no)
        do = 1.0 + g_o * t
        M = M - g_o * (C.T @ (C / do[:, None]))
        logdet_v = -self.logw + np.log(db).sum() + np.log(do).sum()
        XVX, XVy, yVy = M[:-1, :-1], M[:-1, -1], M[-1, -1]
        L = np.linalg.cholesky(XVX)
        beta = np.linalg.solve(XVX, XVy)
        r = yVy - XVy @ beta
        dof = self.n - self.p if reml else self.n
        crit = logdet_v + dof * (1 + np.log(2 * np.pi * r / dof))
        if reml:
            crit += 2 * np.log(np.diag(L)).sum()
        return crit, beta, r / dof, XVX


def fit_nested_lmm(data: pd.DataFrame, formula: str, org: str, bene: str | None, weights: str | None = None,
                   reml: bool = True, cov_type: str = "model") -> NestedLMMResult:
    """Fit y = X beta + organization intercept + beneficiary intercept + error.

    Parameters
    ----------
    data : one row per observation (e.g. beneficiary-year).
    formula : Wilkinson (patsy) formula of the fixed part, e.g. "y ~ 0 + C(year) + C(year):mh + x1".
    org, bene : columns naming the organization and the beneficiary (beneficiaries are nested in
        organizations; a beneficiary seen in two organizations is an error). ``bene=None`` fits the
        organization intercept only (Equation 2: one observation per beneficiary); the beneficiary
        variance is then reported as 0.
    weights : optional column of precision weights (residual variance sigma^2 / w), as lme4's.
    reml : REML (default) or maximum likelihood.
    cov_type : "model" (model-based covariance, normal reference) or "CR2" (cluster-robust by
        organization with Satterthwaite df, as R's clubSandwich: ``bse`` and ``cov_params()`` are
        then CR2, ``df`` the per-coefficient df, ``bse_model`` the model-based SEs and
        ``robust.contrast(c)`` the variance and df of any contrast; see
        :mod:`mheval.models.cluster_robust`).

    Rows with missing values in the model's columns are dropped (patsy's default); their number is
    the difference between ``len(data)`` and ``n_obs``.
    """
    if cov_type not in ("model", "CR2"):
        raise ValueError(f"cov_type must be 'model' or 'CR2'; got {cov_type!r}")
    y, X = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop")
    rows = X.index
    d = data.loc[rows]
    g = nesting(d, org, bene, weights)
    w, one_level, bene_codes, bene_idx, org_codes, org_of_bene = (g.w, g.one_level, g.bene_codes, g.bene_idx,
                                                                  g.org_codes, g.org_of_bene)
    blocks = _Blocks(X.to_numpy(float), y.to_numpy(float).ravel(), w, bene_idx, org_of_bene)

    def f(theta):
        if one_level:
            theta = np.array([theta[0], 0.0])
        try:
            value = blocks.criterion(theta, reml)[0]
        except np.linalg.LinAlgError:  # numerically singular far from the optimum (huge ratios)
            return 1e300
        return value if np.isfinite(value) else 1e300

    best = None
    starts = ([0.5], [0.1], [1.0]) if one_level else ([0.5, 0.5], [0.1, 1.0], [1.0, 0.1])
    for start in starts:
        res = optimize.minimize(f, start, method="L-BFGS-B", bounds=[(0, None)] * len(start),
                                options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 500})
        if best is None or res.fun < best.fun:
            best = res
    # polish: the criterion is flat in the organization ratio when that variance is small, so
    # finish with a derivative-free search at tight tolerance (bounded at zero by |theta|)
    polish = optimize.minimize(lambda t: f(np.abs(t)), best.x, method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 2000})
    theta = np.abs(polish.x) if polish.fun <= best.fun else best.x
    if one_level:
        theta = np.array([theta[0], 0.0])
    crit, beta, sigma2, XVX = blocks.criterion(theta, reml)
    cov = sigma2 * np.linalg.inv(XVX)
    names = list(X.columns)
    cov_df = pd.DataFrame(cov, index=names, columns=names)
    res = NestedLMMResult(
        params=pd.Series(beta, index=names), bse=pd.Series(np.sqrt(np.diag(cov)), index=names),
        variance_components={"org": sigma2 * theta[0] ** 2, "bene": sigma2 * theta[1] ** 2, "residual": sigma2},
        llf=-crit / 2, reml=reml, n_obs=len(d),
        n_groups={"org": len(org_codes), "bene": 0 if one_level else len(bene_codes)},
        converged=bool(best.success), _cov=cov_df, theta=theta)
    if cov_type == "CR2":
        from mheval.models.cluster_robust import with_cr2
        res = with_cr2(res, X.to_numpy(float), y.to_numpy(float).ravel(), g)
    return res
