"""Subgroup definitions (evaluation design report, section V.C).

:func:`assign_subgroups` adds one column ``SG_<NAME>`` (string labels) per enabled dimension to a
beneficiary-level frame (the time-to-event file; a beneficiary-year file works too, since every
dimension is fixed at enrollment and organization quantities are computed over distinct
beneficiaries). Dimensions and their settings (``DEFAULT_SPEC``):

===============  ==========================================================================
risk             STRATUM: "high" vs "medium" 10-year ASCVD risk at enrollment
modifiable       MODIFIABLE_SHARE below ``cut`` ("<0.5") vs at or above it (">=0.5")
sex              SEX ("female", "male")
age              AGE at enrollment cut at ``cuts`` (left-closed: [65, 75] gives "<65", "65-74", "75+")
race             RACE grouped by ``groups`` (label -> list of RACE codes); codes not listed
                 go to ``other_label``
enrollment       ENROLL_DT before ``cut`` ("early") vs on or after it ("late"); ``cut`` is
                 "median" (median enrollment date of the frame's beneficiaries) or a date
org_size         the organization's self-reported number of Medicare FFS beneficiaries (registry
                 organization file, ``SELF_REPORTED_FFS_BENES``: reported in the application,
                 before randomization; the number it went on to enroll is not used): ``method``
                 "terciles" (terciles of organizations, each organization counted once) or
                 "cuts" (``cuts`` list, left-closed); labels from smallest: ``labels``
                 (default "small", "medium", "large"), so small organizations form their
                 own group
org_type         ORG_TYPE (primary_care, multispecialty, cardiology)
ceiling          organization's average of a baseline measure ``column`` (default
                 MODIFIABLE_SHARE: the share of 10-year CVD risk due to modifiable factors at
                 enrollment) above the median over organizations ("far" from the ceiling of
                 optimal CVD performance at baseline, design report V.C: more modifiable risk
                 left to remove) vs at or below it ("near"); ``median_over`` "organizations"
                 (default) or "beneficiaries". Only baseline columns are accepted
                 (``BASELINE_COLUMNS``). Limit: the average is over the organization's analyzed
                 beneficiaries' pre-enrollment values; no organization-level performance
                 measure from before randomization is in the data contract
rural            RURAL ("rural", "urban")
health_system    HEALTH_SYSTEM ("health_system", "independent")
===============  ==========================================================================

Small levels. A subgroup-specific impact needs beneficiaries in both arms and several
organizations per arm (randomization is by organization). A level is *small* when it has fewer
than ``min_beneficiaries`` beneficiaries, or fewer than ``min_organizations_per_arm``
organizations in either arm. ``small_levels`` decides what happens:

- "error": raise :class:`SubgroupTooSmallError` naming the dimension, level and counts;
- "merge" (default): merge the small level into a neighbour and recount, until no level is
  small. For ordered dimensions (age, org_size, ...) the neighbour is the adjacent level with
  fewer beneficiaries; for unordered ones it is the smallest other small level if there is one
  (e.g. cardiology and multispecialty organizations become "specialty" together), else the
  smallest other level. Merged labels join the
  originals with "+" (e.g. "asian+other"). If fewer than two levels remain, the dimension is
  an error (no contrast is possible);
- "keep": keep the level, flagged ``small = True`` in the counts table.

Every merge is reported in the counts table (``merged_from``). Settings may be given globally
(top-level keys of the spec) or per dimension (a key of the dimension's dict overrides).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd

DIMENSIONS = ("risk", "modifiable", "sex", "age", "race", "enrollment", "org_size", "org_type", "ceiling", "rural",
              "health_system")
ORDERED = {"age", "org_size", "modifiable", "enrollment", "ceiling"}

DEFAULT_SPEC: dict = {
    "enabled": list(DIMENSIONS),
    "min_beneficiaries": 50,
    "min_organizations_per_arm": 5,  # cluster-robust errors need several clusters per arm
    "small_levels": "merge",  # "merge", "error" or "keep"
    "risk": {},
    "modifiable": {"cut": 0.5},
    "sex": {},
    "age": {"cuts": [65, 75]},  # the analysis sample is aged 40-79 at enrollment
    "race": {"groups": {"white": ["white"], "black": ["black"]}, "other_label": "other"},
    "enrollment": {"cut": "median"},
    "org_size": {"method": "terciles", "cuts": None, "labels": ["small", "medium", "large"]},
    "org_type": {},
    "ceiling": {"column": "MODIFIABLE_SHARE", "median_over": "organizations"},
    "rural": {},
    "health_system": {},
}


class SubgroupTooSmallError(ValueError):
    """A subgroup level has too few beneficiaries or organizations for an impact estimate."""


class SubgroupSingleLevel(SubgroupTooSmallError):
    """Merging a dimension's small levels would leave a single level: the dimension has no contrast.
    :func:`assign_subgroups` records it as not estimable (``frame.attrs["not_estimable"]``) rather
    than stopping the run."""

    reason = ("a level has fewer beneficiaries or organizations per arm than subgroups.definitions requires, "
              "and merging the small levels would leave a single level: no contrast")


def column_name(dimension: str) -> str:
    """Name of the column that :func:`assign_subgroups` writes for ``dimension``."""
    return f"SG_{dimension.upper()}"


def merge_spec(spec: dict | None) -> dict:
    """DEFAULT_SPEC updated by ``spec`` (dimension dicts merged key by key)."""
    out = copy.deepcopy(DEFAULT_SPEC)
    for key, value in (spec or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    unknown = set(out["enabled"]) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown subgroup dimensions {sorted(unknown)}; known: {list(DIMENSIONS)}")
    if out["small_levels"] not in ("merge", "error", "keep"):
        raise ValueError(f"subgroups small_levels must be 'merge', 'error' or 'keep', not {out['small_levels']!r}")
    return out


def _age_labels(cuts):
    cuts = [int(c) if float(c).is_integer() else c for c in cuts]
    labels = [f"<{cuts[0]}"]
    for lo, hi in itertools.pairwise(cuts):
        labels.append(f"{lo}-{hi - 1}" if isinstance(lo, int) and isinstance(hi, int) else f"{lo}-<{hi}")
    labels.append(f"{cuts[-1]}+")
    return labels


def _cut(x: pd.Series, cuts, labels) -> pd.Series:
    """Left-closed bins: (-inf, c1), [c1, c2), ..., [ck, inf)."""
    cuts = list(cuts)
    if sorted(cuts) != cuts or len(set(cuts)) != len(cuts):
        raise ValueError(f"subgroup cuts must be strictly increasing, got {cuts}")
    codes = np.searchsorted(np.asarray(cuts, float), x.to_numpy(float), side="right")
    out = pd.Series(np.asarray(labels, dtype=object)[codes], index=x.index)
    return out.where(x.notna())


BASELINE_COLUMNS = ("MODIFIABLE_SHARE", "RISK", "HCC_SCORE", "statin", "antihypertensive", "smoking", "diabetes",
                    "systolic_bp", "ldl", "total_cholesterol", "hdl")
SIZE_COLUMN = "SELF_REPORTED_FFS_BENES"


def _org_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per organization with its size N: the self-reported Medicare FFS beneficiaries."""
    if SIZE_COLUMN not in frame.columns:
        raise ValueError(f"org_size needs the registry organization file's {SIZE_COLUMN} in the analysis file "
                         f"({len(frame)} rows); rebuild the analysis files")
    g = frame.groupby("ORG_ID")[SIZE_COLUMN]
    varies = g.nunique() > 1
    if varies.any():
        raise ValueError(f"{SIZE_COLUMN} varies within organization(s) {list(varies.index[varies][:5])}")
    return g.first().astype(float).rename("N").to_frame()


