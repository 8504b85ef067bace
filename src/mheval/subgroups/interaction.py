"""Unpooled subgroup-specific impacts from arm x subgroup interaction models.

Two models, each fitted once on the whole population with the intervention effect allowed to
differ by subgroup level (evaluation design report, sections V.A, V.B and V.C):

- :func:`equation1_by_subgroup`: Equation 1 (nested linear mixed model, organization and
  beneficiary random intercepts, precision weights, REML; :func:`mheval.models.nested_lmm.fit_nested_lmm`)
  with year x level means and year x level x arm impacts::

      y ~ 0 + sum_{t,k} 1(t, k) (alpha_tk + delta_tk MH) + beta x + phi y0

  The impact in level k is the average of delta_tk over follow-up years as in
  :func:`mheval.models.equation1.equation1_impact` (config ``models.average_weighting``): by
  default the design's simple mean of the level's yearly impacts, or with
  ``average="beneficiary_years"`` the years weighted by the beneficiary-years observed in level k
  and year t. ``by_year=False`` fits one impact per level instead (``... + MH:1(k)``, the brief's
  simpler form).
- :func:`cox_by_subgroup`: Equation 4's covariates in a marginal Cox model (Efron ties,
  cluster-robust sandwich errors by organization; :func:`mheval.models.cox_engine.fit_cox`) with
  level main effects and one MH x level indicator per level: the log hazard ratio per level.

Both report, per level, the estimate, its standard error, (1 - alpha) interval and p-value and
the numbers of beneficiaries and organizations; a Wald test that all level effects are equal
(chi-square on K - 1 degrees of freedom); and, for the organization-size dimension, a direct
test of the size x impact interaction (a continuous MH x centred log organization size term;
:func:`equation1_size_interaction`, :func:`cox_size_interaction`), which uses every observation.

When a contrast cannot be estimated (a single level in the population, a level with no
beneficiaries or, for Cox, no events in one arm) :class:`SubgroupNotEstimableError` is raised.

The adjustment covariates are the one specification of every model (config
``models.covariates``, :mod:`mheval.models.covariates`). Those that are linear combinations of the
level indicators and the covariates before them (e.g. MALE when subgrouping by sex, or
organization-type indicators when two types are merged into one level) are dropped for that fit
by :func:`mheval.models.covariates.independent_covariates` (listed in ``dropped_covariates``).
Organization size for the size x impact test is the registry's self-reported number of Medicare
FFS beneficiaries (``SELF_REPORTED_FFS_BENES``, known before randomization), never the number of
analyzed enrollees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models.covariates import (
    POPULATIONS,
    adjustment_covariates,
    check_no_post_randomization,
    independent_covariates,
    independent_in_gram,
    limit_organization_terms,
)
from mheval.models.cox_engine import fit_cox
from mheval.models.equation1 import check_average_weighting, model_covariates, model_frame
from mheval.models.estimability import NotEstimable
from mheval.models.cluster_robust import variance_words
from mheval.models.nested_lmm import NestedLMMStatistics, check_cov_type, group_sum, fit_nested_lmm, fit_nested_lmm_statistics
from mheval.models.equation4 import OUTCOMES as SURVIVAL_OUTCOMES
from mheval.models.equation4 import event_free_indicators
from mheval.models.wald import wald_interval
from mheval.subgroups.definitions import DIMENSIONS, column_name

OUTCOMES = {k: v[:2] for k, v in SURVIVAL_OUTCOMES.items()}  # (duration, event) columns


class SubgroupNotEstimableError(NotEstimable, ValueError):
    """The subgroup contrast cannot be estimated in this population (one level only, a level
    with no beneficiaries in one arm, or no events in one arm of a level). A
    :class:`~mheval.models.estimability.NotEstimable`."""


@dataclass
class SubgroupImpacts:
    """Unpooled subgroup impacts of one outcome, population and subgroup dimension.

    ``table`` has one row per level (in level order): level, estimate, se, lower, upper, p,
    n_beneficiaries, n_organizations, n_beneficiaries_intervention, n_beneficiaries_control,
    n_organizations_intervention, n_organizations_control, plus for Equation 1 n_obs,
    control_mean, impact_percent and for Cox n_events, n_events_intervention,
    n_events_control, hr, hr_lower, hr_upper. ``estimate`` is in the outcome's units
    (Equation 1) or the log hazard ratio (Cox).
    """

    model: str
    outcome: str
    population: str
    subgroup: str
    table: pd.DataFrame
    heterogeneity: dict
    alpha: float
    n_obs: int
    dropped_covariates: list[str] = field(default_factory=list)
    organization_terms_limited: dict | None = None  # mheval.models.covariates.limit_organization_terms's record
    size_interaction: dict | None = None
    overall_control_mean: float | None = None
    cov: pd.DataFrame | None = None  # covariance of the level estimates
    variance_ratios: np.ndarray | None = None  # Equation 1: the fit's (organization, beneficiary) ratios theta^2

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"model": self.model, "outcome": self.outcome, "population": self.population,
                "subgroup": self.subgroup, "alpha": self.alpha, "n_obs": self.n_obs,
                "levels": self.table.to_dict(orient="records"), "heterogeneity": self.heterogeneity,
                "size_interaction": self.size_interaction, "dropped_covariates": self.dropped_covariates,
                "organization_terms_limited": self.organization_terms_limited,
                "overall_control_mean": self.overall_control_mean}


def _subgroup_column(frame: pd.DataFrame, subgroup: str) -> str:
    col = column_name(subgroup) if subgroup in DIMENSIONS else subgroup
    if col not in frame.columns:
        raise KeyError(f"subgroup column '{col}' is not in the frame; run mheval.subgroups.assign_subgroups "
                       "on the analysis sample and merge its SG_ columns in first")
    return col


def _levels(d: pd.DataFrame, col: str, levels: list | None, where: str) -> list:
    present = list(pd.unique(d[col].dropna().astype(object)))
    if levels is None:
        if isinstance(d[col].dtype, pd.CategoricalDtype):  # the order assign_subgroups gave
            levels = [lv for lv in d[col].cat.categories if lv in present]
        else:
            levels = sorted(present, key=str)
    else:
        levels = [lv for lv in levels if lv in present]
    if len(levels) < 2:
        raise SubgroupNotEstimableError(f"subgroup '{col}' has {len(levels)} level(s) in {where}: "
                                        "no contrast is possible")
    return levels


def _wald_equal(est: np.ndarray, cov: np.ndarray) -> dict:
    """Wald test that all K effects are equal: chi2 on K - 1 degrees of freedom."""
    k = len(est)
    L = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])
    diff = L @ est
    V = L @ cov @ L.T
    chi2 = float(diff @ np.linalg.solve(V, diff))
    return {"test": "Wald, all level effects equal", "chi2": chi2, "df": k - 1, "p": float(stats.chi2.sf(chi2, k - 1))}


def _counts(d: pd.DataFrame, col: str, levels: list) -> pd.DataFrame:
    one = d.drop_duplicates("BENE_ID")
    out = pd.DataFrame(index=pd.Index(levels, name="level"))
    g = one.groupby(col, observed=True)
    out["n_beneficiaries"] = g["BENE_ID"].size()
    out["n_organizations"] = g["ORG_ID"].nunique()
    for value, name in ((1, "intervention"), (0, "control")):
        s = one[one["MH"] == value].groupby(col, observed=True)
        out[f"n_beneficiaries_{name}"] = s["BENE_ID"].size()
        out[f"n_organizations_{name}"] = s["ORG_ID"].nunique()
    return out.fillna(0).astype(int)


def _usable_covariates(d: pd.DataFrame, covs: list[str], col: str, organizations: int,
                       covariates: dict | None) -> tuple[list[str], list[str], dict]:
    """Covariates that vary overall and are not linear combinations of the level indicators and
    the covariates kept before them (:func:`mheval.models.covariates.independent_covariates`; e.g.
    MALE by sex, organization-type dummies when two types are merged into one level); the others
    are dropped and listed. Then the organization terms limited by the ``organizations`` of the fit
    (:func:`mheval.models.covariates.limit_organization_terms`, whose record is the third element)."""
    varying = check_no_post_randomization([c for c in covs if d[c].nunique() > 1])
    level = d[col].astype(object).to_numpy()
    base = [(level == lv).astype(float) for lv in pd.unique(level)]
    kept, dropped = independent_covariates(d, varying, base=base)
    kept, limited = limit_organization_terms(kept, organizations, covariates)
    return kept, dropped, limited


def _level_table(counts: pd.DataFrame, est, se, alpha: float) -> pd.DataFrame:
    """The per-level counts with estimate, se, (1 - alpha) interval and p inserted after the level."""
    lower, upper, p = wald_interval(np.asarray(est, float), np.asarray(se, float), alpha)
    table = counts.reset_index()
    for i, (name, values) in enumerate((("estimate", est), ("se", se), ("lower", lower), ("upper", upper),
                                        ("p", p)), start=1):
        table.insert(i, name, values)
    return table


def _check_arms(counts: pd.DataFrame, col: str):
    bad = counts[(counts["n_beneficiaries_intervention"] == 0) | (counts["n_beneficiaries_control"] == 0)]
    if len(bad):
        raise SubgroupNotEstimableError(f"subgroup '{col}' levels {list(bad.index)} have no beneficiaries in one arm; "
                         "merge them (assign_subgroups small_levels: merge)")


def _org_size(d: pd.DataFrame, size_column: str | None) -> pd.Series:
    """Organization size before randomization (default the registry's self-reported Medicare FFS
    beneficiaries); an absent column is one clear error, never a count of analyzed enrollees."""
    size_column = size_column or SIZE_COLUMN
    if size_column not in d.columns:
        raise ValueError(f"organization size column '{size_column}' is not in the analysis file ({len(d)} rows); "
                         "it comes from the registry organization file (rebuild the analysis files)")
    return d[size_column].astype(float)


SIZE_COLUMN = "SELF_REPORTED_FFS_BENES"


class SharedStatistics:
    """The parts of Equation 1's sufficient statistics that every subgroup dimension of one outcome
    and population shares, built once from its :func:`mheval.models.equation1.model_frame` (pass it
    as ``shared=`` to :func:`equation1_by_subgroup`; :func:`mheval.subgroups.run_subgroup_analysis` does).

    The interaction design's columns are the adjustment covariates and the outcome (the same in
    every dimension) and the year x level cells and MH x level (or MH x year x level) terms, each a
    level indicator times a year indicator or MH. A subgroup level is a property of the beneficiary,
    so with z = (covariates, y) the statistics of a dimension's design
    (:class:`mheval.models.nested_lmm.NestedLMMStatistics`) are bordered blocks: z's per-organization
    products sum_i w_i z_i z_i' (the costly part, O(rows p^2)) once here; per dimension only sums over
    the rows of each organization, level and year of w z and w MH z (O(rows p)), and the
    beneficiaries' sums placed in their level's columns. The fit is then made from these statistics
    (:func:`mheval.models.nested_lmm.fit_nested_lmm_statistics`): the same criterion and CR2 as a fit
    from the rows, to rounding. ``usable`` is False (and the dimensions are fitted from the rows)
    when the frame has a missing value in a model column or at most 3 distinct weights (the
    symmetric CR2 form)."""

    def __init__(self, frame: pd.DataFrame, outcome: str, population: str, covariates: dict | None = None):
        from mheval.models.nesting import nesting

        d = frame
        self.frame, self.outcome = d, outcome
        self.base_covs = model_covariates(d, population, covariates)
        cols = [outcome, "YEAR", "MH", "WEIGHT", "ORG_ID", "BENE_ID", *self.base_covs]
        w = d["WEIGHT"].to_numpy(float)
        self.usable = bool(len(d) and not d[list(dict.fromkeys(cols))].isna().any().any()
                           and np.unique(w).size > 3 and (w > 0).all())
        if not self.usable:
            return
        self.varying = check_no_post_randomization([c for c in self.base_covs if d[c].nunique() > 1])
        g = nesting(d, "ORG_ID", "BENE_ID", "WEIGHT")
        self.nest = g
        self.years, year = np.unique(d["YEAR"].to_numpy(), return_inverse=True)
        self.year = year.astype(np.intp)
        self.mh = d["MH"].to_numpy(float)
        self.w = w
        self.org = g.org_of_bene[g.bene_idx]
        nb, J, T = len(g.bene_codes), len(g.org_codes), len(self.years)
        self.first_row = np.full(nb, len(d))
        np.minimum.at(self.first_row, g.bene_idx, np.arange(len(d)))
        # z = (varying covariates, y): rows, per-organization products and per-beneficiary sums
        q = len(self.varying)
        Z = np.empty((len(d), q + 1))
        for j, c in enumerate(self.varying):
            Z[:, j] = d[c].to_numpy(float)
        Z[:, q] = d[outcome].to_numpy(float)
        self.Z = Z
        order = np.argsort(self.org, kind="stable")
        edges = np.searchsorted(self.org[order], np.arange(J + 1))
        self.ZZ_org = np.empty((J, q + 1, q + 1))
        self.ZtZ = np.zeros((q + 1, q + 1))  # unweighted (the collinearity checks)
        for j in range(J):
            Zj = Z[order[edges[j]:edges[j + 1]]]
            self.ZZ_org[j] = Zj.T @ (w[order[edges[j]:edges[j + 1]], None] * Zj)
            self.ZtZ += Zj.T @ Zj
        self.AZ = group_sum(g.bene_idx, nb, Z, w)
        self.s = np.bincount(g.bene_idx, weights=w, minlength=nb)
        self.U = np.bincount(g.bene_idx * T + self.year, weights=w, minlength=nb * T).reshape(nb, T)
        self.Um = np.bincount(g.bene_idx * T + self.year, weights=w * self.mh, minlength=nb * T).reshape(nb, T)
        self.logw = float(np.log(w).sum())

    def level_of_beneficiary(self, col: str, levels: list) -> np.ndarray | None:
        """Level index 0.. of each beneficiary; None when a beneficiary's rows disagree or a row has no level
        (the dimension is then fitted from the rows)."""
        code = self.frame[col].astype(object).map({lv: i for i, lv in enumerate(levels)}).to_numpy()
        if pd.isna(code).any():
            return None
        code = code.astype(np.intp)
        lev = code[np.minimum(self.first_row, len(code) - 1)]
        return lev if (lev[self.nest.bene_idx] == code).all() else None


    def dimension(self, lev: np.ndarray, K: int, by_year: bool):
        """One dimension's design from the beneficiaries' level indices ``lev`` (K levels): (names of the
        interaction columns, their (level, alpha, beta) with column = 1(level) sum_t (alpha_t 1(year t)
        + beta_t 1(year t) MH), kept and dropped covariates, the rows' per level x year counts, weight
        sums and sums of z)."""
        T = len(self.years)
        lev_row = lev[self.nest.bene_idx]
        key = lev_row * T + self.year
        n_kt = np.bincount(key, minlength=K * T).reshape(K, T)
        w_kt = np.bincount(key, weights=self.w, minlength=K * T).reshape(K, T)
        mh_kt = np.bincount(key, weights=self.mh, minlength=K * T).reshape(K, T)
        z_kt = group_sum(key, K * T, self.Z).reshape(K, T, -1)
        # collinearity with the level indicators (as _usable_covariates, from the unweighted Gram matrix)
        ones = [(k, np.ones(len(self.years)), np.zeros(len(self.years))) for k in range(K)]
        covs, dropped = independent_in_gram(self._gram(lev, K, ones, None, list(range(len(self.varying))))[0], K,
                                            self.varying)
        names, spec = [], []
        eye = np.eye(T)
        for ti, t in enumerate(self.years):  # cells with rows, in the general path's order
            for k in range(K):
                if n_kt[k, ti] > 0:
                    names.append(f"CELL_{t}_{k}")
                    spec.append((k, eye[ti], np.zeros(T)))
        if by_year:
            for ti, t in enumerate(self.years):
                for k in range(K):
                    if mh_kt[k, ti] > 0:
                        names.append(f"MH_{t}_{k}")
                        spec.append((k, np.zeros(T), eye[ti]))
        else:
            for k in range(K):
                names.append(f"MH_L{k}")
                spec.append((k, np.zeros(T), np.ones(T)))
        return names, spec, covs, dropped, n_kt, w_kt, z_kt

    def _gram(self, lev, K, spec, extra, sel, by_org=False):
        """Gram matrices of the columns (``spec``'s interaction columns, the ``extra`` row columns (n x e or
        None), the columns ``sel`` of z), weighted by w per organization (``by_org``: J x k x k) or
        unweighted over all rows (1 x k x k)."""
        T = len(self.years)
        J = self.ZZ_org.shape[0] if by_org else 1
        key = ((self.org * K if by_org else 0) + lev[self.nest.bene_idx]) * T + self.year
        w = self.w if by_org else np.ones(len(self.w))
        wm = w * self.mh
        ng = J * K * T
        ws, wms, wmms = (np.bincount(key, weights=v, minlength=ng).reshape(J, K, T) for v in (w, wm, wm * self.mh))
        e = 0 if extra is None else extra.shape[1]
        cols = [group_sum(key, ng, self.Z, v).reshape(J, K, T, -1)[..., sel] for v in (w, wm)]
        if e:
            cols = [np.concatenate([group_sum(key, ng, extra, v).reshape(J, K, T, -1), c], axis=-1)
                    for v, c in zip((w, wm), cols)]
        wu, wmu = cols
        m = len(spec)
        lv = np.array([sp[0] for sp in spec])
        al = np.array([sp[1] for sp in spec])
        be = np.array([sp[2] for sp in spec])
        out = np.zeros((J, m + e + len(sel), m + e + len(sel)))
        for k in range(K):
            ix = np.flatnonzero(lv == k)
            a, b = al[ix], be[ix]
            out[:, ix[:, None], ix[None, :]] = (
                np.einsum("at,jt,bt->jab", a, ws[:, k], a) + np.einsum("at,jt,bt->jab", a, wms[:, k], b)
                + np.einsum("at,jt,bt->jab", b, wms[:, k], a) + np.einsum("at,jt,bt->jab", b, wmms[:, k], b))
            IU = np.einsum("at,jts->jas", a, wu[:, k]) + np.einsum("at,jts->jas", b, wmu[:, k])
            out[:, ix, m:] = IU
            out[:, m:, ix] = IU.transpose(0, 2, 1)
        zz = self.ZZ_org[:, sel][:, :, sel] if by_org else self.ZtZ[sel][:, sel][None]
        out[:, m + e:, m + e:] = zz
        if e:
            org = self.org if by_org else np.zeros(len(w), dtype=np.intp)
            for i in range(e):
                out[:, m + e:, m + i] = out[:, m + i, m + e:] = group_sum(org, J, self.Z, w * extra[:, i])[:, sel]
                for i2 in range(i + 1):
                    out[:, m + i, m + i2] = out[:, m + i2, m + i] = np.bincount(
                        org, weights=w * extra[:, i] * extra[:, i2], minlength=J)
        return out

    def statistics(self, lev: np.ndarray, K: int, names: list, spec: list, covs: list,
                   extra: np.ndarray | None = None) -> NestedLMMStatistics:
        """:class:`mheval.models.nested_lmm.NestedLMMStatistics` of the design (interaction columns ``spec``
        named ``names``, then the ``extra`` row columns (n x e, named in ``names`` after the interaction
        columns), then the covariates ``covs``, then y), bordered onto the shared blocks."""
        sel = [self.varying.index(c) for c in covs] + [len(self.varying)]
        M0_org = self._gram(lev, K, spec, extra, sel, by_org=True)
        al = np.array([sp[1] for sp in spec])
        be = np.array([sp[2] for sp in spec])
        lv = np.array([sp[0] for sp in spec])
        inter = (self.U @ al.T + self.Um @ be.T) * (lev[:, None] == lv[None, :])  # each beneficiary in its level
        parts = [inter]
        if extra is not None:
            parts.append(group_sum(self.nest.bene_idx, len(lev), extra, self.w))
        A = np.concatenate(parts + [self.AZ[:, sel]], axis=1)
        return NestedLMMStatistics(M0=M0_org.sum(axis=0), A=A, s=self.s, org_of_bene=self.nest.org_of_bene,
                                   n=len(self.w), logw=self.logw, names=names + list(covs), M0_org=M0_org)

def equation1_by_subgroup(by: pd.DataFrame, outcome: str, population: str, subgroup: str, alpha: float = 0.10,
                          levels: list | None = None, by_year: bool = True,
                          size_column: str = SIZE_COLUMN, average: str = "simple",
                          covariates: dict | None = None, cov_type: str = "CR2",
                          frame: pd.DataFrame | None = None, start=None,
                          shared: SharedStatistics | None = None) -> SubgroupImpacts:
    """Equation 1 with arm x subgroup-level impacts (see the module docstring).

    Parameters
    ----------
    by : beneficiary-year file with the subgroup column (``SG_<DIMENSION>`` from
        :func:`mheval.subgroups.assign_subgroups`, merged on BENE_ID).
    outcome, population : as :func:`mheval.models.equation1.equation1_impact`.
    subgroup : a dimension name (e.g. "sex") or a column name.
    levels : level order (default: sorted labels); levels absent from the population are skipped.
    by_year : year x level impacts averaged over years (default) or one impact per level.
    size_column : organization size column for the size x impact test (used when the subgroup is
        organization size; default the self-reported Medicare FFS beneficiaries).
    average : "simple" (the mean of each level's yearly impacts, the default) or
        "beneficiary_years" (config ``models.average_weighting``).
    covariates : the covariate specification (config ``models.covariates``; None: the default).
    cov_type : covariance of the level estimates (and so their SEs and the pooling's likelihood):
        "CR2" or "CR3" (cluster-robust by organization with the small-sample correction, config
        ``models.lmm_cov_type``; default CR2) or "model".
    frame : optional :func:`mheval.models.equation1.model_frame` of ``by`` for this outcome,
        population and covariates, for a caller that fits several dimensions (built once instead of
        once per fit; :func:`mheval.subgroups.run_subgroup_analysis`).
    start : optional starting variance ratios of the nested LMM (``fit_nested_lmm(start=)``), e.g. the
        ``variance_ratios`` of another dimension's fit of the same outcome: the same fit (to the
        search's tolerance, about 1e-7 relative) in about half the evaluations.
    shared : optional :class:`SharedStatistics` of ``frame`` (this outcome, population and covariates):
        the fit is then made from sufficient statistics bordered onto the blocks every dimension shares
        (the same estimates, SEs and df as from the rows, to rounding), unless the subgroup has rows
        without a level or differs within a beneficiary (then from the rows).
    """
    check_average_weighting(average)
    check_cov_type(cov_type)
    col = _subgroup_column(by, subgroup)
    d = model_frame(by, outcome, population, covariates) if frame is None else frame
    lev = None
    if shared is not None and shared.usable and shared.frame is d and d[col].notna().all():
        levels = _levels(d, col, levels, f"population '{population}'")
        lev = shared.level_of_beneficiary(col, levels)
    if lev is not None:  # from the shared sufficient statistics
        counts = _counts(d.take(shared.first_row)[["BENE_ID", "ORG_ID", "MH", col]], col, levels)
        _check_arms(counts, col)
        K = len(levels)
        names, spec, covs, dropped, n_kt, w_kt, z_kt = shared.dimension(lev, K, by_year)
        covs, limited = limit_organization_terms(covs, d["ORG_ID"].nunique(), covariates)
        fit = fit_nested_lmm_statistics(shared.statistics(lev, K, names, spec, covs), reml=True, cov_type=cov_type,
                                        start=start)
        years = list(shared.years)
        sel = [shared.varying.index(c) for c in covs]
        b_cov = fit.params[covs].to_numpy()
        cell_mean = {}  # (t, k) -> mean over the cell's rows of the prediction without the MH terms
        for ti, t in enumerate(years):
            for k in range(K):
                if n_kt[k, ti]:
                    cell_mean[(t, k)] = float(fit.params[f"CELL_{t}_{k}"] + z_kt[k, ti, sel] @ b_cov / n_kt[k, ti])
        n_rows = {(t, k): int(n_kt[k, ti]) for ti, t in enumerate(years) for k in range(K)}
        w_rows = {(t, k): float(w_kt[k, ti]) for ti, t in enumerate(years) for k in range(K)}
        mh_terms = [nm for nm in names if nm.startswith("MH_")]
    else:
        fit, levels, mh_terms, covs, dropped, limited, years, K, cell_mean, n_rows, w_rows, counts = _fit_from_rows(
            d, outcome, population, col, levels, by_year, covariates, cov_type, start)
    names = list(fit.params.index)
    beta = fit.params.to_numpy()
    V = fit.cov_params().to_numpy()  # of cov_type: the cluster-robust one, or model-based
    C = np.zeros((K, len(names)))
    control = np.zeros(K)
    n_obs = np.zeros(K, dtype=int)
    level_w = np.zeros(K)
    for k in range(K):
        n_obs[k] = sum(n_rows[(t, k)] for t in years)
        level_w[k] = sum(w_rows[(t, k)] for t in years)
        ws, cms = [], []
        for t in years:
            if not n_rows[(t, k)]:
                continue
            w = w_rows[(t, k)] if average == "beneficiary_years" else 1.0
            if by_year:
                if f"MH_{t}_{k}" not in names:  # no intervention rows in this year and level
                    continue
                C[k, names.index(f"MH_{t}_{k}")] += w
            ws.append(w)
            cms.append(cell_mean[(t, k)])
        ws = np.asarray(ws)
        if by_year:
            C[k] /= ws.sum()
        else:
            C[k, names.index(f"MH_L{k}")] = 1.0
        control[k] = float(np.average(cms, weights=ws))
    est = C @ beta
    cov = C @ V @ C.T
    se = np.sqrt(np.diag(cov))
    table = _level_table(counts, est, se, alpha)
    table["n_obs"] = n_obs
    table["control_mean"] = control
    table["impact_percent"] = np.where(control != 0, 100 * est / np.where(control != 0, control, 1), np.nan)
    overall_control = float(np.average(control, weights=level_w))
    size = None
    if col == column_name("org_size"):
        size = equation1_size_interaction(by, outcome, population, size_column=size_column, alpha=alpha,
                                          covariates=covariates, frame=frame, shared=shared)
    return SubgroupImpacts(model="Equation 1 x subgroup: nested LMM, REML, precision weights" +
                           (", year x level impacts averaged" if by_year else ", one impact per level") +
                           f"; {variance_words(cov_type)}",
                           outcome=outcome, population=population, subgroup=col, table=table,
                           heterogeneity=_wald_equal(est, cov), alpha=alpha, n_obs=fit.nobs,
                           dropped_covariates=dropped, organization_terms_limited=limited, size_interaction=size,
                           overall_control_mean=overall_control,
                           cov=pd.DataFrame(cov, index=levels, columns=levels), variance_ratios=fit.theta ** 2)


def _fit_from_rows(d, outcome, population, col, levels, by_year, covariates, cov_type, start):
    """The interaction model of :func:`equation1_by_subgroup` fitted from the rows of its model frame
    ``d``: (fit, levels, MH term names, covariates kept and dropped, the organization-term limit's
    record, years, number of levels, per
    (year, level) the mean prediction without the MH terms, the number of rows and their weight, counts)."""
    base_covs = model_covariates(d, population, covariates)
    # only the fit's columns (the model frame keeps every column of the file: 1.3 M rows at scale 1.0)
    keep = d[col].notna().to_numpy()
    d = d.loc[keep, list(dict.fromkeys([outcome, "YEAR", "MH", "WEIGHT", "ORG_ID", "BENE_ID", col, *base_covs]))]
    d = d.reset_index(drop=True)
    levels = _levels(d, col, levels, f"population '{population}'")
    counts = _counts(d, col, levels)
    _check_arms(counts, col)
    covs, dropped, limited = _usable_covariates(d, base_covs, col, d["ORG_ID"].nunique(), covariates)
    years = sorted(d["YEAR"].unique())
    K = len(levels)
    code = d[col].astype(object).map({lv: i for i, lv in enumerate(levels)}).to_numpy()
    cells, effects = [], {}
    X = {}
    for t in years:
        for k in range(K):
            ind = ((d["YEAR"] == t).to_numpy() & (code == k)).astype(float)
            X[f"CELL_{t}_{k}"] = ind
            cells.append(f"CELL_{t}_{k}")
            if by_year:
                X[f"MH_{t}_{k}"] = ind * d["MH"].to_numpy(float)
                effects[(t, k)] = f"MH_{t}_{k}"
    if not by_year:
        for k in range(K):
            X[f"MH_L{k}"] = (code == k) * d["MH"].to_numpy(float)
    d = pd.concat([d, pd.DataFrame(X, index=d.index)], axis=1)
    # year x level cells with no rows (e.g. a level enrolled late has no year 5) are left out
    cells = [c for c in cells if d[c].sum() > 0]
    mh_terms = [f"MH_L{k}" for k in range(K)] if not by_year else [v for v in effects.values() if d[v].sum() > 0]
    formula = f"{outcome} ~ 0 + " + " + ".join(cells + mh_terms + covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", reml=True, cov_type=cov_type,
                         start=start)
    names = list(fit.params.index)
    pred0 = np.zeros(len(d))  # everyone as control: the fit's prediction without the MH terms
    for name, b in zip(names, fit.params.to_numpy()):  # column by column (no n x p copy of the design)
        if name not in mh_terms:
            pred0 += d[name].to_numpy(float) * b
    cell_mean, n_rows, w_rows = {}, {}, {}
    year_col, w = d["YEAR"].to_numpy(), d["WEIGHT"].to_numpy(float)
    for k in range(K):
        for t in years:
            r = (code == k) & (year_col == t)
            n_rows[(t, k)], w_rows[(t, k)] = int(r.sum()), float(w[r].sum())
            if r.any():
                cell_mean[(t, k)] = float(pred0[r].mean())
    return fit, levels, mh_terms, covs, dropped, limited, years, K, cell_mean, n_rows, w_rows, counts


def equation1_size_interaction(by: pd.DataFrame, outcome: str, population: str,
                               size_column: str = SIZE_COLUMN, alpha: float = 0.10,
                               covariates: dict | None = None, frame: pd.DataFrame | None = None,
                               shared: SharedStatistics | None = None) -> dict:
    """Equation 1 plus MH x (log(1 + organization size), centred): does the impact change with
    size? Size: the self-reported Medicare FFS beneficiaries (before randomization).

    Returns the interaction coefficient (change in the average impact per unit of log size; also
    per doubling of size), its standard error, interval and p-value. ``frame``: optional
    :func:`mheval.models.equation1.model_frame` of ``by`` (as :func:`equation1_by_subgroup`);
    ``shared``: optional :class:`SharedStatistics` of ``frame`` (the fit from sufficient statistics).
    """
    d = model_frame(by, outcome, population, covariates) if frame is None else frame
    size = _org_size(d, size_column)
    if shared is not None and shared.usable and shared.frame is d and np.isfinite(size.to_numpy()).all():
        logs = np.log1p(size)
        centre = float(logs.mean())
        x = (logs - centre).to_numpy()
        extra = np.column_stack([x, shared.mh * x])
        T = len(shared.years)
        eye, zero = np.eye(T), np.zeros(T)
        spec = [(0, eye[i], zero) for i in range(T)] + [(0, zero, eye[i]) for i in range(T)]
        lev = np.zeros(len(shared.s), dtype=np.intp)
        covs = independent_in_gram(shared._gram(lev, 1, spec, extra, list(range(len(shared.varying))))[0],
                                   len(spec) + 2, shared.varying)[0]  # LOG_FFS_SIZE is the size term itself
        covs = limit_organization_terms(covs, d["ORG_ID"].nunique(), covariates)[0]
        names = ([f"C(YEAR)[{t}]" for t in shared.years] + [f"C(YEAR)[{t}]:MH" for t in shared.years]
                 + ["LOG_SIZE_C", "MH_X_LOG_SIZE"])
        fit = fit_nested_lmm_statistics(shared.statistics(lev, 1, names, spec, covs, extra=extra), reml=True)
        return _interaction_dict(float(fit.params["MH_X_LOG_SIZE"]), float(fit.bse["MH_X_LOG_SIZE"]), alpha, centre,
                                 "Equation 1 + MH x centred log organization size")
    base_covs = model_covariates(d, population, covariates)
    d = d[list(dict.fromkeys([outcome, "YEAR", "MH", "WEIGHT", "ORG_ID", "BENE_ID", *base_covs]))].copy()
    logs = np.log1p(size)
    centre = float(logs.mean())
    d["LOG_SIZE_C"] = logs - centre
    d["MH_X_LOG_SIZE"] = d["MH"] * d["LOG_SIZE_C"]
    yrs, trt = d["YEAR"].to_numpy(), d["MH"].to_numpy(float)
    base = [(yrs == t) * w for t in np.unique(yrs) for w in (1.0, trt)] + [d["LOG_SIZE_C"].to_numpy(),
                                                                          d["MH_X_LOG_SIZE"].to_numpy()]
    covs = independent_covariates(d, [c for c in base_covs if d[c].nunique() > 1], base=base)[0]  # LOG_FFS_SIZE is the size term itself
    covs = limit_organization_terms(covs, d["ORG_ID"].nunique(), covariates)[0]
    formula = f"{outcome} ~ 0 + C(YEAR) + C(YEAR):MH + LOG_SIZE_C + MH_X_LOG_SIZE" + "".join(f" + {c}" for c in covs)
    fit = fit_nested_lmm(d, formula, org="ORG_ID", bene="BENE_ID", weights="WEIGHT", reml=True)
    return _interaction_dict(float(fit.params["MH_X_LOG_SIZE"]), float(fit.bse["MH_X_LOG_SIZE"]), alpha, centre,
                             "Equation 1 + MH x centred log organization size")


def _interaction_dict(b, se, alpha, centre, model):
    lower, upper, p = wald_interval(b, se, alpha)
    return {"model": model, "term": "MH x log(organization size)", "coef": b, "se": se,
            "lower": lower, "upper": upper, "p": p,
            "coef_per_doubling": b * np.log(2), "log_size_centre": centre}


def cox_model_frame(tte: pd.DataFrame, outcome: str, population: str, covariates: dict | None = None,
                    size_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The time-to-event rows of ``population`` and their adjustment covariates (``covariates``: config
    ``models.covariates``), as :func:`cox_by_subgroup` fits them: pass it as that function's ``frame`` to
    build it once for every dimension. The organization size column must exist (one clear error)."""
    _org_size(tte, size_column)
    return _cox_frame(tte, outcome, population, covariates)


def _cox_frame(tte: pd.DataFrame, outcome: str, population: str, covariates: dict | None = None):
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {list(OUTCOMES)}, not {outcome!r}")
    df = tte[tte["STRATUM"].isin(POPULATIONS[population])].reset_index(drop=True)
    return df, adjustment_covariates(df, population, covariates)


def cox_by_subgroup(tte: pd.DataFrame, outcome: str, population: str, subgroup: str, alpha: float = 0.10,
                    levels: list | None = None, size_column: str | None = None,
                    covariates: dict | None = None, cov_type: str = "mbn",
                    frame: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> SubgroupImpacts:
    """Marginal Cox model with MH x subgroup-level indicators: log hazard ratio per level.

    Parameters
    ----------
    tte : time-to-event file with the subgroup column (from :func:`mheval.subgroups.assign_subgroups`).
    outcome : "event" (first MI, stroke or TIA) or "death".
    population : "high", "medium" or "high_medium".
    subgroup : dimension name or column name.
    size_column : organization size for the size x impact test (organization-size subgroup only);
        by default the self-reported Medicare FFS beneficiaries.
    covariates : the covariate specification (config ``models.covariates``; None: the default).
    cov_type : covariance of the level log hazard ratios: "robust" (Lin-Wei sandwich) or a
        bias-corrected sandwich "kc", "fg", "md", "mbn" (default) (config ``models.cox_cov_type``;
        :func:`mheval.models.cox_small_sample.bias_corrected_cov`).
    frame : optional :func:`cox_model_frame` of ``tte`` for this outcome, population and covariates,
        for a caller that fits several dimensions (:func:`mheval.subgroups.run_subgroup_analysis`).
    """
    if cov_type not in ("robust", "kc", "fg", "md", "mbn"):
        raise ValueError(f"cov_type must be one of robust, kc, fg, md, mbn; not {cov_type!r}")
    col = _subgroup_column(tte, subgroup)
    duration, event = OUTCOMES[outcome]
    df, x = cox_model_frame(tte, outcome, population, covariates, size_column) if frame is None else frame
    keep = df[col].notna().to_numpy()
    df, x = df[keep].reset_index(drop=True), x[keep].reset_index(drop=True)
    levels = _levels(df, col, levels, f"population '{population}'")
    counts = _counts(df, col, levels)
    _check_arms(counts, col)
    code = df[col].astype(object).map({lv: i for i, lv in enumerate(levels)}).to_numpy()
    ev = df[event].to_numpy()
    mh = df["MH"].to_numpy(float)
    n_ev = np.array([[ev[(code == k) & (mh == a)].sum() for a in (1, 0)] for k in range(len(levels))])
    if (n_ev == 0).any():
        k = int(np.where((n_ev == 0).any(axis=1))[0][0])
        raise SubgroupNotEstimableError(
            f"subgroup '{col}' level '{levels[k]}' has no {outcome} outcomes ({event}) in one arm in population "
            f"'{population}' (intervention {n_ev[k, 0]}, control {n_ev[k, 1]}): its hazard ratio is not estimable; "
            "use coarser levels (subgroups.definitions) for this outcome")
    xx = x.assign(**{col: df[col].astype(object).to_numpy()})
    covs, dropped, limited = _usable_covariates(xx, list(x.columns), col, df["ORG_ID"].nunique(), covariates)
    # indicators without events on one side make the coefficient run off (as in Equation 4's frame)
    free = event_free_indicators(x[covs], ev)
    covs, dropped = [c for c in covs if c not in free], dropped + free
    K = len(levels)
    cols = {f"MH_L{k}": (code == k) * mh for k in range(K)}
    cols.update({f"L{k}": (code == k).astype(float) for k in range(1, K)})
    X = pd.concat([pd.DataFrame(cols), x[covs]], axis=1)
    fit = fit_cox(df[duration].to_numpy(), ev, X.to_numpy(float), cluster=df["ORG_ID"].to_numpy())
    if not fit.converged:
        raise NotEstimable(f"the Cox model by '{col}' did not converge")
    est = fit.params[:K]
    if cov_type == "robust":
        cov = fit.robust_cov[:K, :K]
    elif df["ORG_ID"].nunique() <= 2 + X.shape[1]:
        raise SubgroupNotEstimableError(f"{df['ORG_ID'].nunique()} organizations for {X.shape[1]} terms: the "
                                        f"bias-corrected sandwich ({cov_type}) needs more organizations than terms + 2")
    else:
        from mheval.models.cox_small_sample import bias_corrected_cov

        cov = bias_corrected_cov(df[duration].to_numpy(), ev, X.to_numpy(float), df["ORG_ID"].to_numpy(), fit.params,
                                 cov_type)[:K, :K]
    cov = (cov + cov.T) / 2  # symmetric in exact arithmetic; the pooling's likelihood needs it to the last digit
    if not np.isfinite(cov).all() or np.linalg.eigvalsh(cov).min() <= 0:
        raise SubgroupNotEstimableError(f"the {cov_type} covariance of the level log hazard ratios by '{col}' is not "
                                        "positive definite (a near-singular information: terms close to separation)")
    se = np.sqrt(np.diag(cov))
    table = _level_table(counts, est, se, alpha)
    table["n_events"] = n_ev.sum(axis=1)
    table["n_events_intervention"] = n_ev[:, 0]
    table["n_events_control"] = n_ev[:, 1]
    table["hr"] = np.exp(est)
    table["hr_lower"] = np.exp(table["lower"])
    table["hr_upper"] = np.exp(table["upper"])
    size = None
    if col == column_name("org_size"):
        size = cox_size_interaction(tte, outcome, population, size_column=size_column, alpha=alpha,
                                    covariates=covariates, frame=frame)
    return SubgroupImpacts(model=f"Cox x subgroup: Efron ties, cluster-robust SE by organization ({cov_type})",
                           outcome=outcome, population=population, subgroup=col, table=table,
                           heterogeneity=_wald_equal(est, cov), alpha=alpha, n_obs=len(df),
                           dropped_covariates=dropped, organization_terms_limited=limited, size_interaction=size,
                           cov=pd.DataFrame(cov, index=levels, columns=levels))


def cox_size_interaction(tte: pd.DataFrame, outcome: str, population: str, size_column: str | None = None,
                         alpha: float = 0.10, covariates: dict | None = None,
                         frame: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> dict:
    """Marginal Cox model with MH, centred log(1 + organization size) and their product (size:
    the self-reported Medicare FFS beneficiaries by default; ``frame``: as :func:`cox_by_subgroup`)."""
    duration, event = OUTCOMES[outcome]
    df, x = cox_model_frame(tte, outcome, population, covariates, size_column) if frame is None else frame
    logs = np.log1p(_org_size(df, size_column).to_numpy(float))
    centre = float(logs.mean())
    lc = logs - centre
    mh = df["MH"].to_numpy(float)
    covs = independent_covariates(x.assign(MH=mh), [c for c in x.columns if x[c].nunique() > 1],
                                  base=[np.ones(len(df)), mh, lc, mh * lc])[0]
    covs = limit_organization_terms(covs, df["ORG_ID"].nunique(), covariates)[0]
    free = set(event_free_indicators(x[covs], df[event].to_numpy()))  # once, not once per covariate
    covs = [c for c in covs if c not in free]
    X = np.column_stack([df["MH"].to_numpy(float), lc, df["MH"].to_numpy(float) * lc, x[covs].to_numpy(float)])
    fit = fit_cox(df[duration].to_numpy(), df[event].to_numpy(), X, cluster=df["ORG_ID"].to_numpy())
    if not fit.converged:
        raise NotEstimable("the Cox size-interaction model did not converge")
    return _interaction_dict(float(fit.params[2]), float(np.sqrt(fit.robust_cov[2, 2])), alpha, centre,
                             "Cox + MH x centred log organization size (log hazard ratio scale)")
