"""Simulated Medicare claims in the CCW research-file layout (vectorized over claims).

Each builder returns a dict of column arrays (a "table"); :mod:`mheval.synth.writer` splits
tables by calendar year of the through date and writes Parquet. Claims happen only while the
beneficiary is alive and in FFS (Part B for outpatient and carrier claims).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.synth import codes as C
from mheval.synth.draws import DAY, icd_by_date, payments, pick, poisson_dates, processing_dates
from mheval.synth.timeline import observation_end

NAT = np.datetime64("NaT")


def _dt(b: pd.DataFrame, col: str) -> np.ndarray:
    return b[col].to_numpy().astype("datetime64[D]")


def windows(b: pd.DataFrame, params: dict) -> dict[str, np.ndarray]:
    """FFS observation windows per beneficiary: history, baseline year and follow-up."""
    enroll = _dt(b, "enroll_dt")
    ent = _dt(b, "ent_dt")
    obs_end = observation_end(b, params["study_end"])
    ma_before = _dt(b, "ma_before_dt")
    # FFS coverage before a planted Medicare Advantage spell ends the day before it starts
    pre_end = np.where(~np.isnat(ma_before), ma_before - DAY, enroll - DAY)
    base_start = np.maximum(enroll - 365 * DAY, ent)
    hist_start = np.maximum(np.datetime64(params["claims_history_start"]), ent)
    post_start = np.where(~np.isnat(ma_before), NAT, enroll)
    return {"enroll": enroll, "hist_start": hist_start, "hist_end": base_start - DAY,
            "base_start": base_start, "base_end": pre_end,
            "post_start": post_start, "post_end": obs_end}


def _claim_frame(bene_idx, from_dt, thru_dt, pmt, principal, dx2, rng, params, extra=None):
    lag = params["processing_lag_days"]
    out = {
        "bene": bene_idx,
        "CLM_FROM_DT": from_dt.astype("datetime64[D]"),
        "CLM_THRU_DT": thru_dt.astype("datetime64[D]"),
        "NCH_WKLY_PROC_DT": processing_dates(rng, thru_dt, lag["median"], lag["sigma"]),
        "CLM_PMT_AMT": pmt,
        "PRNCPAL_DGNS_CD": principal,
        "ICD_DGNS_CD1": principal,
        "ICD_DGNS_CD2": dx2,
    }
    out.update(extra or {})
    return out


def _concat(parts: list[dict]) -> dict:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _sample_window(rng, w, which, rate):
    return poisson_dates(rng, w[f"{which}_start"], w[f"{which}_end"], rate)


def _background_dx(rng, dates):
    return (icd_by_date(rng, dates, C.BACKGROUND_ICD10, C.BACKGROUND_ICD9, C.ICD10_START),
            icd_by_date(rng, dates, C.BACKGROUND_ICD10, C.BACKGROUND_ICD9, C.ICD10_START))


def _event_codes(rng, types, dates):
    """ICD code for each (event type, date), from the world's event code lists."""
    out = np.empty(len(types), dtype=object)
    for t in ("mi", "stroke", "tia"):
        m = types == t
        if m.any():
            out[m] = icd_by_date(rng, dates[m], np.array(C.EVENT_ICD10[t]),
                                 np.array(C.EVENT_ICD9[t]), C.ICD10_START)
    return out.astype(str)