def _raw_levels(frame: pd.DataFrame, dim: str, s: dict) -> tuple[pd.Series, list[str], dict]:
    """Labels of one dimension, the level order, and what the rule resolved to (for the record)."""
    info: dict = {}
    if dim == "risk":
        lab = frame["STRATUM"].astype(object)
        order = ["high", "medium"]
    elif dim == "modifiable":
        c = float(s.get("cut", 0.5))
        order = [f"<{c:g}", f">={c:g}"]
        lab = _cut(frame["MODIFIABLE_SHARE"], [c], order)
        info["cut"] = c
    elif dim == "sex":
        lab = frame["SEX"].astype(object)
        order = sorted(lab.dropna().unique())
    elif dim == "age":
        cuts = list(s.get("cuts", [65, 75]))
        order = _age_labels(cuts)
        lab = _cut(frame["AGE"], cuts, order)
        info["cuts"] = cuts
    elif dim == "race":
        groups = s.get("groups") or {}
        other = s.get("other_label", "other")
        code_to = {code: label for label, codes in groups.items() for code in codes}
        lab = frame["RACE"].map(lambda r: code_to.get(r, other) if pd.notna(r) else other).astype(object)
        order = list(groups) + ([other] if other not in groups else [])
    elif dim == "enrollment":
        enroll = pd.to_datetime(frame["ENROLL_DT"])
        cut = s.get("cut", "median")
        if cut in (None, "median"):
            cut_dt = pd.to_datetime(frame.drop_duplicates("BENE_ID")["ENROLL_DT"]).median().normalize()
        else:
            cut_dt = pd.Timestamp(cut)
        lab = pd.Series(np.where(enroll < cut_dt, "early", "late"), index=frame.index, dtype=object)
        order = ["early", "late"]
        info["cut"] = str(cut_dt.date())
    elif dim == "org_size":
        orgs = _org_table(frame)
        labels = list(s.get("labels") or ["small", "medium", "large"])
        method = s.get("method", "terciles")
        if method == "terciles":
            q = np.linspace(0, 1, len(labels) + 1)[1:-1]
            cuts = list(np.quantile(orgs["N"], q))
            # left-closed at the quantile itself would put the tercile boundary org up; use (q, q] like pd.qcut
            codes = np.searchsorted(np.asarray(cuts), orgs["N"].to_numpy(float), side="left")
            org_lab = pd.Series(np.asarray(labels, dtype=object)[codes], index=orgs.index)
            info["tercile_cuts"] = [float(c) for c in cuts]
        elif method == "cuts":
            cuts = list(s["cuts"])
            if len(cuts) != len(labels) - 1:
                raise ValueError(f"org_size: {len(cuts)} cuts need {len(cuts) + 1} labels, got {labels}")
            org_lab = _cut(orgs["N"].astype(float), cuts, labels)
            info["cuts"] = cuts
        else:
            raise ValueError(f"org_size method must be 'terciles' or 'cuts', not {method!r}")
        lab = frame["ORG_ID"].map(org_lab).astype(object)
        order = labels
    elif dim == "org_type":
        lab = frame["ORG_TYPE"].astype(object)
        order = sorted(lab.dropna().unique())
    elif dim == "ceiling":
        col = s.get("column", "MODIFIABLE_SHARE")
        if col not in BASELINE_COLUMNS:
            raise ValueError(f"ceiling column {col!r} is not a baseline measure; one of {list(BASELINE_COLUMNS)}")
        one = frame.drop_duplicates("BENE_ID")
        org_mean = one.groupby("ORG_ID")[col].mean()
        over = s.get("median_over", "organizations")
        if over == "organizations":
            med = float(org_mean.median())
        elif over == "beneficiaries":
            med = float(one["ORG_ID"].map(org_mean).median())
        else:
            raise ValueError(f"ceiling median_over must be 'organizations' or 'beneficiaries', not {over!r}")
        org_lab = pd.Series(np.where(org_mean > med, "far", "near"), index=org_mean.index, dtype=object)
        lab = frame["ORG_ID"].map(org_lab).astype(object)
        order = ["near", "far"]
        info["median"] = med
    elif dim == "rural":
        lab = pd.Series(np.where(frame["RURAL"].astype(bool), "rural", "urban"), index=frame.index, dtype=object)
        order = ["urban", "rural"]
    elif dim == "health_system":
        lab = pd.Series(np.where(frame["HEALTH_SYSTEM"].astype(bool), "health_system", "independent"),
                        index=frame.index, dtype=object)
        order = ["independent", "health_system"]
    else:  # pragma: no cover - merge_spec rejects unknown names
        raise ValueError(dim)
    present = set(lab.dropna().unique())
    order = [o for o in order if o in present] + sorted(present - set(order))
    return lab, order, info


