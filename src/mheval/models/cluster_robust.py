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

With precision weights that take many distinct values (Equation 1's share of the year observed)
Theta_j has about as many distinct eigenvalues as rows and S_j approaches the whole space. Then the
"whitened" form is used: the Bell-McCaffrey adjustment of the GLS-whitened regression,
W_j A_j = L_j'^-1 (I - H_j)^-1/2 L_j^-1 with L_j L_j' = Theta_j and H_j = L_j^-1 X_j M X_j' L_j'^-1,
where (I - H_j)^-1/2 = I + U P ((1 - Lambda)^-1/2 - I) P' U' differs from the identity only on
the p-dimensional span U of L_j^-1 X_j (P Lambda P' the eigen-decomposition of H_j there). It
satisfies the same defining equation (exact unbiasedness under the working model:
X_j' W_j A_j (Theta_j - X_j M X_j') A_j' W_j X_j = X_j' W_j X_j) and is invariant to the choice of
L_j, but it is a different root than clubSandwich's symmetric A_j, so the two differ slightly
(clubSandwich does not accept lmer prior weights, so there is no R reference for that case). L_j
is identity-plus-rank-one factors (beneficiary blocks, then the organization term): O(n_j p^2).
:func:`cr2` with ``form="auto"`` (the default) uses the symmetric form unless an organization's
subspace exceeds 12 p + 12 dimensions, and reports which form it used.

Degrees of freedom of a contrast c'beta (clubSandwich's ``coef_test(..., test = "Satterthwaite")``
and ``linear_contrast``, inverse-variance working model): with g_j = c' M F_j M c,
F_j = X_j' W_j A_j Theta_j A_j W_j X_j, and h_j = L' E_j' M c, E_j = X_j' W_j A_j X_j, L L' = M,
the J x J matrix P = diag(g) - H'H (H = [h_1 ... h_J]) gives df = (tr P)^2 / ||P||_F^2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_EIG_TOL = 1e-12  # clubSandwich's matrix_power: eigenvalues <= 1e-12 get power 0
ADJUSTMENTS = ("CR2", "CR3")  # the cluster-robust adjustments: Bell-McCaffrey's, and the jackknife-type


def check_adjustment(adjustment: str) -> str:
    """``adjustment`` if it is one of :data:`ADJUSTMENTS`, else one clear ValueError."""
    if adjustment not in ADJUSTMENTS:
        raise ValueError(f"cluster-robust adjustment must be one of {list(ADJUSTMENTS)}; got {adjustment!r}")
    return adjustment


def variance_words(cov_type: str) -> str:
    """How the published tables and model labels name a variance (``cov_type`` "model", "CR2" or "CR3")."""
    return {"model": "model-based standard errors",
            "CR2": "cluster-robust (CR2) standard errors by organization with Satterthwaite degrees of freedom",
            "CR3": "cluster-robust (CR3, jackknife-type) standard errors by organization with t references on "
                   "G - 1 degrees of freedom (G organizations)"}[cov_type]


def _many_weights(w) -> bool:
    """Precision weights with more than 3 distinct values: :func:`cr2`'s "auto" form is then whitened
    (the exact subspace would approach the organization's rows)."""
    return w is not None and np.unique(np.asarray(w, float)).size > 3


def _sym_power(a: np.ndarray, power: float, tol: float | None = None) -> np.ndarray:
    a = (a + a.T) / 2
    val, vec = np.linalg.eigh(a)
    keep = val > (tol if tol is not None else 0.0)
    vp = np.zeros_like(val)
    vp[keep] = val[keep] ** power
    return (vec * vp) @ vec.T


