"""Wild cluster restricted (WCR) bootstrap-t for one linear contrast of a GLS fit, from each
cluster's Gram matrices.

Why it exists: with about 47 organizations of very unequal size, the cluster-robust t intervals of
Equation 1 are either too short (CR2 with Satterthwaite df, 84-87% for 90% intervals) or, for office
visits, somewhat long (CR3 with t(G - 1), 92-94%; benchmarks/results/calibration_trials.md). The WCR
bootstrap (Cameron, Gelbach and Miller 2008; MacKinnon, Nielsen and Webb 2023, "Cluster-robust inference:
a guide to empirical practice") imposes the null, resamples each cluster's restricted residuals with one
random sign, and refers the t statistic (CV1, or CV3: ``studentize``) to its bootstrap distribution.
It was evaluated as the Equation 1 default and is not one: on the calibration's 200 trials with 47
organizations it covers 86.0% (spending) and 83.0-84.0% (office visits), no better than CR2
(benchmarks/cluster_robust_choice.py, results/cluster_robust_choice_few.md). It stays for that comparison.

The mixed model's fixed effects are the OLS fit of the GLS-whitened regression (variance
components held at their fitted values, as :func:`mheval.models.cluster_robust.fixed_variance_gls`
and the randomization test hold them), so the bootstrap is the ordinary WCR of that whitened
regression. Everything it needs is each cluster's G_j = X~_j' X~_j and b_j = X~_j' u^_j (the
whitened CR computation's Gram matrices, :class:`mheval.models.cluster_robust.ClusterRobust`
``gram``): with M = (sum G_j)^-1, q = M c and kappa = (c'beta^ - delta0) / c'Mc, the restricted
scores are b~_j = b_j + kappa G_j q, a bootstrap draw v (one weight per cluster) gives

    c'beta* - delta0 = sum_k alpha_k v_k,             alpha_k = q' b~_k,
    q' s*_j = alpha_j v_j - sum_k (G_j q)' M b~_k v_k   (the bootstrap cluster scores),

and t* = (c'beta* - delta0) / sqrt(sum_j (q' s*_j)^2). Both are linear in kappa, so after one
J x J x B pass every null value costs O(B) and the interval (the null values the test does not
reject) comes from bisection on the same draws. The CV1 factor G/(G - 1) cancels between the
observed and the bootstrap t and is left out.

Written here because the Python implementation (wildboottest) needs the n x p whitened design
(millions of rows at the trial's scale); checked against it on shared data, with every sign vector
enumerated, in tests/test_wild_bootstrap.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

WEIGHTS = ("rademacher", "webb")
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def _draws(J: int, draws: int, weights: str, seed: int) -> np.ndarray:
    """J x B cluster weights: every Rademacher sign vector when 2^J <= draws (exact), else random."""
    if weights not in WEIGHTS:
        raise ValueError(f"wild bootstrap weights must be one of {list(WEIGHTS)}; got {weights!r}")
    if weights == "rademacher" and 2 ** J <= draws:
        return np.array(list(itertools.product((1.0, -1.0), repeat=J))).T
    rng = np.random.default_rng(seed)
    if weights == "rademacher":
        return rng.choice((-1.0, 1.0), size=(J, draws))
    return rng.choice(_WEBB, size=(J, draws))


@dataclass
class WildClusterBootstrap:
    """The WCR bootstrap of c'beta for a fit given by its clusters' Gram matrices (module docstring).

    ``estimate`` is c'beta^ and ``se`` its standard error of the ``studentize`` type (CV1 without the
    G/(G - 1) factor, or CV3);
    :meth:`p_value` tests c'beta = delta0, :meth:`interval` inverts the test."""

    estimate: float
    se: float
    n_clusters: int
    n_draws: int
    weights: str
    _s2: float
    _num: tuple  # (N0, N1): numerator of t* = N0 + kappa N1 per draw
    _den: tuple  # (s00, s01, s11): squared denominator s00 + 2 kappa s01 + kappa^2 s11 per draw

    @classmethod
    def from_gram(cls, G, b, c, draws: int = 9999, weights: str = "rademacher", seed: int = 0,
                  beta=None, studentize: str = "cv1") -> "WildClusterBootstrap":
        """G : J x p x p (X~_j' X~_j), b : J x p (X~_j' u^_j, unrestricted residuals), c : p-vector.
        ``beta`` (the fit's coefficients) gives the estimate; without it the estimate is 0 and
        p-values and intervals are for c'beta - c'beta^. ``studentize``: "cv1" (the sum of squared
        cluster scores) or "cv3" (the cluster jackknife, CR3 without its working-model whitening
        choice: c'(beta - beta_(-j)) = c'(A - G_j)^-1 s_j, A = sum G_j), for the observed and every
        bootstrap t alike."""
        if studentize not in ("cv1", "cv3"):
            raise ValueError(f"studentize must be cv1 or cv3; got {studentize!r}")
        G, b, c = np.asarray(G, float), np.asarray(b, float), np.asarray(c, float)
        J = len(G)
        A = G.sum(axis=0)
        M = np.linalg.inv(A)
        M = (M + M.T) / 2
        q = M @ c
        s2 = float(c @ q)
        Gq = G @ q  # J x p: G_j q
        a0, a1 = b @ q, Gq @ q  # alpha = a0 + kappa a1
        A0 = np.diag(a0) - Gq @ M @ b.T  # J x J: q's*_j = (A0 + kappa A1) v
        A1 = np.diag(a1) - Gq @ M @ Gq.T
        se = float(np.sqrt(np.sum(a0 * a0)))
        if studentize == "cv3":  # c'(beta - beta_(-j)) = r_j' s_j, r_j = (A - G_j)^-1 c
            r = np.stack([np.linalg.pinv(A - Gj, hermitian=True) @ c for Gj in G])
            Gr = np.einsum("jkl,jl->jk", G, r)
            d0 = np.einsum("jk,jk->j", r, b)
            A0 = np.diag(d0) - Gr @ M @ b.T
            A1 = np.diag(np.einsum("jk,jk->j", r, Gq)) - Gr @ M @ Gq.T
            se = float(np.sqrt(np.sum(d0 * d0)))
        V = _draws(J, draws, weights, seed)
        R0, R1 = A0 @ V, A1 @ V
        est = float(c @ beta) if beta is not None else 0.0
        return cls(estimate=est, se=se, n_clusters=J, n_draws=V.shape[1],
                   weights=weights, _s2=s2, _num=(a0 @ V, a1 @ V),
                   _den=(np.sum(R0 * R0, axis=0), np.sum(R0 * R1, axis=0), np.sum(R1 * R1, axis=0)))

    def _t(self, delta0: float) -> tuple[float, np.ndarray]:
        """(observed t, the B bootstrap t's) under the null c'beta = delta0 (a zero bootstrap
        denominator gives an infinite t*)."""
        kappa = (self.estimate - delta0) / self._s2
        t = (self.estimate - delta0) / self.se if self.se > 0 else np.inf
        N0, N1 = self._num
        s00, s01, s11 = self._den
        den = np.sqrt(np.maximum(s00 + 2 * kappa * s01 + kappa * kappa * s11, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (N0 + kappa * N1) / den
        return t, np.where(np.isnan(tb), np.inf, tb)

    def bootstrap_t(self, delta0: float) -> np.ndarray:
        """The B bootstrap t statistics under the null c'beta = delta0, in the observed t's units
        (c'beta^ - delta0) / :attr:`se`."""
        return self._t(delta0)[1]

    def p_value(self, delta0: float) -> float:
        """Symmetric bootstrap p-value of c'beta = delta0: the share of draws with |t*| >= |t| (the
        observed sample's own draw counted, so p > 0)."""
        t, tb = self._t(delta0)
        return float(np.mean(np.abs(tb) >= abs(t) * (1 - 1e-12)))

    def confidence(self, delta0: float) -> float:
        """The bootstrap confidence distribution at delta0, P*(t* >= t) under the null c'beta = delta0:
        the one-sided p-value of c'beta >= delta0 against c'beta < delta0, increasing from 0 to 1 in
        delta0; read as the (flat-prior) probability that c'beta is below delta0."""
        t, tb = self._t(delta0)
        return float(np.mean(tb >= t))

    def interval(self, alpha: float = 0.10, tol: float = 1e-6) -> tuple[float, float]:
        """The null values not rejected at level ``alpha`` (test inversion: each end by bisection to
        ``tol`` times the SE). An end the test never reaches within 1000 SEs is infinite."""
        if not self.se > 0:
            return float("nan"), float("nan")
        ends = []
        for sign in (-1.0, 1.0):
            inside, step = 0.0, 1.0
            while self.p_value(self.estimate + sign * step * self.se) > alpha:
                inside, step = step, 2 * step
                if step > 1000:
                    ends.append(sign * np.inf)
                    break
            else:
                outside = step
                while outside - inside > tol:
                    mid = (inside + outside) / 2
                    if self.p_value(self.estimate + sign * mid * self.se) > alpha:
                        inside = mid
                    else:
                        outside = mid
                ends.append(self.estimate + sign * (inside + outside) / 2 * self.se)
        return float(ends[0]), float(ends[1])
