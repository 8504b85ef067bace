"""Generate a complete synthetic input set in the data contract, plus truth.json."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.progress import LoopProgress
from mheval.synth import claims as CL
from mheval.synth.death_causes import causes_of_death, composite_truth
from mheval.synth.drugs import change_times, drug_reference, part_d_events
from mheval.synth.medicare import make_mbsf
from mheval.synth.ownership import synthetic_output_dir
from mheval.synth.params import resolve_params
from mheval.synth.payments import model_payments, provider_survey
from mheval.synth.population import make_beneficiaries, make_organizations, organization_effects
from mheval.synth.providers import ProviderRoster
from mheval.synth.registry import alignment, demographics, visits_and_clinical
from mheval.synth.timeline import event_hazard_ratios, make_timelines, observation_end
from mheval.synth.writer import YearlyWriter, write_parquet

log = logging.getLogger(__name__)
# append only: spawned seeds go by position, so earlier streams keep theirs
STREAMS = ["orgs", "benes", "timeline", "meds", "registry", "mbsf", "payments", "survey", "providers", "ndi",
           "org_effects"]
CLAIM_TYPE_CODE = {"inpatient": 1, "snf": 2, "hha": 3, "hospice": 4, "outpatient": 5, "carrier": 6, "pde": 7}


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per component, so that changing one leaves the others alone."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children)}


def generate_trial(out_dir: str | Path, scale: float | None = None, seed: int | None = None,
                   overrides: dict | None = None) -> dict:
    """Simulate the trial and write every input file of the data contract into ``out_dir``.

    Parameters
    ----------
    out_dir : directory to write (created): missing, empty, or marked by an earlier run as the
        generator's own; anything else is refused (:mod:`mheval.synth.ownership`), and only files
        the generator wrote are ever replaced. Layout in docs/data_contract.md.
    scale : 1.0 gives the published trial's size (218,864 analyzed beneficiaries).
    seed : random seed; the same seed and parameters give byte-identical files.
    overrides : parameters to change from :data:`mheval.synth.params.DEFAULTS`.

    Returns the truth dictionary, also written to ``out_dir/truth.json``. The time taken is
    logged (logger ``mheval.synth.generate``), not written: every file, truth.json and the marker
    included, depends only on the parameters and the seed.
    """
    t0 = time.perf_counter()
    params = _resolve(scale, seed, overrides)
    with synthetic_output_dir(out_dir, params) as out:
        truth = _write_trial(out, params)
    log.info("synthetic trial (scale %g, seed %d) generated into %s in %.1f s", params["scale"], params["seed"],
             out_dir, time.perf_counter() - t0)
    return truth


def _resolve(scale: float | None, seed: int | None, overrides: dict | None) -> dict:
    """The resolved parameters of :func:`generate_trial`'s arguments."""
    ov = dict(overrides or {})
    if scale is not None:
        ov["scale"] = scale
    if seed is not None:
        ov["seed"] = seed
    return resolve_params(ov)