@dataclass
class ClusterRobust:
    """CR2 (or CR3) covariance of the fixed effects with the per-cluster pieces that the degrees of
    freedom of any contrast need. ``vcov`` is p x p; use :meth:`contrast` for c'beta.

    The t reference's degrees of freedom (:meth:`contrast`, :meth:`df`) follow the adjustment: CR2
    takes Bell and McCaffrey's Satterthwaite df of the contrast (clubSandwich's), CR3 takes J - 1
    (J clusters), the reference MacKinnon, Nielsen and Webb (2023) recommend with it. The
    Satterthwaite df of either is :meth:`satterthwaite` (clubSandwich's for CR3 too)."""

    vcov: np.ndarray
    M: np.ndarray
    E: np.ndarray  # J x p x p: X_j' W_j A_j X_j
    F: np.ndarray  # J x p x p: X_j' W_j A_j Theta_j A_j W_j X_j
    n_clusters: int
    form: str  # "symmetric" (clubSandwich's) or "whitened"
    max_subspace: int  # largest invariant-subspace dimension r over clusters
    adjustment: str = "CR2"
    gram: tuple | None = field(default=None, repr=False)  # whitened form: (G, b) per cluster, for readjusted()

    def contrast(self, c) -> tuple[float, float]:
        """(variance, df of the t reference) of c'beta for a p-vector c: Satterthwaite df with CR2,
        J - 1 with CR3 (class docstring)."""
        if self.adjustment == "CR3":
            c = np.asarray(c, float)
            return float(c @ self.vcov @ c), float(self.n_clusters - 1)
        return self.satterthwaite(c)

    def readjusted(self, adjustment: str) -> "ClusterRobust":
        """The same whitened computation with another adjustment (CR2 beside a CR3, say), from the
        stored per-cluster Gram matrices: no second pass over the rows. Only for the whitened form."""
        if self.gram is None:
            raise ValueError(f"readjusted needs the whitened form's Gram matrices; this result is {self.form}")
        return _cr2_from_gram(*self.gram, adjustment=adjustment)

    def satterthwaite(self, c) -> tuple[float, float]:
        """(variance, Bell-McCaffrey Satterthwaite df) of c'beta for a p-vector c."""
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
        """df of each coefficient's t reference (:meth:`contrast`)."""
        p = self.vcov.shape[0]
        return np.array([self.contrast(np.eye(p)[k])[1] for k in range(p)])


def _segment_sums(V, starts):
    """Sums of the rows of V over consecutive segments beginning at ``starts``."""
    return np.add.reduceat(V, starts, axis=0)


def _theta_matvec(V, w, bj, starts, g_b, g_o):
    """Theta v = v / w + g_b Z_b Z_b' v + g_o 1 1' v for the rows of one organization, sorted by
    beneficiary (``bj`` nondecreasing, ``starts`` the first row of each beneficiary)."""
    out = V / w[:, None]
    if g_b:
        out += g_b * _segment_sums(V, starts)[bj]
    if g_o:
        out += g_o * V.sum(axis=0, keepdims=True)
    return out


def _tall_svd(B):
    """Left singular vectors and singular values of a tall matrix (QR, then the small SVD of R:
    LAPACK's SVD of a tall matrix is much slower)."""
    Q, R = np.linalg.qr(B)
    u, s, _ = np.linalg.svd(R)
    return Q @ u, s


def _invariant_basis(X, matvec, tol=1e-10, max_dim=None):
    """Orthonormal basis of the smallest matvec-invariant subspace containing the columns of X
    (block Krylov with two passes of reorthogonalization and SVD rank detection)."""
    def orth(B, Q):
        for _ in range(2):
            if Q is not None:
                B = B - Q @ (Q.T @ B)
        if B.shape[1] == 0:
            return B
        u, s = _tall_svd(B)
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
            raise _TooLarge(limit)
        Q = np.hstack([Q, nxt])
        new = nxt
    return Q


class _TooLarge(Exception):
    pass


def _whitener(wj, bj, starts, g_b, g_o):
    """v -> L^-1 v for a factor L with L L' = Theta_j = diag(1/w) + g_b Z_b Z_b' + g_o 1 1':
    L = L_0 (I + c_o u u'), L_0 = diag(w)^-1/2 (I + c_b v_b v_b') per beneficiary (v_b = sqrt(w)),
    u = L_0^-1 1; every factor is identity plus rank one, so L^-1 v costs O(n_j)."""
    sw = np.sqrt(wj)
    sb = _segment_sums(wj, starts)  # |v_b|^2
    cb = (np.sqrt(1 + g_b * sb) - 1) / sb
    kb = (cb / (1 + cb * sb))[bj]

    def l0inv(V):
        Z = sw[:, None] * V
        return Z - kb[:, None] * sw[:, None] * _segment_sums(sw[:, None] * Z, starts)[bj]

    u = l0inv(np.ones((len(wj), 1)))[:, 0]
    uu = float(u @ u)
    co = (np.sqrt(1 + g_o * uu) - 1) / uu
    ko = co / (1 + co * uu)
    return lambda V: (lambda Z: Z - ko * np.outer(u, u @ Z))(l0inv(V))