def inpatient_and_post_acute(rng, b, params, w):
    """Inpatient stays (routine, history, planted prior events, first events, recurrent CVD
    admissions) and the SNF and home-health claims that follow some of them.

    Returns (inpatient, snf, hha, truth) where truth holds per-event CVD spending components.
    """
    util, eff, sig = params["utilization"], params["effects"], params["payment_sigma"]
    health = b["health"].to_numpy()
    mh = b["mh"].to_numpy()
    rate_ip, pay_ip = util["inpatient"]
    parts = []
    # routine stays: baseline year and follow-up (intervention changes the admission rate)
    for which, mult in (("base", 1.0), ("post", np.where(mh == 1, eff["hospitalization_ratio"], 1.0))):
        idx, d = _sample_window(rng, w, which, rate_ip * health * mult)
        p, s = _background_dx(rng, d)
        parts.append((idx, d, p, s, np.full(len(idx), pay_ip), np.zeros(len(idx), bool)))
    idx, d = _sample_window(rng, w, "hist", util["hist_inpatient"][0] * health)
    p, s = _background_dx(rng, d)
    parts.append((idx, d, p, s, np.full(len(idx), util["hist_inpatient"][1]), np.zeros(len(idx), bool)))
    # planted prior MI or stroke, since 2007
    prior_dt = _dt(b, "prior_event_dt")
    idx = np.flatnonzero(~np.isnat(prior_dt))
    d = prior_dt[idx]
    code = _event_codes(rng, b["prior_event_type"].to_numpy()[idx], d)
    parts.append((idx, d, code, _background_dx(rng, d)[1], np.full(len(idx), 15000.0), np.ones(len(idx), bool)))
    # first MI / stroke (and half of TIAs) observed while in FFS
    ev_dt = _dt(b, "event_dt")
    ev_type = b["event_type"].to_numpy()
    observed = ~np.isnat(ev_dt) & (ev_dt <= w["post_end"]) & ~np.isnat(w["post_start"])
    tia_op = observed & (ev_type == "tia") & b["tia_outpatient"].to_numpy()
    idx = np.flatnonzero(observed & ~tia_op)
    d = ev_dt[idx]
    code = _event_codes(rng, ev_type[idx], d)
    # 15% carry the event code in the second position behind another principal diagnosis
    second = rng.random(len(idx)) < 0.15
    other = icd_by_date(rng, d, np.array(["I509", "J189", "A419"]), np.array(["4280", "486", "0389"]), C.ICD10_START)
    principal = np.where(second, other, code)
    dx2 = np.where(second, code, _background_dx(rng, d)[1])
    amount = np.array([params["cvd_event_payment"][t] for t in ev_type[idx]]) if len(idx) else np.zeros(0)
    parts.append((idx, d, principal, dx2, amount, np.ones(len(idx), bool)))
    # recurrent CVD admissions after a first event
    rec_start = np.where(observed, ev_dt + 30 * DAY, NAT)
    ridx, rd = poisson_dates(rng, rec_start, w["post_end"], params["rates"]["recurrent_cvd_admission"] / 1000)
    rtypes = pick(rng, np.array(["mi", "stroke"]), len(ridx))
    parts.append((ridx, rd, _event_codes(rng, rtypes, rd), _background_dx(rng, rd)[1],
                  np.array([params["cvd_event_payment"][t] for t in rtypes]) if len(ridx) else np.zeros(0),
                  np.ones(len(ridx), bool)))

    idx = np.concatenate([p[0] for p in parts])
    adm = np.concatenate([p[1] for p in parts]).astype("datetime64[D]")
    principal = np.concatenate([p[2] for p in parts]).astype(str)
    dx2 = np.concatenate([p[3] for p in parts]).astype(str)
    mean = np.concatenate([p[4] for p in parts])
    is_cvd = np.concatenate([p[5] for p in parts])
    los = 1 + rng.poisson(np.where(is_cvd, 4.0, 3.5))
    dis = adm + los * DAY
    count_ratio = np.where(is_cvd, 1.0, eff["hospitalization_ratio"])
    pmt = payments(rng, mean * _spend_mult(b, params, idx, adm, w, count_ratio), len(idx), sig * 0.6)
    ip = _claim_frame(idx, adm, dis, pmt, principal, dx2, rng, params, {
        "NCH_CLM_TYPE_CD": np.full(len(idx), "60"),
        "CLM_ADMSN_DT": adm, "NCH_BENE_DSCHRG_DT": dis,
        "PTNT_DSCHRG_STUS_CD": np.where(rng.random(len(idx)) < 0.7, "01", "03"),
        "CLM_DRG_CD": np.where(is_cvd, "065", pick(rng, np.array(["194", "291", "871", "470", "392"]), len(idx))),
    })
    # post-acute care after CVD admissions in follow-up (and after some routine stays)
    snf_p = np.where(is_cvd, params["post_acute_probs"]["snf"], util["snf"][0] / max(rate_ip, 1e-9) * 0.5)
    hha_p = np.where(is_cvd, params["post_acute_probs"]["hha"], util["hha"][0] / max(rate_ip, 1e-9) * 0.5)
    post_end = w["post_end"][idx]
    post_end = np.where(np.isnat(post_end), w["base_end"][idx], post_end)
    has_snf = (rng.random(len(idx)) < np.clip(snf_p, 0, 1)) & (dis + DAY <= post_end)
    s_from = dis[has_snf] + DAY
    s_thru = np.minimum(s_from + rng.integers(7, 45, has_snf.sum()) * DAY, post_end[has_snf])
    s_idx = idx[has_snf]
    snf = _claim_frame(s_idx, s_from, s_thru, payments(rng, util["snf"][1], len(s_idx), sig * 0.5),
                       principal[has_snf], dx2[has_snf], rng, params,
                       {"NCH_CLM_TYPE_CD": np.full(len(s_idx), "20")})
    after = np.where(has_snf, _scatter(has_snf, s_thru, dis), dis)
    has_hha = (rng.random(len(idx)) < np.clip(hha_p, 0, 1)) & (after + 2 * DAY <= post_end)
    h_from = after[has_hha] + rng.integers(1, 20, has_hha.sum()) * DAY
    h_from = np.minimum(h_from, post_end[has_hha])
    h_thru = np.minimum(h_from + 59 * DAY, post_end[has_hha])
    h_idx = idx[has_hha]
    hha = _claim_frame(h_idx, h_from, h_thru, payments(rng, util["hha"][1], len(h_idx), sig * 0.5),
                       principal[has_hha], dx2[has_hha], rng, params,
                       {"NCH_CLM_TYPE_CD": np.full(len(h_idx), "10")})
    return ip, snf, hha


