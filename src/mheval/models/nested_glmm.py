"""Logistic mixed model with nested random intercepts (beneficiaries within organizations), by Laplace.

Why it exists: binary outcomes (any hospitalization, statin fill) need the logistic analogue of
Equation 1 on about 900,000 beneficiary-years. statsmodels has only BinomialBayesMixedGLM, a
Bayesian/variational fit, and no maximum-likelihood GLMM; no well-kept Python library fits
nested-intercept logistic GLMMs by the Laplace approximation at that scale; lme4 is R.

What it fits, exactly as lme4's ``glmer(y ~ ... + (1|org) + (1|bene), family = binomial, nAGQ = 1)``:
logit P(y_i = 1) = x_i'beta + s_o u_org(i) + s_b v_bene(i), with u, v standard normal. The Laplace
deviance of (theta, beta), theta = (s_o, s_b), is

    dev = -2 sum_i w_i loglik_i(eta_i(u*)) + |u*|^2 + log det H,   H = Lambda'Z'WZ Lambda + I,

where u* is the conditional mode (penalized IRLS, i.e. Newton, for fixed theta and beta) and
W = diag(w mu (1 - mu)). glmer's logLik is -dev / 2; dev is minimized jointly over (theta, beta).

How it works: because beneficiaries are nested in organizations, H is block-arrowhead: a diagonal
beneficiary block, a diagonal organization block and one coupling entry per beneficiary. Its
Schur complement on the organizations is diagonal too, so Newton steps, log det H and the entries
of H^-1 needed below are sums over rows, then beneficiaries, then organizations (``np.bincount``):
linear in rows, no n x n or q x q matrix, no Python loop over beneficiaries. The gradient of dev
in (theta, beta) is analytic (implicit differentiation through u*, including the dependence of
log det H on u*). A few L-BFGS-B steps, then Newton with the Hessian of dev: its beta block
exact, from the same sums per beneficiary and organization (one pass over the rows, no mode
solve; ``_Laplace._beta_hessian``), its theta columns central differences of the gradient (two
mode solves per free variance).

Standard errors: lme4 1.1.31's ``vcov()`` of a glmer fit (``calc.derivs = TRUE`` by default) is
2 [Hess(dev)^-1]_beta,beta, with Hess the finite-difference Hessian of the deviance over (theta,
beta); ``cov_params()`` returns that (the Hessian here: the exact beta block and the theta
columns by central differences of the analytic gradient; it agrees with the all-finite-difference
Hessian to the latter's error, standard errors to about 2e-6 relative). ``cov_params("conditional")`` is lme4's ``vcov(fit, use.hessian = FALSE)``: the inverse
Schur complement (X'WX - X'WG H^-1 G'WX)^-1 at the mode, theta held fixed.

Weights are prior weights multiplying each row's log-likelihood. With integer weights this is
glmer's ``weights =`` for a 0/1 outcome exactly; with fractional weights glmer's objective
rounds the weights inside the binomial log-density (its ``aic``) and is no reference.

Average marginal effects (``marginal_effect``) are in percentage points, population-averaged over
the random intercepts by default. Tested against glmer in tests/test_nested_glmm.py (reference
values from benchmarks/r/glmer_reference.R).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from scipy import optimize, sparse, special

from mheval.models.nesting import model_matrices, nesting, one_blas_thread
from mheval.progress import FitProgress
from mheval.models.result import ModelResult

log = logging.getLogger(__name__)

_EPS = np.finfo(float).eps
_LBFGS_START_ITERATIONS = 5  # L-BFGS-B iterations before Newton
_NEWTON_MAXIT = 30
_NEWTON_STEP_TOL = 1e-8


class _Logit:
    """The logit link (canonical: observed and expected information agree)."""

    name = "logit"

    @staticmethod
    def mean(eta):
        return special.expit(eta)

    @staticmethod
    def dmean(eta):
        mu = special.expit(eta)
        return mu * (1 - mu)

    @staticmethod
    def log_p_obs(eta, y, sign):
        return np.log(np.maximum(special.expit(sign * eta), 1e-300))

    @staticmethod
    def parts(eta, y):
        """(score d loglik / d eta, Fisher weight, its derivative in eta, observed information)."""
        mu = special.expit(eta)
        W = mu * (1 - mu)
        return y - mu, W, W * (1 - 2 * mu), W

    @staticmethod
    def higher(eta, y):
        """(second derivative of the Fisher weight, derivative of the observed information) in eta."""
        mu = special.expit(eta)
        W = mu * (1 - mu)
        dW = W * (1 - 2 * mu)
        return dW * (1 - 2 * mu) - 2 * W * W, dW


class _CLogLog:
    """The complementary log-log link, P(y = 1) = 1 - exp(-exp(eta)): with offset log(exposure),
    the probability of at least one event in ``exposure`` years at the constant rate exp(x'beta)
    (a Poisson process seen as 0/1). Not canonical: Fisher weights (dmu/deta)^2 / (mu (1 - mu))
    in the Laplace determinant, as glmer's PIRLS; the observed information for the modes' implicit
    derivatives."""

    name = "cloglog"

    @staticmethod
    def mean(eta):
        return np.clip(-np.expm1(-np.exp(eta)), _EPS, 1 - _EPS)

    @staticmethod
    def dmean(eta):
        t = np.exp(np.minimum(eta, 700))
        return t * np.exp(-t)

    @staticmethod
    def log_p_obs(eta, y, sign):
        t = np.exp(np.minimum(eta, 700))
        return np.where(y > 0, np.log(np.clip(-np.expm1(-t), 1e-300, None)), -t)

    @staticmethod
    def parts(eta, y):
        t = np.exp(np.minimum(eta, 700))
        q = np.exp(-t)  # 1 - mu
        mu = np.clip(-np.expm1(-t), 1e-300, None)
        score = np.where(y > 0, t * q / mu, -t)
        W = t * t * q / mu
        dW = W * (2 - t / mu)
        # observed information -d2 loglik / d eta2: y = 0: t; y = 1: t q (t - mu) / mu^2, t - mu = t + expm1(-t)
        obs = np.where(y > 0, t * q * (t + np.expm1(-t)) / (mu * mu), t)
        return score, W, dW, obs

    @staticmethod
    def higher(eta, y):
        """(second derivative of the Fisher weight, derivative of the observed information) in eta:
        with dt = t, dq = -t q, dmu = t q: log W = 2 eta - t - log mu, log obs_1 = eta - t + log(t - mu)
        - 2 log mu (t - mu = t + expm1(-t), t - t q = t mu)."""
        t = np.exp(np.minimum(eta, 700))
        q = np.exp(-t)
        mu = np.clip(-np.expm1(-t), 1e-300, None)
        W = t * t * q / mu
        a = 2 - t / mu
        d2W = W * (a * a - t * (mu - t * q) / (mu * mu))
        tm = t + np.expm1(-t)
        obs1 = t * q * tm / (mu * mu)
        dobs = np.where(y > 0, obs1 * (1 - t + t * mu / np.where(tm > 0, tm, 1.0) - 2 * t * q / mu), t)
        return d2W, dobs


LINKS = {"logit": _Logit, "cloglog": _CLogLog}


@dataclass
class NestedGLMMResult(ModelResult):
    """Fit of :func:`fit_nested_glmm` (log-odds scale), with the interface of
    :class:`~mheval.models.result.ModelResult` (params, bse, cov_params(), conf_int(), pvalues, llf,
    nobs, summary(); normal reference), and variance_components, n_groups, theta."""

    params: pd.Series
    bse: pd.Series
    variance_components: dict
    llf: float
    nobs: int
    n_groups: dict
    converged: bool
    _cov: pd.DataFrame
    _cov_conditional: pd.DataFrame
    theta: np.ndarray
    spec: dict = field(repr=False)  # formula, org, bene, weights, design_info: for marginal effects

    def cov_params(self, kind: str = "hessian") -> pd.DataFrame:
        """Covariance of the fixed effects: "hessian" (glmer's vcov default) or "conditional"
        (glmer's ``vcov(use.hessian = FALSE)``, theta held fixed)."""
        if kind not in ("hessian", "conditional"):
            raise ValueError("kind must be 'hessian' or 'conditional'")
        return self._cov if kind == "hessian" else self._cov_conditional


class _Laplace:
    """Laplace deviance of the nested binomial GLMM and its gradient in (s_o, s_b, beta)."""

    def __init__(self, X, y, w, bene_idx, org_of_bene, link=_Logit, offset=None):
        self.X, self.y, self.w = X, y, w
        self.link = link
        self.offset = np.zeros(len(y)) if offset is None else offset
        self.bene, self.oob = bene_idx, org_of_bene
        self.nb, self.no = len(org_of_bene), org_of_bene.max() + 1
        self.org = org_of_bene[bene_idx]
        self.sign = 2 * y - 1  # +1 for events, -1 for non-events
        self.u = np.zeros(self.no)  # warm start of the conditional modes
        self.v = np.zeros(self.nb)
        self._by_bene = self._by_org = None  # row sums per beneficiary and organization, built when needed

    def _sums(self, W, so, sb):
        s_b = np.bincount(self.bene, weights=W, minlength=self.nb)
        d_b = 1.0 + sb * sb * s_b
        c_b = so * sb * s_b
        S_o = 1.0 + so * so * np.bincount(self.oob, weights=s_b / d_b, minlength=self.no)
        return s_b, d_b, c_b, S_o

    def _solve(self, sums, r_o, r_b):
        """Solve H x = r with the arrowhead structure (Schur complement on organizations)."""
        _, d_b, c_b, S_o = sums
        x_o = (r_o - np.bincount(self.oob, weights=c_b * r_b / d_b, minlength=self.no)) / S_o
        return x_o, (r_b - c_b * x_o[self.oob]) / d_b

    def _state(self, so, sb, u, v, xb):
        eta = xb + so * u[self.org] + sb * v[self.bene]
        h = -(self.w @ self.link.log_p_obs(eta, self.y, self.sign)) + 0.5 * (u @ u + v @ v)
        return eta, eta, h

    def _newton_parts(self, eta, so, sb, observed: bool = False):
        """IRLS (Fisher) weights W, weighted scores w dloglik/deta (w (y - mu) for the logit), the
        arrowhead sums and the score sums per beneficiary and organization at the current modes.
        With ``observed``, also the arrowhead sums of the observed information (the Hessian of h in
        (u, v), equal to the Fisher one for the logit): (parts, observed sums)."""
        score, W, _, obs = self.link.parts(eta, self.y)
        W = self.w * W
        wr = self.w * score
        R_b = np.bincount(self.bene, weights=wr, minlength=self.nb)
        sums = self._sums(W, so, sb)
        parts = W, wr, sums, R_b, np.bincount(self.oob, weights=R_b, minlength=self.no)
        if not observed:
            return parts
        return parts, (sums if self.link is _Logit else self._sums(self.w * obs, so, sb))

    def modes(self, so, sb, beta, tol=1e-9, maxit=60):
        """Conditional modes by Newton with step halving, warm-started from the previous
        evaluation's modes, until the next Newton step is below ``tol``; returns (u, v, mu, h, parts)
        with h half the penalized deviance and parts :meth:`_newton_parts` at the modes. The steps
        use the observed information (true Newton, quadratic convergence; h is convex in (u, v) for
        both links): for the cloglog, Fisher-weight steps (glmer's PIRLS) converge only linearly,
        about three times as many passes over the rows for the same mode."""
        xb = self.X @ beta + self.offset
        u, v = self.u.copy(), self.v.copy()
        _, mu, h = self._state(so, sb, u, v, xb)
        for _ in range(maxit):
            parts, step_sums = self._newton_parts(mu, so, sb, observed=True)
            _, _, sums, R_b, R_o = parts
            du, dv = self._solve(step_sums, so * R_o - u, sb * R_b - v)
            if max(np.abs(du).max(initial=0), np.abs(dv).max(initial=0)) < tol:
                break
            step = 1.0
            for _ in range(40):
                un, vn = u + step * du, v + step * dv
                _, mu_n, h_n = self._state(so, sb, un, vn, xb)
                if h_n <= h + 1e-12 * abs(h):
                    break
                step /= 2
            u, v, mu, h = un, vn, mu_n, h_n
            if step * max(np.abs(du).max(initial=0), np.abs(dv).max(initial=0)) < tol:  # stalled
                parts = self._newton_parts(mu, so, sb)
                break
        else:
            parts = self._newton_parts(mu, so, sb)
        self.u, self.v = u, v
        return u, v, mu, h, parts

    def deviance_and_gradient(self, so, sb, beta, hessian: bool = False):
        """Laplace deviance, its gradient in (s_o, s_b, beta) and (W, sums) at the modes; with
        ``hessian``, also the exact Hessian of the deviance in beta (:meth:`_beta_hessian`)."""
        u, v, eta, h, (W, wr, sums, R_b, R_o) = self.modes(so, sb, beta)
        _, _, dW, obs = self.link.parts(eta, self.y)
        W_obs = self.w * obs  # the Hessian of h in (u, v) is G' W_obs G + I (= H for the logit)
        sums_obs = sums if self.link is _Logit else self._sums(W_obs, so, sb)
        s_b, d_b, c_b, S_o = sums
        dev = 2 * h + np.log(d_b).sum() + np.log(S_o).sum()
        # entries of H^-1 per beneficiary: (org, org), (bene, org), (bene, bene)
        hoo = 1.0 / S_o[self.oob]
        hbo = -(c_b / d_b) * hoo
        hbb = 1.0 / d_b + (c_b / d_b) ** 2 * hoo
        lev = so * so * hoo + 2 * so * sb * hbo + sb * sb * hbb  # g_i' H^-1 g_i
        m_o, m_b = so * hoo + sb * hbo, so * hbo + sb * hbb  # (H^-1 g_i) at org(i), bene(i)
        c = self.w * dW * lev[self.bene]  # d log det H / d eta_i at fixed u
        C_b = np.bincount(self.bene, weights=c, minlength=self.nb)
        C_o = np.bincount(self.oob, weights=C_b, minlength=self.no)
        k_o, k_b = self._solve(sums_obs, so * C_o, sb * C_b)  # (Hessian of h)^-1 d log det H / du
        gk = so * k_o[self.org] + sb * k_b[self.bene]
        e = -2 * wr + c - gk * W_obs  # total derivative of dev with respect to eta_i
        g_beta = self.X.T @ e
        g_so = e @ u[self.org] + 2 * s_b @ m_o + k_o @ R_o
        g_sb = e @ v[self.bene] + 2 * s_b @ m_b + k_b @ R_b
        out = dev, np.concatenate([[g_so, g_sb], g_beta]), (W, sums)
        if hessian:
            out += (self._beta_hessian(so, sb, eta, dW, W_obs, sums, sums_obs, lev, gk),)
        return out

    def _beta_hessian(self, so, sb, eta, dW, W_obs, sums, sums_obs, lev, gk):
        """Exact Hessian of the Laplace deviance in beta at the modes, from one pass over the rows.

        With xi = X beta, eta = xi + G b*(xi), P = d eta / d xi = I - G Hobs^-1 G' Wo (Hobs the
        Hessian of h in b, Wo the observed information), L = log det H and a = w dW/deta:

            d2 dev / d xi2 = 2 Wo P + P' [diag(w W'' lev - Wo' gk) - diag(a) K diag(a)] P

        (2 Wo P from 2h by the envelope theorem; diag(w W'' lev) - a K a the Hessian of L in eta with
        K_ij = (g_i' H^-1 g_j)^2; -Wo' gk the second derivative of the modes, Hobs d2b = -G'(Wo' dEta dEta)).
        G Hobs^-1 G' and K are per organization rank one plus per beneficiary constant (module
        docstring), so X' (.) X is a weighted cross product of X and sums of X's rows per
        beneficiary and organization: no n x n matrix, and no mode solve (the finite-difference
        Hessian took two per coefficient)."""
        d2W, dobs = self.link.higher(eta, self.y)
        a, v = self.w * dW, self.w * (d2W * lev[self.bene] - dobs * gk)
        X, nb = self.X, self.nb
        _, d_b, c_b, S_o = sums
        by_bene, by_org = self._group_sums()
        A_b = by_bene(W_obs, X)  # G'Wo X per beneficiary (before s_b), then organization
        A_o = by_org(None, A_b)
        y_o, y_b = _solve_cols(self, sums_obs, so * A_o, sb * A_b)  # Y = Hobs^-1 G'Wo X
        GY = so * y_o[self.oob] + sb * y_b  # rows of G Y, constant within a beneficiary
        M = by_bene(v, X)  # P'diag(v)P = X'vX - M'GY - GY'M + GY' V GY
        V_b = np.bincount(self.bene, weights=v, minlength=nb)
        H = (X.T @ ((2 * W_obs + v)[:, None] * X) - 2 * (so * A_o.T @ y_o + sb * A_b.T @ y_b)
             - M.T @ GY - GY.T @ M + GY.T @ (V_b[:, None] * GY))
        a_b = np.bincount(self.bene, weights=a, minlength=nb)
        Q_b = by_bene(a, X) - a_b[:, None] * GY  # sum of a (PX) per beneficiary
        r_b = c_b / d_b
        q2 = (so - sb * r_b) ** 2  # g_i'H^-1 g_j = q_i q_j / S_o (+ s_b^2 / d_b in one beneficiary)
        Q_o = by_org(q2, Q_b)
        kappa = 2 * q2 * sb * sb / (S_o[self.oob] * d_b) + sb ** 4 / d_b ** 2
        H -= Q_o.T @ (Q_o / S_o[:, None] ** 2) + Q_b.T @ (kappa[:, None] * Q_b)
        return (H + H.T) / 2

    def conditional_cov(self, so, sb, W, sums):
        """(X'WX - X'WG H^-1 G'WX)^-1: glmer's RX-based vcov."""
        by_bene, by_org = self._group_sums()
        A_b = by_bene(W, self.X)
        A_o = by_org(None, A_b)
        x_o, x_b = _solve_cols(self, sums, so * A_o, sb * A_b)  # H^-1 G'WX
        M = self.X.T @ (W[:, None] * self.X) - (so * A_o.T @ x_o + sb * A_b.T @ x_b)
        return np.linalg.inv(M)

    def _group_sums(self):
        """The row sums per beneficiary and per organization (of beneficiary rows), built once."""
        if self._by_bene is None:
            self._by_bene, self._by_org = _GroupSums(self.bene, self.nb), _GroupSums(self.oob, self.no)
        return self._by_bene, self._by_org


class _GroupSums:
    """Sums of weighted rows of a matrix per group, sum_{i: idx[i] = g} weights[i] rows[i], as one
    sparse (groups x rows) product (the group structure built once; a column-by-column bincount
    reads the row-major matrix with strides)."""

    def __init__(self, idx, n_groups):
        self.order = np.argsort(idx, kind="stable")
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=n_groups))])
        self.shape = (n_groups, len(idx))

    def __call__(self, weights, rows):
        data = np.ones(self.shape[1]) if weights is None else weights[self.order]
        return sparse.csr_matrix((data, self.order, self.indptr), shape=self.shape) @ rows


