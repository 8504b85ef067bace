"""CMS model payments (by the request for applications' rules) and the provider survey."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.synth.timeline import observation_end

PERIODS = [(y, h) for y in range(2017, 2022) for h in (1, 2)]


def _period_bounds():
    starts = np.array([np.datetime64(f"{y}-{'01' if h == 1 else '07'}-01") for y, h in PERIODS])
    ends = np.array([np.datetime64(f"{y}-06-30") if h == 1 else np.datetime64(f"{y}-12-31") for y, h in PERIODS])
    return starts.astype("datetime64[M]"), ends.astype("datetime64[M]")


def model_payments(rng: np.random.Generator, b: pd.DataFrame, orgs: pd.DataFrame,
                   params: dict) -> tuple[pd.DataFrame, dict]:
    """Payments per organization, half-year period and payment type.

    Intervention: a one-time $10 risk-assessment payment (CVD_RA) per beneficiary in the period
    of enrollment; a monthly $10 care-management payment (CVD_CM) per high-risk beneficiary alive
    and in FFS, in full during 2017 and then $0, $5 or $10 by the organization's risk-reduction
    tier each period. Control: $20 per beneficiary for each reporting year (1, 2, 3 and 5).
    Beneficiaries analyzed or not are paid for, as CMS paid for every aligned beneficiary.
    Returns (table with ORG_ID, PERIOD, PAYMENT_TYPE, N_BENEFICIARIES, AMOUNT; truth dict).
    """
    pay = params["payments"]
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    end = observation_end(b, params["study_end"])
    mh = b["mh"].to_numpy() == 1
    high = b["risk"].to_numpy() >= params["high_risk_threshold"]
    org = b["org"].to_numpy()
    ps, pe = _period_bounds()
    em = enroll.astype("datetime64[M]")
    xm = end.astype("datetime64[M]")
    lo = np.maximum(em[:, None], ps[None, :])
    hi = np.minimum(xm[:, None], pe[None, :])
    months = np.clip((hi - lo).astype(int) + 1, 0, None)  # n x periods
    in_period = (em[:, None] >= ps[None, :]) & (em[:, None] <= pe[None, :])
    n_org, n_per = len(orgs), len(PERIODS)
    tier = rng.choice([0.0, 5.0, 10.0], size=(n_org, n_per), p=[0.3, 0.4, 0.3])
    tier[:, :2] = pay["care_management"]  # year one: the full monthly payment
    rows = []

    def add(kind, mask_b, amount_b):  # aggregate beneficiary-period amounts to org-period rows
        for p in range(n_per):
            m = mask_b[:, p]
            if not m.any():
                continue
            cnt = np.bincount(org[m], minlength=n_org)
            amt = np.bincount(org[m], weights=amount_b[m, p], minlength=n_org)
            for o in np.flatnonzero(cnt):
                rows.append((o, p, kind, int(cnt[o]), round(float(amt[o]), 2)))

    ra = in_period & mh[:, None]
    add("CVD_RA", ra, np.full(months.shape, pay["risk_assessment"]))
    cm_rate = tier[org]  # n x periods, $ per month
    cm = (months > 0) & (mh & high)[:, None] & (cm_rate > 0)
    add("CVD_CM", cm, months * cm_rate)
    # control: reporting years 1, 2, 3 and 5 of the model are paid in the year's second half
    report = np.zeros(n_per, bool)
    report[[1, 3, 5, 9]] = True
    ctl = (~mh)[:, None] & report[None, :] & (months > 0)
    add("CONTROL_DATA", ctl, np.full(months.shape, pay["control_data"]))
    table = pd.DataFrame(rows, columns=["org", "p", "PAYMENT_TYPE", "N_BENEFICIARIES", "AMOUNT"])
    table = table.sort_values(["org", "p", "PAYMENT_TYPE"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({
        "ORG_ID": orgs["ORG_ID"].to_numpy()[table["org"].to_numpy()],
        "PERIOD": np.array([f"{y}H{h}" for y, h in PERIODS])[table["p"].to_numpy()],
        "PAYMENT_TYPE": table["PAYMENT_TYPE"].to_numpy(),
        "N_BENEFICIARIES": table["N_BENEFICIARIES"].to_numpy(),
        "AMOUNT": table["AMOUNT"].to_numpy(),
    })
    truth = {"total_by_type": {k: round(float(v), 2) for k, v in out.groupby("PAYMENT_TYPE")["AMOUNT"].sum().items()}}
    return out, truth


def provider_survey(rng: np.random.Generator, orgs: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    """Provider survey of enrolling organizations, long format (ORG_ID, WAVE, SURVEY_DT, ITEM, VALUE).

    Response depends on organization characteristics (larger, health-system owned and
    non-rural organizations respond more), about ``survey.response_rate`` overall. Only
    responses are in the file; the organizations file is the sampling frame.
    """
    sv = params["survey"]
    active = orgs[orgs["size_weight"] > 0].reset_index(drop=True)
    n = len(active)
    waves = sv["waves"]
    lin = (0.35 * np.log(active["N_PRACTITIONERS"].to_numpy()) + 0.4 * active["HEALTH_SYSTEM"].to_numpy()
           - 0.4 * active["RURAL"].to_numpy())
    lin = lin - lin.mean()
    target = np.log(sv["response_rate"] / (1 - sv["response_rate"]))
    p = 1 / (1 + np.exp(-(target + lin)))
    respond = rng.random((n, waves)) < p[:, None]
    mh = (active["ARM"].to_numpy() == "intervention").astype(float)
    items = {
        "PCT_RISK_ASSESSED": lambda k: np.clip(rng.normal(45 + 30 * mh + 5 * k, 15, n), 0, 100).round(),
        "SMOKING_CESSATION_INHOUSE": lambda k: (rng.random(n) < 0.45 + 0.1 * mh).astype(float),
        "CARE_MANAGER": lambda k: (rng.random(n) < 0.35 + 0.15 * mh).astype(float),
        "EHR_RISK_TOOL": lambda k: (rng.random(n) < 0.40 + 0.25 * mh).astype(float),
    }
    frames = []
    for k in range(waves):
        for item, draw in items.items():
            v = draw(k)
            m = respond[:, k]
            frames.append(pd.DataFrame({"ORG_ID": active["ORG_ID"].to_numpy()[m], "WAVE": k + 1,
                                        "SURVEY_DT": np.datetime64(f"{2018 + k}-09-15"),
                                        "ITEM": item, "VALUE": v[m]}))
    out = pd.concat(frames, ignore_index=True).sort_values(["ORG_ID", "WAVE", "ITEM"], kind="stable")
    out["SURVEY_DT"] = out["SURVEY_DT"].astype("datetime64[s]")
    effects = {"PCT_RISK_ASSESSED": 30.0, "SMOKING_CESSATION_INHOUSE": 0.10, "CARE_MANAGER": 0.15, "EHR_RISK_TOOL": 0.25}
    return out.reset_index(drop=True), {"response_rate": float(respond.mean()), "n_frame": int(n), "true_effects": effects}
