"""The adjustment covariates shared by every impact model (beneficiary x_i and organization z_p).

One specification, fixed before randomization (config ``models.covariates``; documented in
docs/covariates.md in the design report's terms): the beneficiary covariates x_i of Equation 1
(date of enrollment, demographics, Medicare and Medicaid enrollment status, CVD risk factors at
baseline, health status as a CMS-HCC risk score from baseline-year diagnoses, and the baseline
outcome y_i0 where the outcome has one) and the organization covariates z_p (randomization
stratum, region, log self-reported Medicare FFS size, organization type, rural, health-system
ownership, other CMS models). Every one is known at the beneficiary's enrollment from the registry
application or pre-enrollment data; no variable measured after randomization enters a model
(:data:`FORBIDDEN_TERMS` lists the ones that once did and must not again).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

POPULATIONS = {"high": ("high",), "medium": ("medium",), "high_medium": ("high", "medium")}

#: The default specification; config/config.yaml ``models.covariates`` holds the same lists
#: (tests/test_covariates.py checks they agree).
DEFAULT_COVARIATES = {
    "beneficiary": ["enrollment_date", "age", "sex", "race", "dual", "part_d", "cvd_risk_factors", "high_risk",
                    "health_status", "baseline_outcome"],
    "organization": ["randomization_stratum", "region", "log_ffs_size", "org_type", "rural", "health_system",
                     "other_cms_models"],
    "organizations_per_term": 10,
}

#: The organization covariates' model terms (as :func:`adjustment_covariates` names them): the
#: randomization stratum's level indicators ``RAND_*``, region ``REGION_*``, organization type ``TYPE_*``,
#: and one term each for the others (:func:`organization_covariate_of`).
ORGANIZATION_TERMS = {"randomization_stratum": "RAND_", "region": "REGION_", "org_type": "TYPE_",
                      "log_ffs_size": "LOG_FFS_SIZE", "rural": "RURAL", "health_system": "HEALTH_SYSTEM",
                      "other_cms_models": "OTHER_CMS"}

#: Model terms measured after randomization (or driven by follow-up), which no model may use:
#: the organization's number of analyzed enrollees (recruitment differs by arm), the share of the
#: year observed (driven by deaths and loss of coverage), the row weight and any exposure term.
FORBIDDEN_TERMS = ("LOG_ORG_SIZE", "ORG_N_ENROLLED", "WEIGHT", "EXPOSURE", "LOG_EXPOSURE", "T_EVENT", "T_DEATH",
                   "EVENT", "DEATH", "OBS_END", "FFS_END_DT", "DEATH_DT")

ENROLL_ORIGIN = pd.Timestamp("2017-01-01")
REGIONS = ("Northeast", "Midwest", "South", "West")  # the contract's allowed values; Northeast the reference


#: The input columns each covariate is built from.
NEEDS = {
    "enrollment_date": ["ENROLL_DT"], "age": ["AGE"], "sex": ["SEX"], "race": ["RACE"], "dual": ["DUAL"],
    "part_d": ["PART_D"], "cvd_risk_factors": ["RISK", "smoking", "diabetes", "antihypertensive"],
    "high_risk": ["STRATUM"], "health_status": ["HCC_SCORE"], "baseline_outcome": [],
    "randomization_stratum": ["RAND_STRATUM"], "region": ["REGION"], "log_ffs_size": ["SELF_REPORTED_FFS_BENES"],
    "org_type": ["ORG_TYPE"], "rural": ["RURAL"], "health_system": ["HEALTH_SYSTEM"],
    "other_cms_models": ["OTHER_CMS_MODELS"],
}


def _add(x: pd.DataFrame, d: pd.DataFrame, name: str, population: str) -> None:
    """Add covariate ``name``'s term column(s) to ``x`` (docs/covariates.md)."""
    if name == "enrollment_date":  # years since 2017-01-01
        x["ENROLL_YEARS"] = (pd.to_datetime(d["ENROLL_DT"]) - ENROLL_ORIGIN).dt.days / 365.25
    elif name == "age":
        x["AGE10"] = (d["AGE"] - 70) / 10
    elif name == "sex":
        x["MALE"] = (d["SEX"] == "male").astype(float)
    elif name == "race":
        x["BLACK"] = (d["RACE"] == "black").astype(float)
    elif name in ("dual", "part_d"):
        col = name.upper()
        v = d[col].astype(float)
        x[col] = v.fillna(0.0)  # unknown status: its own indicator (dropped when constant)
        x[f"{col}_UNKNOWN"] = v.isna().astype(float)
    elif name == "cvd_risk_factors":
        x["LOG_RISK"] = np.log(d["RISK"])
        x["SMOKER"] = (d["smoking"] > 0).astype(float)
        x["DIABETES"] = (d["diabetes"] > 0).astype(float)
        x["BP_TREATED"] = (d["antihypertensive"] > 0).astype(float)
    elif name == "high_risk":
        if len(POPULATIONS[population]) > 1:
            x["HIGH_RISK"] = (d["STRATUM"] == "high").astype(float)
    elif name == "health_status":
        x["HCC_SCORE"] = d["HCC_SCORE"].astype(float)
    elif name == "randomization_stratum":
        codes, values = pd.factorize(d["RAND_STRATUM"].astype(str))  # compare integer codes, not strings
        code = {v: i for i, v in enumerate(values)}
        levels = sorted(values)[1:]  # the first level (sorted) is the reference
        names = [f"RAND_{re.sub(r'[^0-9A-Za-z_]', '_', lev)}" for lev in levels]
        if len(set(names)) < len(names):  # two levels that differ only in punctuation
            names = [f"RAND_{i + 1}" for i in range(len(levels))]
        for nm, lev in zip(names, levels):
            x[nm] = pd.Series((codes == code[lev]).astype(float), index=d.index)
    elif name == "region":
        for r in REGIONS[1:]:
            x[f"REGION_{r.upper()}"] = (d["REGION"] == r).astype(float)
    elif name == "log_ffs_size":
        x["LOG_FFS_SIZE"] = np.log1p(d["SELF_REPORTED_FFS_BENES"].astype(float))
    elif name == "org_type":
        for t in ("cardiology", "multispecialty"):
            x[f"TYPE_{t.upper()}"] = (d["ORG_TYPE"] == t).astype(float)
    elif name in ("rural", "health_system"):
        x[name.upper()] = d[name.upper()].astype(float)
    elif name == "other_cms_models":
        v = d["OTHER_CMS_MODELS"].fillna("").astype(str)  # strip each distinct value once, not every row
        x["OTHER_CMS"] = v.map({s: float(s.strip() != "") for s in v.unique()}).astype(float)
    # baseline_outcome: Y0 and Y0_MISSING are added by the model frames (Equation 1)