def split_stays(rng, ip: dict, params: dict) -> tuple[dict, dict]:
    """Bill some inpatient stays as several claims, as real files do, so that the stay rule matters.

    A share ``mess.interim_bills`` of stays of 4 or more days becomes two interim bills: the first
    from admission to a day inside the stay (no discharge date, status 30 "still a patient"), the
    second from the next day to discharge, both with the stay's admission date and diagnoses and
    the payment split by days. A share ``mess.transfers`` of stays gets a transfer: a second
    claim at another hospital from the discharge day, 1-5 days long, same diagnoses, paid 40% of
    the stay. Returns the new inpatient table and counts {interim_bills, transfers}.
    """
    mess = params["mess"]
    adm = np.asarray(ip["CLM_FROM_DT"]).astype("datetime64[D]")
    dis = np.asarray(ip["CLM_THRU_DT"]).astype("datetime64[D]")
    los = (dis - adm).astype(int)
    n = len(adm)
    split = (los >= 4) & (rng.random(n) < mess["interim_bills"])
    cut = adm + np.floor(rng.uniform(1, np.maximum(los - 1, 1))).astype(int) * DAY  # last day of bill 1
    transfer = ~split & (rng.random(n) < mess["transfers"])
    t_len = rng.integers(1, 6, n) * DAY
    pmt = np.asarray(ip["CLM_PMT_AMT"], dtype=float)
    share = np.where(split, ((cut - adm).astype(int) + 1) / (los + 1), 1.0)
    first = {k: np.asarray(v).copy() for k, v in ip.items()}
    first["CLM_THRU_DT"] = np.where(split, cut, dis)
    first["CLM_PMT_AMT"] = np.round(pmt * share, 2)
    first["NCH_BENE_DSCHRG_DT"] = np.where(split, np.datetime64("NaT"), np.asarray(ip["NCH_BENE_DSCHRG_DT"]))
    first["PTNT_DSCHRG_STUS_CD"] = np.where(split, "30", np.where(transfer, "02", np.asarray(ip["PTNT_DSCHRG_STUS_CD"])))
    second = {k: np.asarray(v)[split] for k, v in ip.items()}
    second["CLM_FROM_DT"] = cut[split] + DAY
    second["CLM_PMT_AMT"] = np.round(pmt[split] - first["CLM_PMT_AMT"][split], 2)
    moved = {k: np.asarray(v)[transfer] for k, v in ip.items()}
    moved["CLM_FROM_DT"] = moved["CLM_ADMSN_DT"] = dis[transfer]
    moved["CLM_THRU_DT"] = moved["NCH_BENE_DSCHRG_DT"] = dis[transfer] + t_len[transfer]
    moved["NCH_WKLY_PROC_DT"] = np.maximum(np.asarray(ip["NCH_WKLY_PROC_DT"]).astype("datetime64[D]")[transfer],
                                           moved["CLM_THRU_DT"] + 7 * DAY)
    moved["CLM_PMT_AMT"] = np.round(pmt[transfer] * 0.4, 2)
    return _concat([first, second, moved]), {"interim_bills": int(split.sum()), "transfers": int(transfer.sum())}


def _scatter(mask, values, fill):
    """Scatter ``values`` into a copy of ``fill`` at ``mask``."""
    out = fill.copy()
    out[mask] = values
    return out