def _world(params: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The random streams, organizations, beneficiaries with their latent histories and the
    organization effects of resolved ``params`` (what every file is then drawn from)."""
    rng = _streams(int(params["seed"]))
    orgs = make_organizations(rng["orgs"], params)
    bene = make_beneficiaries(rng["benes"], params, orgs)
    org_fx = organization_effects(rng["org_effects"], orgs, params)
    # practice patterns: every beneficiary's utilization scaled by the organization's multiplier
    bene["health"] = bene["health"].to_numpy() * org_fx["UTIL_MULT"].to_numpy()[bene["org"].to_numpy()]
    bene = make_timelines(rng["timeline"], params, bene, orgs, event_size_mult=org_fx["EVENT_SIZE_MULT"].to_numpy())
    return rng, orgs, bene, org_fx


def simulate_histories(scale: float | None = None, seed: int | None = None,
                       overrides: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """The resolved parameters and the registry beneficiaries with their latent histories (arm, true
    hazards ``h_event`` and ``h_death``, event, death and coverage dates, ``planted``) of the trial
    :func:`generate_trial` would simulate with the same arguments (the same draws), without simulating
    claims or writing anything (about 0.15 s at scale 0.03)."""
    params = _resolve(scale, seed, overrides)
    return params, _world(params)[2]


def binary_truth(scale: float | None = None, seed: int | None = None, overrides: dict | None = None) -> dict:
    """truth.json's ``binary_effects`` of the trial :func:`generate_trial` would simulate with the same
    arguments, from :func:`simulate_histories` (no claims, nothing written): for trials generated
    before truth.json recorded it."""
    params, bene = simulate_histories(scale, seed, overrides)
    return {"any_hosp": CL.any_stay_marginal_effect(bene, params)}


def _write_trial(out: Path, params: dict) -> dict:
    """Simulate the trial with resolved ``params`` and write every file into ``out``; the truth."""
    rng, orgs, bene, org_fx = _world(params)
    r = rng["benes"]
    bene["statin0"] = r.random(len(bene)) < params["p_statin_baseline"]
    bene["aspirin0"] = r.random(len(bene)) < params["p_aspirin_baseline"]
    bene["ORG_ID"] = orgs["ORG_ID"].to_numpy()[bene["org"].to_numpy()]
    med_change = change_times(rng["meds"], bene, params)
    files: dict[str, int] = {}
    log.info("%d organizations and %d beneficiaries drawn", len(orgs), len(bene))

    # ---- registry ----------------------------------------------------------------------
    reg = out / "registry"
    files["organizations"] = write_parquet(orgs.drop(columns=["size_weight"]), reg / "organizations.parquet")
    roster = ProviderRoster(rng["providers"], orgs, n_outside=max(200, len(bene) // 40))
    files["providers"] = write_parquet(roster.table(orgs), reg / "providers.parquet")
    files["demographics"] = write_parquet(demographics(bene), reg / "demographics.parquet")
    align, n_realigned = alignment(rng["registry"], bene, orgs, params)
    files["alignment"] = write_parquet(align, reg / "alignment.parquet")
    visits, clinical, reg_truth = visits_and_clinical(rng["registry"], bene, params, med_change)
    files["visits"] = write_parquet(visits, reg / "visits.parquet")
    files["clinical"] = write_parquet(clinical, reg / "clinical.parquet")
    log.info("registry written (%d visits)", len(visits))

    # ---- Medicare enrollment ---------------------------------------------------------------
    study_end_year = int(params["study_end"][:4])
    for year, part in make_mbsf(rng["mbsf"], bene, 2016, study_end_year):
        files[f"mbsf_{year}"] = write_parquet(part, out / "medicare" / "mbsf" / f"mbsf_{year}.parquet")
    log.info("Medicare enrollment written")

    # ---- claims, in batches of beneficiaries (bounded memory) -----------------------------
    claims_out = _simulate_claims(params, bene, roster, med_change, out)
    files.update(claims_out["files"])
    files["ndc"] = write_parquet(drug_reference(), out / "reference" / "ndc.parquet")

    # ---- CMS payments and provider survey ------------------------------------------------
    pay, pay_truth = model_payments(rng["payments"], bene, orgs, params)
    files["payments"] = write_parquet(pay, out / "cms" / "payments.parquet")
    survey, survey_truth = provider_survey(rng["survey"], orgs, params)
    files["survey"] = write_parquet(survey, out / "cms" / "survey.parquet")

    # ---- National Death Index: underlying cause of each death ----------------------------
    ndi, causes = causes_of_death(rng["ndi"], bene, params)
    files["ndi"] = write_parquet(ndi, out / "ndi" / "cause_of_death.parquet")

    truth = _truth(params, orgs, bene, claims_out["followup_spend"], causes)
    truth["organization_effects"] = _org_effects_truth(org_fx, orgs, bene, params)
    # the binary outcomes' effects are ratios on rates: their true average marginal effects (pp)
    truth["binary_effects"] = {"any_hosp": CL.any_stay_marginal_effect(bene, params)}
    truth.update({
        "files": files,
        "n_claims": claims_out["n_claims"],
        "registry": {**reg_truth, "n_realigned_later": int(n_realigned)},
        "n_duplicate_carrier_lines": claims_out["n_duplicate_carrier_lines"],
        "inpatient_billing": claims_out["inpatient_billing"],
        "payments": pay_truth,
        "survey": survey_truth,
    })
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True, default=_json_default))
    return truth


BATCH = 20_000  # beneficiaries per claims batch; part of the data-generating process (seeded per batch)
CLAIM_STREAMS = ("ip", "op", "car", "hos", "pde", "mess", "stays")  # append only: earlier streams keep their seeds


def _simulate_claims(params: dict, bene: pd.DataFrame, roster: ProviderRoster, med_change: dict,
                     out: Path) -> dict:
    """Simulate and write all claims, BATCH beneficiaries at a time, each batch with its own
    seeded streams; returns files written, claim counts and each beneficiary's follow-up spending."""
    writer = YearlyWriter(out / "claims")
    next_id = dict.fromkeys(CLAIM_TYPE_CODE, 0)
    spend = np.zeros(len(bene))
    n_claims = dict.fromkeys(("inpatient", "snf", "hha", "hospice", "outpatient", "carrier", "pde"), 0)
    n_dup = 0
    n_split: dict[str, int] = {}

    def ids(kind, n):
        first = next_id[kind]
        next_id[kind] += n
        return CLAIM_TYPE_CODE[kind] * 10 ** 12 + np.arange(first + 1, first + n + 1, dtype="int64")

    batches = LoopProgress(log, f"claims of {len(bene):,} beneficiaries, batches of {BATCH:,}",
                           total=-(-len(bene) // BATCH))
    for k, lo in enumerate(range(0, len(bene), BATCH)):
        b = bene.iloc[lo:lo + BATCH].reset_index(drop=True)
        hi = lo + len(b)
        r = {name: np.random.default_rng(np.random.SeedSequence([int(params["seed"]), k, j]))
             for j, name in enumerate(CLAIM_STREAMS)}
        w = CL.windows(b, params)
        bid = b["BENE_ID"].to_numpy()
        ip, snf, hha = CL.inpatient_and_post_acute(r["ip"], b, params, w)
        ip, split = CL.split_stays(r["stays"], ip, params)
        n_split = {k: n_split.get(k, 0) + v for k, v in split.items()}
        hos = CL.hospice(r["hos"], b, params)
        op, rev = CL.outpatient(r["op"], b, params, w)
        car, lines = CL.carrier(r["car"], b, params, w, roster)
        dup = np.sort(r["mess"].choice(len(lines["claim"]), size=int(round(params["mess"]["duplicate_carrier_lines"]
                                                                             * len(lines["claim"]))), replace=False))
        n_dup += len(dup)
        lines = {key: np.concatenate([v, np.asarray(v)[dup]]) for key, v in lines.items()}
        for name, tab in (("inpatient", ip), ("snf", snf), ("hha", hha), ("hospice", hos)):
            writer.add(tab, name, "CLM_THRU_DT", bid, ids(name, len(tab["bene"])))
        writer.add(op, "outpatient", "CLM_THRU_DT", bid, ids("outpatient", len(op["bene"])),
                   lines=rev, line_name="outpatient_revenue")
        writer.add(car, "carrier", "CLM_THRU_DT", bid, ids("carrier", len(car["bene"])),
                   lines=lines, line_name="carrier_line")
        pde = part_d_events(r["pde"], b, params, {key: v[lo:hi] for key, v in med_change.items()})
        writer.add(pde, "pde", "SRVC_DT", bid, ids("pde", len(pde["bene"])), id_col="PDE_ID", id_first=True)
        end = observation_end(b, params["study_end"])
        for name, tab in (("inpatient", ip), ("snf", snf), ("hha", hha), ("hospice", hos), ("outpatient", op),
                          ("carrier", car)):
            spend[lo:hi] += _followup_spend(tab, w["enroll"], end)
            n_claims[name] += len(tab["bene"])
        n_claims["pde"] += len(pde["bene"])
        batches.step()
    batches.done()
    return {"files": writer.close(), "n_claims": n_claims, "followup_spend": spend,
            "n_duplicate_carrier_lines": int(n_dup), "inpatient_billing": n_split}


def _followup_spend(tab: dict, enroll: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Payments per beneficiary on claims starting between enrollment and the end of FFS follow-up."""
    idx = np.asarray(tab["bene"])
    d = np.asarray(tab["CLM_FROM_DT"])
    keep = (d >= enroll[idx]) & (d <= end[idx])
    return np.bincount(idx[keep], weights=np.asarray(tab["CLM_PMT_AMT"])[keep], minlength=len(enroll))


def _org_effects_truth(org_fx: pd.DataFrame, orgs: pd.DataFrame, bene: pd.DataFrame, params: dict) -> dict:
    """What truth.json says of the organization effects: the parameters, the realized SD of the log
    utilization multiplier and its correlation with log size over enrolling organizations, and the
    hazard ratio of the first event each risk stratum got."""
    active = orgs["size_weight"].to_numpy() > 0
    log_mult = np.log(org_fx["UTIL_MULT"].to_numpy()[active])
    z = org_fx["SIZE_Z"].to_numpy()[active]
    corr = float(np.corrcoef(log_mult, z)[0, 1]) if active.sum() > 2 and z.std() > 0 and log_mult.std() > 0 else 0.0
    return {"utilization_sigma": params["org_utilization_sigma"],
            "size_outcome_correlation": params["org_size_outcome_correlation"],
            "realized_sd_log_utilization": round(float(log_mult.std()), 4),
            "realized_corr_log_utilization_log_size": round(corr, 4),
            "hr_event_by_stratum": event_hazard_ratios(params["effects"])}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(type(o))


def _truth(params, orgs, bene, total_spend, causes: dict) -> dict:
    """Counts, true parameters and realized control-group rates of the simulated world."""
    planted = bene["planted"].to_numpy()
    arm = np.where(bene["mh"].to_numpy() == 1, "intervention", "control")
    analyzed = planted == ""
    enroll = bene["enroll_dt"].to_numpy().astype("datetime64[D]")
    end = observation_end(bene, params["study_end"])
    years = np.clip((end - enroll).astype(int) + 1, 0, None) / 365.25
    ev = bene["event_dt"].to_numpy().astype("datetime64[D]")
    observed_event = ~np.isnat(ev) & (ev <= end)
    death = bene["death_dt"].to_numpy().astype("datetime64[D]")
    death_obs = ~np.isnat(death)
    # person-time for the event outcome ends at the first event, death, loss of FFS or study end
    t_event = np.where(observed_event, (ev - enroll).astype(int) + 1, (end - enroll).astype(int) + 1) / 365.25
    # death is observed in the enrollment file whatever the coverage; follow to death or study end
    d_end = np.where(death_obs, death, np.datetime64(params["study_end"]))
    t_death = ((d_end - enroll).astype(int) + 1) / 365.25
    # the composite: the first event, or a CV death before any event (deaths of other causes censor)
    cv_first = causes["cv_death"] & ~observed_event & death_obs & (death <= end)
    composite = observed_event | cv_first
    rates = {}
    for s in ("high", "medium"):
        for a in ("intervention", "control"):
            m = analyzed & (bene["stratum"].to_numpy() == s) & (arm == a)
            rates[f"{s}_{a}"] = {
                "n": int(m.sum()),
                "event_per_1000py": round(1000 * observed_event[m].sum() / t_event[m].sum(), 3),
                "death_per_1000py": round(1000 * death_obs[m].sum() / t_death[m].sum(), 3),
                "event_cvdeath_per_1000py": round(1000 * composite[m].sum() / t_event[m].sum(), 3),
                "person_years_event": round(float(t_event[m].sum()), 1),
            }
    # spending per beneficiary per month in follow-up, control vs intervention, analyzed only
    total = total_spend
    months = years * 12
    spending = {}
    for a in ("intervention", "control"):
        m = analyzed & (arm == a) & (months > 0)
        spending[f"total_ab_pbpm_{a}"] = round(float(total[m].sum() / months[m].sum()), 2)
    ex_counts = {}
    for reason in sorted(set(planted) - {""}):
        ex_counts[reason] = {a: int(((planted == reason) & (arm == a)).sum()) for a in ("intervention", "control")}
    strata = {s: int((analyzed & (bene["stratum"].to_numpy() == s)).sum()) for s in ("high", "medium")}
    part_d = bene["part_d"].to_numpy()
    return {
        "params": params,
        "n_orgs_randomized": len(orgs),
        # organizations with at least one registry enrollee (a small organization may draw none at a small scale)
        "n_orgs_enrolling": int(len(np.unique(bene["org"]))),
        "n_orgs_analyzed": len(np.unique(bene.loc[analyzed, "org"])),
        "n_orgs_by_arm": {a: int((orgs["ARM"].to_numpy()[np.unique(bene["org"])] == a).sum())
                          for a in ("intervention", "control")},
        "n_registry_beneficiaries": len(bene),
        "n_analyzed": int(analyzed.sum()),
        "n_analyzed_by_arm": {a: int((analyzed & (arm == a)).sum()) for a in ("intervention", "control")},
        "n_analyzed_by_stratum": strata,
        "share_high_risk": round(strata["high"] / max(1, analyzed.sum()), 4),
        "planted_exclusions": ex_counts,
        "median_age_analyzed": round(float(np.median(bene.loc[analyzed, "age_enroll"])), 1),
        "share_male_analyzed": round(float(bene.loc[analyzed, "male"].mean()), 4),
        "share_black_analyzed": round(float((bene.loc[analyzed, "race"] == "black").mean()), 4),
        "share_part_d_analyzed": round(float(part_d[analyzed].mean()), 4),
        "true_effects": params["effects"],
        "realized_rates": rates,
        "spending": spending,
        "n_first_events_observed": {a: int((analyzed & observed_event & (arm == a)).sum()) for a in ("intervention", "control")},
        "n_deaths": {a: int((analyzed & death_obs & (arm == a)).sum()) for a in ("intervention", "control")},
        "cause_of_death": {
            **composite_truth(bene, params, analyzed),
            "n_cv_deaths": {a: int((analyzed & causes["cv_death"] & (arm == a)).sum()) for a in ("intervention", "control")},
            "n_cv_deaths_before_event": {a: int((analyzed & cv_first & (arm == a)).sum()) for a in ("intervention", "control")},
            "n_composite_events": {a: int((analyzed & composite & (arm == a)).sum()) for a in ("intervention", "control")},
            "cv_share_of_deaths": round(float(causes["cv_death"][analyzed & death_obs].mean()), 4)
            if (analyzed & death_obs).any() else None,
            # every registry beneficiary's death: the planted NDI link mess
            "n_deaths_all": int(death_obs.sum()), "ndi_unmatched": causes["n_unmatched"],
            "ndi_date_within_tolerance": causes["n_within_tolerance"], "ndi_date_mismatch": causes["n_mismatch"],
        },
        "median_follow_up_years": round(float(np.median(years[analyzed])), 2),
    }
