"""Causes of death and the National Death Index file of the synthetic trial.

Each death of :func:`mheval.synth.timeline.make_timelines` gets an underlying cause (ICD-10, as
NCHS codes mortality). A death is coronary or cerebrovascular (CV) with a probability that depends
only on the beneficiary's history, never on the arm (``params["cv_death"]``):

- no first MI, stroke or TIA before death: ``share_no_event``;
- death within 365 days after the first event: ``share_within_year_of_event``;
- death later after the first event: ``share_later_after_event``.

So before a first event the cause-specific hazard of CV death is ``share_no_event * h_death``,
and the composite "first MI, stroke or TIA, or CV death" has the hazard ``h_event + share_no_event
* h_death``: with the intervention's hazard ratios ``hr_event`` and ``hr_death`` its hazard ratio is
``(hr_event * H_e + hr_death * s * H_d) / (H_e + s * H_d)`` (H: the summed untreated hazards), exactly
``hr_event`` when ``hr_event == hr_death`` (see :func:`composite_truth`).

The NDI file has one row per death, with planted real-world mess (``params["cv_death"]``): a share
of deaths unmatched by the NDI (``ndi_unmatched``), a share dated 1 to 3 days from the MBSF date
(``ndi_date_within_tolerance``) and a share dated 30 to 200 days away (``ndi_date_mismatch``),
counted in truth.json.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")
CORONARY = np.array(["I219", "I214", "I251", "I259", "I209", "I249"])
CEREBROVASCULAR = np.array(["I639", "I634", "I64", "I619", "I609", "I694"])
# other underlying causes, among them circulatory ones outside the CV-death list (I50 heart failure,
# I10 hypertension, I710 aortic dissection) so that the code list's edges are exercised
OTHER = np.array(["C349", "C189", "J449", "J189", "G309", "F03", "E119", "N189", "A419", "I500", "I10", "I710"])


def causes_of_death(rng: np.random.Generator, b: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    """Underlying causes of the deaths in ``b`` and the NDI file.

    ``b`` holds the timelines (``BENE_ID``, ``death_dt``, ``event_dt``, ``event_type``). Returns
    ``(ndi, info)``: the ``ndi`` input (``BENE_ID``, ``NDI_DEATH_DT``, ``UCOD``), and per beneficiary
    in ``info``: ``cv_death`` (bool array, the true cause is CV), ``cause`` (the true ICD-10 code,
    "" for no death) and the planted counts ``n_unmatched``, ``n_within_tolerance``, ``n_mismatch``.
    """
    p = params["cv_death"]
    n = len(b)
    death = b["death_dt"].to_numpy().astype("datetime64[D]")
    event = b["event_dt"].to_numpy().astype("datetime64[D]")
    dies = ~np.isnat(death)
    after = dies & ~np.isnat(event) & (event <= death)
    recent = after & ((death - event).astype("timedelta64[D]").astype("int64") <= 365)
    share = np.where(recent, p["share_within_year_of_event"],
                     np.where(after, p["share_later_after_event"], p["share_no_event"]))
    u = rng.random(n)
    cv = dies & (u < share)
    # a CV death after a stroke or TIA is mostly cerebrovascular, after an MI mostly coronary;
    # without an event, coronary deaths are the commoner (as in US mortality)
    etype = b["event_type"].to_numpy()
    p_coronary = np.where(after & (etype == "mi"), 0.8, np.where(after, 0.3, 0.7))
    coronary = rng.random(n) < p_coronary
    cause = np.where(coronary, rng.choice(CORONARY, n), rng.choice(CEREBROVASCULAR, n))
    cause = np.where(cv, cause, rng.choice(OTHER, n))
    cause = np.where(dies, cause, "")
    # the NDI file: every death, less the unmatched; some dates reported differently
    v = rng.random(n)
    unmatched = dies & (v < p["ndi_unmatched"])
    near = dies & ~unmatched & (v < p["ndi_unmatched"] + p["ndi_date_within_tolerance"])
    far = dies & ~unmatched & ~near & (v < p["ndi_unmatched"] + p["ndi_date_within_tolerance"] + p["ndi_date_mismatch"])
    shift = np.where(near, rng.integers(1, 4, n), np.where(far, rng.integers(30, 201, n), 0))
    shift = np.where(rng.random(n) < 0.5, -shift, shift)
    ndi_dt = np.where(dies, death, np.datetime64("NaT")) + shift * DAY
    keep = np.flatnonzero(dies & ~unmatched)
    ndi = pd.DataFrame({"BENE_ID": b["BENE_ID"].to_numpy()[keep], "NDI_DEATH_DT": ndi_dt[keep], "UCOD": cause[keep]})
    info = {"cv_death": cv, "cause": cause, "n_unmatched": int(unmatched.sum()), "n_within_tolerance": int(near.sum()),
            "n_mismatch": int(far.sum())}
    return ndi, info


def composite_truth(b: pd.DataFrame, params: dict, analyzed: np.ndarray) -> dict:
    """The true hazard ratio of the composite (first MI, stroke or TIA, or CV death) among the
    ``analyzed``: ``(hr_event * H_e + hr_death * s * H_d) / (H_e + s * H_d)``, with ``H_e`` and
    ``H_d`` the summed hazards of a first event and of death (before an event) without the
    intervention's effect, and ``s`` the CV share of deaths before an event."""
    eff, s = params["effects"], params["cv_death"]["share_no_event"]
    mh = b["mh"].to_numpy()[analyzed] == 1
    h_e = b["h_event"].to_numpy()[analyzed] / np.where(mh, eff["hr_event"], 1.0)
    h_d = b["h_death"].to_numpy()[analyzed] / np.where(mh, eff["hr_death"], 1.0)
    he, hd = float(h_e.sum()), float(h_d.sum())
    hr = (eff["hr_event"] * he + eff["hr_death"] * s * hd) / (he + s * hd)
    return {"hr_event_cvdeath": round(hr, 6), "share_of_composite_hazard_cv_death": round(s * hd / (he + s * hd), 4),
            "exact": eff["hr_event"] == eff["hr_death"],
            "note": "the hazard ratio of the composite's hazard h_event + share_no_event * h_death; constant "
                    "(proportional hazards) when hr_event == hr_death, else a hazard-weighted average"}
