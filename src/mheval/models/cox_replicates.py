"""Many weighted refits of one (stratified) Cox model at once: the cluster-bootstrap replicates.

A cluster-bootstrap replicate is the same rows under other frequency weights (the number of times each
row's organization is drawn). Refitting replicate by replicate (:func:`mheval.models.cox_engine.newton_cox`
on :meth:`~mheval.models.cox_engine.RiskSets.reweighted`) costs a pass over the rows per Newton
evaluation and replicate, with numpy's per-call overhead and a copy of the drawn rows each time.
:class:`ReplicateFits` evaluates a block of m replicates together, each at its own coefficients:
the rows are sorted once (by stratum, then time) and every risk-set quantity becomes a matrix product
over the rows with the m replicates as columns:

- linear predictors X B' (n x m, one product), the weighted relative hazards W exp(eta);
- risk-set sums S0 at each event time: segment sums of the rows between successive event times,
  reverse-cumulated within the stratum; S1 (each replicate's weighted covariate sums): one small
  product per segment (its rows' weights, m columns, times its rows' covariates);
- the gradient's and information's risk-set parts as in :func:`mheval.models.cox_engine.loglik_grad_hess`:
  sum_r v_r x_r x_r' over the rows, with v_r = w_r C_r (C_r the sum over the event times at which row r
  is at risk of 1/denominator) less the Efron correction on the deaths, for all m replicates as one
  product of the m columns of v with the rows' pairwise products x_rk x_rl (in chunks of rows);
  the mean-outer-product part from S1 and the deaths' sums D1 by event time (batched products over
  the event times).

Efron ties with weights follow R's coxph (and the engine): a death time with d deaths of positive weight
in the replicate has d terms, each weighted by those deaths' mean weight; a death of weight 0 is no death
(a time without one is no event time of that replicate). The Newton iterations are those of
:func:`~mheval.models.cox_engine.newton_cox` (same start, steps, ``accept_step`` rule and stopping rule)
for every replicate; a replicate whose step would need halving is left to the caller (``fallback``),
which refits it alone. The sums are the same as the engine's in another order: the coefficients agree
to rounding (tests/test_cox_replicates.py).
"""

from __future__ import annotations

import numpy as np


