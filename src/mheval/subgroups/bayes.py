"""Bayesian partial pooling of subgroup impacts (evaluation design report, section V.C).

The unpooled subgroup estimates y_k (standard errors se_k, from
:mod:`mheval.subgroups.interaction`) are pooled with the hierarchical normal-normal model

    y_k ~ Normal(theta_k, se_k)          (se_k known)
    theta_k ~ Normal(mu, tau)
    mu ~ Normal(mu_mean, mu_sd)
    tau ~ HalfNormal(tau_sd)              or LogNormal(log(tau_median), tau_log_sd), or fixed

fitted with PyMC's NUTS on the marginal model y_k ~ Normal(mu, sqrt(tau^2 + se_k^2)), with theta
integrated out; each posterior draw of theta is then drawn exactly from its normal conditional
theta_k | mu, tau, y (precision 1/se_k^2 + 1/tau^2). NUTS samples tau and a standard normal mu_z, with
mu = m(tau) + mu_z / sqrt(P(tau)) from mu's exact normal conditional given tau (:func:`build_model`):
the same posterior without the funnel between mu and tau.

The level estimates of one interaction model are correlated (they share the covariate
coefficients and, in Cox models, the baseline hazard); with their full covariance V
(``cov=``, :attr:`mheval.subgroups.interaction.SubgroupImpacts.cov`) the likelihood is the
multivariate normal y ~ MvNormal(mu 1, tau^2 I + V) and theta | mu, tau, y ~ MvNormal(mu 1 +
A (y - mu 1), tau^2 (I - A)) with A = tau^2 (tau^2 I + V)^-1 (V diagonal: the formulas above). With two or three levels per dimension tau is
barely identified, and sampling theta directly (centred or non-centred) gave divergent transitions
on the synthetic trial; the two-parameter marginal posterior has no funnel. Priors:

- ``"weakly_informative"`` (default): mu ~ Normal(0, mu_sd), tau ~ HalfNormal(tau_sd), with
  the scales given in the outcome's units through ``scale`` (e.g. Equation 1 outcomes:
  ``scale`` = the control mean, mu_sd = 0.2 and tau_sd = 0.1 mean 20% and 10% of it; log hazard
  ratios: scale 1, mu_sd = 0.5, tau_sd = 0.1);
- ``"evidence"``: mu ~ Normal(mu_mean, mu_sd) centred on published or prior evidence, and tau
  either HalfNormal(tau_sd) or, when ``tau_median`` is given, LogNormal centred on it (with
  ``tau_log_sd``). All values are multiplied by ``scale``.

``tau=`` fixes tau (no prior; used to check the sampler against the closed form,
:func:`closed_form_posterior`).

The fit must pass the diagnostics (every R-hat <= ``max_rhat``, every bulk ESS >= ``min_ess``,
no divergent transitions) over mu, tau and theta. If it fails, it is rerun ``retries`` times
with twice the tuning steps and target_accept raised to ``retry_target_accept``; if it still
fails, :class:`PoolingDiagnosticsError` names the failing diagnostic, parameter and value.

Several independent sets of estimates (the dimensions of one outcome and population in
:func:`mheval.subgroups.run_subgroup_analysis`) are sampled in one NUTS run
(:func:`pool_subgroups_jointly`, :func:`build_joint_model`): they share no parameter, so each set's
posterior is its own model's, and PyMC's per-step Python work, which is what a fit of this
two-parameter model costs, is paid once (11 sets at scale 1.0: about 8 CPU s instead of about 25).
The diagnostics gate is applied per set.

Reported per subgroup, next to the unpooled estimate: posterior mean and SD, the equal-tailed
``cred`` (default 90%) credible interval, P(theta < 0) and, when ``size`` is given,
P(impact beyond the size) in the beneficial ``direction`` ("decrease": P(theta < -size);
"increase": P(theta > size)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mheval.errors import StepError
from mheval.models.wald import wald_interval
from mheval.progress import LoopProgress

log = logging.getLogger(__name__)

PRIORS = ("weakly_informative", "evidence")
WEAKLY_INFORMATIVE_DEFAULT = {"mu_mean": 0.0, "mu_sd": 1.0, "tau_sd": 0.5, "scale": 1.0}


class PoolingDiagnosticsError(StepError, RuntimeError):
    """The MCMC fit failed a convergence diagnostic (R-hat, bulk ESS or divergences)."""

    heading = "BAYESIAN DIAGNOSTICS FAILED"

    def __init__(self, message: str, diagnostics: dict):
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass
class PooledSubgroups:
    """Result of :func:`pool_subgroups`.

    ``table``: one row per subgroup: label, estimate, se (unpooled), unpooled_lower,
    unpooled_upper (frequentist (cred) interval), unpooled_prob_below_0 (flat-prior reading),
    post_mean, post_sd, lower, upper (equal-tailed credible interval), prob_below_0,
    prob_beyond_size (NaN without ``size``), size (signed threshold), shrinkage (1 -
    (post_mean - mu_mean_post) / (estimate - mu_mean_post), informative only). ``hyper``: mean,
    sd, lower, upper of mu and tau. ``idata``: the ArviZ InferenceData. ``diagnostics``: max
    R-hat, min bulk ESS, divergences, attempts and sampler settings used.
    """

    table: pd.DataFrame
    hyper: pd.DataFrame
    idata: object
    diagnostics: dict
    prior: dict
    cred: float
    direction: str
    attempts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (no InferenceData)."""
        return {"prior": self.prior, "cred": self.cred, "direction": self.direction,
                "subgroups": self.table.to_dict(orient="records"),
                "hyper": self.hyper.reset_index(names="parameter").to_dict(orient="records"),
                "diagnostics": self.diagnostics}