def check_spec(spec: dict | None) -> dict:
    """``spec`` (or :data:`DEFAULT_COVARIATES` when None) after checking every name is known; one
    clear ValueError naming the unknown ones."""
    spec = DEFAULT_COVARIATES if spec is None else spec
    unknown = [n for part in ("beneficiary", "organization") for n in spec.get(part, []) if n not in NEEDS]
    extra = sorted(set(spec) - {"beneficiary", "organization", "hcc_version", "hcc_claim_types",
                                "organizations_per_term"})
    if unknown or extra:
        raise ValueError(f"config models.covariates: unknown covariate(s) {unknown + extra}; known: {sorted(NEEDS)}")
    k = spec.get("organizations_per_term", DEFAULT_COVARIATES["organizations_per_term"])
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, float)) or not k >= 0):
        raise ValueError(f"config models.covariates.organizations_per_term: {k!r} is not a number >= 0 "
                         "(0 or null: no limit)")
    return spec


def organization_covariate_of(term: str) -> str | None:
    """The organization covariate (config name) whose term ``term`` is, or None for a beneficiary
    (or design) term: ``RAND_*`` the randomization stratum, ``REGION_*`` region, ``TYPE_*``
    organization type, ``LOG_FFS_SIZE``, ``RURAL``, ``HEALTH_SYSTEM``, ``OTHER_CMS`` (see
    :data:`ORGANIZATION_TERMS`; tests/test_covariates.py checks every term
    :func:`adjustment_covariates` builds maps back to its covariate)."""
    for name, t in ORGANIZATION_TERMS.items():
        if (t.endswith("_") and str(term).startswith(t)) or str(term) == t:
            return name
    return None