def replicate_block(n_rows: int, budget: float = 1.5e7) -> int:
    """How many replicates to fit together over ``n_rows`` rows: each n x m array then holds about
    ``budget`` numbers (120 MB; a handful of them live at once)."""
    return max(1, int(budget // max(n_rows, 1)))


class ReplicateFits:
    """The rows of a Cox model (``time``, ``event``, ``X``; optional ``strata`` codes: each stratum has
    a baseline hazard and risk sets of its own), sorted once, for evaluating and fitting many weight
    vectors (replicates) together. ``order`` maps the sorted rows to the original ones; weights are
    passed in sorted order (``W[:, b]`` = replicate b's weight of row ``order[i]``).

    ``width``: the strata are laid out as time windows of this width (stratum s at s * width + time),
    as :func:`mheval.models.competing_risks._stratified_fit` does; ``ut`` (the event times) are on that
    scale."""

    def __init__(self, time, event, X, strata=None, ties: str = "efron", width: float | None = None):
        if ties not in ("efron", "breslow"):
            raise ValueError("ties must be 'efron' or 'breslow'")
        T = np.asarray(time, float)
        n = len(T)
        s = np.zeros(n, int) if strata is None else np.asarray(strata, int)
        self.width = float(T.max()) + 1.0 if width is None else float(width)
        tt = T + s * self.width
        self.order = np.argsort(tt, kind="stable")
        self.t, self.stratum = tt[self.order], s[self.order]
        self.X = np.asarray(X, float).reshape(n, -1)[self.order]
        self.ties = ties
        d = np.asarray(event, bool)[self.order]
        self.drows = np.flatnonzero(d)  # deaths, in sorted order (those at one event time are contiguous)
        self.Xd = self.X[self.drows]
        self.ut = np.unique(self.t[d])
        J = len(self.ut)
        self.dj = np.searchsorted(self.ut, self.t[self.drows])
        self.dfirst = np.searchsorted(self.dj, np.arange(J))  # first death of each event time
        self.dstop = np.r_[self.dfirst[1:], len(self.drows)]
        # each event time's risk set: rows from `start` to the end of its stratum; its segment: rows
        # from `start` to the next event time of the stratum (or the stratum's end)
        self.ustratum = np.floor(self.ut / self.width).astype(int)
        self.start = np.searchsorted(self.t, self.ut, side="left")
        send = np.searchsorted(self.stratum, self.ustratum, side="right")  # end row of the event time's stratum
        nxt = np.r_[self.start[1:], n]
        same = np.r_[self.ustratum[1:] == self.ustratum[:-1], False]
        self.stop = np.where(same, nxt, send)
        # segment j = reduceat interval starting at start[j]: the boundaries are the starts and stops
        bounds = np.unique(np.r_[0, self.start, self.stop[self.stop < n]])
        self._bounds, self._bpos = bounds, np.searchsorted(bounds, self.start)
        # first event index of each event time's stratum, and of the next stratum (risk sets restart there)
        self.jfirst = np.searchsorted(self.ustratum, self.ustratum, side="left")
        self.jend = np.searchsorted(self.ustratum, self.ustratum, side="right")
        # rows: number of event times <= the row's time (k_exit), first event index of the row's stratum
        self.k_exit = np.searchsorted(self.ut, self.t, side="right")
        self.k_first = np.searchsorted(self.ustratum, self.stratum, side="left")
        # Efron slots: every event time j has (full-data) d_j terms l = 0..d_j-1
        nd = self.dstop - self.dfirst
        self.slot_j = np.repeat(np.arange(J), nd)
        self.slot_l = (np.arange(nd.sum()) - np.repeat(self.dfirst, nd)).astype(float)
        self.slot_first = self.dfirst  # slots of event time j: dfirst[j]..dstop[j] (as the deaths)
        p = self.X.shape[1]
        self._iu = np.triu_indices(p)

    # ------------------------------------------------------------------ sums
    def _segment_sums(self, V: np.ndarray) -> np.ndarray:
        """Sum of the rows of V (n x m) over each event time's segment (J x m)."""
        if len(self.ut) == 0:
            return np.zeros((0,) + V.shape[1:])
        return np.add.reduceat(V, self._bounds, axis=0)[self._bpos]

    def _risk(self, seg: np.ndarray) -> np.ndarray:
        """Risk-set sums (J x ...) from segment sums: reverse cumulative sums within each stratum."""
        R = np.concatenate([np.cumsum(seg[::-1], axis=0)[::-1], np.zeros((1,) + seg.shape[1:])])
        return R[:-1] - R[self.jend]

    def _death_counts(self, W: np.ndarray):
        """Per event time (J x m): deaths of positive weight and their weight sum."""
        Wd = W[self.drows]
        if len(self.drows) == 0:
            z = np.zeros((0, W.shape[1]))
            return z, z
        return (np.add.reduceat((Wd > 0).astype(float), self.dfirst, axis=0),
                np.add.reduceat(Wd, self.dfirst, axis=0))

    def relative_hazards(self, W: np.ndarray, B: np.ndarray):
        """eta (n x m), each column's max, and E = W exp(eta - max) for coefficients B (m x p)."""
        eta = self.X @ B.T
        emax = eta.max(axis=0)
        E = np.exp(eta - emax)
        E *= W
        return eta, emax, E

    def evaluate(self, W: np.ndarray, B: np.ndarray, hess: bool = True):
        """Log partial likelihood (m), gradient (m x p) and information (m x p x p, or None) of each
        replicate b (weights ``W[:, b]``, sorted order) at its coefficients ``B[b]``."""
        m, p = W.shape[1], self.X.shape[1]
        J = len(self.ut)
        eta, emax, E = self.relative_hazards(W, B)
        ndead, dead_wt = self._death_counts(W)
        S0 = self._risk(self._segment_sums(E))
        Ed = E[self.drows]
        D0 = np.add.reduceat(Ed, self.dfirst, axis=0) if J else np.zeros((0, m))
        # Efron slots of each replicate: l < (its deaths of positive weight at j), fraction l / d
        dj_slot = ndead[self.slot_j]
        active = self.slot_l[:, None] < dj_slot
        with np.errstate(divide="ignore", invalid="ignore"):
            wtave = np.where(ndead > 0, dead_wt / np.where(ndead > 0, ndead, 1.0), 0.0)
            frac = (np.where(active, self.slot_l[:, None] / np.where(dj_slot > 0, dj_slot, 1.0), 0.0)
                    if self.ties == "efron" else np.zeros_like(dj_slot))
            den = np.where(active, S0[self.slot_j] - frac * D0[self.slot_j], 1.0)
        wt = np.where(active, wtave[self.slot_j], 0.0)
        h = wt / den
        hf = h * frac
        first = self.slot_first
        red = (lambda v: np.add.reduceat(v, first, axis=0)) if J else (lambda v: np.zeros((0, m)))
        hsum, hfsum = red(h), red(hf)
        logsum = red(wt * np.log(den))
        Wd = W[self.drows]
        loglik = np.einsum("dm,dm->m", Wd, eta[self.drows]) - logsum.sum(axis=0) - dead_wt.sum(axis=0) * emax
        # S1 and D1 by event time (J x m x p): one small product per segment / death group
        S1seg = np.empty((J, m, p))
        D1 = np.empty((J, m, p))
        Xs, Xd = self.X, self.Xd
        for j, (a, b, c, d) in enumerate(zip(self.start, self.stop, self.dfirst, self.dstop)):
            S1seg[j] = E[a:b].T @ Xs[a:b]
            D1[j] = Ed[c:d].T @ Xd[c:d]
        S1 = self._risk(S1seg)
        grad = Wd.T @ Xd - np.einsum("jm,jmp->mp", hsum, S1) + np.einsum("jm,jmp->mp", hfsum, D1)
        if not hess:
            return loglik, grad, None
        # information: sum_r v_r x_r x_r' - sum over slots wt (S1 - f D1)(S1 - f D1)' / den^2
        cum = np.concatenate([np.zeros((1, m)), np.cumsum(hsum, axis=0)])
        V = E * (cum[self.k_exit] - cum[self.k_first])
        if self.ties == "efron":
            V[self.drows] -= Ed * hfsum[self.dj]
        H = self._weighted_outer(V)
        a0, a1, a2 = red(h / den), red(hf / den), red(hf * frac / den)
        S1t = S1.transpose(1, 2, 0)  # m x p x J
        D1t = D1.transpose(1, 2, 0)
        H -= (S1t * a0.T[:, None, :]) @ S1.transpose(1, 0, 2)
        if self.ties == "efron":
            cross = (S1t * a1.T[:, None, :]) @ D1.transpose(1, 0, 2)
            H += cross + cross.transpose(0, 2, 1)
            H -= (D1t * a2.T[:, None, :]) @ D1.transpose(1, 0, 2)
        return loglik, grad, H

    def _weighted_outer(self, V: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """sum_r V[r, b] x_r x_r' for every column b (m x p x p): the columns of V times the rows'
        pairwise products (upper triangle), in chunks of rows."""
        n, p = self.X.shape
        m = V.shape[1]
        if m < 32:  # few replicates: one symmetric product each costs less than the pairs
            H = np.empty((m, p, p))
            for b in range(m):
                Xs = self.X * np.sqrt(np.maximum(V[:, b], 0.0))[:, None]
                H[b] = Xs.T @ Xs
            return H
        iu0, iu1 = self._iu
        acc = np.zeros((m, len(iu0)))
        P = np.empty((min(chunk, n), len(iu0)))
        for lo in range(0, n, chunk):
            Xc = self.X[lo:lo + chunk]
            Pc = P[:len(Xc)]
            o = 0
            for k in range(p):  # the pairs x_k x_l, l >= k, in the order of triu_indices
                np.multiply(Xc[:, k:k + 1], Xc[:, k:], out=Pc[:, o:o + p - k])
                o += p - k
            acc += V[lo:lo + chunk].T @ Pc
        H = np.empty((V.shape[1], p, p))
        H[:, iu0, iu1] = acc
        H[:, iu1, iu0] = acc
        return H

    def baseline_increments(self, W: np.ndarray, B: np.ndarray):
        """Breslow baseline hazard increments (x = 0) at every event time ``ut`` (J x m): each
        replicate's weighted deaths over its risk set's sum of w exp(x'beta), and which event times
        are the replicate's (a death of positive weight; the increment is 0 elsewhere)."""
        E = np.exp(self.X @ B.T)
        E *= W
        S0 = self._risk(self._segment_sums(E))
        _, dead_wt = self._death_counts(W)
        has = dead_wt > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(has, dead_wt / np.where(has, S0, 1.0), 0.0), has

    # ------------------------------------------------------------------ Newton
    def newton(self, W: np.ndarray, init: np.ndarray, tol: float = 1e-9, max_iter: int = 50,
               accept_step: float | None = None):
        """Newton-Raphson for every replicate (columns of ``W``) from its start ``init[b]``, exactly as
        :func:`mheval.models.cox_engine.newton_cox` does for one. Returns (coefficients m x p,
        converged, fallback): ``fallback`` marks the replicates whose step needed halving (or whose
        information was singular): the caller refits those alone."""
        m = W.shape[1]
        beta = np.array(init, float, copy=True).reshape(m, -1)
        conv = np.zeros(m, bool)
        fallback = np.zeros(m, bool)
        ll, grad, H = self.evaluate(W, beta)
        last = np.full(m, np.nan)
        live = np.arange(m)
        for _ in range(max_iter):
            if not len(live):
                break
            step, bad = _solve(H[live], grad[live])
            fallback[live[bad]] = True
            keep = ~bad
            live, step = live[keep], step[keep]
            if not len(live):
                break
            new = beta[live] + step
            size = np.abs(step).max(axis=1) if step.shape[1] else np.zeros(len(live))
            if accept_step is not None:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    left = np.where(np.isnan(last[live]), size, np.minimum(size, size ** 3 / last[live] ** 2))
                acc = np.isfinite(size) & ((size < accept_step) | (left < accept_step))
                beta[live[acc]] = new[acc]
                conv[live[acc]] = True
                live, new, step, size = live[~acc], new[~acc], step[~acc], size[~acc]
                if not len(live):
                    break
            last[live] = size
            ll_n, g_n, H_n = self.evaluate(W[:, live], new)
            worse = ~np.isfinite(ll_n) | (ll_n < ll[live] - 1e-11 * (1 + np.abs(ll[live])))
            fallback[live[worse]] = True  # step halving: left to the caller's one-replicate refit
            ok = ~worse
            done = (np.abs(ll_n - ll[live]) < tol * (1 + np.abs(ll[live]))) & (size < 1e-7)
            idx = live[ok]
            beta[idx], ll[idx], grad[idx], H[idx] = new[ok], ll_n[ok], g_n[ok], H_n[ok]
            conv[live[ok & done]] = True
            live = live[ok & ~done]
        return beta, conv & ~fallback, fallback


def _solve(H: np.ndarray, g: np.ndarray):
    """Newton steps H^-1 g for a stack of systems; (steps, singular) with a singular one's step NaN."""
    try:
        return np.linalg.solve(H, g[:, :, None])[:, :, 0], np.zeros(len(g), bool)
    except np.linalg.LinAlgError:
        out = np.full(g.shape, np.nan)
        bad = np.zeros(len(g), bool)
        for i in range(len(g)):
            try:
                out[i] = np.linalg.solve(H[i], g[i])
            except np.linalg.LinAlgError:
                bad[i] = True
        return out, bad