def _spend_mult(b, params, idx, dates, w, count_ratio=1.0):
    """Intervention effect on payment amounts after enrollment (1 = no effect).

    ``count_ratio`` is the intervention's effect on how many such claims there are; payments per
    claim are divided by it so that total spending moves only by ``effects.spending_ratio``.
    """
    ratio = params["effects"]["spending_ratio"]
    mh = b["mh"].to_numpy()[idx]
    post = dates >= w["enroll"][idx]
    return np.where((mh == 1) & post, ratio / np.asarray(count_ratio), 1.0)


def outpatient(rng, b, params, w):
    """Outpatient claims with revenue-center lines: routine visits, ED visits, TIA ED visits."""
    util, eff, sig = params["utilization"], params["effects"], params["payment_sigma"]
    health = b["health"].to_numpy()
    mh = b["mh"].to_numpy()
    part_b = b["part_b"].to_numpy()
    claims = []
    ed_mult = np.where(mh == 1, eff["ed_ratio"], 1.0)
    specs = [("base", util["outpatient"][0], False), ("post", util["outpatient"][0], False),
             ("base", util["ed"][0], True), ("post", util["ed"][0] * ed_mult, True)]
    for which, rate, is_ed in specs:
        idx, d = _sample_window(rng, w, which, rate * health * part_b)
        principal, dx2 = _background_dx(rng, d)
        claims.append((idx, d, principal, dx2, np.full(len(idx), is_ed)))
    ev_dt = _dt(b, "event_dt")
    ev_type = b["event_type"].to_numpy()
    observed = ~np.isnat(ev_dt) & (ev_dt <= w["post_end"]) & ~np.isnat(w["post_start"])
    # TIAs seen only in the ED (the others are admitted; see inpatient_and_post_acute)
    tia_only = observed & (ev_type == "tia") & b["tia_outpatient"].to_numpy()
    idx = np.flatnonzero(tia_only)
    d = ev_dt[idx]
    claims.append((idx, d, _event_codes(rng, ev_type[idx], d), _background_dx(rng, d)[1],
                   np.ones(len(idx), bool)))
    idx = np.concatenate([c[0] for c in claims])
    d = np.concatenate([c[1] for c in claims]).astype("datetime64[D]")
    principal = np.concatenate([c[2] for c in claims]).astype(str)
    dx2 = np.concatenate([c[3] for c in claims]).astype(str)
    is_ed = np.concatenate([c[4] for c in claims])
    n = len(idx)
    n_lines = 1 + rng.binomial(2, 0.35, n)
    claim_no = np.repeat(np.arange(n), n_lines)
    line_num = np.arange(len(claim_no)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    first = line_num == 1
    ed_line = first & is_ed[claim_no]
    rev = np.where(ed_line, pick(rng, C.ED_REV, len(claim_no), C.ED_REV_P), pick(rng, C.OTHER_REV, len(claim_no)))
    hcpcs = np.where(ed_line, pick(rng, C.ED_HCPCS, len(claim_no)), pick(rng, C.OTHER_OP_HCPCS, len(claim_no)))
    mean = np.where(is_ed[claim_no] & first, util["ed"][1], util["outpatient"][1] / 1.7)
    count_ratio = np.where(is_ed[claim_no], eff["ed_ratio"], 1.0)
    line_pmt = payments(rng, mean * _spend_mult(b, params, idx[claim_no], d[claim_no], w, count_ratio), len(claim_no), sig)
    clm_pmt = np.round(np.bincount(claim_no, weights=line_pmt, minlength=n), 2)
    thru = d + np.where(rng.random(n) < 0.1, 1, 0) * DAY
    op = _claim_frame(idx, d, thru, clm_pmt, principal, dx2, rng, params,
                      {"NCH_CLM_TYPE_CD": np.full(n, "40")})
    rev_lines = {"claim": claim_no, "CLM_LINE_NUM": line_num, "REV_CNTR": rev,
                 "REV_CNTR_DT": d[claim_no], "HCPCS_CD": hcpcs, "REV_CNTR_PMT_AMT_AMT": line_pmt}
    return op, rev_lines


def carrier(rng, b, params, w, org_npis):
    """Carrier (physician) claims, one line each: office E&M visits and other services.

    ``org_npis`` maps organization index -> (start offset, count) into the provider table plus the
    provider arrays; office visits go to the beneficiary's organization with probability
    ``p_office_at_org`` and otherwise to outside clinicians.
    """
    util, eff, sig = params["utilization"], params["effects"], params["payment_sigma"]
    health = b["health"].to_numpy()
    mh = b["mh"].to_numpy()
    part_b = b["part_b"].to_numpy()
    org = b["org"].to_numpy()
    off_mult = np.where(mh == 1, eff["office_visit_ratio"], 1.0)
    parts = []
    for which, rate, office in (("base", util["office"][0], True),
                                ("post", util["office"][0] * off_mult, True),
                                ("base", util["carrier"][0], False), ("post", util["carrier"][0], False)):
        idx, d = _sample_window(rng, w, which, rate * np.sqrt(health) * part_b)
        parts.append((idx, d, np.full(len(idx), office)))
    idx = np.concatenate([p[0] for p in parts])
    d = np.concatenate([p[1] for p in parts]).astype("datetime64[D]")
    office = np.concatenate([p[2] for p in parts])
    n = len(idx)
    at_org = office & (rng.random(n) < params["p_office_at_org"])
    npi, tin = org_npis.draw(rng, org[idx], d, at_org)
    new_pt = rng.random(n) < 0.08
    hcpcs = np.where(office, np.where(new_pt, pick(rng, C.OFFICE_NEW, n), pick(rng, C.OFFICE_EST, n, C.OFFICE_EST_P)),
                     pick(rng, C.OTHER_CARRIER_HCPCS, n))
    mean = np.where(office, util["office"][1], util["carrier"][1])
    count_ratio = np.where(office, eff["office_visit_ratio"], 1.0)
    pmt = payments(rng, mean * _spend_mult(b, params, idx, d, w, count_ratio), n, sig * 0.8)
    principal, dx2 = _background_dx(rng, d)
    car = _claim_frame(idx, d, d, pmt, principal, dx2, rng, params,
                       {"NCH_CLM_TYPE_CD": np.full(n, "71"), "CARR_CLM_BLG_NPI_NUM": npi})
    lines = {"claim": np.arange(n), "LINE_NUM": np.ones(n, dtype="int64"), "PRF_PHYSN_NPI": npi,
             "TAX_NUM": tin, "HCPCS_CD": hcpcs, "LINE_NCH_PMT_AMT": pmt,
             "LINE_1ST_EXPNS_DT": d, "LINE_PLACE_OF_SRVC_CD": np.where(office, "11", "22"),
             "_office_at_org": at_org}
    return car, lines


def hospice(rng, b, params):
    """Hospice claims: one per 30-day period from hospice election to death or study end."""
    start = _dt(b, "hospice_dt")
    death = _dt(b, "death_dt")
    end = np.where(np.isnat(death), np.datetime64(params["study_end"]), death)
    idx = np.flatnonzero(~np.isnat(start))
    n_periods = np.maximum(1, np.ceil(((end[idx] - start[idx]).astype(int) + 1) / 30).astype(int))
    n_periods = np.minimum(n_periods, 24)
    c_idx = np.repeat(idx, n_periods)
    k = np.arange(len(c_idx)) - np.repeat(np.cumsum(n_periods) - n_periods, n_periods)
    c_from = start[c_idx] + 30 * k * DAY
    c_thru = np.minimum(c_from + 29 * DAY, end[c_idx])
    c_thru = np.maximum(c_thru, c_from)
    days = (c_thru - c_from).astype(int) + 1
    pmt = np.round(days * 195.0, 2)
    dx = np.full(len(c_idx), "C349")
    return _claim_frame(c_idx, c_from, c_thru, pmt, dx, np.full(len(c_idx), "I509"), rng, params, {
        "NCH_CLM_TYPE_CD": np.full(len(c_idx), "50"),
        "CLM_HOSPC_START_DT_ID": start[c_idx],
    })


def any_stay_marginal_effect(b: pd.DataFrame, params: dict, max_year: int = 5) -> dict:
    """The true average marginal effect of the intervention on P(any inpatient stay in a follow-up
    year), in percentage points, as :func:`mheval.models.binary_impact.binary_impact` defines its
    estimand for ``any_hosp``: the rows are the analyzed beneficiaries (``planted`` == "": the high
    and medium risk strata) in each follow-up year k = 1..``max_year`` (365.25-day years since
    enrollment) with some FFS time in it (the analysis file's weight > 0); each row's probability is
    for a full year of exposure under either arm, the other characteristics kept; the yearly effect
    is the mean of P(arm 1) - P(arm 0) over that year's rows (both arms pooled) and the average is the
    simple mean of the yearly effects (config models.average_weighting "simple"). Beneficiary-year
    weighting is returned too (``average_beneficiary_years``: years weighted by their rows' observed
    shares of the year).

    The stays of a full year under arm a (this module's inpatient model): routine stays at the rate
    utilization.inpatient x health x (hospitalization_ratio under arm 1), a Poisson process; and CVD
    stays: the first MI/stroke/TIA (hazard h_event, times the stratum's hazard ratio under arm 1;
    admitted unless an outpatient TIA, probability 1 - P(tia) / 2) for a beneficiary event-free at
    the year's start, recurrent CVD admissions (rate rates.recurrent_cvd_admission) after an earlier
    event. P(event-free at the start of year k | alive then) under arm a follows from the constant
    event and death hazards (death hazard x post_event_death_multiplier after an event, as
    :func:`mheval.synth.timeline.make_timelines` draws them). Ignored (small): recurrent admissions
    inside the year of the event, the 30 days after an event without recurrence, FFS gaps.
    """
    from mheval.synth.timeline import event_hazard_ratios, observation_end

    eff, rates = params["effects"], params["rates"]
    m = (b["planted"] == "").to_numpy()
    mh = b["mh"].to_numpy()[m]
    stratum = b["stratum"].to_numpy()[m]
    hr = event_hazard_ratios(eff)
    hr_e = np.select([stratum == "high", stratum == "medium"], [hr["high"], hr["medium"]], eff["hr_event"])
    hr_d = eff["hr_death"]
    # each beneficiary's hazards under control (the generator stores them under the beneficiary's own arm)
    h_e0 = b["h_event"].to_numpy()[m] / np.where(mh == 1, hr_e, 1.0)
    h_d0 = b["h_death"].to_numpy()[m] / np.where(mh == 1, hr_d, 1.0)
    routine0 = params["utilization"]["inpatient"][0] * b["health"].to_numpy()[m]
    probs = params["event_type_probs"]
    p_admit = 1 - 0.5 * probs.get("tia", 0.0) / sum(probs.values())  # half of TIAs are seen as outpatients
    rho = rates["recurrent_cvd_admission"] / 1000
    k_post = rates["post_event_death_multiplier"]
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")[m]
    obs_days = (observation_end(b, params["study_end"])[m] - enroll).astype("int64")
    yearly, weights_by, full_year = {}, {}, {0: [0.0, 0], 1: [0.0, 0]}
    for k in range(1, max_year + 1):
        start = np.round((k - 1) * 365.25)
        stop = np.round(k * 365.25) - 1
        rows = obs_days >= start
        if not rows.any():
            continue
        t = start / 365.25
        p = []
        for arm in (0, 1):
            he = h_e0[rows] * (hr_e[rows] if arm else 1.0)
            hd = h_d0[rows] * (hr_d if arm else 1.0)
            free = np.exp(-(he + hd) * t)  # alive and event-free at t
            a = he + hd - k_post * hd
            small = np.abs(a * t) < 1e-12
            after = he * np.exp(-k_post * hd * t) * np.where(small, t, -np.expm1(-a * t) / np.where(small, 1.0, a))
            f_free = free / (free + after)  # event-free at t among those alive at t
            no_cvd = f_free * (1 - p_admit * -np.expm1(-he)) + (1 - f_free) * np.exp(-rho)
            no_stay = np.exp(-routine0[rows] * (eff["hospitalization_ratio"] if arm else 1.0)) * no_cvd
            p.append(1 - no_stay)
            whole = (obs_days[rows] >= stop) & (mh[rows] == arm)
            full_year[arm][0] += float(p[arm][whole].sum())
            full_year[arm][1] += int(whole.sum())
        yearly[k] = float(100 * np.mean(p[1] - p[0]))
        observed = (np.minimum(obs_days[rows], stop) - start + 1) / (stop - start + 1)
        weights_by[k] = float(observed.sum())
    years = sorted(yearly)
    wsum = sum(weights_by.values())
    return {"ame_pp_by_year": {str(k): yearly[k] for k in years},
            "average_simple": float(np.mean([yearly[k] for k in years])),
            "average_beneficiary_years": float(sum(yearly[k] * weights_by[k] for k in years) / wsum),
            "population": "analyzed (high and medium risk)", "exposure_years": 1.0,
            # a check against the data: the expected share of rows with a stay among the follow-up years
            # (1..max_year) a beneficiary was observed whole, in each arm under its own arm
            "expected_share_full_years": {a: full_year[arm][0] / max(full_year[arm][1], 1)
                                          for a, arm in (("control", 0), ("intervention", 1))}}