def limit_organization_terms(covs: list[str], organizations: int, spec: dict | None = None,
                             organization_level=()) -> tuple[list[str], dict]:
    """The pre-specified limit on organization-level terms with few organizations (docs/covariates.md,
    "Organization covariates with few organizations"); every model applies it to its covariates
    after the constant and collinear ones are dropped.

    ``covs``: a model's covariate terms; ``organizations``: G, the number of organizations in the
    model's data (what its cluster variance relies on); ``spec``: the covariate specification,
    whose ``organizations_per_term`` k (default 10; 0 or None: no limit) sets the budget G / k of
    organization-level terms. The randomization stratum's terms are always kept (the design was
    stratified on it); then the other organization covariates of ``spec["organization"]``, in that
    order, each with all of its terms in ``covs``, while the organization terms kept stay within
    G / k; the first that would exceed it and every later one are left out. A covariate none of
    whose terms is in ``covs`` (constant or collinear) costs nothing. Beneficiary terms are never
    touched. The rule depends on the sample size only, never on outcomes or arms.

    ``organization_level``: further terms of ``covs`` that are organization-level in this model, each
    counted as a covariate of its own after the spec's organization covariates, in the given order
    (Equation 3, a regression over organizations: the organization averages of the beneficiary
    covariates, x_p, cost a cluster degree of freedom each like z_p).

    Returns (kept terms in the order of ``covs``, record): the record has ``organizations``,
    ``organizations_per_term``, ``max_terms`` (G / k, None without a limit), ``kept`` and
    ``dropped`` (organization terms), ``dropped_covariates`` (config names) and ``reason`` (None
    when nothing is left out)."""
    spec = check_spec(spec)
    k = spec.get("organizations_per_term", DEFAULT_COVARIATES["organizations_per_term"])
    G = int(organizations)
    budget = G / k if k else None
    extra = [c for c in organization_level if c in covs]
    owner = {c: c if c in extra else organization_covariate_of(c) for c in covs}
    order = (["randomization_stratum"] + [n for n in spec.get("organization", []) if n != "randomization_stratum"]
             + extra)
    allowed, used, stop = set(), 0, False
    dropped_names = []
    for name in order:
        terms = [c for c in covs if owner[c] == name]
        if not terms:
            continue
        if name == "randomization_stratum" or (not stop and (budget is None or used + len(terms) <= budget)):
            allowed.add(name)
            used += len(terms)
        else:
            stop = True
            dropped_names.append(name)
    kept = [c for c in covs if owner[c] is None or owner[c] in allowed]
    dropped = [c for c in covs if c not in set(kept)]
    reason = None
    if dropped:
        reason = (f"{G} organizations allow {budget:.1f} organization-level terms at {k:g} organizations per term "
                  f"(models.covariates.organizations_per_term): the randomization stratum is kept and "
                  f"{', '.join(dropped_names)} left out")
    return kept, {"organizations": G, "organizations_per_term": k, "max_terms": budget,
                  "kept": [c for c in kept if owner[c] is not None], "dropped": dropped,
                  "dropped_covariates": dropped_names, "reason": reason}


def adjustment_covariates(df: pd.DataFrame, population: str, spec: dict | None = None) -> pd.DataFrame:
    """The numeric covariate columns of ``spec`` (config ``models.covariates``; default
    :data:`DEFAULT_COVARIATES`) for the rows of ``df``: the beneficiary covariates, then the
    organization covariates, in the spec's order (see docs/covariates.md for each term). A column
    the spec needs and ``df`` lacks is one clear ValueError. Unknown dual or Part D status has its
    own indicator; the randomization stratum enters as indicators of its levels (first level the
    reference); high risk only in pooled populations."""
    spec = check_spec(spec)
    names = list(spec.get("beneficiary", [])) + list(spec.get("organization", []))
    missing = sorted({c for n in names for c in NEEDS[n] if c not in df.columns})
    if missing:
        raise ValueError(f"the analysis file lacks column(s) {missing} that config models.covariates needs "
                         f"({len(df)} rows; rebuild the analysis files)")
    x = pd.DataFrame(index=df.index)
    for n in names:
        _add(x, df, n, population)
    return x


def check_no_post_randomization(terms) -> list[str]:
    """``terms`` (model term names) if none is in :data:`FORBIDDEN_TERMS`, else a ValueError
    naming the offending ones."""
    bad = [t for t in terms if any(str(t) == f or str(t).startswith(f + "[") for f in FORBIDDEN_TERMS)]
    if bad:
        raise ValueError(f"post-randomization variable(s) {bad} in a model's design")
    return list(terms)


def independent_covariates(d: pd.DataFrame, covs: list[str], year: str | None = "YEAR", treatment: str = "MH",
                           tol: float = 1e-9, base: list[np.ndarray] | None = None) -> tuple[list[str], list[str]]:
    """Split ``covs`` into (kept, dropped): a covariate is dropped when it is a linear combination of
    the base terms and the covariates kept before it (greedy, in order; e.g. an unknown-dual
    indicator equal to a missing-baseline flag in files without dual status, or region indicators
    implied by the randomization strata). The base terms are ``base`` (columns) if given, else the
    year and year x treatment indicators of Equations 1-2 (``year`` a column), or an intercept and
    the treatment (``year=None``). Exact collinearity only: the squared residual of a column
    (scaled to unit length) on those before it must be below ``tol``. Works on the p x p Gram
    matrix (one pass over the rows)."""
    if base is None:
        trt = d[treatment].to_numpy(float)
        if year is None:
            base = [np.ones(len(d)), trt]
        else:
            yrs = d[year].to_numpy()
            levels = np.unique(yrs)
            base = [(yrs == t).astype(float) for t in levels] + [((yrs == t) * trt) for t in levels]
    X = np.column_stack(list(base) + [d[c].to_numpy(float) for c in covs])
    return independent_in_gram(X.T @ X, len(base), covs, tol)


