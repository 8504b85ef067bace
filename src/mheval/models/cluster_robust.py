"""CR2 cluster-robust variance with Bell-McCaffrey (Satterthwaite) degrees of freedom for the
nested linear mixed model (Equations 1, 2 and 3), as R's clubSandwich computes it for lme4 fits.

Why it exists: with few, unequal organizations the model-based SE of a mixed model leans on the
working variance model and the plain sandwich (CR0) is biased downwards. The CR2 estimator (Bell
and McCaffrey 2002; Pustejovsky and Tipton 2018) corrects the sandwich so that it is exactly
unbiased under the working model, and its Satterthwaite degrees of freedom give t intervals that
hold with few clusters.

The estimator, in clubSandwich's form (``vcovCR(fit, type = "CR2")`` for an lmerMod: clusters =
organizations, working weights W_j = Theta_j^-1, with Theta_j = V_j / sigma^2 =
diag(1 / w) + g_b Z_b Z_b' + g_o 1 1' the fitted model's covariance of organization j in units of
the residual variance):

    V_CR2 = M [sum_j X_j' W_j A_j r_j r_j' A_j W_j X_j] M,   M = (sum_j X_j' W_j X_j)^-1,
    A_j = D_j' (D_j (Theta_j - X_j M X_j') D_j')^-1/2 D_j  (D_j' D_j = Theta_j),

r_j the marginal residuals y - X beta. A_j is the unique symmetric positive definite solution of
A_j (Theta_j - X_j M X_j') A_j = Theta_j, the same for every factor D_j.

Scalable and exact: an organization holds up to ~25,000 rows, so no n_j x n_j matrix is formed.
Let S_j be the smallest subspace that contains the columns of X_j and is invariant under Theta_j
(the block Krylov space span{X_j, Theta_j X_j, Theta_j^2 X_j, ...}; its dimension is at most p
times the number of distinct eigenvalues of Theta_j, which is small when the precision weights
take few values: without weights Theta_j = I + g_b Z_b Z_b' + g_o 1 1' has at most 2K + 1 distinct
eigenvalues for K distinct numbers of rows per beneficiary). Theta_j maps S_j and its orthogonal
complement to themselves and X_j M X_j' vanishes on the complement, so on the complement
A_j = Theta_j^{1/2} (Theta_j^2)^{-1/2} Theta_j^{1/2} = I, and on S_j (orthonormal basis Q, r x r
matrices Theta_S = Q' Theta_j Q, X_S = Q' X_j):

    A_S = Theta_S^{1/2} (Theta_S^2 - Theta_S^{1/2} X_S M X_S' Theta_S^{1/2})^-1/2 Theta_S^{1/2}.

Every quantity needed (X_j' W_j A_j r_j and the p x p matrices of the degrees of freedom) is then
an r-dimensional computation after the basis is built with O(n_j p r) work: Theta_j v costs O(n_j)
by the beneficiary and organization sums. Checked against a dense implementation of the formulas
above and against clubSandwich (tests/test_cluster_robust.py, benchmarks/r/clubsandwich_reference.R).

Degrees of freedom of a contrast c'beta (clubSandwich's ``coef_test(..., test = "Satterthwaite")``
and ``linear_contrast``, inverse-variance working model): with g_j = c' M F_j M c,
F_j = X_j' W_j A_j Theta_j A_j W_j X_j, and h_j = L' E_j' M c, E_j = X_j' W_j A_j X_j, L L' = M,
the J x J matrix P = diag(g) - H'H (H = [h_1 ... h_J]) gives df = (tr P)^2 / ||P||_F^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EIG_TOL = 1e-12  # clubSandwich's matrix_power: eigenvalues <= 1e-12 get power 0


def _sym_power(a: np.ndarray, power: float, tol: float | None = None) -> np.ndarray:
    a = (a + a.T) / 2
    val, vec = np.linalg.eigh(a)
    keep = val > (tol if tol is not None else 0.0)
    vp = np.zeros_like(val)
    vp[keep] = val[keep] ** power
    return (vec * vp) @ vec.T


@dataclass
class ClusterRobust:
    """CR2 covariance of the fixed effects with the per-cluster pieces that the degrees of
    freedom of any contrast need. ``vcov`` is p x p; use :meth:`contrast` for c'beta."""

    vcov: np.ndarray
    M: np.ndarray
    E: np.ndarray  # J x p x p: X_j' W_j A_j X_j
    F: np.ndarray  # J x p x p: X_j' W_j A_j Theta_j A_j W_j X_j
    n_clusters: int
    max_subspace: int  # largest invariant-subspace dimension r over clusters

    def contrast(self, c) -> tuple[float, float]:
        """(variance, Satterthwaite df) of c'beta for a p-vector c."""
        c = np.asarray(c, float)
        Mc = self.M @ c
        L = np.linalg.cholesky(self.M)
        g = np.einsum("k,jkl,l->j", Mc, self.F, Mc)
        H = np.einsum("jlk,l->jk", self.E, Mc) @ L  # rows h_j' = (M c)' E_j L
        HH = H.T @ H
        hn = np.einsum("jk,jk->j", H, H)
        tr = g.sum() - hn.sum()
        fro2 = np.sum(HH * HH) - 2 * np.sum(g * hn) + np.sum(g * g)
        return float(c @ self.vcov @ c), float(tr * tr / fro2)

    def df(self) -> np.ndarray:
        """Satterthwaite df of each coefficient."""
        p = self.vcov.shape[0]
        return np.array([self.contrast(np.eye(p)[k])[1] for k in range(p)])


