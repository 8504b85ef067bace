"""Linear mixed model with two nested random intercepts (beneficiaries within organizations).

Why it exists: Equation 1 needs organization and beneficiary random intercepts, observation
(precision) weights and REML on about 900,000 beneficiary-years. statsmodels' MixedLM takes no
observation weights and is far too slow with nested variance components (its issues #9097 and
#2452); lme4 is R. This engine works from the model's structure: with V = W^-1 + g_b Z_b Z_b' +
g_o Z_o Z_o' (in units of the residual variance), every quantity a' V^-1 b is a sum over rows, then
over beneficiaries (Sherman-Morrison) and over organizations (Woodbury), with no n x n matrix and no
Python loop over beneficiaries. One pass over the rows builds the sufficient statistics (see
``_Profile``); the fixed effects and residual variance are profiled out, as in lme4, and the
profiled REML/ML criterion is minimized over the variance ratios g = theta^2 >= 0 with its analytic
gradient. Each evaluation costs at most O(B p^2) for B beneficiaries, and much less when the
beneficiaries' total weights take few distinct values, whatever the number of rows. A variance at
zero is an active bound of that search (lme4's bobyqa stops on the bound theta = 0 the same way)
rather than a flat direction to crawl along.

It reproduces lme4's ``lmer(y ~ ... + (1|org) + (1|bene), weights = w, REML = TRUE)`` (tested in
tests/test_nested_lmm.py against values from benchmarks/r/lmer_reference.R and, at the boundary,
benchmarks/r/lmer_boundary_reference.R, and against
statsmodels MixedLM on unweighted data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from mheval.models.nesting import model_matrices, nesting, one_blas_thread
from mheval.progress import FitProgress
from mheval.models.result import ModelResult

log = logging.getLogger(__name__)


@dataclass
class NestedLMMResult(ModelResult):
    """Fit of :func:`fit_nested_lmm`, with the interface of :class:`~mheval.models.result.ModelResult`
    (params, bse, cov_params(), conf_int(), pvalues, llf, nobs, summary(); t(df) reference with
    CR2 or CR3), and variance_components, n_groups, theta."""

    params: pd.Series
    bse: pd.Series
    variance_components: dict
    llf: float
    reml: bool
    nobs: int
    n_groups: dict
    converged: bool
    _cov: pd.DataFrame
    theta: np.ndarray
    cov_type: str = "model"
    df: pd.Series | None = None  # t reference df per coefficient (CR2: Satterthwaite, CR3: G - 1); None: normal
    bse_model: pd.Series | None = None  # model-based SEs, kept beside the cluster-robust ones
    robust: object | None = None  # mheval.models.cluster_robust.ClusterRobust: df of any contrast
    robust_cr2: object | None = None  # with CR3: the CR2 ClusterRobust, for comparison

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (of ``cov_type``)."""
        return self._cov


def group_sum(idx, n_groups, rows, weights=None):
    """Per group: the sum of the rows (a 2-D array) of its members, each times its weight (default 1),
    as one sparse product (column-compressed: one entry per row, no sort)."""
    n = len(idx)
    data = np.ones(n) if weights is None else np.asarray(weights, float)
    return sparse.csc_matrix((data, np.asarray(idx, np.intp), np.arange(n + 1)), shape=(n_groups, n)) @ rows