def _codes(labels: np.ndarray) -> np.ndarray:
    """Codes 0.. of the labels in sorted order (np.unique's inverse); labels that already are such codes
    (integers 0..k-1, each present: the nested fits' indices) are their own, without a sort."""
    if labels.dtype.kind == "i" and len(labels) and labels.min() == 0 and (np.bincount(labels) > 0).all():
        return labels
    return np.unique(labels, return_inverse=True)[1]


def _org_groups(org, w, bene, g_bene):
    """Per organization: (rows sorted by beneficiary, their weights, beneficiary index 0.., first
    row of each beneficiary); and the beneficiary variance ratio (0 without beneficiaries). The
    within-organization order does not matter: every adjustment is permutation-equivariant."""
    org = np.asarray(org)
    n = len(org)
    w = np.ones(n) if w is None else np.asarray(w, float)
    oi, bi = _codes(org), (np.arange(n) if bene is None else _codes(np.asarray(bene)))
    order = np.lexsort((bi, oi))
    bounds = np.r_[0, np.cumsum(np.bincount(oi))]
    groups = []
    for j in range(len(bounds) - 1):
        rows = order[bounds[j]:bounds[j + 1]]
        b = bi[rows]
        first = np.r_[True, b[1:] != b[:-1]]
        groups.append((rows, w[rows], np.cumsum(first) - 1, np.flatnonzero(first)))
    return groups, (0.0 if bene is None else float(g_bene))


def cr2(X, resid, org, w=None, bene=None, g_org=0.0, g_bene=0.0, form: str = "auto",
        max_dim: int | None = None, adjustment: str = "CR2") -> ClusterRobust:
    """CR2 covariance (working model = the fitted nested LMM) clustered on ``org``.

    X : n x p fixed-effect design; resid : marginal residuals y - X beta; org : cluster label per
    row; w : precision weights (residual variance sigma^2 / w; default 1); bene : beneficiary
    label per row (nested in org; None: no beneficiary intercept); g_org, g_bene : variance ratios
    of the organization and beneficiary intercepts to the residual variance.

    form : "symmetric" (clubSandwich's A_j, exact subspace computation; see the module
    docstring), "whitened" (the Bell-McCaffrey adjustment of the GLS-whitened regression,
    W_j A_j = L_j'^-1 (I - H_j)^-1/2 L_j^-1 with L_j L_j' = Theta_j and H_j the whitened cluster
    hat block: also exactly unbiased under the working model, O(n_j p^2), but not clubSandwich's
    choice of root), or "auto": symmetric unless some organization's invariant subspace exceeds
    ``max_dim`` (default 12 p + 12), then whitened for every organization; precision weights
    with more than 3 distinct values go straight to whitened (their subspace would approach
    n_j). The result's ``form`` says which was used.

    adjustment : "CR2" (default) or "CR3", the jackknife-type adjustment (see :func:`_cr2_from_gram`),
    which has a single form: always computed whitened.
    """
    if form not in ("auto", "symmetric", "whitened"):
        raise ValueError(f"form must be auto, symmetric or whitened; got {form!r}")
    check_adjustment(adjustment)
    X = np.asarray(X, float)
    resid = np.asarray(resid, float)
    p = X.shape[1]
    groups, g_b = _org_groups(org, w, bene, g_bene)
    if adjustment != "CR2":
        return _cr2_whitened(X, resid, groups, g_b, float(g_org), adjustment)
    if form == "auto" and _many_weights(w):
        form = "whitened"  # many distinct weights: the exact subspace would approach n_j (see above)
    if form != "whitened":
        cap = max_dim if max_dim is not None else (None if form == "symmetric" else 12 * p + 12)
        try:
            return _cr2_symmetric(X, resid, groups, g_b, float(g_org), cap)
        except _TooLarge:
            if form == "symmetric":
                raise ValueError(f"CR2: an organization's invariant subspace exceeds {cap} dimensions; "
                                 "use form='whitened'") from None
    return _cr2_whitened(X, resid, groups, g_b, float(g_org))