def _solve_cols(lap, sums, R_o, R_b):
    """:meth:`_Laplace._solve` for the columns of R_o (organizations) and R_b (beneficiaries)."""
    _, d_b, c_b, S_o = sums
    T = lap._group_sums()[1](c_b / d_b, R_b)
    x_o = (R_o - T) / S_o[:, None]
    return x_o, (R_b - c_b[:, None] * x_o[lap.oob]) / d_b[:, None]


def binary_outcome(y: pd.DataFrame) -> np.ndarray:
    """The 0/1 outcome from patsy's matrix (a boolean outcome arrives as two indicator columns)."""
    if y.shape[1] == 2 and str(y.columns[1]).endswith("[True]"):
        y = y.iloc[:, [1]]
    if y.shape[1] != 1:
        raise ValueError(f"outcome must be one 0/1 column, got {list(y.columns)}")
    values = y.to_numpy(float).ravel()
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"outcome '{y.columns[0]}' must be binary 0/1; found values such as "
                         f"{np.unique(values[~np.isin(values, (0.0, 1.0))])[:5].tolist()}")
    return values


def glm_fit(X, y, w, iters=25, link=_Logit, offset=0.0, tol=1e-6):
    """Plain weighted binomial regression by Fisher scoring (IRLS by the normal equations), stopping
    when no coefficient moves by ``tol``: starting values at the default 1e-6 (the mixed model's
    optimizer takes it from there); the population-averaged GLM of
    :func:`mheval.models.marginal_binary.fit_marginal_binary` runs it to 1e-10."""
    beta = np.zeros(X.shape[1])
    if link is not _Logit:  # start the cloglog at the mean rate (least squares by the normal equations:
        # X has full rank, checked before; an SVD of the n x p matrix cost a second at scale 1.0)
        target = np.full(len(y), np.log(-np.log1p(-np.clip(np.average(y, weights=w), 1e-6, 0.999)))) - offset
        beta = np.linalg.solve(X.T @ X, X.T @ target)
    for _ in range(iters):
        score, W, _, _ = link.parts(X @ beta + offset, y)
        Xs = np.sqrt(w * W)[:, None] * X  # X'WX as Xs'Xs: BLAS's symmetric rank-k update, half the work of X'(WX)
        step = np.linalg.solve(Xs.T @ Xs + 1e-10 * np.eye(X.shape[1]), X.T @ (w * score))
        beta = beta + step
        if np.abs(step).max() < tol:
            break
    return beta


