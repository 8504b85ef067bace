"""The predicted-risk outcome: 10-year risk recomputed at every registry visit of the analyzed.

The risk at follow-up visits is recomputed from the reported indicators with the pooled cohort
equations (age at the visit), never taken from the organization's reported score; reported scores
(intervention arm only) are compared with the recomputation and disagreements are counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mheval.contract.read import read_input
from mheval.risk import reported_risk_check, visit_indicators, visit_risk

FOLLOW_UP_YEARS = np.array([0, 1, 2, 3, 4, 5])


def build_predicted_risk(data_dir: str | Path, cohort: pd.DataFrame, cfg: dict) -> tuple[pd.DataFrame, dict]:
    """One row per registry visit of an analyzed beneficiary, with the recomputed risk.

    Columns: BENE_ID, ORG_ID, MH, STRATUM, VISIT_ID, VISIT_DT, VISIT_TYPE, YEARS (since
    enrollment), FU_YEAR (nearest whole follow-up year), RISK, REPORTED_RISK, BASELINE_RISK, and the
    visit's measured ``systolic_bp`` and ``ldl`` (implausible values missing; the clinical outcomes
    of :func:`mheval.models.equation1.clinical_frame`).
    Returns (frame, qc) where qc counts reported-score disagreements beyond
    ``cohort.reported_risk_tolerance`` and visits with incomplete indicators.
    """
    co = cfg["cohort"]
    visits = read_input(data_dir, "visits")
    visits = visits[visits["BENE_ID"].isin(cohort["BENE_ID"])]
    clinical = read_input(data_dir, "clinical", categories=("INDICATOR",))  # 9 codes: not a string per row
    clinical = clinical[clinical["VISIT_ID"].isin(visits["VISIT_ID"])]
    plausible = {k: tuple(v) for k, v in co.get("plausible", {}).items()}
    wide, n_bad = visit_indicators(visits, clinical, plausible)
    keep = ["BENE_ID", "ORG_ID", "MH", "STRATUM", "ENROLL_DT", "BIRTH_DT", "SEX", "RACE", "RISK"]
    wide = wide.drop(columns=["ORG_ID"]).merge(cohort[keep].rename(columns={"RISK": "BASELINE_RISK"}), on="BENE_ID")
    age = (wide["VISIT_DT"] - wide["BIRTH_DT"]).dt.days / 365.25
    wide["RISK"] = visit_risk(wide, age, wide["SEX"], wide["RACE"])
    wide["YEARS"] = (wide["VISIT_DT"] - wide["ENROLL_DT"]).dt.days / 365.25
    wide["FU_YEAR"] = FOLLOW_UP_YEARS[np.abs(wide["YEARS"].to_numpy()[:, None] - FOLLOW_UP_YEARS[None, :]).argmin(axis=1)]
    qc = {"visits": len(wide), "visits_incomplete": int(wide["RISK"].isna().sum()),
          "implausible_values_set_missing": n_bad,
          "reported_vs_computed": reported_risk_check(wide["REPORTED_RISK"], wide["RISK"],
                                                      co.get("reported_risk_tolerance", 0.01))}
    cols = ["BENE_ID", "ORG_ID", "MH", "STRATUM", "VISIT_ID", "VISIT_DT", "VISIT_TYPE", "YEARS", "FU_YEAR",
            "RISK", "REPORTED_RISK", "BASELINE_RISK", "systolic_bp", "ldl"]
    for c in ("systolic_bp", "ldl"):  # a registry without the indicator: missing
        if c not in wide:
            wide[c] = np.nan
    return wide[cols].sort_values(["BENE_ID", "VISIT_DT", "VISIT_ID"]).reset_index(drop=True), qc