def level_counts(frame: pd.DataFrame, column: str, arm: str = "MH") -> pd.DataFrame:
    """Distinct beneficiaries and organizations per level of ``column``, overall and by arm."""
    one = frame.drop_duplicates("BENE_ID")
    g = one.groupby(column, sort=False, observed=True)
    out = pd.DataFrame({"n_beneficiaries": g["BENE_ID"].size(), "n_organizations": g["ORG_ID"].nunique()})
    for value, name in ((1, "intervention"), (0, "control")):
        sub = one[one[arm] == value].groupby(column, sort=False, observed=True)
        out[f"n_beneficiaries_{name}"] = sub["BENE_ID"].size()
        out[f"n_organizations_{name}"] = sub["ORG_ID"].nunique()
    return out.fillna(0).astype(int)


def _is_small(c: pd.Series, min_bene: int, min_org: int) -> bool:
    return bool(c["n_beneficiaries"] < min_bene or c["n_organizations_intervention"] < min_org
                or c["n_organizations_control"] < min_org)


def _resolve_small(frame, dim, lab, order, s):
    """Merge (or reject) small levels; returns labels, level order, merge record."""
    policy, min_b, min_o = s["small_levels"], int(s["min_beneficiaries"]), int(s["min_organizations_per_arm"])
    merged: dict[str, list[str]] = {o: [o] for o in order}
    col = "__SG__"
    while True:
        tmp = frame[["BENE_ID", "ORG_ID", "MH"]].assign(**{col: lab})
        counts = level_counts(tmp.dropna(subset=[col]), col).reindex(order).fillna(0).astype(int)
        small = [o for o in order if _is_small(counts.loc[o], min_b, min_o)]
        if not small or policy == "keep":
            return lab, order, merged, counts, small
        worst = min(small, key=lambda o: counts.loc[o, "n_beneficiaries"])
        c = counts.loc[worst]
        msg = (f"subgroup '{dim}' level '{worst}' is too small: {c['n_beneficiaries']} beneficiaries "
               f"(minimum {min_b}), {c['n_organizations_intervention']} intervention and "
               f"{c['n_organizations_control']} control organizations (minimum {min_o} per arm)")
        if policy == "error":
            raise SubgroupTooSmallError(msg + "; set small_levels: merge, or change the cuts")
        if len(order) <= 2:
            raise SubgroupSingleLevel(msg + "; merging would leave a single level, so no contrast is possible")
        i = order.index(worst)
        if dim in ORDERED:
            nbrs = [order[j] for j in (i - 1, i + 1) if 0 <= j < len(order)]
        else:  # another small level if there is one (small with small), else any other level
            nbrs = [o for o in small if o != worst] or [o for o in order if o != worst]
        into = min(nbrs, key=lambda o: counts.loc[o, "n_beneficiaries"])
        a, b = sorted([worst, into], key=order.index)
        new = f"{a}+{b}"
        lab = lab.replace({a: new, b: new})
        merged[new] = merged.pop(a) + merged.pop(b)
        order = [new if o == a else o for o in order if o != b]