@one_blas_thread
def fit_nested_glmm(data: pd.DataFrame, formula: str, org: str, bene: str | None = None,
                    weights: str | None = None, start: dict | None = None, link: str = "logit",
                    offset: str | None = None) -> NestedGLMMResult:
    """Fit g(P(y = 1)) = X beta [+ offset] + organization intercept [+ beneficiary intercept] by Laplace.

    Parameters
    ----------
    data : one row per observation (e.g. beneficiary-year).
    formula : patsy formula of the fixed part with a 0/1 (or boolean) outcome, e.g.
        "any_hosp ~ 0 + C(YEAR) + C(YEAR):MH + AGE10".
    org, bene : columns naming the organization and the beneficiary (nested in organizations; a
        beneficiary in two organizations is an error). ``bene=None`` fits the organization
        intercept only and reports the beneficiary variance as 0.
    weights : optional column of positive prior weights multiplying each row's log-likelihood
        (glmer's ``weights`` when they are integers; see the module docstring).
    start : optional {"theta": (s_o, s_b), "beta": array} starting values (used by the bootstrap).
    link : "logit" (default) or "cloglog" (glmer's ``binomial(link = "cloglog")``; non-canonical:
        Fisher weights in the Laplace determinant, as glmer).
    offset : optional column added to the linear predictor with coefficient 1 (glmer's
        ``offset =``), e.g. log(exposure) with the cloglog link: P(y = 1) = 1 - exp(-exposure
        exp(x'beta)), a constant event rate over a partial year.

    Returns a :class:`NestedGLMMResult`: fixed effects on the log-odds scale, glmer's standard
    errors, variance components (variances of the random intercepts) and glmer's logLik.
    Rows with missing values in the model's columns are dropped (patsy's default).
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {sorted(LINKS)}, not {link!r}")
    lk = LINKS[link]
    y_df, X_df = model_matrices(formula, data)
    y = binary_outcome(y_df)
    d = data.loc[X_df.index, [c for c in (org, bene, weights) if c]]
    off = offset_values(data.loc[X_df.index], offset)
    X = np.ascontiguousarray(X_df.to_numpy(float))
    if np.linalg.matrix_rank(X.T @ X) < X.shape[1]:
        raise ValueError("the fixed-effects design is rank deficient; drop collinear terms")
    g = nesting(d, org, bene, weights)
    w, one_level, bene_codes, bene_idx, org_codes, org_of_bene = (g.w, g.one_level, g.bene_codes, g.bene_idx,
                                                                  g.org_codes, g.org_of_bene)
    lap = _Laplace(X, y, w, bene_idx.astype(np.intp), org_of_bene, lk, off)
    p = X.shape[1]
    free = [0] if one_level else [0, 1]  # which of (s_o, s_b) are estimated

    def split(x):
        th = np.zeros(2)
        th[free] = x[:len(free)]
        return th, x[len(free):]

    progress = FitProgress(log, f"nested GLMM ({len(d):,} rows, {len(bene_codes):,} beneficiaries, "
                                f"{len(org_codes):,} organizations)")

    def fg(x):
        th, beta = split(x)
        dev, grad, _ = lap.deviance_and_gradient(abs(th[0]), abs(th[1]), beta)
        progress.update(dev)
        grad[:2] *= np.sign(th) + (th == 0)  # the deviance is even in each s
        return dev, np.concatenate([grad[free], grad[2:]])

    if start is None:
        x0 = np.concatenate([[0.5] * len(free), glm_fit(X, y, w, link=lk, offset=off)])
    else:
        x0 = np.concatenate([np.asarray(start["theta"], float)[free], np.asarray(start["beta"], float)])
    nf = len(free)

    def hessian(x):
        """Hessian of the deviance: the beta block exact (:meth:`_Laplace._beta_hessian`), the
        columns of the free s by central differences of the analytic gradient (two mode solves each)."""
        H = np.empty((len(x), len(x)))
        for j in range(nf):
            e = np.zeros(len(x))
            e[j] = 1e-5 * max(1.0, abs(x[j]))
            H[:, j] = (fg(x + e)[1] - fg(x - e)[1]) / (2 * e[j])
        th, beta = split(x)
        H[nf:, nf:] = lap.deviance_and_gradient(abs(th[0]), abs(th[1]), beta, hessian=True)[3]
        H[:nf, :nf] = (H[:nf, :nf] + H[:nf, :nf].T) / 2
        H[:nf, nf:] = H[nf:, :nf].T
        return H

    def newton(x):
        """Newton steps with step halving from x until a step is below 1e-8: (x, Hessian at x, done).
        An s at its bound 0 with the deviance rising into the interior stays there (projected
        Newton); not done when a step is not a descent direction or halving finds no decrease."""
        dev, g = fg(x)
        H = hessian(x)
        for _ in range(_NEWTON_MAXIT):
            keep = np.ones(len(x), bool)
            keep[:nf] = ~((x[:nf] <= 0) & (g[:nf] >= 0))
            step = np.zeros(len(x))
            try:
                step[keep] = np.linalg.solve(H[np.ix_(keep, keep)], g[keep])
            except np.linalg.LinAlgError:
                return x, H, False
            if g @ step <= 0 and np.abs(step).max() >= _NEWTON_STEP_TOL:
                return x, H, False
            for _ in range(30):  # step halving
                xn = x - step
                xn[:nf] = np.maximum(xn[:nf], 0.0)
                dev_n, g_n = fg(xn)
                if dev_n <= dev + 1e-9:
                    break
                step /= 2
            else:
                return x, H, False
            x, dev, g = xn, dev_n, g_n
            if np.abs(step).max() < _NEWTON_STEP_TOL:  # H at the previous point, 1e-8 away, is H here
                return x, H, True
            H = hessian(x)
        return x, H, False

    # A few L-BFGS-B steps into the neighbourhood of the optimum, then Newton with the Hessian above
    # (L-BFGS-B alone took about 170 evaluations, most for the last digits). Where Newton fails (an
    # indefinite Hessian, e.g. a variance still on its way to its bound 0), more L-BFGS-B steps
    # first (10, 20, then to tight tolerances), then Newton again. The Hessian at the final point is
    # also glmer's vcov (its deriv12 Hessian of the deviance).
    bounds = [(0, None)] * nf + [(None, None)] * p
    x = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": _LBFGS_START_ITERATIONS, "maxcor": 20}).x
    for more in (10, 20, 1000):
        x, H, done = newton(x)
        if done:
            break
        x = optimize.minimize(fg, x, jac=True, method="L-BFGS-B", bounds=bounds,
                              options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": more, "maxcor": 20}).x
    else:
        x, H, done = newton(x)
    theta, beta = split(x)
    dev, grad, (W, sums) = lap.deviance_and_gradient(theta[0], theta[1], beta)
    names = list(X_df.columns)
    cov_cond = lap.conditional_cov(theta[0], theta[1], W, sums)
    try:
        Hinv = np.linalg.inv(H)
        cov = Hinv[len(free):, len(free):] + Hinv[len(free):, len(free):].T  # glmer: 2 * inverse
        if np.linalg.eigvalsh(cov).min() <= 0:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:  # glmer falls back to the RX-based matrix as well
        cov = cov_cond
    g = np.concatenate([grad[free], grad[2:]])
    try:  # Newton decrement: the deviance still to gain by another Newton step
        converged = bool(g @ np.linalg.solve(H, g) < 1e-6)
    except np.linalg.LinAlgError:
        converged = False
    progress.done(dev, converged)
    return NestedGLMMResult(
        params=pd.Series(beta, index=names), bse=pd.Series(np.sqrt(np.diag(cov)), index=names),
        variance_components={"org": theta[0] ** 2, "bene": theta[1] ** 2}, llf=-dev / 2, nobs=len(d),
        n_groups={"org": len(org_codes), "bene": 0 if one_level else len(bene_codes)},
        converged=converged, _cov=pd.DataFrame(cov, index=names, columns=names),
        _cov_conditional=pd.DataFrame(cov_cond, index=names, columns=names), theta=theta,
        spec={"formula": formula, "org": org, "bene": bene, "weights": weights, "design_info": X_df.design_info,
              "link": link, "offset": offset})


def offset_values(d: pd.DataFrame, offset: str | None) -> np.ndarray:
    """The offset column as floats (zeros without one); missing or non-finite values: one clear error."""
    if offset is None:
        return np.zeros(len(d))
    if offset not in d.columns:
        raise ValueError(f"offset column '{offset}' is not in data")
    o = d[offset].to_numpy(float)
    bad = ~np.isfinite(o)
    if bad.any():
        raise ValueError(f"offset '{offset}' has {int(bad.sum())} missing or non-finite value(s) of {len(o)} "
                         f"(e.g. rows {list(d.index[bad][:5])}); log(exposure) needs exposure > 0")
    return o


def _mean_probability(X, beta, sigma, n_nodes, link=_Logit, offset=0.0):
    """E[g^-1(x'beta + offset + sigma Z)], Z ~ N(0, 1), by Gauss-Hermite, and its derivative factor
    E[dmu/deta] (d/d beta = factor * x), per row (logit: E[mu (1 - mu)])."""
    z, wz = np.polynomial.hermite_e.hermegauss(n_nodes) if sigma > 0 else (np.zeros(1), np.ones(1))
    wz = wz / wz.sum()
    xb = X @ beta + offset
    prob, slope = np.zeros(len(xb)), np.zeros(len(xb))
    for zk, wk in zip(z, wz):
        prob += wk * link.mean(xb + sigma * zk)
        slope += wk * link.dmean(xb + sigma * zk)
    return prob, slope


_COLUMN_FACTOR = re.compile(r"^(?:C\(\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*))$")


def _analysis_sample(result, data):
    """The rows of ``data`` the model was fitted on: patsy drops the rows with a missing value in
    a factor of the formula. When every factor is a column or C(column), those are the rows with a
    missing value in one of these columns (found without building the design matrices again)."""
    formula = result.spec["formula"]
    desc = patsy.ModelDesc.from_formula(formula)
    columns = []
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            m = _COLUMN_FACTOR.match(factor.code.strip())
            name = m and (m.group(1) or m.group(2))
            if not name or name not in data.columns:  # an expression: let patsy evaluate it
                _, X = model_matrices(formula, data)
                return data.loc[X.index]
            columns.append(name)
    complete = data[list(dict.fromkeys(columns))].notna().all(axis=1).to_numpy()
    return data if complete.all() else data.loc[complete]


def _designs(info, d, treatment):
    """Design matrices of ``d`` with ``treatment`` set to 1 and to 0: one full build, then only the
    columns of the terms holding the treatment for 0 (the covariates' columns are the same)."""
    X1 = np.asarray(patsy.build_design_matrices([info], d.assign(**{treatment: 1}))[0])
    terms = [t for t in info.terms if any(treatment in patsy.eval.ast_names(f.code) for f in t.factors)]
    X0 = X1.copy()
    if terms:
        sub = np.asarray(patsy.build_design_matrices([info.subset(terms)], d.assign(**{treatment: 0}))[0])
        at = 0
        for t in terms:
            sl = info.term_slices[t]
            X0[:, sl] = sub[:, at:at + sl.stop - sl.start]
            at += sl.stop - sl.start
    return X1, X0


def _ame_point(result, d, treatment, groups, scale, n_nodes, with_gradient=False, exposure=None):
    """Per group: (effect, intervention mean, control mean[, gradient]) as proportions. With an
    offset, the predictions use the rows' offsets, or log(``exposure``) for every row if given."""
    info = result.spec["design_info"]
    link = LINKS[result.spec.get("link", "logit")]
    off_col = result.spec.get("offset")
    if exposure is not None:
        offset = np.log(float(exposure))
    else:
        offset = offset_values(d, off_col) if off_col else 0.0
    w = d[result.spec["weights"]].to_numpy(float) if result.spec["weights"] else np.ones(len(d))
    sigma = np.sqrt(sum(result.variance_components.values())) if scale == "population" else 0.0
    beta = result.params.to_numpy()
    out = {}
    parts = []
    for X in _designs(info, d, treatment):
        parts.append((X, *_mean_probability(X, beta, sigma, n_nodes, link, offset)))
    (X1, p1, s1), (X0, p0, s0) = parts
    for label, mask in groups:
        ww = w * mask
        tot = ww.sum()
        m1, m0 = ww @ p1 / tot, ww @ p0 / tot
        grad = (X1.T @ (ww * s1) - X0.T @ (ww * s0)) / tot if with_gradient else None
        out[label] = (m1 - m0, m1, m0, grad)
    return out


@dataclass
class MarginalEffects(ModelResult):
    """Average marginal effects of :func:`marginal_effect`, in percentage points, one per group (the
    ``by`` levels, then "overall"), with the interface of :class:`~mheval.models.result.ModelResult`:
    ``params``/``bse``/``cov_params()`` (delta method: J V J' with J the gradients and V the model's
    covariance; bootstrap: the replicates' covariance), normal reference; with the bootstrap,
    ``conf_int`` gives the percentile intervals. ``llf`` is the logistic model's log-likelihood;
    ``nobs`` the rows of the analysis sample. ``intervention``/``control``: the mean predicted
    probabilities (percent) per group; ``group_nobs``: rows per group. ``df``: for a fit with a CR2
    covariance (:func:`mheval.models.marginal_binary.fit_marginal_binary`), the Satterthwaite df of
    each group's gradient contrast (t reference); else None (normal reference)."""

    params: pd.Series
    bse: pd.Series
    _cov: pd.DataFrame
    llf: float
    nobs: int
    intervention: pd.Series
    control: pd.Series
    group_nobs: pd.Series
    method: str
    replicates: np.ndarray | None = field(default=None, repr=False)  # bootstrap effects (pp), n_boot x groups
    df: pd.Series | None = None  # Satterthwaite df per group (CR2 fits, t reference); None: normal

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the effects (percentage points squared), delta method or bootstrap."""
        return self._cov

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) intervals: Wald (delta method) or bootstrap percentile; columns 0 and 1."""
        if self.method == "delta":
            return super().conf_int(alpha)
        lo, hi = np.quantile(self.replicates, [alpha / 2, 1 - alpha / 2], axis=0)
        return pd.DataFrame({0: lo, 1: hi}, index=self.params.index)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per group: estimate, se, z, p, lower, upper (percentage points), intervention and
        control (mean predicted probabilities, percent) and n (rows)."""
        out = super().summary(alpha).rename(columns={"coef": "estimate"})
        ci = self.conf_int(alpha)
        out["lower"], out["upper"] = ci[0], ci[1]
        out["intervention"], out["control"], out["n"] = self.intervention, self.control, self.group_nobs
        return out


def marginal_effect(result: NestedGLMMResult, data: pd.DataFrame, treatment: str = "MH", by: str | None = None,
                    scale: str = "population", method: str = "delta", n_boot: int = 200,
                    seed: int = 0, n_nodes: int = 30, group_weights: dict | None = None,
                    exposure: float | None = None) -> MarginalEffects:
    """Average marginal effect of ``treatment`` in percentage points, with its standard error.

    For every row of the analysis sample (the rows of ``data`` the model was fitted on), the
    predicted probability is computed with ``treatment`` set to 1 and to 0 in the model frame
    (so year-specific terms such as ``C(YEAR):MH`` follow); the effect is the (prior-weighted)
    average of P1 - P0 within each level of ``by`` and over the whole sample ("overall").

    scale : "population" (default) integrates the predicted probability over the normal random
        intercepts, E[expit(x'beta + s Z)] with s^2 = org + bene variance (Gauss-Hermite with
        ``n_nodes`` nodes): the effect for a new beneficiary of a new organization, comparable to
        a marginal (GEE-type) risk difference. "conditional" sets the random intercepts to 0 (a
        typical organization and beneficiary), which for a logistic model is not the average.
    method : "delta" (gradient with respect to beta, variance components held fixed, covariance
        from ``result.cov_params()``; for a CR2 fit, t references with the Satterthwaite df of each
        gradient contrast, ``result.robust.contrast``) or "bootstrap": a cluster bootstrap over organizations
        (resampled with replacement within arm, the arm being the organization's ``treatment``
        value), refitting the model ``n_boot`` times with ``seed``; se is the bootstrap standard
        deviation, ``conf_int`` the percentile interval and p the normal p-value from that se.

    group_weights : None (default): "overall" averages over every row (so each ``by`` level counts
        by its rows). Else a weight for every ``by`` level: "overall" is sum_g w_g effect_g / sum w_g
        (equal weights: the simple mean of the yearly effects), and its delta-method gradient,
        bootstrap replicates and intervention and control means are the same combination.

    exposure : for a model with an offset (e.g. log exposure with the cloglog link), None predicts
        at each row's own offset; a number predicts every row at offset log(``exposure``), e.g.
        ``exposure=1``: the effect on the probability over a full year of exposure.

    Returns a :class:`MarginalEffects` indexed by group (the ``by`` levels, then "overall"); its
    ``summary(alpha)`` is the table of estimates, se, p, (1 - alpha) intervals, intervention and
    control means and rows per group.
    """
    if scale not in ("population", "conditional"):
        raise ValueError("scale must be 'population' or 'conditional'")
    if method not in ("delta", "bootstrap"):
        raise ValueError("method must be 'delta' or 'bootstrap'")
    d = _analysis_sample(result, data)
    if treatment not in d:
        raise ValueError(f"treatment column '{treatment}' is not in data")
    groups = [(g, (d[by] == g).to_numpy()) for g in sorted(d[by].unique())] if by else []
    groups.append(("overall", np.ones(len(d), bool)))
    point = _ame_point(result, d, treatment, groups, scale, n_nodes, with_gradient=(method == "delta"),
                       exposure=exposure)
    wn = _group_weights(group_weights, [g for g, _ in groups[:-1]]) if group_weights is not None else None
    if wn is not None:
        parts = [point[g] for g, _ in groups[:-1]]
        point["overall"] = tuple(sum(w * p[k] for w, p in zip(wn, parts)) if parts[0][k] is not None else None
                                 for k in range(4))
    est = np.array([point[g][0] for g, _ in groups])
    index = pd.Index([g for g, _ in groups], name=by or "group")
    reps, df = None, None
    if method == "delta":
        J = 100 * np.array([point[g][3] for g, _ in groups])  # percentage points
        cov = J @ result.cov_params().to_numpy() @ J.T
        robust = getattr(result, "robust", None)
        if robust is not None:  # CR2: the Satterthwaite df of each effect's gradient contrast
            df = pd.Series([robust.contrast(j)[1] for j in J], index=index)
    else:
        reps = _bootstrap(result, d, treatment, groups, scale, n_nodes, n_boot, seed, exposure)
        if wn is not None:
            reps[:, -1] = reps[:, :-1] @ wn
        reps = 100 * reps
        cov = np.atleast_2d(np.cov(reps, rowvar=False, ddof=1))
    return MarginalEffects(
        params=pd.Series(100 * est, index=index), bse=pd.Series(np.sqrt(np.diag(cov)), index=index),
        _cov=pd.DataFrame(cov, index=index, columns=index), llf=result.llf, nobs=len(d),
        intervention=pd.Series([100 * point[g][1] for g, _ in groups], index=index),
        control=pd.Series([100 * point[g][2] for g, _ in groups], index=index),
        group_nobs=pd.Series([int(m.sum()) for _, m in groups], index=index), method=method, replicates=reps, df=df)


def _group_weights(weights: dict, levels: list) -> np.ndarray:
    """The ``by`` levels' weights normalized to sum 1; one clear error for a level without a
    weight or a weight that is negative or not finite."""
    if not levels:
        raise ValueError("group_weights needs 'by'")
    missing = [g for g in levels if g not in weights]
    if missing:
        raise ValueError(f"group_weights has no weight for level(s) {missing[:5]} (of {len(levels)})")
    w = np.array([float(weights[g]) for g in levels])
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError(f"group_weights must be finite, non-negative and not all zero: {dict(zip(levels, w))}")
    return w / w.sum()


def _bootstrap(result, d, treatment, groups, scale, n_nodes, n_boot, seed, exposure=None):
    """Effects (proportions) of n_boot refits on organizations resampled within arm."""
    org, bene = result.spec["org"], result.spec["bene"]
    oidx = np.unique(d[org].to_numpy(), return_inverse=True)[1]
    counts = np.bincount(oidx)
    arm = np.bincount(oidx, weights=d[treatment].to_numpy(float)) / counts
    if not np.isin(arm, (0.0, 1.0)).all():
        raise ValueError(f"'{treatment}' varies within organizations: the within-arm cluster bootstrap needs "
                         "an organization-level 0/1 treatment")
    order = np.argsort(oidx, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    bidx = np.unique(d[bene].to_numpy(), return_inverse=True)[1] if bene else None
    start = {"theta": result.theta, "beta": result.params.to_numpy()}
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(arm == a) for a in (1.0, 0.0)]
    reps = np.empty((n_boot, len(groups)))
    for b in range(n_boot):
        chosen = np.concatenate([rng.choice(a, len(a), replace=True) for a in arms])
        rows = np.concatenate([order[starts[o]:starts[o + 1]] for o in chosen])
        new_org = np.repeat(np.arange(len(chosen)), counts[chosen])
        db = d.iloc[rows].reset_index(drop=True).assign(**{org: new_org})
        if bene:
            db[bene] = new_org * (bidx.max() + 1) + bidx[rows]
        fit = fit_nested_glmm(db, result.spec["formula"], org=org, bene=bene, weights=result.spec["weights"],
                              start=start, link=result.spec.get("link", "logit"), offset=result.spec.get("offset"))
        masks = [(g, m[rows]) for g, m in groups]
        point = _ame_point(fit, db, treatment, masks, scale, n_nodes, exposure=exposure)
        reps[b] = [point[g][0] for g, _ in masks]
    return reps
