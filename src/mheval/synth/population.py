"""Organizations and beneficiaries of the synthetic trial (vectorized, no loop over people)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.risk import pooled_cohort_risk

REGIONS = np.array(["Northeast", "Midwest", "South", "West"])
ORG_TYPES = np.array(["primary_care", "cardiology", "multispecialty"])
RACES_CMS = {"white": "1", "black": "2", "other": "3", "asian": "4", "hispanic": "5",
             "native": "6", "unknown": "0"}


def n_orgs(params: dict) -> tuple[int, int]:
    """Number of active (enrolling) and randomized organizations at this scale."""
    scale = params["scale"]
    active = max(params["min_orgs_active"],
                 int(round(params["n_orgs_active"] * scale ** params["org_scaling_exponent"])))
    randomized = int(round(active * params["n_orgs_randomized"] / params["n_orgs_active"]))
    return active, randomized


def make_organizations(rng: np.random.Generator, params: dict) -> pd.DataFrame:
    """Randomized organizations with characteristics, arm (randomized within strata) and size.

    Returns one row per randomized organization; ``size_weight`` (not written to the registry)
    is the relative number of beneficiaries it enrolls, zero for organizations enrolling no one.
    """
    n_active, n_rand = n_orgs(params)
    idx = np.arange(n_rand)
    region = rng.choice(REGIONS, size=n_rand, p=[0.18, 0.27, 0.38, 0.17])
    org_type = rng.choice(ORG_TYPES, size=n_rand, p=[0.62, 0.18, 0.20])
    rural = rng.random(n_rand) < 0.36
    health_system = rng.random(n_rand) < 0.45
    practitioners = np.maximum(1, np.round(rng.lognormal(np.log(8), 1.1, n_rand))).astype(int)
    sites = np.maximum(1, np.round(practitioners / rng.uniform(3, 10, n_rand))).astype(int)
    ffs_benes = np.round(practitioners * rng.lognormal(np.log(450), 0.5, n_rand)).astype(int)
    large = ffs_benes >= np.median(ffs_benes)
    stratum = np.char.add(np.char.add(region.astype(str), "_"),
                          np.where(large, "large", "small"))
    # randomize within strata: random order within stratum, alternate arms from a random start
    order = np.lexsort((rng.random(n_rand), stratum))
    arm = np.empty(n_rand, dtype=object)
    pos_in_stratum = np.zeros(n_rand, dtype=int)
    s_sorted = stratum[order]
    starts = np.r_[0, np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1]
    run_id = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n_rand]))
    pos_in_stratum[order] = np.arange(n_rand) - starts[run_id]
    flip = rng.integers(0, 2, len(starts))[run_id]
    arm[order] = np.where((pos_in_stratum[order] + flip) % 2 == 0, "intervention", "control")
    arm = arm.astype(str)
    # which organizations enroll anyone: a random subset of n_active
    active = np.zeros(n_rand, dtype=bool)
    active[rng.choice(n_rand, size=n_active, replace=False)] = True
    size = rng.lognormal(0.0, params["org_size_sigma"], n_rand)
    size = np.minimum(size, np.quantile(size, 0.995))
    size *= np.where(arm == "intervention", params["intervention_size_ratio"], 1.0)
    size *= active
    aco = rng.random(n_rand) < 0.35
    cpc = (rng.random(n_rand) < 0.15) & (org_type != "cardiology")
    other_models = np.where(aco & cpc, "MSSP;CPC+", np.where(aco, "MSSP", np.where(cpc, "CPC+", "")))
    withdrawn = ~active & (rng.random(n_rand) < 0.6)
    withdraw_dt = np.where(withdrawn,
                           np.datetime64("2017-01-01") + rng.integers(30, 700, n_rand).astype("timedelta64[D]"),
                           np.datetime64("NaT"))
    tin = 100_000_000 + rng.choice(899_999_999, size=n_rand, replace=False)
    return pd.DataFrame({
        "ORG_ID": np.char.add("ORG", np.char.zfill(idx.astype(str) + "", 4)),
        "TIN": tin.astype(str),
        "ARM": arm,
        "STRATUM": stratum,
        "REGION": region,
        "RURAL": rural,
        "ORG_TYPE": org_type,
        "HEALTH_SYSTEM": health_system,
        "N_SITES": sites,
        "N_PRACTITIONERS": practitioners,
        "SELF_REPORTED_FFS_BENES": ffs_benes,
        "OTHER_CMS_MODELS": other_models,
        "RANDOMIZATION_DT": np.datetime64("2016-12-01"),
        "WITHDRAWAL_DT": withdraw_dt.astype("datetime64[D]"),
        "size_weight": size,
    })


def draw_candidates(rng: np.random.Generator, n: int, params: dict,
                    age_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """Draw ``n`` candidate enrollees with demographics and baseline clinical indicators.

    Ages are at enrollment. Risk is computed with the pooled cohort equations (inputs clipped to
    the equations' ranges, as the pipeline does for plausible registry values).
    """
    male = rng.random(n) < params["p_male"]
    if age_range is None:
        under65 = rng.random(n) < params["p_under65"]
        age = np.where(under65, rng.uniform(45, 65, n), 65 + 15 * rng.beta(1.1, 1.5, n))
    else:
        age = rng.uniform(age_range[0], age_range[1], n)
    # ages are whole days (birth date = enrollment date - days), so that the pipeline's age
    # (days / 365.25) is exactly the age the risk was computed with; stay clear of 40 and 80
    age = np.clip(np.round(age * 365.25), 40.01 * 365.25 if age_range is None else 0,
                  79.99 * 365.25 if age_range is None else np.inf) / 365.25
    races = list(params["race_probs"])
    race = rng.choice(races, size=n, p=np.array(list(params["race_probs"].values())) /
                      sum(params["race_probs"].values()))
    tc = np.clip(rng.normal(198 - 18 * male, 38, n), 100, 380).round()
    hdl = np.clip(rng.normal(57 - 11 * male, 15, n), 18, 120).round()
    sbp = np.clip(rng.normal(128 + 0.25 * (age - 70), 16, n), 85, 230).round()
    bp_treated = rng.random(n) < np.clip(params["p_bp_treated"] + (sbp - 135) / 200, 0.05, 0.95)
    smoker = rng.random(n) < params["p_smoker"]
    diabetes = rng.random(n) < params["p_diabetes"]
    ldl = np.clip(tc - hdl - rng.normal(28, 8, n), 30, 300).round()
    risk = pooled_cohort_risk(np.clip(age, 40, 79), np.where(male, "male", "female"), race,
                              tc, hdl, sbp, bp_treated, smoker, diabetes, out_of_range="clip")
    return pd.DataFrame({
        "age": age, "male": male, "race": race, "tc": tc, "hdl": hdl, "ldl": ldl, "sbp": sbp,
        "bp_treated": bp_treated, "smoker": smoker, "diabetes": diabetes, "risk": risk,
    })


def select_candidates(rng: np.random.Generator, n: int, params: dict, keep,
                      age_range=None) -> pd.DataFrame:
    """Draw candidates in vectorized batches and keep the first ``n`` rows satisfying ``keep``."""
    out, have = [], 0
    batch = max(1000, int(n * 2.5))
    while have < n:
        cand = draw_candidates(rng, batch, params, age_range)
        cand = cand[keep(cand)]
        out.append(cand)
        have += len(cand)
    return pd.concat(out, ignore_index=True).iloc[:n].reset_index(drop=True)


def make_beneficiaries(rng: np.random.Generator, params: dict, orgs: pd.DataFrame) -> pd.DataFrame:
    """All registry enrollees: analyzed (risk >= 15%, eligible) plus planted exclusions.

    Column ``planted`` names the single reason a beneficiary must be excluded ("" if analyzed).
    """
    scale = params["scale"]
    hi, med = params["high_risk_threshold"], params["medium_risk_threshold"]
    n_an = int(round(params["n_analyzed"] * scale))
    counts = {k: int(round(v * n_an)) for k, v in params["exclusions"].items()}
    in_range = lambda c: (c.age >= 40.01) & (c.age <= 79.99)
    groups = [("", n_an, lambda c: in_range(c) & (c.risk >= med), None),
              ("low_risk", counts["low_risk"], lambda c: in_range(c) & (c.risk < med), None)]
    for reason in ("incomplete_baseline", "prior_mi_stroke", "not_ffs_ab", "esrd", "hospice"):
        groups.append((reason, counts[reason], lambda c: in_range(c) & (c.risk >= med), None))
    n_age = counts["age_out_of_range"]
    n_young = n_age // 10
    groups.append(("age_out_of_range", n_age - n_young, lambda c: c.risk >= 0, (80.02, 90.0)))
    groups.append(("age_out_of_range", n_young, lambda c: c.risk >= 0, (30.0, 39.98)))
    parts = []
    for reason, n, keep, age_range in groups:
        if n <= 0:
            continue
        part = select_candidates(rng, n, params, keep, age_range)
        part["planted"] = reason
        parts.append(part)
    bene = pd.concat(parts, ignore_index=True)
    n = len(bene)
    # shuffle so that BENE_ID order carries no information
    bene = bene.iloc[rng.permutation(n)].reset_index(drop=True)
    bene["stratum"] = np.where(bene.risk >= hi, "high", np.where(bene.risk >= med, "medium", "low"))
    # organization: proportional to size; enrollment date: most in 2017, early months heavier
    w = orgs["size_weight"].to_numpy()
    bene["org"] = rng.choice(len(orgs), size=n, p=w / w.sum())
    in2017 = rng.random(n) < params["share_enrolled_2017"]
    day17 = np.floor(365 * rng.beta(0.9, 1.6, n)).astype(int)
    day18 = np.floor(365 * rng.beta(1.0, 1.3, n)).astype(int)
    start = np.datetime64(params["enroll_start"])
    bene["enroll_dt"] = start + np.where(in2017, day17, 365 + day18).astype("timedelta64[D]")
    # birth date so that the age at enrollment is the drawn age (whole days)
    enroll_age = bene["age"].to_numpy()
    days = np.round(enroll_age * 365.25).astype(int)
    bene["birth_dt"] = bene["enroll_dt"].to_numpy() - days.astype("timedelta64[D]")
    bene["age_enroll"] = enroll_age
    bene["dual"] = rng.random(n) < params["p_dual"] + 0.1 * (bene.age < 65)
    bene["part_d"] = rng.random(n) < params["p_part_d"]
    bene["health"] = rng.lognormal(-params["health_sigma"] ** 2 / 2, params["health_sigma"], n)
    bene["BENE_ID"] = np.char.add("B", np.char.zfill(
        (rng.choice(10 ** 9, size=n, replace=False) + 10 ** 9).astype(str), 10))
    return bene


def organization_effects(rng: np.random.Generator, orgs: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Organization-level effects on utilization and on the event hazard, one row per organization.

    ``UTIL_MULT``: a lognormal multiplier with mean 1 and log-scale SD ``org_utilization_sigma``
    applied to the health multiplier of every beneficiary of the organization (so to all their
    claims' counts). ``SIZE_Z``: the organization's standardized log size among enrolling
    organizations (0 for the others). With ``org_size_outcome_correlation`` rho, the multiplier's
    normal score is rho x SIZE_Z + sqrt(1 - rho^2) x an independent normal, so larger organizations
    have higher (rho > 0) or lower utilization: an informative cluster size. ``EVENT_SIZE_MULT``:
    exp(rho x 0.1 x SIZE_Z), normalized to mean 1 over beneficiaries' organizations' weights, the
    same size dependence on the event hazard (small: 10% per SD of log size at rho = 1).
    Drawn from its own stream, so every other draw of the trial is unchanged.
    """
    size = orgs["size_weight"].to_numpy()
    active = size > 0
    z_size = np.zeros(len(orgs))
    logs = np.log(size[active])
    if active.sum() > 1 and logs.std() > 0:
        z_size[active] = (logs - logs.mean()) / logs.std()
    rho = float(params["org_size_outcome_correlation"])
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f"org_size_outcome_correlation must be in [-1, 1], got {rho}")
    sigma = float(params["org_utilization_sigma"])
    z = rho * z_size + np.sqrt(1.0 - rho ** 2) * rng.standard_normal(len(orgs))
    util = np.exp(sigma * z - sigma ** 2 / 2)
    w = size / size.sum() if size.sum() > 0 else np.full(len(orgs), 1.0 / len(orgs))
    ev = np.exp(rho * 0.1 * z_size)
    ev = ev / float((w * ev).sum())
    return pd.DataFrame({"ORG_ID": orgs["ORG_ID"].to_numpy(), "UTIL_MULT": util, "SIZE_Z": z_size,
                         "EVENT_SIZE_MULT": ev})