def _cr2_symmetric(X, resid, groups, g_b, g_o, cap):
    p = X.shape[1]
    pieces = []
    XWX = np.zeros((p, p))
    for rows, wj, bj, starts in groups:
        Xj = X[rows]
        mv = lambda V, wj=wj, bj=bj, starts=starts: _theta_matvec(V, wj, bj, starts, g_b, g_o)  # noqa: E731
        Q = _invariant_basis(Xj, mv, max_dim=cap)
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
    J = len(groups)
    e, E, F = np.zeros((J, p)), np.zeros((J, p, p)), np.zeros((J, p, p))
    for j, (ThS, T, XS, WXS, rS) in enumerate(pieces):
        TX = T @ XS
        Y = ThS @ ThS - TX @ M @ TX.T
        A = T @ _sym_power(Y, -0.5, _EIG_TOL) @ T
        AWX = A @ WXS
        e[j] = AWX.T @ rS
        E[j] = AWX.T @ XS
        F[j] = AWX.T @ ThS @ AWX
    return ClusterRobust(vcov=M @ (e.T @ e) @ M, M=M, E=E, F=F, n_clusters=J, form="symmetric",
                         max_subspace=max(pc[0].shape[0] for pc in pieces))


def _cr2_whitened(X, resid, groups, g_b, g_o, adjustment="CR2"):
    """The whitened form from each organization's Gram matrix G_j = Xt_j' Xt_j and Xt_j' rt_j
    (Xt_j = L_j^-1 X_j, rt_j = L_j^-1 r_j): no n_j x p basis is kept or factorized. With f any
    function of the whitened hat block H_j = Xt_j M Xt_j', Xt_j' f(H_j) = f(G_j M) Xt_j' (push-through),
    and with K K' = M, G_j M = K'^-1 S_j K' for the symmetric S_j = K' G_j K = P Lambda P' (the
    nonzero eigenvalues of H_j). So, with f(lambda) = (1 - lambda)^-1/2 and (1 - lambda)^-1 (0 where
    1 - lambda <= 1e-12, as clubSandwich's matrix power), X_j' W_j A_j r_j = K'^-1 P f(Lambda) P' K' Xt_j' rt_j,
    E_j = K'^-1 P f(Lambda) P' K' G_j and F_j likewise with (1 - lambda)^-1: O(n_j p^2) for the Gram
    matrix, then p x p work."""
    p = X.shape[1]
    J = len(groups)
    G, b = np.empty((J, p, p)), np.empty((J, p))
    for j, (rows, wj, bj, starts) in enumerate(groups):
        Z = _whitener(wj, bj, starts, g_b, g_o)(np.column_stack([X[rows], resid[rows]]))
        Xt = Z[:, :p]
        G[j] = Xt.T @ Xt
        b[j] = Xt.T @ Z[:, p]
    return _cr2_from_gram(G, b, adjustment)


