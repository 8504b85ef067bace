"""The analysis population: intent-to-treat assignment, eligibility, risk and strata.

Rules (evaluation design report, sections II-III; request for applications, sections VI-VII):
a beneficiary's first registry enrollment assigns the organization and arm (intent to treat);
they are analyzed if, at enrollment, aged ``age_min``-``age_max``, with a complete baseline risk
assessment, in FFS Parts A and B (not Medicare Advantage), without ESRD, not in hospice, with no
heart attack or stroke in claims since the lookback start, and at or above the medium risk
threshold. Exclusions are applied in :data:`EXCLUSION_ORDER` and each is counted once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mheval.cohort.enrollment import register_monthly_enrollment, status_in_month
from mheval.contract.read import input_files, read_input, register_input
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import event_claims
from mheval.risk import RISK_INPUTS, modifiable_share, reported_risk_check, risk_stratum, visit_indicators, visit_risk
from mheval.sql import connect

EXCLUSION_ORDER = ["age_out_of_range", "incomplete_baseline", "not_ffs_ab", "esrd", "hospice",
                   "prior_mi_stroke", "low_risk"]
EXCLUSION_LABELS = {
    "age_out_of_range": "Aged under 40 or over 79 at enrollment",
    "incomplete_baseline": "Baseline risk factors incomplete",
    "not_ffs_ab": "Not in FFS Parts A and B in the enrollment month",
    "esrd": "End-stage renal disease at enrollment",
    "hospice": "In hospice at enrollment",
    "prior_mi_stroke": "Heart attack or stroke in claims before enrollment",
    "low_risk": "10-year risk below the medium threshold",
}


def first_enrollment(alignment: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each beneficiary's first registry enrollment (intent to treat); also the number of later
    enrollments dropped (a beneficiary seen again at another organization)."""
    a = alignment.sort_values(["BENE_ID", "ENROLL_DT", "ORG_ID"], kind="stable")
    first = a.drop_duplicates("BENE_ID", keep="first").reset_index(drop=True)
    return first, int(len(a) - len(first))


def baseline_indicators(visits: pd.DataFrame, clinical: pd.DataFrame, plausible: dict) -> tuple[pd.DataFrame, int]:
    """Wide baseline clinical indicators per beneficiary (first baseline visit).

    Values outside ``plausible`` ranges are set to missing; returns (frame, number set missing).
    """
    base = visits[visits["VISIT_TYPE"] == "baseline"].sort_values(["BENE_ID", "VISIT_DT", "VISIT_ID"])
    base = base.drop_duplicates("BENE_ID")[["BENE_ID", "VISIT_ID", "VISIT_DT", "REPORTED_RISK"]]
    return visit_indicators(base, clinical[clinical["VISIT_ID"].isin(base["VISIT_ID"])], plausible)


def _age_years(birth: pd.Series, at: pd.Series) -> np.ndarray:
    return ((at - birth).dt.days / 365.25).to_numpy()