def independent_in_gram(G: np.ndarray, nb: int, covs: list[str], tol: float = 1e-9) -> tuple[list[str], list[str]]:
    """:func:`independent_covariates` from the Gram matrix X'X of its columns (the ``nb`` base terms,
    then ``covs``), for a caller that has it without the rows: (kept, dropped)."""
    norms = np.sqrt(np.diag(G))
    scale = 1.0 / np.where(norms > 0, norms, 1.0)
    G = G * scale[:, None] * scale[None, :]
    keep = [j for j in range(nb) if norms[j] > 0]
    kept, dropped = [], []
    for k, c in enumerate(covs, start=nb):
        if norms[k] > 0:
            g = G[np.ix_(keep, [k])]
            coef = np.linalg.lstsq(G[np.ix_(keep, keep)], g, rcond=None)[0]
            resid = float(G[k, k] - (g.T @ coef)[0, 0])
        else:
            resid = 0.0
        if resid > tol:
            keep.append(k)
            kept.append(c)
        else:
            dropped.append(c)
    return kept, dropped


def varying(d: pd.DataFrame, columns) -> list[str]:
    """The columns of ``columns`` with more than one distinct non-missing value (``nunique() > 1``),
    by each numeric column's minimum and maximum rather than by hashing its values."""
    out = []
    for c in columns:
        v = d[c]
        if pd.api.types.is_numeric_dtype(v.dtype) and not pd.api.types.is_bool_dtype(v.dtype):
            a = v.to_numpy(float)
            if np.isnan(a).all():
                continue
            if np.nanmax(a) > np.nanmin(a):
                out.append(c)
        elif v.nunique() > 1:
            out.append(c)
    return out


#: the indicator groups of a categorical covariate (their omitted level is the reference)
INDICATOR_GROUPS = ("RAND_", "REGION_", "TYPE_")


def pool_separated_levels(d: pd.DataFrame, outcome: str, covs: list[str]) -> tuple[list[str], dict]:
    """For a binary outcome: the covariate terms of ``covs`` without quasi-complete separation.

    A level of a categorical covariate (an indicator group of :data:`INDICATOR_GROUPS`, its reference level
    included: e.g. a randomization stratum of one small organization) or a side of a 0/1 covariate whose
    rows all have the same outcome (no event, or all events) has no finite coefficient: the GLM's
    intercepts and that term run off to +-infinity (the fit never converges; on one 47-organization
    synthetic trial the multilevel fit then crawled for 144 s and ended singular). Such a level is pooled
    with its group's largest level that has both outcomes: its rows take that level's indicator values in
    ``d`` (the fit frame, changed in place; the input data are not), and an indicator left constant is
    dropped; a 0/1 covariate with a separated side is dropped. The treatment terms are never touched.
    Returns (terms, pooled): ``pooled`` maps each pooled level ("RAND_STRATUM level <name>" words) or
    dropped term to the reason, for the result's record."""
    y = d[outcome].to_numpy(float)
    ok = ~np.isnan(y)
    pooled, out = {}, list(covs)

    def separated(mask) -> bool:
        v = y[mask & ok]
        return len(v) > 0 and (v.min() == v.max())

    for prefix in INDICATOR_GROUPS:
        group = [c for c in out if c.startswith(prefix)]
        if not group:
            continue
        X = d[group].to_numpy(float)
        level = np.where(X.max(axis=1) > 0, X.argmax(axis=1), -1)  # -1: the reference level
        levels = np.unique(level)
        bad = [lv for lv in levels if separated(level == lv)]
        good = [lv for lv in levels if lv not in bad]
        if not bad or not good:
            continue
        into = max(good, key=lambda lv: int(np.sum(level == lv)))
        # the pooled level is coded as the reference when the reference is among its levels (its indicator
        # columns then all 0: dropped below), else as the largest level's indicator
        merged = bad + [into]
        target = np.zeros(len(group)) if -1 in merged else np.eye(len(group))[into]
        rows = np.isin(level, merged)
        d.loc[rows, group] = target
        name = lambda lv: "the reference level" if lv < 0 else group[lv]  # noqa: E731
        for lv in bad:
            pooled[f"{prefix}* {name(lv)}"] = (f"{int(np.sum(level == lv))} rows, all with the same outcome: pooled "
                                             f"with {name(into)}")
        out = [c for c in out if not (c in group and d[c].nunique() <= 1)]
    for c in list(out):
        if c.startswith(INDICATOR_GROUPS):
            continue
        v = d[c].to_numpy(float)
        if np.isin(v[~np.isnan(v)], (0.0, 1.0)).all() and (separated(v == 1) or separated(v == 0)):
            pooled[c] = "one side has rows all with the same outcome: term dropped"
            out.remove(c)
    return out, pooled
