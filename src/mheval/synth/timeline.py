"""Latent life histories: Medicare entitlement, FFS coverage, events, deaths (the truth).

Times are in days. Hazards are constant per beneficiary (exponential times), with organization-level
gamma frailties, so that the truth has a closed form: see docs/synthetic_trial.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")
YEAR_DAYS = 365.25


def gamma_frailty(rng: np.random.Generator, n: int, variance: float) -> np.ndarray:
    """Mean-one gamma frailties with the given variance (all ones when variance is 0)."""
    if variance <= 0:
        return np.ones(n)
    return rng.gamma(1.0 / variance, variance, n)


def _days(years: np.ndarray) -> np.ndarray:
    return np.floor(years * YEAR_DAYS).astype("int64")


def event_hazard_ratios(effects: dict) -> dict[str, float]:
    """The true hazard ratio of the first event in each risk stratum (high, medium): the stratum's
    entry of ``effects["hr_event_by_stratum"]`` where given, else ``effects["hr_event"]``."""
    by = effects.get("hr_event_by_stratum") or {}
    return {s: float(by[s]) if by.get(s) is not None else float(effects["hr_event"]) for s in ("high", "medium")}


def make_timelines(rng: np.random.Generator, params: dict, bene: pd.DataFrame,
                   orgs: pd.DataFrame, event_size_mult: np.ndarray | None = None) -> pd.DataFrame:
    """Add the latent history of each beneficiary to ``bene`` (returns a new frame).

    Columns added (dates as datetime64[D], NaT when the event does not happen by study end):
    ``mh`` (1 intervention), ``ent_dt`` (Medicare A/B entitlement), ``ffs_end_dt`` (switch to
    Medicare Advantage), ``part_b`` (False for Part A only), ``ma_before_dt`` (MA spell covering
    enrollment, planted), ``esrd_dt``, ``hospice_dt``, ``event_dt``, ``event_type``, ``death_dt``,
    ``prior_event_dt`` (planted prior MI/stroke), and the true hazards ``h_event``, ``h_death``.
    The event hazard of an intervention beneficiary is multiplied by its stratum's hazard ratio
    (:func:`event_hazard_ratios`); ``event_size_mult`` (one per organization, mean 1) multiplies
    the event hazard too (informative cluster size; :func:`mheval.synth.population.organization_effects`).
    """
    b = bene.copy()
    n = len(b)
    rates, eff = params["rates"], params["effects"]
    study_end = np.datetime64(params["study_end"])
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    b["mh"] = (orgs["ARM"].to_numpy()[b["org"].to_numpy()] == "intervention").astype(int)
    mh = b["mh"].to_numpy()

    # --- Medicare entitlement -----------------------------------------------------------
    birth = b["birth_dt"].to_numpy().astype("datetime64[D]")
    at65 = (birth.astype("datetime64[M]") + np.timedelta64(65 * 12, "M")).astype("datetime64[D]")
    disabled_start = enroll - _days(rng.uniform(2, 12, n))
    ent = np.where(b["age_enroll"].to_numpy() >= 65, at65, disabled_start)
    ent = ent.astype("datetime64[M]").astype("datetime64[D]")  # entitlement starts on the 1st
    b["ent_dt"] = ent

    planted = b["planted"].to_numpy()
    # --- planted: not in FFS Parts A and B in the enrollment month --------------------------
    not_ffs = planted == "not_ffs_ab"
    ma_type = not_ffs & (rng.random(n) < 0.5)
    b["part_b"] = ~(not_ffs & ~ma_type)
    ma_start = enroll - rng.integers(40, 700, n) * DAY
    ma_start = np.maximum(ma_start, ent).astype("datetime64[M]").astype("datetime64[D]")
    b["ma_before_dt"] = np.where(ma_type, ma_start, np.datetime64("NaT"))

    # --- hazards -----------------------------------------------------------------------------
    stratum = b["stratum"].to_numpy()
    risk = b["risk"].to_numpy()
    analyzed_like = planted == ""
    h_event = np.zeros(n)
    h_death = np.zeros(n)
    age = b["age_enroll"].to_numpy()
    for s in ("high", "medium", "low"):
        m = stratum == s
        if not m.any():
            continue
        ref = m & analyzed_like if (m & analyzed_like).any() else m
        rel = (risk[m] / risk[ref].mean()) ** params["event_risk_exponent"]
        h_event[m] = rates[f"event_{s}"] / 1000 * rel
        age_rel = np.exp(0.075 * (age[m] - age[ref].mean()))
        h_death[m] = rates[f"death_{s}"] / 1000 * age_rel / np.exp(0.075 * (age[ref] - age[ref].mean())).mean()
    u_event = gamma_frailty(rng, len(orgs), params["frailty_var_event"])[b["org"].to_numpy()]
    u_death = gamma_frailty(rng, len(orgs), params["frailty_var_death"])[b["org"].to_numpy()]
    hr_event = event_hazard_ratios(eff)
    hr_by_bene = np.select([stratum == "high", stratum == "medium"], [hr_event["high"], hr_event["medium"]],
                           eff["hr_event"])
    size_mult = 1.0 if event_size_mult is None else np.asarray(event_size_mult)[b["org"].to_numpy()]
    h_event = h_event * u_event * size_mult * np.where(mh == 1, hr_by_bene, 1.0)
    h_death = h_death * u_death * np.where(mh == 1, eff["hr_death"], 1.0)
    b["h_event"], b["h_death"] = h_event, h_death
    b["u_event"], b["u_death"] = u_event, u_death

    # --- first MI/stroke/TIA and death (piecewise-constant hazard after an event) ----------
    t_event = rng.exponential(1.0, n) / h_event  # years since enrollment
    e_death = rng.exponential(1.0, n)
    t_death = e_death / h_death
    k = rates["post_event_death_multiplier"]
    after = t_event < t_death
    t_death = np.where(after, t_event + (e_death - h_death * t_event) / (k * h_death), t_death)
    # planted hospice at enrollment: short remaining life
    hospice_planted = planted == "hospice"
    t_death = np.where(hospice_planted, rng.uniform(0.02, 0.6, n), t_death)
    t_event = np.where(hospice_planted, np.inf, t_event)
    event_dt = enroll + _days(np.minimum(t_event, 50.0))
    death_dt = enroll + _days(np.minimum(t_death, 50.0))
    event_dt = np.where((event_dt <= study_end) & (event_dt <= death_dt), event_dt, np.datetime64("NaT"))
    death_dt = np.where(death_dt <= study_end, death_dt, np.datetime64("NaT"))
    b["event_dt"], b["death_dt"] = event_dt, death_dt
    types = np.array(list(params["event_type_probs"]))
    p = np.array(list(params["event_type_probs"].values()), dtype=float)
    b["event_type"] = np.where(pd.isna(event_dt), "", rng.choice(types, size=n, p=p / p.sum()))
    b["tia_outpatient"] = rng.random(n) < 0.5  # a TIA seen in the ED and not admitted

    # --- switches to Medicare Advantage, ESRD onset, hospice before death -----------------
    t_ma = rng.exponential(1.0, n) / (rates["ma_switch"] / 1000)
    ffs_end = (enroll + _days(np.minimum(t_ma, 50.0))).astype("datetime64[M]").astype("datetime64[D]")
    ffs_end = np.where(ffs_end <= enroll, enroll + 31 * DAY, ffs_end).astype("datetime64[M]").astype("datetime64[D]")
    ffs_end = np.where(ffs_end <= study_end, ffs_end, np.datetime64("NaT"))
    b["ffs_end_dt"] = ffs_end  # first month in Medicare Advantage
    esrd_pre = planted == "esrd"
    t_esrd = rng.exponential(1.0, n) / (rates["esrd_onset"] / 1000)
    onset = (enroll + _days(np.minimum(t_esrd, 50.0))).astype("datetime64[M]")
    onset = np.maximum(onset, enroll.astype("datetime64[M]") + 1)  # onset after the enrollment month
    esrd_dt = np.where(esrd_pre, (enroll - rng.integers(60, 900, n) * DAY).astype("datetime64[M]"), onset)
    esrd_dt = esrd_dt.astype("datetime64[D]")
    b["esrd_dt"] = np.where(esrd_dt <= study_end, esrd_dt, np.datetime64("NaT"))
    dies = ~pd.isna(death_dt)
    to_hospice = dies & (rng.random(n) < 0.45)
    hospice_dt = np.maximum(death_dt - rng.integers(3, 90, n) * DAY, enroll + DAY)  # elected after enrollment
    hospice_dt = np.where(to_hospice, hospice_dt, np.datetime64("NaT"))
    hospice_dt = np.where(hospice_planted, enroll - rng.integers(1, 60, n) * DAY, hospice_dt)
    b["hospice_dt"] = hospice_dt

    # --- planted prior MI or stroke, visible only in claims back to 2007 --------------------
    prior = planted == "prior_mi_stroke"
    lo = np.maximum(np.datetime64(params["claims_history_start"]), ent).astype("datetime64[D]")
    span = np.maximum((enroll - 30 * DAY - lo).astype(int), 1)
    prior_dt = lo + np.floor(rng.random(n) * span).astype(int) * DAY
    prior_dt = np.minimum(prior_dt, enroll - DAY)  # always before enrollment, even if entitled that day
    b["prior_event_dt"] = np.where(prior, prior_dt, np.datetime64("NaT"))
    b["prior_event_type"] = np.where(prior, rng.choice(["mi", "stroke"], size=n), "")
    return b


def observation_end(b: pd.DataFrame, study_end: str) -> np.ndarray:
    """Last day of FFS Parts A and B coverage while alive, through study end (datetime64[D])."""
    end = np.full(len(b), np.datetime64(study_end), dtype="datetime64[D]")
    death = b["death_dt"].to_numpy().astype("datetime64[D]")
    ffs_end = b["ffs_end_dt"].to_numpy().astype("datetime64[D]")
    end = np.where(~np.isnat(death) & (death < end), death, end)
    end = np.where(~np.isnat(ffs_end) & (ffs_end - DAY < end), ffs_end - DAY, end)
    return end.astype("datetime64[D]")
