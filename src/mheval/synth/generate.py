"""Generate a complete synthetic input set in the data contract, plus truth.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.synth import claims as CL
from mheval.synth.drugs import change_times, drug_reference, part_d_events
from mheval.synth.medicare import make_mbsf
from mheval.synth.params import resolve_params
from mheval.synth.payments import model_payments, provider_survey
from mheval.synth.population import make_beneficiaries, make_organizations
from mheval.synth.providers import ProviderRoster
from mheval.synth.registry import alignment, demographics, visits_and_clinical
from mheval.synth.timeline import make_timelines, observation_end
from mheval.synth.writer import write_by_year, write_parquet

STREAMS = ["orgs", "benes", "timeline", "meds", "claims_ip", "claims_op", "claims_car",
           "claims_hos", "pde", "registry", "mbsf", "payments", "survey", "providers", "mess"]
CLAIM_TYPE_CODE = {"inpatient": 1, "snf": 2, "hha": 3, "hospice": 4, "outpatient": 5, "carrier": 6, "pde": 7}


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per component, so that changing one leaves the others alone."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children)}


def _ids(kind: str, n: int) -> np.ndarray:
    return CLAIM_TYPE_CODE[kind] * 10 ** 12 + np.arange(1, n + 1, dtype="int64")


def generate_trial(out_dir: str | Path, scale: float | None = None, seed: int | None = None,
                   overrides: dict | None = None) -> dict:
    """Simulate the trial and write every input file of the data contract into ``out_dir``.

    Parameters
    ----------
    out_dir : directory to write (created); layout in docs/data_contract.md.
    scale : 1.0 gives the published trial's size (218,864 analyzed beneficiaries).
    seed : random seed; the same seed and parameters give byte-identical files.
    overrides : parameters to change from :data:`mheval.synth.params.DEFAULTS`.

    Returns the truth dictionary, also written to ``out_dir/truth.json``.
    """
    t0 = time.perf_counter()
    ov = dict(overrides or {})
    if scale is not None:
        ov["scale"] = scale
    if seed is not None:
        ov["seed"] = seed
    params = resolve_params(ov)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = _streams(int(params["seed"]))

    orgs = make_organizations(rng["orgs"], params)
    bene = make_beneficiaries(rng["benes"], params, orgs)
    bene = make_timelines(rng["timeline"], params, bene, orgs)
    r = rng["benes"]
    bene["statin0"] = r.random(len(bene)) < params["p_statin_baseline"]
    bene["aspirin0"] = r.random(len(bene)) < params["p_aspirin_baseline"]
    bene["ORG_ID"] = orgs["ORG_ID"].to_numpy()[bene["org"].to_numpy()]
    med_change = change_times(rng["meds"], bene, params)
    bene_ids = bene["BENE_ID"].to_numpy()
    files: dict[str, int] = {}

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

    # ---- Medicare enrollment ---------------------------------------------------------------
    study_end_year = int(params["study_end"][:4])
    mbsf = make_mbsf(rng["mbsf"], bene, 2016, study_end_year)
    for year, part in mbsf.groupby("BENE_ENROLLMT_REF_YR", sort=True):
        files[f"mbsf_{year}"] = write_parquet(part, out / "medicare" / "mbsf" / f"mbsf_{year}.parquet")

    # ---- claims ------------------------------------------------------------------------------
    w = CL.windows(bene, params)
    cl = out / "claims"
    ip, snf, hha = CL.inpatient_and_post_acute(rng["claims_ip"], bene, params, w)
    for name, tab in (("inpatient", ip), ("snf", snf), ("hha", hha)):
        files.update(write_by_year(tab, cl, name, "CLM_THRU_DT", bene_ids, _ids(name, len(tab["bene"]))))
    hos = CL.hospice(rng["claims_hos"], bene, params)
    files.update(write_by_year(hos, cl, "hospice", "CLM_THRU_DT", bene_ids, _ids("hospice", len(hos["bene"]))))
    op, rev = CL.outpatient(rng["claims_op"], bene, params, w)
    files.update(write_by_year(op, cl, "outpatient", "CLM_THRU_DT", bene_ids, _ids("outpatient", len(op["bene"])),
                               rev, "outpatient_revenue"))
    car, lines = CL.carrier(rng["claims_car"], bene, params, w, roster)
    n_dup = int(round(params["mess"]["duplicate_carrier_lines"] * len(lines["claim"])))
    dup = np.sort(rng["mess"].choice(len(lines["claim"]), size=n_dup, replace=False))
    lines_out = {k: np.concatenate([v, np.asarray(v)[dup]]) for k, v in lines.items()}
    files.update(write_by_year(car, cl, "carrier", "CLM_THRU_DT", bene_ids, _ids("carrier", len(car["bene"])),
                               lines_out, "carrier_line"))
    pde = part_d_events(rng["pde"], bene, params, med_change)
    pde_ids = _ids("pde", len(pde["bene"]))
    pde_tab = {"bene": pde["bene"], **{k: v for k, v in pde.items() if k != "bene"}}
    files.update(_write_pde(pde_tab, cl, bene_ids, pde_ids))
    files["ndc"] = write_parquet(drug_reference(), out / "reference" / "ndc.parquet")

    # ---- CMS payments and provider survey ------------------------------------------------
    pay, pay_truth = model_payments(rng["payments"], bene, orgs, params)
    files["payments"] = write_parquet(pay, out / "cms" / "payments.parquet")
    survey, survey_truth = provider_survey(rng["survey"], orgs, params)
    files["survey"] = write_parquet(survey, out / "cms" / "survey.parquet")

    truth = _truth(params, orgs, bene, w, ip, op, car, lines, snf, hha, hos, med_change)
    truth.update({
        "files": files,
        "registry": {**reg_truth, "n_realigned_later": int(n_realigned)},
        "n_duplicate_carrier_lines": int(n_dup),
        "payments": pay_truth,
        "survey": survey_truth,
        "generation_seconds": None,  # filled below; excluded from determinism checks
    })
    truth["generation_seconds"] = round(time.perf_counter() - t0, 1)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True, default=_json_default))
    return truth


def _write_pde(pde_tab, cl, bene_ids, pde_ids):
    years = pde_tab["SRVC_DT"].astype("datetime64[Y]").astype(int) + 1970
    written = {}
    for y in np.unique(years):
        sel = np.flatnonzero(years == y)
        data = {"PDE_ID": pde_ids[sel], "BENE_ID": bene_ids[pde_tab["bene"][sel]]}
        data.update({k: np.asarray(v)[sel] for k, v in pde_tab.items() if k != "bene"})
        written[f"pde_{y}"] = write_parquet(data, cl / "pde" / f"pde_{y}.parquet")
    return written


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(type(o))


def _truth(params, orgs, bene, w, ip, op, car, lines, snf, hha, hos, med_change) -> dict:
    """Counts, true parameters and realized control-group rates of the simulated world."""
    planted = bene["planted"].to_numpy()
    arm = np.where(bene["mh"].to_numpy() == 1, "intervention", "control")
    analyzed = planted == ""
    enroll = w["enroll"]
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
    rates = {}
    for s in ("high", "medium"):
        for a in ("intervention", "control"):
            m = analyzed & (bene["stratum"].to_numpy() == s) & (arm == a)
            rates[f"{s}_{a}"] = {
                "n": int(m.sum()),
                "event_per_1000py": round(1000 * observed_event[m].sum() / t_event[m].sum(), 3),
                "death_per_1000py": round(1000 * death_obs[m].sum() / t_death[m].sum(), 3),
                "person_years_event": round(float(t_event[m].sum()), 1),
            }
    # spending per beneficiary per month in follow-up, control vs intervention, analyzed only
    def spend(tab, mask=None):
        idx = np.asarray(tab["bene"])
        d = np.asarray(tab["CLM_FROM_DT"])
        keep = analyzed[idx] & (d >= enroll[idx]) & (d <= end[idx])
        if mask is not None:
            keep &= mask
        return np.bincount(idx[keep], weights=np.asarray(tab["CLM_PMT_AMT"])[keep], minlength=len(bene))

    total = sum(spend(t) for t in (ip, op, car, snf, hha, hos))
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
        "n_orgs_randomized": int(len(orgs)),
        "n_orgs_enrolling": int((orgs["size_weight"] > 0).sum()),
        "n_orgs_analyzed": int(len(np.unique(bene.loc[analyzed, "org"]))),
        "n_orgs_by_arm": {a: int(((orgs["ARM"] == a) & (orgs["size_weight"] > 0)).sum()) for a in ("intervention", "control")},
        "n_registry_beneficiaries": int(len(bene)),
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
        "n_claims": {"inpatient": len(ip["bene"]), "outpatient": len(op["bene"]), "carrier": len(car["bene"]),
                     "snf": len(snf["bene"]), "hha": len(hha["bene"]), "hospice": len(hos["bene"])},
        "median_follow_up_years": round(float(np.median(years[analyzed])), 2),
    }