def _cr2_from_gram(G, b, adjustment: str = "CR2"):
    """The whitened CR2 (see :func:`_cr2_whitened`) from each organization's G_j = X_j' Theta_j^-1 X_j
    (J x p x p) and b_j = X_j' Theta_j^-1 r_j (J x p), however they were computed.

    ``adjustment="CR3"``: the jackknife-type adjustment A_j = (I - X_j M X_j' W_j)^-1 instead of the
    inverse square root, i.e. f(lambda) = (1 - lambda)^-1 below (and its square in F_j). Then
    M X_j' W_j A_j r_j = beta - beta_(-j), the change of the GLS coefficients when organization j is
    left out at the fit's variance ratios, and V = sum_j (beta - beta_(-j))(beta - beta_(-j))': the
    cluster jackknife without its (J - 1)/J factor, clubSandwich's ``vcovCR(type = "CR3")``. It has no
    choice of root (W_j (I - X_j M X_j' W_j)^-1 = (Theta_j - X_j M X_j')^-1 for every factor), so the
    whitened form is exactly clubSandwich's."""
    check_adjustment(adjustment)
    p = G.shape[1]
    J = len(G)
    M = np.linalg.inv(G.sum(axis=0))
    M = (M + M.T) / 2
    K = np.linalg.cholesky(M)
    S = K.T @ G @ K  # J x p x p
    lam, P = np.linalg.eigh((S + S.transpose(0, 2, 1)) / 2)
    one = 1 - lam
    ok = one > _EIG_TOL
    f = np.where(ok, 1 / np.where(ok, one, 1) ** (0.5 if adjustment == "CR2" else 1.0), 0.0)
    KtiP = np.linalg.solve(K.T, P)  # K'^-1 P, J x p x p
    PtKt = P.transpose(0, 2, 1) @ K.T  # P' K'
    Kb = PtKt @ G  # P' K' G_j
    e = np.einsum("jkl,jl->jk", KtiP * f[:, None, :], np.einsum("jkl,jl->jk", PtKt, b))
    E = (KtiP * f[:, None, :]) @ Kb
    F = (KtiP * (f * f)[:, None, :]) @ Kb
    return ClusterRobust(vcov=M @ (e.T @ e) @ M, M=M, E=E, F=F, n_clusters=J, form="whitened", max_subspace=p,
                         adjustment=adjustment, gram=(G, b))


def with_cr2(res, X: np.ndarray | None = None, y: np.ndarray | None = None, nest=None, gram=None,
             adjustment: str = "CR2"):
    """A copy of a :class:`mheval.models.nested_lmm.NestedLMMResult` whose ``bse`` and
    ``cov_params()`` are cluster-robust (``adjustment`` "CR2" or "CR3"; working model: the fit's
    variance components), with the ``df`` of each coefficient's t reference
    (:meth:`ClusterRobust.df`), the model-based SEs in ``bse_model`` and the :class:`ClusterRobust`
    in ``robust``; with CR3 also CR2's, for comparison, in ``robust_cr2``. ``nest`` is the fit's
    :class:`mheval.models.nesting.Nesting`; or, instead of the rows, ``gram`` = (G, b): each
    organization's X_j' Theta_j^-1 X_j and X_j' Theta_j^-1 r_j at the fit's variance ratios (the
    whitened form from the fit's sufficient statistics:
    :func:`mheval.models.nested_lmm.fit_nested_lmm_statistics`)."""
    import dataclasses

    import pandas as pd

    check_adjustment(adjustment)
    names = list(res.params.index)

    def robust(adj):
        if gram is not None:
            return _cr2_from_gram(*gram, adjustment=adj)
        return cr2(X, y - X @ res.params.to_numpy(), nest.org_of_bene[nest.bene_idx], w=nest.w,
                   bene=None if nest.one_level else nest.bene_idx, g_org=res.theta[0] ** 2, g_bene=res.theta[1] ** 2,
                   adjustment=adj)
    cr = robust(adjustment)
    comparison = None
    if adjustment == "CR3":  # CR2 beside it: from the same Gram matrices wherever CR2 is whitened too
        comparison = cr.readjusted("CR2") if gram is not None or _many_weights(nest.w) else robust("CR2")
    return dataclasses.replace(res, bse=pd.Series(np.sqrt(np.diag(cr.vcov)), index=names),
                               _cov=pd.DataFrame(cr.vcov, index=names, columns=names), cov_type=adjustment,
                               df=pd.Series(cr.df(), index=names), bse_model=res.bse, robust=cr,
                               robust_cr2=comparison)


