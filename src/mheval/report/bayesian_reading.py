"""The Bayesian reading of impact estimates: sentences that know each outcome's desired direction,
and the prior-sensitivity table of the primary outcomes.

Flat prior (the design report, section V.A): the posterior of an impact is approximately the
sampling distribution of its estimate, normal(estimate, SE) (t(df) when the estimate carries
Satterthwaite degrees of freedom), so "the probability that the model improved the outcome by at
least s percent" is P(d x impact >= s/100 x |control mean|), d = -1 for an outcome the model should
reduce (spending, events, hospitalizations) and +1 for one it should raise (office visits,
medication starts). Directions come from config (``models.reading``): a map of outcome codes or
shell-style patterns (``med_start_*``) to "increase" or "decrease", with a default.

Prior sensitivity: a normal prior N(m0, s0^2) on the impact and the normal likelihood of the
estimate b with standard error s give the conjugate posterior
N((b/s^2 + m0/s0^2) / (1/s^2 + 1/s0^2), 1 / (1/s^2 + 1/s0^2)); a flat prior (s0 = infinity) gives
N(b, s^2). Priors are set in config on a relative scale (multiples of the control mean) for
Equation 1 impacts and on the log hazard ratio for hazard ratios.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import numpy as np
import pandas as pd
from scipy import stats

from mheval.models.estimability import is_estimable

DEFAULT_DIRECTIONS = {"office_mh": "increase", "med_statin": "increase", "med_antihypertensive": "increase",
                      "med_start_*": "increase"}
DIRECTIONS = ("increase", "decrease")


def outcome_direction(outcome: str, directions: dict | None = None, default: str = "decrease") -> str:
    """The direction ("increase" or "decrease") the model should move ``outcome``: an exact key of
    ``directions`` first, then the first matching shell-style pattern (``med_start_*``,
    ``*_pbpm``), else ``default``. ``directions`` None: :data:`DEFAULT_DIRECTIONS`."""
    directions = DEFAULT_DIRECTIONS if directions is None else directions
    found = directions.get(outcome)
    if found is None:
        found = next((v for k, v in directions.items() if fnmatchcase(outcome, k)), default)
    if found not in DIRECTIONS:
        raise ValueError(f"direction of outcome {outcome!r} must be increase or decrease; got {found!r}")
    return found


def probability_phrase(p: float) -> str:
    """'a 75 percent probability', 'an 8 percent probability'; never a certain 0 or 100 (below
    0.5 percent: 'less than a 1 percent probability'; 99.5 percent and above: 'more than a 99
    percent probability'), as a posterior of a finite-SE estimate is never certain."""
    v = 100 * p
    if v < 0.5:
        return "less than a 1 percent probability"
    if v >= 99.5:
        return "more than a 99 percent probability"
    t = str(int(np.floor(v + 0.5)))  # half up: 0.5 percent reads 1, never 0
    article = "an" if t in ("8", "11", "18") or (len(t) == 2 and t[0] == "8") else "a"
    return f"{article} {t} percent probability"


def improvement_probabilities(row: dict, direction: str, size_percent: float) -> tuple[float, float]:
    """(P(improvement of at least ``size_percent`` percent of |control mean|), P(any improvement))
    of one impact row (``impact``, ``se``, ``control_mean``, optional ``df``) read as a flat-prior
    posterior: t(df) when the row has df, else normal."""
    est, se = float(row["impact"]), float(row["se"])
    ref = stats.t(row["df"]) if row.get("df") is not None else stats.norm
    d = -1.0 if direction == "decrease" else 1.0
    size = abs(size_percent) / 100 * abs(float(row["control_mean"]))
    # P(d * theta >= size) with theta ~ est + se * T
    return float(ref.sf((size - d * est) / se)), float(ref.sf(-d * est / se))


def bayesian_readings(results: list[dict], nouns: dict, population_labels: dict,
                      directions: dict | None = None, default_direction: str = "decrease") -> list[str]:
    """The flat-prior reading of each Equation 1 (or binary) result as sentences: first the
    average over follow-up years, then each follow-up year, e.g. "High risk: a 75 percent
    probability that the model reduced CVD-related spending by 5 percent or more (a 93 percent
    probability of any reduction)." and "High risk, year 1: ...". An outcome the model should
    raise reads "increased ... (... of any increase)". A not-estimable result is one sentence with
    its reason."""
    out = []
    for r in results:
        noun = nouns.get(r["outcome"], r["outcome"])
        pop = population_labels.get(r["population"], r["population"])
        if not is_estimable(r):
            out.append(f"{pop}: the impact on {noun} is not estimable ({r['reason']}).")
            continue
        direction = outcome_direction(r["outcome"], directions, default_direction)
        verb, word = ("increased", "increase") if direction == "increase" else ("reduced", "reduction")
        for label, row in [("", r["average"])] + [(f", {y['period']}", y) for y in r.get("by_year", [])]:
            if not np.isfinite(row.get("se", np.nan)):
                out.append(f"{pop}{label}: the impact on {noun} is not estimable.")
                continue
            p_size, p_any = improvement_probabilities(row, direction, r["size_percent"])
            out.append(f"{pop}{label}: {probability_phrase(p_size)} that the model {verb} {noun} by "
                       f"{r['size_percent']:g} percent or more ({probability_phrase(p_any)} of any {word}).")
    return out


def conjugate_normal(estimate: float, se: float, prior_mean: float | None, prior_sd: float | None) -> tuple[float, float]:
    """Posterior (mean, sd) of the normal-normal model: likelihood N(estimate, se^2), prior
    N(prior_mean, prior_sd^2); ``prior_sd`` None or infinite is the flat prior (posterior = the
    likelihood)."""
    if prior_sd is None or not np.isfinite(prior_sd):
        return float(estimate), float(se)
    if prior_sd <= 0 or se <= 0:
        raise ValueError(f"prior sd and SE must be positive; got {prior_sd} and {se}")
    prec = 1 / se ** 2 + 1 / prior_sd ** 2
    return float((estimate / se ** 2 + prior_mean / prior_sd ** 2) / prec), float(np.sqrt(1 / prec))


def prior_sensitivity_table(mixed: list[dict], survival: list[dict], priors: dict, cred: float = 0.90,
                            nouns: dict | None = None, population_labels: dict | None = None,
                            directions: dict | None = None, default_direction: str = "decrease",
                            size_percent: float | None = None) -> pd.DataFrame:
    """The average impact of each Equation 1 result in ``mixed`` and the hazard ratio of each
    result in ``survival`` under each prior of ``priors`` ({name: None for flat, or {"relative":
    {"mean", "sd"}, "log_hr": {"mean", "sd"}}}): posterior mean, ``cred`` equal-tailed credible
    interval and P(improvement) (and of an improvement of at least ``size_percent`` percent of the
    control mean, or a hazard ratio at most 1 - size_percent/100), by the normal-normal conjugate
    update (:func:`conjugate_normal`). Relative priors are multiples of |control mean| (``prior_mean``
    and ``prior_sd`` in the impact's units); hazard-ratio priors are on the log hazard ratio
    (``prior_mean``, ``prior_sd`` on that scale) and the posterior is shown on the hazard-ratio
    scale (``posterior_mean`` = exp(posterior mean of the log HR), its median, and the interval). Not-estimable
    results are rows with the reason in ``note``."""
    nouns, population_labels = nouns or {}, population_labels or {}
    z = stats.norm.ppf(0.5 + cred / 2)
    pct = f"{100 * cred:g}"
    rows = []

    def base(r, scale):
        return {"outcome": nouns.get(r["outcome"], r.get("outcome_label", r["outcome"])),
                "population": population_labels.get(r["population"], r["population"]), "scale": scale}

    for kind, results in (("impact", mixed), ("hazard ratio", survival)):
        for r in results:
            for name, prior in priors.items():
                row = {**base(r, kind), "prior": name}
                if not is_estimable(r):
                    rows.append({**row, "note": f"not estimable: {r.get('reason', '')}"})
                    continue
                if kind == "impact":
                    a = r["average"]
                    b, se, unit = a["impact"], a["se"], abs(a["control_mean"])
                    direction = outcome_direction(r["outcome"], directions, default_direction)
                    p = (prior or {}).get("relative")
                else:
                    b, se, unit, direction = r["log_hr"], r["se"], 1.0, "decrease"
                    p = (prior or {}).get("log_hr")
                m0 = None if p is None else p["mean"] * unit
                s0 = None if p is None else p["sd"] * unit
                m, s = conjugate_normal(b, se, m0, s0)
                d = -1.0 if direction == "decrease" else 1.0
                size = r.get("size_percent", 5.0) if size_percent is None else size_percent
                if kind == "impact":
                    thr = abs(size) / 100 * unit
                    lo, hi = m - z * s, m + z * s
                    row |= {"prior_mean": m0, "prior_sd": s0, "posterior_mean": m}
                else:  # improvement of at least size: HR <= 1 - size/100, i.e. -log HR >= -log(1 - size/100)
                    thr = -np.log(1 - abs(size) / 100)
                    lo, hi = float(np.exp(m - z * s)), float(np.exp(m + z * s))
                    row |= {"prior_mean": m0, "prior_sd": s0, "posterior_mean": float(np.exp(m))}
                rows.append({**row, f"cred{pct}_lower": lo, f"cred{pct}_upper": hi,
                             "prob_improvement": float(stats.norm.sf(-d * m / s)),
                             f"prob_improvement_{size:g}pct": float(stats.norm.sf((thr - d * m) / s)), "note": ""})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out[[c for c in out.columns if c != "note"] + ["note"]]
