"""Part D prescription drug events for statins and antihypertensives, and the drug reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.synth import codes as C
from mheval.synth.timeline import observation_end

DAY = np.timedelta64(1, "D")
NAT = np.datetime64("NaT")


def drug_reference() -> pd.DataFrame:
    """NDC crosswalk of the synthetic world: PROD_SRVC_ID -> generic name, strength, class.

    NDCs use the labeler code 99999, reserved here for synthetic products; with real data the
    crosswalk comes from FDA's NDC directory (see docs/data_contract.md).
    """
    rows = [(g, s, "statin", i) for g, s, i in C.STATINS] + \
           [(g, s, c, "") for g, s, c in C.ANTIHYPERTENSIVES]
    ref = pd.DataFrame(rows, columns=["GNN", "STRENGTH_MG", "DRUG_CLASS", "STATIN_INTENSITY"])
    ref.insert(0, "PROD_SRVC_ID", [f"99999{k:04d}01" for k in range(len(ref))])
    ref["STRENGTH_MG"] = ref["STRENGTH_MG"].astype(float)
    return ref


def change_times(rng: np.random.Generator, b: pd.DataFrame, params: dict) -> dict[str, np.ndarray]:
    """Date of first initiation or intensification of statins and of antihypertensives.

    Piecewise-constant hazard: ``med_change_rate_early`` in the 6 months after enrollment, then
    ``med_change_rate_late``; multiplied by ``effects.med_change_ratio`` in intervention
    organizations. NaT when it does not happen while alive, in FFS and before study end.
    """
    n = len(b)
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    end = observation_end(b, params["study_end"])
    mult = np.where(b["mh"].to_numpy() == 1, params["effects"]["med_change_ratio"], 1.0)
    l1 = params["med_change_rate_early"] * mult
    l2 = params["med_change_rate_late"] * mult
    out = {}
    for drug in ("statin", "antihypertensive"):
        e = rng.exponential(1.0, n)
        t = np.where(e < 0.5 * l1, e / l1, 0.5 + (e - 0.5 * l1) / l2)
        when = enroll + np.floor(t * 365.25).astype("int64") * DAY
        out[drug] = np.where(when <= end, when, NAT).astype("datetime64[D]")
    return out


def _fills(rng, idx, start, stop, ndc_index):
    """Fills every 90 days (+/- a few days) from start to stop for each row."""
    days = (stop - start).astype("int64")
    ok = days >= 0
    idx, start, days, ndc_index = idx[ok], start[ok], days[ok], ndc_index[ok]
    k = days // 90 + 1
    row = np.repeat(np.arange(len(idx)), k)
    j = np.arange(len(row)) - np.repeat(np.cumsum(k) - k, k)
    jitter = rng.integers(-5, 6, len(row))
    d = start[row] + (90 * j + np.where(j == 0, np.abs(jitter), jitter)) * DAY
    return idx[row], d, ndc_index[row]


def part_d_events(rng: np.random.Generator, b: pd.DataFrame, params: dict,
                  change: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PDE rows for Part D enrollees from the baseline year to the end of FFS coverage."""
    ref = drug_reference()
    statin_idx = np.flatnonzero(ref["DRUG_CLASS"].to_numpy() == "statin")
    moderate = statin_idx[ref["STATIN_INTENSITY"].to_numpy()[statin_idx] == "moderate"]
    high = statin_idx[ref["STATIN_INTENSITY"].to_numpy()[statin_idx] == "high"]
    ah_idx = np.flatnonzero(ref["DRUG_CLASS"].to_numpy() != "statin")
    ah_class = ref["DRUG_CLASS"].to_numpy()
    n = len(b)
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    ent = b["ent_dt"].to_numpy().astype("datetime64[D]")
    end = observation_end(b, params["study_end"])
    in_d = b["part_d"].to_numpy()
    start = np.maximum(enroll - 365 * DAY, ent) + rng.integers(0, 90, n) * DAY
    parts = []
    # statins: on at baseline -> moderate until intensification, then high intensity
    on = b["statin0"].to_numpy() & in_d
    chg = change["statin"]
    first = moderate[rng.integers(0, len(moderate), n)]
    second = np.where(on, high[rng.integers(0, len(high), n)], moderate[rng.integers(0, len(moderate), n)])
    rows = np.flatnonzero(on)
    stop = np.where(np.isnat(chg), end, chg - DAY)
    parts.append(_fills(rng, rows, start[rows], stop[rows], first[rows]))
    rows = np.flatnonzero(in_d & ~np.isnat(chg))
    parts.append(_fills(rng, rows, chg[rows], end[rows], second[rows]))
    # antihypertensives: on at baseline -> one class, intensification adds a second class
    on = b["bp_treated"].to_numpy() & in_d
    chg = change["antihypertensive"]
    a1 = ah_idx[rng.integers(0, len(ah_idx), n)]
    a2 = ah_idx[rng.integers(0, len(ah_idx), n)]
    clash = ah_class[a2] == ah_class[a1]
    a2 = np.where(clash, ah_idx[(np.searchsorted(ah_idx, a2) + 3) % len(ah_idx)], a2)
    rows = np.flatnonzero(on)
    parts.append(_fills(rng, rows, start[rows], end[rows], a1[rows]))
    rows = np.flatnonzero(in_d & ~np.isnat(chg))
    new = np.where(on, a2, a1)
    parts.append(_fills(rng, rows, chg[rows], end[rows], new[rows]))
    idx = np.concatenate([p[0] for p in parts])
    d = np.concatenate([p[1] for p in parts]).astype("datetime64[D]")
    k = np.concatenate([p[2] for p in parts])
    keep = d <= end[idx]
    idx, d, k = idx[keep], d[keep], k[keep]
    order = np.lexsort((k, d, idx))
    idx, d, k = idx[order], d[order], k[order]
    m = len(idx)
    return {
        "bene": idx,
        "SRVC_DT": d,
        "PD_DT": d + rng.integers(1, 40, m) * DAY,
        "PROD_SRVC_ID": ref["PROD_SRVC_ID"].to_numpy()[k],
        "QTY_DSPNSD_NUM": np.full(m, 90.0),
        "DAYS_SUPLY_NUM": np.full(m, 90, dtype="int64"),
        "TOT_RX_CST_AMT": np.round(rng.lognormal(np.log(25), 0.6, m), 2),
        "BRND_GNRC_CD": np.full(m, "G"),
    }