def _theta_matvec(V, w, bene, nb, g_b, g_o):
    """Theta v = v / w + g_b Z_b Z_b' v + g_o 1 1' v for the rows of one organization."""
    out = V / w[:, None]
    if g_b:
        s = np.zeros((nb, V.shape[1]))
        np.add.at(s, bene, V)
        out += g_b * s[bene]
    if g_o:
        out += g_o * V.sum(axis=0, keepdims=True)
    return out


def _invariant_basis(X, matvec, tol=1e-10, max_dim=None):
    """Orthonormal basis of the smallest matvec-invariant subspace containing the columns of X
    (block Krylov with two passes of reorthogonalization and SVD rank detection)."""
    def orth(B, Q):
        for _ in range(2):
            if Q is not None:
                B = B - Q @ (Q.T @ B)
        if B.shape[1] == 0:
            return B
        u, s, _ = np.linalg.svd(B, full_matrices=False)
        return u[:, s > tol * scale]

    scale = max(1.0, float(np.abs(X).max()))
    Q = orth(X, None)
    new = Q
    n = X.shape[0]
    limit = n if max_dim is None else min(n, max_dim)
    while new.shape[1] and Q.shape[1] < n:
        scale = max(1.0, float(np.abs(new).max()))
        nxt = orth(matvec(new), Q)
        if Q.shape[1] + nxt.shape[1] > limit:
            raise ValueError(f"CR2: the invariant subspace of an organization exceeds {limit} dimensions "
                             f"(n_j = {n}); the precision weights take too many distinct values")
        Q = np.hstack([Q, nxt])
        new = nxt
    return Q


def cr2(X, resid, org, w=None, bene=None, g_org=0.0, g_bene=0.0, max_dim=None) -> ClusterRobust:
    """CR2 covariance (clubSandwich's, working model = the fitted nested LMM) clustered on ``org``.

    X : n x p fixed-effect design; resid : marginal residuals y - X beta; org : cluster label per
    row; w : precision weights (residual variance sigma^2 / w; default 1); bene : beneficiary
    label per row (nested in org; None: no beneficiary intercept); g_org, g_bene : variance ratios
    of the organization and beneficiary intercepts to the residual variance. See the module
    docstring for the formulas and the exact subspace computation.
    """
    X = np.asarray(X, float)
    resid = np.asarray(resid, float)
    n, p = X.shape
    w = np.ones(n) if w is None else np.asarray(w, float)
    _, oi = np.unique(np.asarray(org), return_inverse=True)
    bi = np.arange(n) if bene is None else np.unique(np.asarray(bene), return_inverse=True)[1]
    g_b = 0.0 if bene is None else float(g_bene)
    order = np.argsort(oi, kind="stable")
    J = int(oi.max()) + 1
    bounds = np.r_[0, np.cumsum(np.bincount(oi, minlength=J))]
    pieces = []
    XWX = np.zeros((p, p))
    for j in range(J):
        rows = order[bounds[j]:bounds[j + 1]]
        Xj, wj = X[rows], w[rows]
        _, bj = np.unique(bi[rows], return_inverse=True)
        mv = lambda V, wj=wj, bj=bj: _theta_matvec(V, wj, bj, int(bj.max()) + 1, g_b, float(g_org))  # noqa: E731
        Q = _invariant_basis(Xj, mv, max_dim=max_dim)
        ThS = Q.T @ mv(Q)
        ThS = (ThS + ThS.T) / 2
        XS, rS = Q.T @ Xj, Q.T @ resid[rows]
        val, vec = np.linalg.eigh(ThS)
        T = (vec * np.sqrt(val)) @ vec.T
        WXS = (vec / val) @ (vec.T @ XS)  # Theta_S^-1 X_S
        XWX += XS.T @ WXS
        pieces.append((ThS, T, XS, WXS, rS))
    M = np.linalg.inv(XWX)
    M = (M + M.T) / 2
    e = np.zeros((J, p))
    E = np.zeros((J, p, p))
    F = np.zeros((J, p, p))
    for j, (ThS, T, XS, WXS, rS) in enumerate(pieces):
        TX = T @ XS
        Y = ThS @ ThS - TX @ M @ TX.T
        A = T @ _sym_power(Y, -0.5, _EIG_TOL) @ T
        AWX = A @ WXS
        e[j] = AWX.T @ rS
        E[j] = AWX.T @ XS
        F[j] = AWX.T @ ThS @ AWX
    vcov = M @ (e.T @ e) @ M
    return ClusterRobust(vcov=vcov, M=M, E=E, F=F, n_clusters=J,
                         max_subspace=max(pc[0].shape[0] for pc in pieces))


def with_cr2(res, X: np.ndarray, y: np.ndarray, nest):
    """A copy of a :class:`mheval.models.nested_lmm.NestedLMMResult` whose ``bse`` and
    ``cov_params()`` are CR2 (working model: the fit's variance components), with the
    Satterthwaite ``df`` of each coefficient, the model-based SEs in ``bse_model`` and the
    :class:`ClusterRobust` in ``robust``. ``nest`` is the fit's :class:`mheval.models.nesting.Nesting`."""
    import dataclasses

    import pandas as pd

    names = list(res.params.index)
    cr = cr2(X, y - X @ res.params.to_numpy(), nest.org_of_bene[nest.bene_idx], w=nest.w,
             bene=None if nest.one_level else nest.bene_idx, g_org=res.theta[0] ** 2, g_bene=res.theta[1] ** 2)
    return dataclasses.replace(res, bse=pd.Series(np.sqrt(np.diag(cr.vcov)), index=names),
                               _cov=pd.DataFrame(cr.vcov, index=names, columns=names), cov_type="CR2",
                               df=pd.Series(cr.df(), index=names), bse_model=res.bse, robust=cr)