def fixed_variance_gls(X, y, org, w=None, bene=None, g_org=0.0, g_bene=0.0) -> np.ndarray:
    """GLS coefficients of y on X with the nested LMM's variance ratios held fixed (working model
    Theta_j of :func:`cr2`), in O(n p^2) by the same whitening L_j^-1 as the whitened CR2. With
    the fitted ratios this is the fit's beta; a randomization test recomputes it for every
    permuted arm without re-estimating the variance components."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    p = X.shape[1]
    groups, g_b = _org_groups(org, w, bene, g_bene)
    XtX, Xty = np.zeros((p, p)), np.zeros(p)
    for rows, wj, bj, starts in groups:
        Z = _whitener(wj, bj, starts, g_b, float(g_org))(np.column_stack([X[rows], y[rows]]))
        XtX += Z[:, :p].T @ Z[:, :p]
        Xty += Z[:, :p].T @ Z[:, p]
    return np.linalg.solve(XtX, Xty)


@dataclass
class WeightedLSRobust:
    """Weighted least squares with sampling weights and its CR2 covariance (clubSandwich's
    ``vcovCR(lm(y ~ X, weights = w), cluster, type = "CR2")``): ``params``, ``vcov`` (p x p) and
    :meth:`contrast` for the Satterthwaite df of c'beta."""

    params: np.ndarray
    vcov: np.ndarray
    Q: np.ndarray  # J x n x p: Q[j] @ c = u_j of the contrast c (see contrast)
    n_clusters: int

    def contrast(self, c) -> tuple[float, float]:
        """(variance, Bell-McCaffrey Satterthwaite df) of c'beta: c'Vc = sum_j (u_j' y)^2 with
        u_j = (I - H)' S_j' A_j W_j X_j M c, and under the working model (target identity)
        df = (tr P)^2 / ||P||_F^2 with P = U'U, U = [u_1 ... u_J]."""
        c = np.asarray(c, float)
        U = self.Q @ c  # J x n
        P = U @ U.T
        return float(c @ self.vcov @ c), float(np.trace(P) ** 2 / np.sum(P * P))


def cr2_weighted_ls(X, y, cluster, w) -> WeightedLSRobust:
    """WLS point estimates with sampling weights ``w`` (design-based: the weights are not
    precision weights) and CR2 covariance clustered on ``cluster``, as clubSandwich computes it
    for an ``lm`` with weights (``inverse_var = FALSE``, target variance the identity):

        W = diag(w / mean(w)), M = (X'WX)^-1, H = X M X'W,
        G_j = I - H_jj - H_jj' + X_j M (sum_k X_k'W_k W_k X_k) M X_j',  A_j = G_j^-1/2,
        V = M [sum_j X_j'W_j A_j r_j r_j' A_j W_j X_j] M.

    Dense (n x n): meant for organization-level data (Equation 3: one row per organization and
    wave), a few thousand rows at most. Checked against clubSandwich in tests/test_equation3.py."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    w = np.asarray(w, float)
    if (w <= 0).any():
        raise ValueError("cr2_weighted_ls: sampling weights must be positive (drop zero-weight rows first)")
    w = w / w.mean()
    n, p = X.shape
    XW = X * w[:, None]
    M = np.linalg.inv(X.T @ XW)
    M = (M + M.T) / 2
    beta = M @ (XW.T @ y)
    r = y - X @ beta
    H = X @ M @ XW.T  # n x n
    Omega = M @ (XW.T @ XW) @ M
    _, idx = np.unique(np.asarray(cluster), return_inverse=True)
    J = int(idx.max()) + 1
    IH = np.eye(n) - H
    Q = np.zeros((J, n, p))
    meat = np.zeros((p, p))
    for j in range(J):
        rows = np.flatnonzero(idx == j)
        Xj = X[rows]
        Hj = H[np.ix_(rows, rows)]
        G = np.eye(len(rows)) - Hj - Hj.T + Xj @ Omega @ Xj.T
        A = _sym_power(G, -0.5, _EIG_TOL)
        B = A @ XW[rows] @ M  # n_j x p: score rows of cluster j times M
        e = B.T @ r[rows]
        meat += np.outer(e, e)
        Q[j] = IH[rows].T @ B  # u_j for c: (I - H)' S_j' B c
    # M is folded into B: meat = sum_j (M X_j'W_j A_j r_j)(M X_j'W_j A_j r_j)' is already V
    return WeightedLSRobust(params=beta, vcov=(meat + meat.T) / 2, Q=Q, n_clusters=J)