def assign_subgroups(frame: pd.DataFrame, spec: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add a ``SG_<DIMENSION>`` column per enabled dimension (see the module docstring).

    Parameters
    ----------
    frame : one row per beneficiary (or beneficiary-year) with BENE_ID, ORG_ID, MH and the
        columns the enabled dimensions read (STRATUM, MODIFIABLE_SHARE, SEX, AGE, RACE,
        ENROLL_DT, ORG_TYPE, SELF_REPORTED_FFS_BENES, the ceiling column, RURAL, HEALTH_SYSTEM). Pass
        the whole analysis sample:
        organization-size terciles and the ceiling median are computed over its organizations.
    spec : settings merged over :data:`DEFAULT_SPEC` (the ``subgroups.definitions`` config block).

    Returns
    -------
    (frame with the new columns, counts) where counts has one row per dimension and level:
    dimension, column, level, order, n_beneficiaries, n_organizations, n_beneficiaries_intervention,
    n_beneficiaries_control, n_organizations_intervention, n_organizations_control, small,
    merged_from (original labels joined by "+"), rule (the resolved cut, e.g. the median date).
    A dimension whose small levels would merge into a single level gets no column and is listed
    with its reason in ``frame.attrs["not_estimable"]`` ({dimension: reason}).
    """
    s = merge_spec(spec)
    need = {"BENE_ID", "ORG_ID", "MH"} - set(frame.columns)
    if need:
        raise KeyError(f"assign_subgroups needs columns {sorted(need)}")
    out = frame.copy()
    rows, not_estimable = [], {}
    for dim in s["enabled"]:
        ds = {**{k: s[k] for k in ("min_beneficiaries", "min_organizations_per_arm", "small_levels")}, **s.get(dim, {})}
        lab, order, info = _raw_levels(out, dim, ds)
        if lab.isna().any():
            n = int(lab.isna().sum())
            raise ValueError(f"subgroup '{dim}': {n} rows have no level (missing input values)")
        try:
            lab, order, merged, counts, small = _resolve_small(out, dim, lab, order, ds)
        except SubgroupSingleLevel as e:
            not_estimable[dim] = e.reason
            continue
        col = column_name(dim)
        out[col] = pd.Categorical(lab.to_numpy(), categories=order)
        for i, level in enumerate(order):
            c = counts.loc[level]
            rows.append({"dimension": dim, "column": col, "level": level, "order": i, **c.to_dict(),
                         "small": level in small,
                         "merged_from": "+".join(merged[level]) if len(merged[level]) > 1 else "",
                         "rule": ", ".join(f"{k}={v}" for k, v in info.items())})
    out.attrs["not_estimable"] = not_estimable
    return out, pd.DataFrame(rows)


def levels_of(counts: pd.DataFrame, dimension: str) -> list[str]:
    """The level labels of ``dimension`` in their order, from the counts table."""
    c = counts[counts["dimension"] == dimension].sort_values("order")
    return c["level"].tolist()
