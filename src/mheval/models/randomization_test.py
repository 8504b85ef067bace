"""Randomization (permutation) test of the intervention effect, re-randomizing organizations within
randomization strata as the trial did.

Why: with few, unequal organizations the model-based and sandwich p-values rest on large-sample
approximations; the randomization distribution of a statistic under the sharp null of no effect
on any beneficiary is exact whatever the model (Fisher; Gail et al. 1996 for cluster-randomized
trials). Each permutation keeps the number of intervention organizations within every stratum,
reassigns the arm of every beneficiary of an organization together, and recomputes the statistic
with ``fit_fn`` (any function of the permuted data returning a number, e.g. a model's treatment
coefficient). Two-sided p-value: (1 + #{|T_perm| >= |T_obs|}) / (1 + n_valid), with n_valid the
permutations whose statistic could be computed (failures are counted, never silently dropped).
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import pandas as pd

from mheval.progress import LoopProgress

logger = logging.getLogger(__name__)


def randomization_test(fit_fn: Callable[[pd.DataFrame], float], data: pd.DataFrame, arm_col: str, org_col: str,
                       strata=None, n_perm: int = 200, seed: int = 0, log: logging.Logger | None = None) -> dict:
    """Stratified randomization test of ``fit_fn``'s statistic.

    fit_fn : data -> statistic (float); called once on ``data`` and once per permutation.
    arm_col : 0/1 arm column, constant within each organization.
    org_col : organization column.
    strata : randomization strata of the organizations: None (one stratum: complete
        randomization), the name of a column of ``data`` (constant within each organization), or a
        Series indexed by organization id (e.g. the STRATUM column of the contract's organization
        file indexed by ORG_ID). Every organization in ``data`` must have a stratum.
    n_perm : number of random re-randomizations; seed : their random seed.
    log : where the permutations' progress is logged (:class:`mheval.progress.LoopProgress`;
        default this module's logger).

    Returns a JSON-ready dict: statistic, p, n_perm, n_valid, n_failed, n_strata, and the number
    of strata with both arms (strata with one arm cannot be permuted and contribute nothing).
    """
    if n_perm < 1:
        raise ValueError("n_perm must be at least 1")
    orgs = data.groupby(org_col, sort=True)[arm_col].agg(["min", "max"])
    if (orgs["min"] != orgs["max"]).any():
        bad = orgs.index[orgs["min"] != orgs["max"]][:5].tolist()
        raise ValueError(f"'{arm_col}' varies within organizations (e.g. {bad}): not a cluster-randomized arm")
    arm = orgs["min"].astype(int)
    if not set(arm.unique()) <= {0, 1}:
        raise ValueError(f"'{arm_col}' must be 0/1")
    if strata is None:
        st = pd.Series("all", index=arm.index)
    elif isinstance(strata, str):
        g = data.groupby(org_col, sort=True)[strata]
        if (g.nunique(dropna=False) > 1).any():
            raise ValueError(f"stratum column '{strata}' varies within organizations")
        st = g.first()
    else:
        st = pd.Series(strata).reindex(arm.index)
    if st.isna().any():
        missing = st.index[st.isna()][:5].tolist()
        raise ValueError(f"{int(st.isna().sum())} organizations have no randomization stratum (e.g. {missing})")
    observed = float(fit_fn(data))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero((st == s).to_numpy()) for s in pd.unique(st)]
    codes = pd.Index(arm.index).get_indexer(data[org_col])
    base = arm.to_numpy()
    stats, failed = [], 0
    progress = LoopProgress(log or logger, "randomization test permutations", n_perm)
    for _ in range(n_perm):
        new = base.copy()
        for idx in groups:
            new[idx] = base[idx][rng.permutation(len(idx))]
        d = data.copy()
        d[arm_col] = new[codes].astype(data[arm_col].dtype)
        try:
            value = float(fit_fn(d))
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            value = np.nan
        if np.isfinite(value):
            stats.append(value)
        else:
            failed += 1
        progress.step()
    progress.done()
    stats = np.asarray(stats)
    n_valid = len(stats)
    extreme = int(np.sum(np.abs(stats) >= abs(observed) - 1e-12 * abs(observed)))
    return {"statistic": observed, "p": (1 + extreme) / (1 + n_valid), "n_perm": n_perm, "n_valid": n_valid,
            "n_failed": failed, "n_strata": len(groups),
            "n_strata_permutable": int(sum(len(np.unique(base[i])) > 1 for i in groups)), "seed": seed}


def organization_strata(data: pd.DataFrame, org_col: str, column: str) -> pd.Series | None:
    """Randomization strata per organization from an organization-level ``column`` of an analysis
    file (None when the file has no such column: the test then permutes over all organizations,
    which its "n_strata" of 1 records). Raises if the column varies within an organization."""
    if column not in data.columns:
        return None
    g = data.groupby(org_col, sort=True)[column]
    if (g.nunique(dropna=False) > 1).any():
        raise ValueError(f"randomization stratum column '{column}' varies within organizations")
    return g.first()