class _Profile:
    """The profiled REML/ML criterion of the nested model and its gradient, from sufficient statistics.

    One pass over the rows builds M0 = sum_i w_i z_i z_i' (z = (x, y)), per-beneficiary sums
    a_b = sum_i w_i z_i and s_b = sum_i w_i. Beneficiaries with the same organization and the same
    s_b enter the criterion identically except through a_b, so they are pooled exactly into cells
    (per cell: count, s, sum of a_b), and sum_b a_b a_b' f(s_b) is kept per distinct value of s_b
    (G_k) when those are few (share-of-year weights), else computed from the a_b (one product).
    For g = (g_o, g_b) (variance ratios to the residual variance), with d_b = 1 + g_b s_b,
    C_o = sum_{b in o} a_b / d_b, t_o = sum_{b in o} s_b / d_b and D_o = 1 + g_o t_o,

        M(g) = (x, y)' V^-1 (x, y) = M0 - g_b sum_b a_b a_b' / d_b - g_o sum_o C_o C_o' / D_o,
        log det V = -sum log w + sum_b log d_b + sum_o log D_o,

    and the profiled criterion (-2 log-likelihood with beta and sigma^2 concentrated out) is
    log det V + dof (1 + log(2 pi r / dof)) [+ log det X'V^-1 X for REML], r = y'V^-1 y - b'X'V^-1 y.
    The gradient in g differentiates these sums directly. Cost per evaluation: O(K p^2 + cells p)
    with K distinct s_b values (O(B p^2) at worst), independent of the number of rows."""

    def __init__(self, X, y, w, bene_idx, org_of_bene):
        n, p = X.shape
        Z = np.empty((n, p + 1))
        Z[:, :-1], Z[:, -1] = X, y
        wZ = w[:, None] * Z
        M0 = Z.T @ wZ
        del Z
        A = group_sum(bene_idx, len(org_of_bene), wZ)
        del wZ
        s = np.bincount(bene_idx, weights=w, minlength=len(org_of_bene))
        self._setup(M0, A, s, np.log(w).sum(), n, org_of_bene)

    @classmethod
    def from_statistics(cls, st: "NestedLMMStatistics") -> "_Profile":
        """The criterion of the model whose sufficient statistics are ``st`` (no pass over rows); with
        ``st.M0_org`` it also gives each organization's blocks (:meth:`org_blocks`, CR2)."""
        self = cls.__new__(cls)
        self._setup(st.M0, st.A, st.s, st.logw, st.n, st.org_of_bene)
        if st.M0_org is not None:
            self._M0_org = st.M0_org
            self._bene_order = np.argsort(st.org_of_bene, kind="stable")
            self._org_starts = np.searchsorted(st.org_of_bene[self._bene_order], np.arange(self.no))
            self._A_by_org = st.A[self._bene_order]
            self._s_by_org = st.s[self._bene_order]
        return self

    def _setup(self, M0, A, s, logw, n, org_of_bene):
        """Cells, level sums and the rest of the criterion's statistics from M0, A, s (see the class)."""
        self.n, self.p = n, M0.shape[0] - 1
        k = self.p + 1
        self.M0, self.logw = M0, logw
        nb, self.no = len(org_of_bene), int(org_of_bene.max()) + 1
        s_levels, level = np.unique(s, return_inverse=True)
        K = len(s_levels)
        cell_codes, cell = np.unique(org_of_bene.astype(np.int64) * K + level, return_inverse=True)
        self.cell_org = (cell_codes // K).astype(np.intp)  # sorted: cells of one organization are adjacent
        self.cell_s = s_levels[cell_codes % K]
        self.cell_n = np.bincount(cell, minlength=len(cell_codes)).astype(float)
        self.S = group_sum(cell, len(cell_codes), A)
        # organization x cell incidence (CSR, one entry per cell, in cell order): organization sums of
        # cell values weighted by f are one sparse product (E with data f) @ S
        self._E = (np.arange(len(cell_codes)), np.searchsorted(self.cell_org, np.arange(self.no + 1)))
        if K * k <= nb:  # few distinct s_b: sum_b a_b a_b' per level
            order = np.argsort(level, kind="stable")
            edges = np.searchsorted(level[order], np.arange(K + 1))
            A = A[order]
            self.G = np.empty((K, k, k))
            for j in range(K):
                a = A[edges[j]:edges[j + 1]]
                self.G[j] = a.T @ a
            self.s_bene, self.A = s_levels, None
        else:
            self.G, self.s_bene, self.A = None, s, A
        self.n_cells, self.n_levels = len(cell_codes), K

    def org_blocks(self, g) -> np.ndarray:
        """Per organization j: M_j(g) = (x, y)_j' V_j^-1 (x, y)_j (J x k x k; their sum is M(g) of
        :meth:`criterion`), from the per-organization M0_j of :meth:`from_statistics`:
        M_j = M0_j - g_b sum_{b in j} a_b a_b' / d_b - g_o C_j C_j' / D_j."""
        g_o, g_b = float(g[0]), float(g[1])
        d = 1.0 + g_b * self.cell_s
        C = self._org_sum(1.0 / d, self.S)
        D = 1.0 + g_o * self._org_sum(1.0 / d, self.cell_n * self.cell_s)
        out = self._M0_org - g_o * (C[:, :, None] * (C / D[:, None])[:, None, :])
        if g_b:
            f = g_b / (1.0 + g_b * self._s_by_org)
            edges = np.append(self._org_starts, len(f))
            for j in range(self.no):
                a = self._A_by_org[edges[j]:edges[j + 1]]
                out[j] -= a.T @ (a * f[edges[j]:edges[j + 1], None])
        return out

    def _bene_sum(self, f):
        """sum_b a_b a_b' f_b, f given per level (G) or per beneficiary (A)."""
        return np.tensordot(f, self.G, axes=1) if self.G is not None else self.A.T @ (self.A * f[:, None])

    def _org_sum(self, f, values):
        """Per organization: sum over its cells of f_c * values_c (values: the cell sums S or a vector)."""
        indices, indptr = self._E
        return sparse.csr_matrix((f, indices, indptr), shape=(self.no, len(f))) @ values

    def criterion(self, g, reml: bool, gradient: bool = False):
        """(criterion, beta, sigma^2, X'V^-1X[, gradient in g]) at variance ratios g = (g_o, g_b)."""
        g_o, g_b = float(g[0]), float(g[1])
        p = self.p
        d = 1.0 + g_b * self.cell_s
        inv_level = 1.0 / (1.0 + g_b * self.s_bene)
        C = self._org_sum(1.0 / d, self.S)
        t = self._org_sum(1.0 / d, self.cell_n * self.cell_s)
        D = 1.0 + g_o * t
        CD = C / D[:, None]
        M = self.M0 - g_o * (C.T @ CD)
        if g_b:
            M -= g_b * self._bene_sum(inv_level)
        logdet_v = -self.logw + self.cell_n @ np.log(d) + np.log(D).sum()
        XVX, XVy = M[:p, :p], M[:p, p]
        L = np.linalg.cholesky(XVX)
        beta = np.linalg.solve(XVX, XVy)
        r = M[p, p] - XVy @ beta
        if not r > 0:
            raise np.linalg.LinAlgError("non-positive residual sum of squares")
        dof = self.n - p if reml else self.n
        crit = logdet_v + dof * (1 + np.log(2 * np.pi * r / dof))
        if reml:
            crit += 2 * np.log(np.diag(L)).sum()
        if not gradient:
            return crit, beta, r / dof, XVX
        # derivatives of M and log det V in g_o and g_b
        dM_o = -(CD.T @ CD)
        dlog_o = (t / D).sum()
        dC_b = -self._org_sum(self.cell_s / d ** 2, self.S)
        dt_b = -self._org_sum(self.cell_s / d ** 2, self.cell_n * self.cell_s)
        cross = dC_b.T @ CD
        dM_b = -self._bene_sum(inv_level ** 2) - g_o * (cross + cross.T - (CD * (g_o * dt_b)[:, None]).T @ CD)
        dlog_b = self.cell_n @ (self.cell_s / d) + g_o * (dt_b / D).sum()
        v = np.append(-beta, 1.0)
        Linv = np.linalg.inv(L)
        grad = np.empty(2)
        for j, (dM, dlog) in enumerate(((dM_o, dlog_o), (dM_b, dlog_b))):
            grad[j] = dlog + dof * (v @ dM @ v) / r
            if reml:
                grad[j] += np.sum((Linv @ dM[:p, :p]) * Linv)  # tr(XVX^-1 dXVX)
        return crit, beta, r / dof, XVX, grad


COV_TYPES = ("model", "CR2", "CR3")


def check_cov_type(cov_type: str) -> str:
    """``cov_type`` if it is one of :data:`COV_TYPES` (config ``models.lmm_cov_type``), else one clear ValueError."""
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {list(COV_TYPES)}; got {cov_type!r}")
    return cov_type


@one_blas_thread
def fit_nested_lmm(data: pd.DataFrame, formula: str, org: str, bene: str | None, weights: str | None = None,
                   reml: bool = True, cov_type: str = "model", start=None) -> NestedLMMResult:
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
    cov_type : "model" (model-based covariance, normal reference), "CR2" (cluster-robust by
        organization with Satterthwaite df, as R's clubSandwich: ``bse`` and ``cov_params()`` are
        then CR2, ``df`` the per-coefficient df, ``bse_model`` the model-based SEs and
        ``robust.contrast(c)`` the variance and df of any contrast; see
        :mod:`mheval.models.cluster_robust`) or "CR3" (the jackknife-type adjustment, clubSandwich's
        CR3, with t(G - 1) references; CR2 kept in ``robust_cr2``).
    start : optional starting variance ratios (organization, beneficiary) to the residual variance,
        e.g. ``theta ** 2`` of a fit of a similar model of the same data (default 0.25 each; negative
        or non-finite values are an error). The search maximizes the same likelihood from anywhere,
        so only the number of evaluations changes (and the estimates within the convergence tolerance).

    Rows with missing values in the model's columns are dropped (patsy's default); their number is
    the difference between ``len(data)`` and ``nobs``.

    The variance ratios are estimated on [0, inf) with the analytic gradient of the profiled
    criterion (L-BFGS-B, then projected Newton steps): a variance at zero is an active bound, where
    the search stops as lme4's does, instead of a flat direction to crawl along. ``converged`` means
    the bound constraints hold with a non-negative gradient and the Newton decrement of the free
    ratios is below 1e-10 (in units of the criterion, -2 log-likelihood).
    """
    check_cov_type(cov_type)
    y, X = model_matrices(formula, data)
    d = data.loc[X.index, [c for c in (org, bene, weights) if c]]
    g = nesting(d, org, bene, weights)
    prof = _Profile(X.to_numpy(float), y.to_numpy(float)[:, 0], g.w, g.bene_idx, g.org_of_bene)
    res = _fit_profile(prof, list(X.columns), reml, start, g.one_level,
                       {"org": len(g.org_codes), "bene": 0 if g.one_level else len(g.bene_codes)})
    if cov_type != "model":
        from mheval.models.cluster_robust import with_cr2
        res = with_cr2(res, X.to_numpy(float), y.to_numpy(float).ravel(), g, adjustment=cov_type)
    return res


@dataclass
class NestedLMMStatistics:
    """Sufficient statistics of the two-level nested LMM (rows within beneficiaries within
    organizations), from which :func:`fit_nested_lmm_statistics` fits it without the rows.

    With z_i = (x_i, y_i) (k = p + 1 entries, the outcome last) and precision weights w_i:
    ``M0`` = sum_i w_i z_i z_i' (k x k); ``A`` = per beneficiary sum_i w_i z_i (B x k); ``s`` = per
    beneficiary sum_i w_i; ``org_of_bene`` the organization index 0.. of each beneficiary; ``n`` the
    number of rows; ``logw`` = sum_i log w_i; ``names`` the p fixed-effect names; ``M0_org``
    (optional, J x k x k) the organizations' parts of M0, needed for CR2. A caller that fits many
    designs sharing most columns (the subgroup dimensions of one outcome) builds the shared blocks
    once and borders them per design (:mod:`mheval.subgroups.interaction`)."""

    M0: np.ndarray
    A: np.ndarray
    s: np.ndarray
    org_of_bene: np.ndarray
    n: int
    logw: float
    names: list
    M0_org: np.ndarray | None = None

    @classmethod
    def from_rows(cls, X, y, w, bene_idx, org_of_bene, names=None) -> "NestedLMMStatistics":
        """The statistics (with ``M0_org``) of rows X (n x p), y, w, beneficiary index per row and
        organization index per beneficiary (as :class:`mheval.models.nesting.Nesting` holds them)."""
        X, y, w = np.asarray(X, float), np.asarray(y, float).ravel(), np.asarray(w, float)
        Z = np.column_stack([X, y])
        wZ = w[:, None] * Z
        nb = len(org_of_bene)
        org = org_of_bene[bene_idx]
        J = int(org_of_bene.max()) + 1
        order = np.argsort(org, kind="stable")
        edges = np.searchsorted(org[order], np.arange(J + 1))
        M0_org = np.empty((J, Z.shape[1], Z.shape[1]))
        for j in range(J):
            r = order[edges[j]:edges[j + 1]]
            M0_org[j] = Z[r].T @ wZ[r]
        return cls(M0=M0_org.sum(axis=0), A=group_sum(bene_idx, nb, wZ),
                   s=np.bincount(bene_idx, weights=w, minlength=nb), org_of_bene=np.asarray(org_of_bene),
                   n=len(y), logw=float(np.log(w).sum()),
                   names=list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])], M0_org=M0_org)


@one_blas_thread
def fit_nested_lmm_statistics(st: NestedLMMStatistics, reml: bool = True, cov_type: str = "model",
                              start=None) -> NestedLMMResult:
    """:func:`fit_nested_lmm` (beneficiary and organization intercepts, precision weights) from the
    model's sufficient statistics instead of its rows: the same criterion, search and result
    (``nobs`` = ``st.n``). ``cov_type="CR2"`` (or "CR3") needs ``st.M0_org`` and gives the whitened CR2 form
    (:func:`mheval.models.cluster_robust.cr2` with ``form="whitened"``, the form its ``"auto"`` takes for
    precision weights with more than 3 distinct values) from each organization's Gram matrix
    X_j' V_j^-1 X_j and X_j' V_j^-1 r_j, both blocks of M_j(g) (no pass over rows)."""
    check_cov_type(cov_type)
    if cov_type != "model" and st.M0_org is None:
        raise ValueError(f"{cov_type} from sufficient statistics needs the organizations' blocks M0_org")
    prof = _Profile.from_statistics(st)
    res = _fit_profile(prof, list(st.names), reml, start, False, {"org": prof.no, "bene": len(st.s)})
    if cov_type != "model":
        from mheval.models.cluster_robust import with_cr2
        p, beta = prof.p, res.params.to_numpy()
        Mj = prof.org_blocks(res.theta ** 2)
        G = Mj[:, :p, :p]
        res = with_cr2(res, gram=(G, Mj[:, :p, p] - G @ beta), adjustment=cov_type)
    return res


def _fit_profile(prof: _Profile, names: list, reml: bool, start, one_level: bool, n_groups: dict) -> NestedLMMResult:
    """Minimize the profiled criterion over the variance ratios and return the model-based fit."""
    progress = FitProgress(log, f"nested LMM ({prof.n:,} rows, {n_groups['bene'] or prof.n:,} beneficiaries, "
                                f"{n_groups['org']:,} organizations)")
    free = 1 if one_level else 2  # (g_o) or (g_o, g_b)

    def fg(x):
        ratios = np.append(x, 0.0) if one_level else x
        try:
            crit, *_, grad = prof.criterion(ratios, reml, gradient=True)
        except np.linalg.LinAlgError:  # numerically singular far from the optimum (huge ratios)
            return 1e300, np.zeros(free)
        progress.update(crit)
        return (crit, grad[:free]) if np.isfinite(crit) else (1e300, np.zeros(free))

    x0 = np.full(free, 0.25)
    if start is not None:
        st = np.asarray(start, float).ravel()
        if st.shape != (2,) or not (np.isfinite(st).all() and (st >= 0).all()):
            raise ValueError(f"start must be two finite non-negative variance ratios, got {start!r}")
        x0 = st[:free]
    x, crit, converged = _bounded_minimize(fg, x0)
    ratios = np.append(x, 0.0) if one_level else x
    progress.done(crit, converged)
    crit, beta, sigma2, XVX = prof.criterion(ratios, reml)
    cov = sigma2 * np.linalg.inv(XVX)
    cov_df = pd.DataFrame(cov, index=names, columns=names)
    return NestedLMMResult(
        params=pd.Series(beta, index=names), bse=pd.Series(np.sqrt(np.diag(cov)), index=names),
        variance_components={"org": sigma2 * ratios[0], "bene": sigma2 * ratios[1], "residual": sigma2},
        llf=-crit / 2, reml=reml, nobs=prof.n, n_groups=n_groups,
        converged=converged, _cov=cov_df, theta=np.sqrt(ratios))


def _bounded_minimize(fg, x0, tol=1e-10, maxiter=200):
    """Minimize fg (value, gradient) over x >= 0 by projected Newton steps: the Hessian of the free
    coordinates (those above zero or pushed inward by the gradient) from forward differences of the
    analytic gradient, a scaled gradient step where it is not positive definite, and backtracking
    along the projected path. Returns (x, value, converged): converged when every coordinate at zero
    has a non-negative gradient and the Newton decrement of the free ones is below ``tol``."""
    x = np.asarray(x0, float)
    f, gr = fg(x)
    converged = False
    for _ in range(maxiter):
        active = (x <= 0) & (gr >= 0)
        if active.all():
            converged = True
            break
        idx = np.flatnonzero(~active)
        H = np.empty((len(idx), len(idx)))
        for a, j in enumerate(idx):
            h = 1e-6 * max(x[j], 1e-2)
            e = np.zeros(len(x))
            e[j] = h
            H[:, a] = (fg(x + e)[1] - gr)[idx] / h
        H = (H + H.T) / 2
        try:
            step = np.linalg.solve(H, gr[idx])
            if not gr[idx] @ step > 0 or np.linalg.eigvalsh(H).min() <= 0:
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:  # not positive definite: gradient step scaled by the curvature
            step = gr[idx] / np.maximum(np.abs(np.diag(H)), 1e-12 * np.abs(gr[idx]).max())
        decrement = gr[idx] @ step / 2
        if decrement < tol:  # one last full step, then stop
            xn = x.copy()
            xn[idx] = np.maximum(x[idx] - step, 0.0)
            fn, gn = fg(xn)
            if fn <= f:
                x, f = xn, fn
            converged = True
            break
        # at most a tenfold change of a ratio per step (the criterion is far from quadratic at large ratios)
        t = min(1.0, float(np.min(np.where(step < 0, (10 * np.maximum(x[idx], 0.1)) / -step, np.inf))))
        for _ in range(60):
            xn = x.copy()
            xn[idx] = np.maximum(x[idx] - t * step, 0.0)
            fn, gn = fg(xn)
            if fn <= f:
                break
            t /= 2
        else:  # no decrease along the path: at the precision of the criterion if the decrement is tiny
            converged = bool(decrement < 1e-6)
            break
        moved = np.abs(xn - x).max()
        x, f, gr = xn, fn, gn
        if moved <= 1e-13 * (1 + np.abs(x).max()):
            converged = bool(((x > 0) | (gr >= 0)).all())
            break
    return x, f, converged
