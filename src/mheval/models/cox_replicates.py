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
  product of the m columns of v with the rows' pairwise products x_rk x_rl;
  the mean-outer-product part from S1 and the deaths' sums D1 by event time (batched products over
  the event times).

Efron ties with weights follow R's coxph (and the engine): a death time with d deaths of positive weight
in the replicate has d terms, each weighted by those deaths' mean weight; a death of weight 0 is no death
(a time without one is no event time of that replicate). The Newton iterations are those of
:func:`~mheval.models.cox_engine.newton_cox` (same start, steps, ``accept_step`` rule and stopping rule)
for every replicate, but a last step that only polishes (its predicted error below ``CHORD_FROM``) is
made with the gradient at the new point and the previous information (a chord step: no information,
the costly part, evaluated there) when its error bound is below ``accept_step``; a replicate whose step
would need halving is left to the caller (``fallback``), which refits it alone. The sums are the same as
the engine's in another order: evaluations agree to rounding, fits to the stopping rule's tolerance
(tests/test_cox_replicates.py).

The organization-level columns z (constant within each organization g) split sum_r v_r x_r x_r' into
per-organization sums (sum_g z_g z_g' V_g and sum_g z_g (sum_{r in g} v_r u_r)') and the pairwise
products of the other columns u only, which are computed once and kept.
"""

from __future__ import annotations

import contextlib
import ctypes

import numpy as np


_REUSE_DEPTH = [0]  # nesting depth of reuse_freed_memory: only the outermost block sets and restores


@contextlib.contextmanager
def reuse_freed_memory():
    """Within the ``with`` block (or the decorated function): large arrays come from the heap and freed
    memory stays with the process (glibc's mallopt: no mmap, no trimming), so the many same-sized
    temporaries of a model fit reuse pages already mapped instead of faulting fresh ones in each time
    (measured at scale 1.0, event, high: system CPU 5.3 -> 3.2 s, the job 14.3 -> 12.4 CPU s; the
    Equation 1 and binary jobs about 1 s of system CPU each, benchmarks/results/model_jobs.md). The memory
    is returned (malloc_trim) when the outermost block ends; blocks nest. Elsewhere than glibc:
    nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        yield
        return
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    if _REUSE_DEPTH[0] == 0:
        mallopt(M_MMAP_MAX, 0)
        mallopt(M_TRIM_THRESHOLD, 1 << 30)
    _REUSE_DEPTH[0] += 1
    try:
        yield
    finally:
        _REUSE_DEPTH[0] -= 1
        if _REUSE_DEPTH[0] == 0:
            mallopt(M_MMAP_MAX, 65536)  # glibc's defaults
            mallopt(M_TRIM_THRESHOLD, 128 * 1024)
            trim(0)


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

    def __init__(self, time, event, X, strata=None, ties: str = "efron", width: float | None = None, group=None):
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
        # each row's run of (k_exit, stratum): C_r (below) is constant on a run
        key = self.k_exit * (int(self.stratum.max()) + 1 if n else 1) + self.stratum
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, int)
        self._runs = (self.k_exit[first], self.k_first[first], np.diff(np.r_[first, n]))
        # columns constant within every group (organization-level covariates) and the others: the
        # information's sum over rows splits into a per-group part and a smaller pairwise part
        self._cols = None
        if group is not None and p:
            g = np.asarray(group)[self.order]
            gperm = np.argsort(g, kind="stable")
            gs = g[gperm]
            gb = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])  # each group's first row in gperm
            Xg = self.X[gperm]
            lo, hi = np.minimum.reduceat(Xg, gb, axis=0), np.maximum.reduceat(Xg, gb, axis=0)
            zc = np.flatnonzero((lo == hi).all(axis=0))
            uc = np.setdiff1d(np.arange(p), zc)
            if len(zc) and len(uc):
                self._cols = (zc, uc, gperm, gb, lo[:, zc], np.ascontiguousarray(Xg[:, uc]))
        self._Xu = self.X if self._cols is None else np.ascontiguousarray(self.X[:, self._cols[1]])
        self._iu = np.triu_indices(self._Xu.shape[1])
        self._pairs = None
        self.same_rows = None  # another ReplicateFits of the same X in the same order: its pair products serve
        self._blocks = [(int(a), int(b)) for a, b in zip(np.unique(self.jfirst), np.unique(self.jend))]

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
        E = eta - emax
        np.exp(E, out=E)
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
        # gradient: sum over slots of wt (S1 - f D1) / den = sum_r v_r x_r with v_r = w_r C_r (C_r: the sum of
        # h = wt / den over the event times at which row r is at risk) less, for a death, w_r sum_l h f at its time
        cum = np.concatenate([np.zeros((1, m)), np.cumsum(hsum, axis=0)])
        k_exit, k_first, length = self._runs
        V = np.repeat(cum[k_exit] - cum[k_first], length, axis=0)
        V *= E
        if self.ties == "efron":
            V[self.drows] -= Ed * hfsum[self.dj]
        grad = Wd.T @ self.Xd - V.T @ self.X
        if not hess:
            return loglik, grad, None
        # S1 and D1 by replicate and event time (m x J x p): one small product per segment / death group
        S1 = np.empty((m, J, p))
        D1 = np.empty((m, J, p))
        Xs, Xd = self.X, self.Xd
        for j, (a, b, c, d) in enumerate(zip(self.start, self.stop, self.dfirst, self.dstop)):
            S1[:, j] = E[a:b].T @ Xs[a:b]
            D1[:, j] = Ed[c:d].T @ Xd[c:d]
        for j0, j1 in self._blocks:  # risk sets: reverse cumulative sums within each stratum, in place
            v = S1[:, j0:j1][:, ::-1]
            np.cumsum(v, axis=1, out=v)
        # information: sum_r v_r x_r x_r' - sum over slots wt (S1 - f D1)(S1 - f D1)' / den^2
        H = self._weighted_outer(V)
        # the slots' sum per event time is [S1 D1] [[a0, -a1], [-a1, a2]] [S1 D1]' (a0, a1, a2 the sums of
        # wt / den^2 times 1, f, f^2): with that 2 x 2 matrix's Cholesky factor, Y1'Y1 + Y2'Y2
        a0, a1, a2 = red(h / den).T, red(hf / den).T, red(hf * frac / den).T  # m x J
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = np.sqrt(a0)
            c1 = np.where(a0 > 0, a1 / np.where(a0 > 0, r0, 1.0), 0.0)
        Y = S1 * r0[:, :, None]
        if self.ties == "efron":
            Y -= D1 * c1[:, :, None]
            Y2 = D1 * np.sqrt(np.maximum(a2 - c1 ** 2, 0.0))[:, :, None]
            H -= Y2.transpose(0, 2, 1) @ Y2
        H -= Y.transpose(0, 2, 1) @ Y
        return loglik, grad, H

    def _weighted_outer(self, V: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """sum_r V[r, b] x_r x_r' for every column b (m x p x p): the columns of V times the rows'
        pairwise products (upper triangle), in chunks of rows."""
        n, p = self.X.shape
        m = V.shape[1]
        if m < 4:  # one or two replicates: a symmetric product each costs less than the pairs
            H = np.empty((m, p, p))
            for b in range(m):
                Xs = self.X * np.sqrt(np.maximum(V[:, b], 0.0))[:, None]
                H[b] = Xs.T @ Xs
            return H
        Xu = self._Xu
        pu = Xu.shape[1]
        iu0, iu1 = self._iu
        if self._pairs is None and self.same_rows is not None:
            self._pairs = self.same_rows._pairs
        if self._pairs is None and n * len(iu0) <= 2.5e7:  # kept for the next evaluations (<= 200 MB)
            self._pairs = self._pair_products(0, n)
        if self._pairs is not None:
            acc = V.T @ self._pairs
        else:
            acc = np.zeros((m, len(iu0)))
            for lo in range(0, n, chunk):
                acc += V[lo:lo + chunk].T @ self._pair_products(lo, min(n, lo + chunk))
        Huu = np.empty((m, pu, pu))
        Huu[:, iu0, iu1] = acc
        Huu[:, iu1, iu0] = acc
        if self._cols is None:
            return Huu
        # organization-level columns z (constant within a group g): sum_r v_r z z' = sum_g z_g z_g' V_g and
        # sum_r v_r z u_r' = sum_g z_g (sum_{r in g} v_r u_r)', from the group sums of v and v u
        zc, uc, gperm, gb, Z, Ug = self._cols
        Vp = V[gperm]
        Vg = np.add.reduceat(Vp, gb, axis=0)  # G x m
        VU = np.empty((len(gb), m, pu))
        for g, (a, b) in enumerate(zip(gb, np.r_[gb[1:], n])):
            VU[g] = Vp[a:b].T @ Ug[a:b]
        H = np.empty((m, p, p))
        H[:, uc[:, None], uc] = Huu
        H[:, zc[:, None], zc] = np.einsum("gm,gk,gl->mkl", Vg, Z, Z, optimize=True)
        zu = np.einsum("gk,gmu->mku", Z, VU, optimize=True)
        H[:, zc[:, None], uc] = zu
        H[:, uc[:, None], zc] = zu.transpose(0, 2, 1)
        return H

    def _pair_products(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi of the pairwise products x_k x_l (l >= k, the order of triu_indices) of the
        columns that are not organization-level, column-major (each product contiguous)."""
        Xc = np.ascontiguousarray(self._Xu[lo:hi].T)  # pu x rows
        pu = len(Xc)
        P = np.empty((len(self._iu[0]), hi - lo))
        o = 0
        for k in range(pu):
            np.multiply(Xc[k], Xc[k:], out=P[o:o + pu - k])
            o += pu - k
        return P.T

    def baseline_increments(self, W: np.ndarray, B: np.ndarray, R: np.ndarray | None = None):
        """Breslow baseline hazard increments (x = 0) at every event time ``ut`` (J x m): each
        replicate's weighted deaths over its risk set's sum of w exp(x'beta), and which event times
        are the replicate's (a death of positive weight; the increment is 0 elsewhere). ``R``: the
        relative hazards exp(X B') (n x m, sorted order) when the caller has them."""
        E = (np.exp(self.X @ B.T) if R is None else R) * W
        S0 = self._risk(self._segment_sums(E))
        _, dead_wt = self._death_counts(W)
        has = dead_wt > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(has, dead_wt / np.where(has, S0, 1.0), 0.0), has

    # ------------------------------------------------------------------ Newton
    def newton(self, W: np.ndarray, init: np.ndarray, tol: float = 1e-9, max_iter: int = 50,
               accept_step: float | None = None):
        """Newton-Raphson for every replicate (columns of ``W``) from its start ``init[b]``, as
        :func:`mheval.models.cox_engine.newton_cox` does for one (the same steps, ``accept_step`` rule
        and stopping rule), except that where a step leaves a predicted error below ``CHORD_FROM`` the
        next point is evaluated without its information and finished by a chord step (:meth:`_chord`)
        when that one's error bound is below ``accept_step``. Returns (coefficients m x p, converged,
        fallback): ``fallback`` marks the replicates whose step needed halving (or whose information
        was singular): the caller refits those alone."""
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
            last_prev = last[live]
            last[live] = size
            if accept_step is not None:
                # a step that leaves little error: the next point's gradient alone, with this information
                # (a chord step), usually finishes the fit (:meth:`_chord`)
                chord = np.flatnonzero(np.isfinite(last_prev) & (left[~acc] < CHORD_FROM))
                if len(chord):
                    took = self._chord(W, live[chord], new[chord], H[live[chord]], ll[live[chord]], size[chord],
                                       last_prev[chord], accept_step, beta, conv, fallback)
                    rest = np.ones(len(live), bool)
                    rest[chord[took]] = False
                    live, new, step, size = live[rest], new[rest], step[rest], size[rest]
                    if not len(live):
                        break
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

    def _chord(self, W, ids, new, H, ll, size, last, accept_step, beta, conv, fallback) -> np.ndarray:
        """For replicates ``ids`` at ``new`` (reached by a Newton step of ``size`` after one of ``last``): the
        gradient there and the step d with the previous information ``H``. With Newton's rate c =
        size / last^2, the information at ``new`` differs from H by about 2 c size (relative), so
        new + d is within 2 c size |d| + c |d|^2 of the optimum: accepted (into ``beta``, ``conv``)
        when that is below ``accept_step``. A point with a lower likelihood goes to ``fallback``.
        Returns which of ``ids`` are done with (accepted or fallback); the others get a full evaluation."""
        ll_n, g_n, _ = self.evaluate(W[:, ids], new, hess=False)
        worse = ~np.isfinite(ll_n) | (ll_n < ll - 1e-11 * (1 + np.abs(ll)))
        d, bad = _solve(H, g_n)
        with np.errstate(invalid="ignore", over="ignore"):
            dn = np.abs(d).max(axis=1) if d.shape[1] else np.zeros(len(ids))
            c = size / last ** 2
            ok = ~worse & ~bad & np.isfinite(dn) & (2 * c * size * dn + c * dn ** 2 < accept_step)
        beta[ids[ok]] = new[ok] + d[ok]
        conv[ids[ok]] = True
        fallback[ids[worse]] = True
        return ok | worse


# a Newton step predicted to leave an error below this is followed by a gradient-only (chord) step
# (:meth:`ReplicateFits._chord`) rather than a full evaluation
CHORD_FROM = 1e-4


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