def build_cohort(data_dir: str | Path, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Apply eligibility to every registry enrollee.

    Parameters
    ----------
    data_dir : input directory (data contract).
    cfg : the workflow config (uses ``cohort``, ``study``, ``outcomes``, and ``data.unavailable``: without
        hospice claims nobody is excluded for hospice).

    Returns
    -------
    people : one row per registry beneficiary with arm, organization, enrollment date, risk,
        stratum, modifiable share, baseline covariates and ``EXCLUSION`` ("" if analyzed).
    flow : the exclusion flow table (see :func:`mheval.cohort.flow.flow_table`).
    qc : counts of documented-rule handling (later realignments, implausible values, unknown dual
        status at enrollment: ``DUAL`` is NaN for them, never "not dual").
    """
    from mheval.cohort.flow import flow_table

    co = cfg["cohort"]
    orgs = read_input(data_dir, "organizations")
    first, n_realigned = first_enrollment(read_input(data_dir, "alignment"))
    demo = read_input(data_dir, "demographics")
    people = first.merge(demo, on="BENE_ID", how="left", validate="one_to_one")
    org_cols = ["ORG_ID", "ARM", "REGION", "RURAL", "ORG_TYPE", "HEALTH_SYSTEM", "N_PRACTITIONERS", "OTHER_CMS_MODELS",
                "SELF_REPORTED_FFS_BENES", "STRATUM"]
    # the organization file's STRATUM is the randomization stratum; STRATUM below is the risk stratum
    people = people.merge(orgs[org_cols].rename(columns={"STRATUM": "RAND_STRATUM"}), on="ORG_ID", how="left",
                          validate="many_to_one")
    people["AGE"] = _age_years(people["BIRTH_DT"], people["ENROLL_DT"])
    plausible = {k: tuple(v) for k, v in co.get("plausible", {}).items()}
    base, n_implausible = baseline_indicators(read_input(data_dir, "visits"), read_input(data_dir, "clinical"), plausible)
    people = people.merge(base.drop(columns=["VISIT_DT"]), on="BENE_ID", how="left")
    complete = people[RISK_INPUTS].notna().all(axis=1) & people["COMPLETE_BASELINE"].astype(bool)

    con = connect()
    register_monthly_enrollment(con, data_dir)
    st = status_in_month(con, people, "ENROLL_DT")
    people = people.merge(st, on="BENE_ID", how="left")
    hospice_ids = (set() if "hospice" in (cfg.get("data", {}).get("unavailable") or ())  # mheval.contract.availability
                   else _in_hospice(con, data_dir, people))
    prior_ids = _prior_event(con, data_dir, people, cfg)

    age_ok = (people["AGE"] >= co["age_min"]) & (people["AGE"] < co["age_max"] + 1)
    risk = visit_risk(people.where(complete), people["AGE"], people["SEX"], people["RACE"])
    people["RISK"] = risk
    people["STRATUM"] = np.asarray(risk_stratum(risk, high=co["risk_high"], medium=co["risk_medium"]), dtype=object)
    r = ~np.isnan(risk)
    people["MODIFIABLE_SHARE"] = np.where(r, modifiable_share(np.where(r, risk, 0.5), np.clip(people["AGE"], 40, 79),
                                                              people["SEX"].fillna("male"), people["RACE"]), np.nan)
    checks = {
        "age_out_of_range": ~age_ok,
        "incomplete_baseline": ~complete,
        "not_ffs_ab": ~people["FFS_AB"].astype(bool),
        "esrd": people["ESRD"].astype(bool),
        "hospice": people["BENE_ID"].isin(hospice_ids),
        "prior_mi_stroke": people["BENE_ID"].isin(prior_ids),
        "low_risk": people["RISK"] < co["risk_medium"],
    }
    excl = np.full(len(people), "", dtype=object)
    for reason in EXCLUSION_ORDER:
        m = checks[reason].to_numpy() & (excl == "")
        excl[m] = reason
    people["EXCLUSION"] = excl
    people["MH"] = (people["ARM"] == "intervention").astype(int)
    # health status: CMS-HCC score from baseline-year diagnoses, for the analyzed beneficiaries
    from mheval.cohort.health_status import HCC_CLAIM_TYPES, baseline_diagnoses, hcc_scores

    mc = cfg.get("models", {}).get("covariates", {})
    analyzed = people[people["EXCLUSION"] == ""]
    unavailable = set(cfg.get("data", {}).get("unavailable") or ())
    dx, n_icd9 = baseline_diagnoses(con, data_dir, analyzed,
                                    [t for t in mc.get("hcc_claim_types", HCC_CLAIM_TYPES) if t not in unavailable],
                                    cfg.get("outcomes", {}).get("icd10_start", "2015-10-01"))
    people["HCC_SCORE"] = hcc_scores(analyzed, dx, mc.get("hcc_version", "22")).reindex(people.index)
    qc = {"hcc_icd9_claims": n_icd9, "hcc_beneficiaries_with_baseline_diagnoses": int(dx["BENE_ID"].nunique()),
          "realigned_later_dropped": n_realigned, "implausible_values_set_missing": n_implausible,
          "dual_status_unknown": {"enrollees": int(people["DUAL"].isna().sum()),
                                  "analyzed": int((people["DUAL"].isna() & (people["EXCLUSION"] == "")).sum())},
          "reported_risk_disagreements": _risk_disagreements(people, cfg)}
    return people, flow_table(people, EXCLUSION_ORDER, EXCLUSION_LABELS), qc


def _in_hospice(con, data_dir, people) -> set:
    """Beneficiaries in a hospice election on their enrollment date (from hospice claims)."""
    if not input_files(data_dir, "hospice"):
        return set()
    con.register("_enr", people[["BENE_ID", "ENROLL_DT"]])
    ids = con.execute(f"""SELECT DISTINCT h.BENE_ID FROM {register_input(con, 'hospice', data_dir=data_dir)} h JOIN _enr e
                         ON h.BENE_ID = e.BENE_ID
                         AND coalesce(h.CLM_HOSPC_START_DT_ID, h.CLM_FROM_DT) <= e.ENROLL_DT
                         AND h.CLM_THRU_DT >= e.ENROLL_DT""").df()["BENE_ID"]
    con.unregister("_enr")
    return set(ids)


def _prior_event(con, data_dir, people, cfg) -> set:
    """Beneficiaries with an MI or stroke claim from the lookback start to the day before enrollment."""
    codes = load_event_codes(cfg["outcomes"]["codes"])
    codes = codes[codes["event"].isin(["mi", "stroke"])]
    ev = event_claims(con, data_dir, codes, cfg["cohort"].get("prior_event_claim_types", ["inpatient"]),
                      "any", cfg["outcomes"].get("icd10_start", "2015-10-01"),
                      date_from=cfg["study"]["claims_lookback_start"])
    ev = ev.merge(people[["BENE_ID", "ENROLL_DT"]], on="BENE_ID")
    return set(ev.loc[ev["EVENT_DT"] < ev["ENROLL_DT"], "BENE_ID"])


def _risk_disagreements(people: pd.DataFrame, cfg: dict) -> dict:
    """Registry-reported baseline risk vs the recomputed one: count beyond the tolerance."""
    return reported_risk_check(people["REPORTED_RISK"], people["RISK"], cfg["cohort"].get("reported_risk_tolerance", 0.01))