def resolve_prior(prior: str, prior_params: dict | None, tau: float | None = None) -> dict:
    """The prior actually used: ``prior_params`` over the defaults, scaled by ``scale``."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, not {prior!r}")
    p = dict(prior_params or {})
    if prior == "weakly_informative":
        p = {**WEAKLY_INFORMATIVE_DEFAULT, **p}
    else:
        missing = [k for k in ("mu_mean", "mu_sd") if k not in p]
        if tau is None and "tau_sd" not in p and "tau_median" not in p:
            missing.append("tau_sd or tau_median")
        if missing:
            raise ValueError(f"the evidence prior needs {missing} in prior_params (subgroups.bayes.evidence in config)")
        p.setdefault("scale", 1.0)
    scale = float(p["scale"])
    if not scale > 0:
        raise ValueError(f"prior scale must be positive, got {scale}")
    out = {"prior": prior, "scale": scale, "mu_mean": float(p.get("mu_mean", 0.0)) * scale,
           "mu_sd": float(p["mu_sd"]) * scale}
    if tau is not None:
        out["tau"] = "fixed"
        out["tau_value"] = float(tau)
    elif p.get("tau_median") is not None:
        out["tau"] = "lognormal"
        out["tau_median"] = float(p["tau_median"]) * scale
        out["tau_log_sd"] = float(p.get("tau_log_sd", 1.0))
    else:
        out["tau"] = "halfnormal"
        out["tau_sd"] = float(p["tau_sd"]) * scale
    for k in ("mu_sd", "tau_sd", "tau_median", "tau_log_sd"):
        if k in out and not out[k] > 0:
            raise ValueError(f"prior {k} must be positive, got {out[k]}")
    return out


def build_model(estimates, ses, labels, prior: dict, cov=None):
    """The PyMC model (marginal normal-normal, theta integrated out) for the resolved ``prior``;
    with ``cov`` (K x K covariance of the estimates) a multivariate normal likelihood.

    Sampled parameterization (the same posterior of mu and tau): with V = Q diag(lam) Q' (V =
    diag(se^2) without ``cov``) and S = tau^2 I + V, mu is integrated out of the likelihood as well,
    y | tau ~ MvNormal(mu_mean 1, S + mu_sd^2 1 1') (the Potential "y_marginal", in V's eigenbasis with
    Sherman-Morrison: K elementwise terms, no Cholesky per gradient), and mu enters through its exact
    conditional mu | tau, y ~ Normal(m(tau), 1 / P(tau)), P = 1/mu_sd^2 + 1'S^-1 1, m = mu_mean +
    1'S^-1 (y - mu_mean 1) / P, as mu = m(tau) + mu_z / sqrt(P(tau)) with mu_z ~ Normal(0, 1). So NUTS
    sees a standard normal times the one-dimensional marginal of tau: no funnel between mu and tau
    (whose scale mu had with two or three levels: divergent transitions, and a retry with twice the
    draws, in most first attempts at the trial's size)."""
    import pymc as pm

    y = np.asarray(estimates, float)
    V = _covariance(ses, cov)
    lam, Q = np.linalg.eigh(V)
    q1 = Q.sum(axis=0)  # Q'1
    z0 = (y - prior["mu_mean"]) @ Q  # Q'(y - mu_mean 1)
    b2 = prior["mu_sd"] ** 2
    with pm.Model(coords={"subgroup": list(labels)}) as model:
        if prior["tau"] == "fixed":
            tau = pm.Data("tau", prior["tau_value"])
        elif prior["tau"] == "lognormal":
            tau = pm.LogNormal("tau", mu=np.log(prior["tau_median"]), sigma=prior["tau_log_sd"])
        else:
            tau = pm.HalfNormal("tau", sigma=prior["tau_sd"])
        mu_z = pm.Normal("mu_z", 0.0, 1.0)
        d = lam + tau ** 2  # eigenvalues of S
        c = pm.math.sum(q1 ** 2 / d)  # 1'S^-1 1
        e = pm.math.sum(q1 * z0 / d)  # 1'S^-1 (y - mu_mean 1)
        pm.Potential("y_marginal", -0.5 * (len(y) * np.log(2 * np.pi) + pm.math.sum(pm.math.log(d))
                                           + pm.math.log(1 + b2 * c) + pm.math.sum(z0 ** 2 / d)
                                           - b2 * e ** 2 / (1 + b2 * c)))
        P = 1.0 / b2 + c
        pm.Deterministic("mu", prior["mu_mean"] + e / P + mu_z / pm.math.sqrt(P))
    return model


def build_joint_model(blocks: list):
    """One PyMC model holding several independent pooling models (:func:`build_model`'s, one per
    ``(estimates, ses, prior, cov)`` in ``blocks``) and where each block's variables are in it.

    The blocks share no parameter, so the joint posterior is the product of the blocks' posteriors
    and each block's marginal is exactly its own model's posterior. Blocks whose tau has the same
    prior family are vectorized: one ``tau__<g>``, ``mu_z__<g>`` and ``mu__<g>`` of length n_g (dim
    ``fit__<g>``) and one Potential, each block's K eigenvalue terms padded to the group's largest K
    with terms that do not depend on the data and are masked out of the sum (so PyTensor evaluates a
    handful of array operations per gradient however many blocks there are). Returns (model,
    where) with ``where[i] = (g, j)``: block i is element j of group g."""
    import pymc as pm

    families = {}
    for i, (_, _, prior, _) in enumerate(blocks):
        families.setdefault(prior["tau"], []).append(i)
    where = [None] * len(blocks)
    with pm.Model() as model:
        for g, (family, members) in enumerate(families.items()):
            n, k = len(members), max(len(blocks[i][0]) for i in members)
            lam, q1, z0, mask = np.ones((n, k)), np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
            pr = [blocks[i][2] for i in members]
            mu_mean = np.array([p["mu_mean"] for p in pr])
            b2 = np.array([p["mu_sd"] for p in pr]) ** 2
            for j, i in enumerate(members):
                y, ses, _, cov = blocks[i]
                lj, Q = np.linalg.eigh(_covariance(ses, cov))
                kj = len(lj)
                lam[j, :kj], q1[j, :kj], z0[j, :kj], mask[j, :kj] = lj, Q.sum(axis=0), (np.asarray(y, float) - mu_mean[j]) @ Q, 1.0
                where[i] = (g, j)
            dim = f"fit__{g}"
            model.add_coord(dim, np.arange(n))
            if family == "fixed":
                tau = pm.Data(f"tau__{g}", np.array([p["tau_value"] for p in pr]), dims=dim)
            elif family == "lognormal":
                tau = pm.LogNormal(f"tau__{g}", mu=np.log([p["tau_median"] for p in pr]),
                                   sigma=np.array([p["tau_log_sd"] for p in pr]), dims=dim)
            else:
                tau = pm.HalfNormal(f"tau__{g}", sigma=np.array([p["tau_sd"] for p in pr]), dims=dim)
            mu_z = pm.Normal(f"mu_z__{g}", 0.0, 1.0, dims=dim)
            d = lam + tau[:, None] ** 2
            c = pm.math.sum(q1 ** 2 / d, axis=1)
            e = pm.math.sum(q1 * z0 / d, axis=1)
            pm.Potential(f"y_marginal__{g}", -0.5 * pm.math.sum(
                mask.sum(axis=1) * np.log(2 * np.pi) + pm.math.sum(mask * pm.math.log(d), axis=1)
                + pm.math.log(1 + b2 * c) + pm.math.sum(z0 ** 2 / d, axis=1) - b2 * e ** 2 / (1 + b2 * c)))
            P = 1.0 / b2 + c
            pm.Deterministic(f"mu__{g}", mu_mean + e / P + mu_z / pm.math.sqrt(P), dims=dim)
    return model, where


def _covariance(ses, cov):
    return np.diag(np.asarray(ses, float) ** 2) if cov is None else np.asarray(cov, float)


def add_theta_draws(idata, estimates, ses, seed: int, cov=None) -> None:
    """Add ``theta`` (chain, draw, subgroup) to ``idata.posterior``: one exact draw from
    theta_k | mu, tau, y_k ~ Normal((y_k/se_k^2 + mu/tau^2) v_k, v_k), v_k = 1/(1/se_k^2 + 1/tau^2),
    per posterior draw of (mu, tau) (theta_k = mu when tau = 0); with ``cov`` the multivariate
    conditional of the module docstring."""
    import xarray as xr

    post = idata.posterior
    mu = post["mu"].to_numpy()[..., None]
    tau = np.broadcast_to(np.asarray(post["tau"].to_numpy() if "tau" in post else idata.constant_data["tau"].to_numpy(),
                                     float), post["mu"].shape)[..., None]
    y, s2 = np.asarray(estimates, float), np.asarray(ses, float) ** 2
    if cov is not None:
        theta = _theta_mvn(mu[..., 0], tau[..., 0], y, np.asarray(cov, float), seed)
        post["theta"] = xr.DataArray(theta, dims=("chain", "draw", "subgroup"),
                                     coords={"chain": post["chain"], "draw": post["draw"],
                                             "subgroup": idata.observed_data["y"].coords["subgroup"]})
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = 1 / s2 + np.where(tau > 0, 1 / tau ** 2, np.inf)
        v = np.where(tau > 0, 1 / prec, 0.0)
        m = np.where(tau > 0, (y / s2 + mu / np.where(tau > 0, tau, 1) ** 2) * v, mu)
    z = np.random.default_rng(seed).standard_normal(m.shape)
    theta = m + np.sqrt(v) * z
    post["theta"] = xr.DataArray(theta, dims=("chain", "draw", "subgroup"),
                                 coords={"chain": post["chain"], "draw": post["draw"],
                                         "subgroup": post.coords["subgroup"] if "subgroup" in post.coords
                                         else idata.observed_data["y"].coords["subgroup"]})


def _theta_mvn(mu, tau, y, V, seed):
    """Draws of theta | mu, tau, y ~ MvNormal(mu 1 + A (y - mu 1), tau^2 (I - A)), A = tau^2 (tau^2 I + V)^-1,
    one per (chain, draw) of ``mu`` and ``tau``."""
    k = len(y)
    t2 = (np.asarray(tau, float) ** 2)[..., None, None]
    eye = np.eye(k)
    A = t2 * np.linalg.inv(t2 * eye + V)  # (chain, draw, k, k); V is positive definite
    m = mu[..., None] + np.einsum("...ij,...j->...i", A, y - mu[..., None])
    S = t2 * (eye - A)
    S = (S + np.swapaxes(S, -1, -2)) / 2
    w, Q = np.linalg.eigh(S)
    z = np.random.default_rng(seed).standard_normal(m.shape)
    return m + np.einsum("...ij,...j->...i", Q * np.sqrt(np.clip(w, 0, None))[..., None, :], z)


def check_diagnostics(idata, var_names=("mu", "tau", "theta"), max_rhat: float = 1.01, min_ess: float = 400,
                      max_divergences: int = 0) -> tuple[dict, list[str]]:
    """R-hat, bulk ESS and divergences of ``idata``; returns (diagnostics, failures).

    Each failure names the diagnostic, the parameter and the value, e.g.
    "bulk ESS 87 < 400 for theta[male]".
    """
    import arviz as az

    names = [v for v in var_names if v in idata.posterior.data_vars]
    rhat = az.rhat(idata, var_names=names)
    ess = az.ess(idata, var_names=names, method="bulk")
    worst_rhat, worst_ess = ("", -np.inf), ("", np.inf)
    for v in names:
        r = np.atleast_1d(rhat[v].to_numpy()).ravel()
        e = np.atleast_1d(ess[v].to_numpy()).ravel()
        labels = ([f"{v}[{c}]" for c in rhat[v].coords["subgroup"].to_numpy()] if "subgroup" in rhat[v].dims else [v])
        r = np.where(np.isfinite(r), r, np.inf)  # NaN R-hat (e.g. constant chains) is a failure
        e = np.where(np.isfinite(e), e, 0.0)
        i, j = int(np.argmax(r)), int(np.argmin(e))
        if r[i] > worst_rhat[1]:
            worst_rhat = (labels[i], float(r[i]))
        if e[j] < worst_ess[1]:
            worst_ess = (labels[j], float(e[j]))
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    diag = {"max_rhat": worst_rhat[1], "max_rhat_parameter": worst_rhat[0], "min_ess_bulk": worst_ess[1],
            "min_ess_bulk_parameter": worst_ess[0], "divergences": div,
            "thresholds": {"max_rhat": max_rhat, "min_ess_bulk": min_ess, "max_divergences": max_divergences}}
    fails = []
    if not worst_rhat[1] <= max_rhat:
        fails.append(f"R-hat {worst_rhat[1]:.4f} > {max_rhat} for {worst_rhat[0]}")
    if not worst_ess[1] >= min_ess:
        fails.append(f"bulk ESS {worst_ess[1]:.0f} < {min_ess} for {worst_ess[0]}")
    if div > max_divergences:
        fails.append(f"{div} divergent transitions (maximum {max_divergences})")
    return diag, fails


def pool_subgroups(estimates, ses, labels=None, prior: str = "weakly_informative", prior_params: dict | None = None,
                   tau: float | None = None, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 20170101,
                   target_accept: float = 0.9, cores: int = 1, cred: float = 0.90, size=None,
                   direction: str = "decrease", max_rhat: float = 1.01, min_ess: float = 400,
                   max_divergences: int = 0, retries: int = 1, retry_target_accept: float = 0.99,
                   check: bool = True, cov=None, progress_every: float = 5.0) -> PooledSubgroups:
    """Partially pool subgroup estimates with the hierarchical normal-normal model (module docstring).

    Parameters
    ----------
    estimates, ses : unpooled subgroup estimates and their standard errors (K >= 2).
    labels : subgroup names (default "0", "1", ...).
    prior : "weakly_informative" or "evidence"; ``prior_params`` holds mu_mean, mu_sd, tau_sd
        (or tau_median and tau_log_sd) and scale (see :func:`resolve_prior`).
    tau : fix the between-subgroup SD instead of giving it a prior.
    draws, tune, chains, seed, target_accept, cores : NUTS settings (PyMC's default sampler).
    cred : credible-interval level (equal-tailed).
    size : magnitude (> 0, in the estimates' units; scalar or one per subgroup) for
        P(impact beyond size) in ``direction`` ("decrease" or "increase").
    max_rhat, min_ess, max_divergences : diagnostic thresholds; ``retries`` reruns with doubled
        tuning and draws and ``retry_target_accept`` before :class:`PoolingDiagnosticsError` is raised.
    check : False skips the diagnostics gate (the values are still reported).
    cov : optional full K x K covariance of the estimates (multivariate normal likelihood; module
        docstring); its diagonal must be ``ses`` squared.
    progress_every : seconds between the sampling's progress lines in the log (iterations done of
        chains x (tune + draws), through :class:`mheval.progress.LoopProgress`; PyMC's bar is off).
    """
    fit = {"estimates": estimates, "ses": ses, "labels": labels, "prior": prior, "prior_params": prior_params,
           "tau": tau, "cov": cov, "size": size, "direction": direction, "seed": seed}
    return pool_subgroups_jointly([fit], draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
                                  cores=cores, cred=cred, max_rhat=max_rhat, min_ess=min_ess,
                                  max_divergences=max_divergences, retries=retries,
                                  retry_target_accept=retry_target_accept, check=check,
                                  progress_every=progress_every)[0]


@dataclass
class _Fit:
    """One pooling model's validated inputs (:func:`_validated_fit`)."""

    y: np.ndarray
    s: np.ndarray
    labels: list
    pr: dict
    cov: np.ndarray | None
    size: object
    direction: str
    seed: int


def _validated_fit(estimates, ses, labels=None, prior="weakly_informative", prior_params=None, tau=None, cov=None,
                   size=None, direction="decrease", seed=20170101) -> _Fit:
    y = np.asarray(estimates, float)
    s = np.asarray(ses, float)
    if y.ndim != 1 or y.shape != s.shape or len(y) < 2:
        raise ValueError("estimates and ses must be 1-d arrays of the same length >= 2")
    if not (np.isfinite(y).all() and np.isfinite(s).all() and (s > 0).all()):
        raise ValueError("estimates must be finite and standard errors finite and positive")
    if direction not in ("decrease", "increase"):
        raise ValueError(f"direction must be 'decrease' or 'increase', not {direction!r}")
    labels = [str(x) for x in (labels if labels is not None else range(len(y)))]
    if len(labels) != len(y) or len(set(labels)) != len(labels):
        raise ValueError("labels must be unique, one per estimate")
    if cov is not None:
        cov = np.asarray(cov, float)
        if cov.shape != (len(y), len(y)) or not np.allclose(cov, cov.T) or not np.allclose(np.diag(cov), s ** 2):
            raise ValueError(f"cov must be the symmetric {len(y)} x {len(y)} covariance of the estimates, "
                             "with the squared standard errors on its diagonal")
        if np.linalg.eigvalsh(cov).min() <= 0:
            raise ValueError("cov of the subgroup estimates is not positive definite")
    return _Fit(y, s, labels, resolve_prior(prior, prior_params, tau), cov, size, direction, int(seed))


def pool_subgroups_jointly(fits: list[dict], draws: int = 1000, tune: int = 1000, chains: int = 2,
                           seed: int = 20170101, target_accept: float = 0.9, cores: int = 1, cred: float = 0.90,
                           max_rhat: float = 1.01, min_ess: float = 400, max_divergences: int = 0, retries: int = 1,
                           retry_target_accept: float = 0.99, check: bool = True,
                           progress_every: float = 5.0) -> list[PooledSubgroups]:
    """Pool several independent sets of subgroup estimates (e.g. the dimensions of one outcome) in
    one NUTS run; one :class:`PooledSubgroups` per set, in order.

    ``fits``: one dict per set with :func:`pool_subgroups`'s per-set arguments (estimates, ses and
    optionally labels, prior, prior_params, tau, cov, size, direction, seed: the seed of that set's
    theta draws); the sampler settings and diagnostic thresholds are shared. With several sets the
    model is :func:`build_joint_model`: the sets share no parameter, so each set's posterior is the
    one its own model gives (the draws differ only by Monte Carlo error), while PyMC's per-step
    overhead (Python tree building, which is what a fit of this two-parameter model costs) is paid
    once for all of them. ``seed`` seeds NUTS (plus the attempt number). The diagnostics gate is
    applied per set, to its mu, tau and theta, with the run's divergent transitions counted against
    every set sampled in it; a set that fails is sampled again (with the other failing sets) with
    twice the tuning and draws and ``retry_target_accept``, up to ``retries`` times; then
    :class:`PoolingDiagnosticsError` names the set's levels and failures. Each attempt records
    ``joint_fits``, the number of sets sampled together. One set: exactly :func:`pool_subgroups`."""
    import pymc as pm
    import xarray as xr

    blocks = [_validated_fit(**f) for f in fits]
    if not blocks:
        return []
    single = len(blocks) == 1
    pending, done = list(range(len(blocks))), {}
    attempts = [[] for _ in blocks]
    t, ta, nd = int(tune), float(target_accept), int(draws)
    logging.getLogger("pymc").setLevel(logging.ERROR)
    for attempt in range(retries + 1):
        if single:
            b = blocks[0]
            model = build_model(b.y, b.s, b.labels, b.pr, b.cov)
            what = f"pooling {len(b.y)} subgroup levels"
        else:
            model, where = build_joint_model([(blocks[i].y, blocks[i].s, blocks[i].pr, blocks[i].cov) for i in pending])
            what = f"pooling {len(pending)} fits ({sum(len(blocks[i].y) for i in pending)} subgroup levels) jointly"
        progress = LoopProgress(log, f"{what}, attempt {attempt + 1}: NUTS iterations", int(chains) * (t + nd),
                                every=progress_every)
        with model:
            idata = pm.sample(draws=nd, tune=t, chains=int(chains), cores=int(cores),
                              random_seed=int(seed) + attempt, target_accept=ta, progressbar=False,
                              compute_convergence_checks=False, callback=lambda trace, draw: progress.step())
        progress.done()
        failed = []
        for j, i in enumerate(pending):
            b = blocks[i]
            bid = idata if single else _block_idata(idata, *where[j])
            bid.add_groups(observed_data=xr.Dataset({"y": ("subgroup", b.y)}, coords={"subgroup": b.labels}))
            add_theta_draws(bid, b.y, b.s, b.seed + attempt, b.cov)
            diag, fails = check_diagnostics(bid, max_rhat=max_rhat, min_ess=min_ess, max_divergences=max_divergences)
            attempts[i].append({"attempt": attempt + 1, "tune": t, "target_accept": ta, "draws": nd,
                                "chains": int(chains), "joint_fits": len(pending), "failures": fails,
                                **{k: diag[k] for k in ("max_rhat", "min_ess_bulk", "divergences")}})
            if fails and check and attempt < retries:
                failed.append(i)
            else:
                done[i] = (bid, diag, fails)
        pending = failed
        if not pending:
            break
        t, ta, nd = 2 * t, max(ta, retry_target_accept), 2 * nd
    out = []
    for i, b in enumerate(blocks):
        bid, diag, fails = done[i]
        diag["attempts"] = attempts[i]
        if check and fails:
            tried = "; ".join(f"attempt {a['attempt']} (tune={a['tune']}, target_accept={a['target_accept']}): "
                              + ", ".join(a["failures"]) for a in attempts[i])
            which = "" if single else f" (levels {', '.join(b.labels)})"
            raise PoolingDiagnosticsError(
                f"subgroup pooling{which} failed its convergence diagnostics: {', '.join(fails)}. Tried {tried} "
                f"({attempts[i][-1]['draws']} draws in the last). "
                "Increase draws/tune or target_accept (subgroups.bayes in config).", diag)
        out.append(_summarize(bid, b.y, b.s, b.labels, b.pr, cred, b.size, b.direction, diag, attempts[i]))
    return out


def _block_idata(idata, g: int, j: int):
    """Element ``j`` of group ``g`` of a joint fit (:func:`build_joint_model`) as the InferenceData of
    its own model (tau, mu_z, mu; the run's sample statistics)."""
    import arviz as az

    sel = {f"fit__{g}": j}
    post = idata.posterior
    names = {f"{n}__{g}": n for n in ("tau", "mu_z", "mu") if f"{n}__{g}" in post.data_vars}
    groups = {"posterior": post[list(names)].isel(sel).drop_vars(f"fit__{g}").rename(names),
              "sample_stats": idata.sample_stats}
    if "constant_data" in idata.groups() and f"tau__{g}" in idata.constant_data:
        groups["constant_data"] = idata.constant_data[[f"tau__{g}"]].isel(sel).drop_vars(f"fit__{g}").rename(
            {f"tau__{g}": "tau"})
    return az.InferenceData(**groups)


def _summarize(idata, y, s, labels, pr, cred, size, direction, diag, attempts) -> PooledSubgroups:
    th = idata.posterior["theta"].stack(sample=("chain", "draw")).transpose("subgroup", "sample").to_numpy()
    q = [(1 - cred) / 2, 1 - (1 - cred) / 2]
    unpooled_lower, unpooled_upper, _ = wald_interval(np.asarray(y, float), np.asarray(s, float), 1 - cred)
    mu = idata.posterior["mu"].to_numpy().ravel()
    tbl = pd.DataFrame({"label": labels, "estimate": y, "se": s,
                        "unpooled_lower": unpooled_lower, "unpooled_upper": unpooled_upper,
                        "unpooled_prob_below_0": stats.norm.cdf(-y / s),
                        "post_mean": th.mean(axis=1), "post_sd": th.std(axis=1, ddof=1),
                        "lower": np.quantile(th, q[0], axis=1), "upper": np.quantile(th, q[1], axis=1),
                        "prob_below_0": (th < 0).mean(axis=1)})
    if size is not None:
        mag = np.abs(np.broadcast_to(np.asarray(size, float), y.shape))
        thr = -mag if direction == "decrease" else mag
        tbl["size"] = thr
        tbl["prob_beyond_size"] = ((th < thr[:, None]) if direction == "decrease" else (th > thr[:, None])).mean(axis=1)
        tbl["unpooled_prob_beyond_size"] = (stats.norm.cdf((thr - y) / s) if direction == "decrease"
                                            else stats.norm.sf((thr - y) / s))
    else:
        tbl["size"] = np.nan
        tbl["prob_beyond_size"] = np.nan
        tbl["unpooled_prob_beyond_size"] = np.nan
    m = mu.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        tbl["shrinkage"] = 1 - (tbl["post_mean"] - m) / (tbl["estimate"] - m)
    hyper = {"mu": mu}
    if "tau" in idata.posterior.data_vars:
        hyper["tau"] = idata.posterior["tau"].to_numpy().ravel()
    hyper_df = pd.DataFrame({k: {"mean": v.mean(), "sd": v.std(ddof=1), "lower": np.quantile(v, q[0]),
                                 "upper": np.quantile(v, q[1])} for k, v in hyper.items()}).T
    if pr["tau"] == "fixed":
        hyper_df.loc["tau"] = [pr["tau_value"], 0.0, pr["tau_value"], pr["tau_value"]]
    return PooledSubgroups(table=tbl, hyper=hyper_df, idata=idata, diagnostics=diag, prior=pr, cred=cred,
                           direction=direction, attempts=attempts)


def closed_form_posterior(estimates, ses, tau: float, mu_mean: float = 0.0, mu_sd: float = np.inf,
                          cov=None) -> pd.DataFrame:
    """Exact posterior mean and SD of each theta_k when tau is known and mu ~ Normal(mu_mean, mu_sd).

    mu | y ~ Normal(m, v) with precision 1/mu_sd^2 + sum_k w_k and w_k = 1/(se_k^2 + tau^2);
    theta_k | y has mean B_k m + (1 - B_k) y_k and variance se_k^2 (1 - B_k) + B_k^2 v with
    B_k = se_k^2 / (se_k^2 + tau^2). ``mu_sd = inf`` is the flat prior. With ``cov`` (full
    covariance V of the estimates), Sigma = tau^2 I + V: precision of mu 1/mu_sd^2 + 1'Sigma^-1 1,
    m = v (mu_mean/mu_sd^2 + 1'Sigma^-1 y), theta | y has mean m 1 + A (y - m 1) and covariance
    tau^2 (I - A) + (1 - A1)(1 - A1)' v, A = tau^2 Sigma^-1.
    """
    y = np.asarray(estimates, float)
    if cov is not None:
        V = np.asarray(cov, float)
        k = len(y)
        Si = np.linalg.inv(tau ** 2 * np.eye(k) + V)
        one = np.ones(k)
        prec0 = 0.0 if np.isinf(mu_sd) else 1.0 / mu_sd ** 2
        v = 1.0 / (prec0 + one @ Si @ one)
        m = v * (prec0 * mu_mean + one @ Si @ y)
        A = tau ** 2 * Si
        b = one - A @ one
        mean = m * one + A @ (y - m * one)
        C = tau ** 2 * (np.eye(k) - A) + np.outer(b, b) * v
        return pd.DataFrame({"post_mean": mean, "post_sd": np.sqrt(np.diag(C)), "mu_mean": m, "mu_sd": np.sqrt(v)})
    s2 = np.asarray(ses, float) ** 2
    w = 1.0 / (s2 + tau ** 2)
    prec0 = 0.0 if np.isinf(mu_sd) else 1.0 / mu_sd ** 2
    v = 1.0 / (prec0 + w.sum())
    m = v * (prec0 * mu_mean + (w * y).sum())
    B = s2 / (s2 + tau ** 2)
    mean = B * m + (1 - B) * y
    var = s2 * (1 - B) + B ** 2 * v
    return pd.DataFrame({"post_mean": mean, "post_sd": np.sqrt(var), "mu_mean": m, "mu_sd": np.sqrt(v)})


def save_inference_data(result: PooledSubgroups | object, path: str | Path) -> Path:
    """Write the InferenceData (of a :class:`PooledSubgroups` or given directly) to NetCDF so that two
    runs write the same bytes: without the creation date, sampling time and per-draw timings that
    PyMC and ArviZ record (the sampling time is in the step's log), variables in sorted order, and
    every NaN the same NaN (PyMC's unused eigenvalue statistics are NaNs whose bit patterns vary)."""
    idata = result.idata if isinstance(result, PooledSubgroups) else result
    for group in idata.groups():
        ds = idata[group]
        for key in ("created_at", "sampling_time"):
            ds.attrs.pop(key, None)
        ds = ds.drop_vars([v for v in ("process_time_diff", "perf_counter_start", "perf_counter_diff") if v in ds])
        ds = ds[sorted(ds.data_vars)]  # PyMC's sample statistics come in an order that varies with the hash seed
        for v in ds.data_vars:
            if ds[v].dtype.kind == "f":
                ds[v] = ds[v].where(~np.isnan(ds[v]), np.nan)
        setattr(idata, group, ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(path))
    return path


def merge_bayes_config(bayes_cfg: dict | None) -> dict:
    """DEFAULT_BAYES updated by ``bayes_cfg`` (nested dicts merged key by key)."""
    def merge(a, b):
        out = dict(a)
        for k, v in (b or {}).items():
            out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return out
    return merge(DEFAULT_BAYES, bayes_cfg)


def pool_impacts(impacts, bayes_cfg: dict | None = None, seed: int | None = None) -> PooledSubgroups:
    """Pool the levels of a :class:`mheval.subgroups.interaction.SubgroupImpacts` with the config.

    ``bayes_cfg`` is the ``subgroups.bayes`` config block, merged over :data:`DEFAULT_BAYES`.
    The prior block is ``bayes_cfg[prior]["outcomes"][outcome]`` when given, else
    ``bayes_cfg[prior]["log_hr"]`` (Cox fits) or ``bayes_cfg[prior]["relative"]`` (Equation 1).
    Equation 1: the prior values are multiples of |overall control mean| (unless the block sets
    ``scale``), the size is ``size_percent`` of each level's control mean and the beneficial
    direction is ``directions[outcome]`` (default ``direction``). Cox: values on the log hazard
    ratio scale, size -log(``size_hr``), direction "decrease".
    """
    return pool_impacts_jointly([impacts], bayes_cfg, seeds=None if seed is None else [seed])[0]


def pool_impacts_jointly(impacts: list, bayes_cfg: dict | None = None, seeds: list | None = None) -> list:
    """:func:`pool_impacts` for several :class:`mheval.subgroups.interaction.SubgroupImpacts` (e.g. every
    dimension of one outcome and population) in one NUTS run (:func:`pool_subgroups_jointly`): one
    :class:`PooledSubgroups` per element. ``seeds``: one per element (its theta draws; the first also
    seeds NUTS), default the configured seed for all."""
    cfg = merge_bayes_config(bayes_cfg)
    s = cfg["sampler"]
    seeds = [s["seed"]] * len(impacts) if seeds is None else list(seeds)
    if len(seeds) != len(impacts):
        raise ValueError(f"{len(seeds)} seeds for {len(impacts)} sets of subgroup impacts")
    fits = [_impacts_fit(imp, cfg, sd) for imp, sd in zip(impacts, seeds)]
    dg = cfg["diagnostics"]
    return pool_subgroups_jointly(fits, draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                  seed=seeds[0] if seeds else s["seed"], target_accept=s["target_accept"],
                                  cores=s.get("cores", 1), cred=cfg["cred"], max_rhat=dg["max_rhat"],
                                  min_ess=dg["min_ess_bulk"], max_divergences=dg["max_divergences"],
                                  retries=s.get("retries", 1), retry_target_accept=s.get("retry_target_accept", 0.99))


def _impacts_fit(impacts, cfg: dict, seed: int) -> dict:
    """:func:`pool_subgroups`'s per-set arguments for one SubgroupImpacts under the merged config."""
    prior = cfg["prior"]
    is_cox = impacts.model.startswith("Cox")
    kind = "log_hr" if is_cox else "relative"
    pblock = cfg.get(prior) or {}
    block = dict((pblock.get("outcomes") or {}).get(impacts.outcome) or pblock.get(kind) or {})
    tb = impacts.table
    if is_cox:
        block.setdefault("scale", 1.0)
        size = -np.log(float(cfg["size_hr"])) if cfg.get("size_hr") else None
        direction = "decrease"
    else:
        block.setdefault("scale", abs(float(impacts.overall_control_mean)))
        size = (abs(float(cfg["size_percent"])) / 100 * tb["control_mean"].abs().to_numpy()
                if cfg.get("size_percent") else None)
        direction = (cfg.get("directions") or {}).get(impacts.outcome, cfg.get("direction", "decrease"))
    cov = None if getattr(impacts, "cov", None) is None else impacts.cov.to_numpy(float)
    return {"estimates": tb["estimate"].to_numpy(), "ses": tb["se"].to_numpy(),
            "labels": tb["level"].astype(str).tolist(), "cov": cov, "prior": prior, "prior_params": block,
            "size": size, "direction": direction, "seed": seed}


DEFAULT_BAYES = {
    "prior": "weakly_informative",
    # Equation 1 ("relative"): multiples of the overall control mean; Cox ("log_hr"): log hazard ratio units
    "weakly_informative": {"relative": {"mu_mean": 0.0, "mu_sd": 0.20, "tau_sd": 0.10},
                           "log_hr": {"mu_mean": 0.0, "mu_sd": 0.50, "tau_sd": 0.10}},
    # illustrative values only: replace by evidence external to the trial (per outcome under "outcomes")
    "evidence": {"relative": {"mu_mean": 0.0, "mu_sd": 0.05, "tau_sd": 0.03},
                 "log_hr": {"mu_mean": -0.03, "mu_sd": 0.05, "tau_sd": 0.05},
                 "outcomes": {}},
    "cred": 0.90,
    "size_percent": 5,
    "size_hr": 0.95,
    "direction": "decrease",
    "directions": {"office_mh": "increase"},
    "sampler": {"draws": 2000, "tune": 1000, "chains": 2, "cores": 1, "target_accept": 0.95, "seed": 20170101,
                "retries": 1, "retry_target_accept": 0.99},
    "diagnostics": {"max_rhat": 1.01, "min_ess_bulk": 400, "max_divergences": 0},
}
