"""Health status at baseline: a CMS-HCC risk score from the diagnoses of the baseline year.

The design report's beneficiary covariates include "beneficiary health status" (Equation 1, x_i).
We measure it as CMS's own health-status measure, the CMS-HCC community risk score, from every
diagnosis on the beneficiary's claims in the 12 months before enrollment (days -365 to -1, the
baseline year of the beneficiary-year file), with age and sex at enrollment and Medicaid (dual)
status in the enrollment month. Only pre-enrollment data enter, so the score is fixed before any
effect of the model.

The scoring is the hccpy package (Yubin Park, Apache 2.0; pure Python with CMS's mapping and
coefficient files bundled, so it runs offline): ``HCCEngine(version).profile(dx, age, sex, elig,
orec, medicaid)`` maps ICD-10-CM codes to HCCs, applies CMS's hierarchies and interactions and
sums the community segment's coefficients. The default model is V22 (``models.covariates.
hcc_version``), the one CMS used for payment years 2017-2018, matching baseline diagnoses of
2016-2018. Segment: community, non-dual or full-benefit dual (dual status unknown: non-dual),
aged (65+) or disabled (under 65, original reason for entitlement disability).

Limits, said plainly: hccpy maps ICD-10 only; claims dated before ``outcomes.icd10_start`` carry
ICD-9 codes that add no HCC (counted in the cohort QC as ``hcc_icd9_claims``; DE-SynPUF's
2008-2010 claims are all ICD-9, so there the score is demographic only). A beneficiary with no
baseline claim has the demographic score (no HCC), as CMS scores a beneficiary without diagnoses.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mheval.contract.read import input_files, register_input
from mheval.contract.spec import DEFAULT_PROCESSING_LAG_DAYS
from mheval.outcomes.events import diagnosis_columns

HCC_CLAIM_TYPES = ("inpatient", "outpatient", "carrier")  # CMS's risk-adjustment sources


def baseline_diagnoses(con: duckdb.DuckDBPyConnection, data_dir: str | Path, people: pd.DataFrame,
                       claim_types=HCC_CLAIM_TYPES, icd10_start: str = "2015-10-01",
                       processing_lag_days: int = DEFAULT_PROCESSING_LAG_DAYS) -> tuple[pd.DataFrame, int]:
    """Distinct diagnosis codes (every position) on claims of ``claim_types`` starting in the 365
    days before each beneficiary's ``ENROLL_DT``: (frame BENE_ID, DX of ICD-10 era claims, number of
    baseline claims dated before ``icd10_start``, whose ICD-9 codes are not scored). Claim types
    without files are skipped."""
    con.register("_hcc_people", people[["BENE_ID", "ENROLL_DT"]])
    parts, params = [], {}
    for k, ct in enumerate(claim_types):
        files = input_files(data_dir, ct)
        if not files:
            continue
        view = register_input(con, ct, files, processing_lag_days=processing_lag_days)
        cols = diagnosis_columns(files, "any")
        if not cols:
            continue
        params[f"claim_type_{k}"] = ct
        # one scan of the claim type (not one per diagnosis position): the baseline claims' codes as a
        # list, one row per non-empty code
        dxs = ", ".join(f"CAST(c.{col} AS VARCHAR)" for col in cols)
        parts.append(f"""SELECT BENE_ID, FROM_DT, DX, CLM FROM (
                             SELECT c.BENE_ID, CAST(c.CLM_FROM_DT AS DATE) AS FROM_DT,
                                    unnest([{dxs}]) AS DX, CAST(c.CLM_ID AS VARCHAR) || '/' || $claim_type_{k} AS CLM
                             FROM {view} c JOIN _hcc_people p USING (BENE_ID)
                             WHERE CAST(c.CLM_FROM_DT AS DATE) BETWEEN CAST(p.ENROLL_DT AS DATE) - 365
                                                                  AND CAST(p.ENROLL_DT AS DATE) - 1)
                         WHERE DX IS NOT NULL AND trim(DX) <> ''""")
    if not parts:
        con.unregister("_hcc_people")
        return pd.DataFrame({"BENE_ID": pd.Series(dtype=str), "DX": pd.Series(dtype=str)}), 0
    con.execute(f"CREATE OR REPLACE TEMP TABLE _hcc_dx AS {' UNION ALL '.join(parts)}",
                params)
    start = {"icd10_start": str(icd10_start)}
    n_icd9 = con.execute("SELECT count(DISTINCT CLM) FROM _hcc_dx WHERE FROM_DT < CAST($icd10_start AS DATE)",
                         start).fetchone()[0]
    dx = con.execute("""SELECT DISTINCT BENE_ID, upper(replace(trim(DX), '.', '')) AS DX FROM _hcc_dx
                        WHERE FROM_DT >= CAST($icd10_start AS DATE) ORDER BY 1, 2""", start).df()
    con.execute("DROP TABLE _hcc_dx")
    con.unregister("_hcc_people")
    return dx, int(n_icd9)


def hcc_scores(people: pd.DataFrame, dx: pd.DataFrame, version: str = "22") -> pd.Series:
    """CMS-HCC community risk score per row of ``people`` (BENE_ID, AGE, SEX, DUAL) from the
    diagnosis codes in ``dx`` (BENE_ID, DX), by hccpy's ``HCCEngine(version)`` (module
    docstring: segment, limits). Returns a float Series aligned with ``people``."""
    import warnings

    with warnings.catch_warnings():  # hccpy reads its tables through pkg_resources (setuptools < 81 pinned)
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from hccpy.hcc import HCCEngine

    engine = HCCEngine(version=str(version))
    # a beneficiary's key is the set of its codes that the engine maps to an HCC, normalized as
    # ``profile`` does (strip, upper case, no dot): ``profile`` drops every other code, so the score
    # is the same and beneficiaries whose codes differ only by unmapped ones share one call
    norm = dx["DX"].astype(str).str.strip().str.upper().str.replace(".", "", regex=False)
    mapped = norm.isin(list(engine.dx2cc))
    d = pd.DataFrame({"BENE_ID": dx["BENE_ID"][mapped], "DX": norm[mapped]}).drop_duplicates()
    d = d.sort_values(["BENE_ID", "DX"])
    bene, code = d["BENE_ID"].to_numpy(), d["DX"].to_numpy()
    starts = np.flatnonzero(np.r_[True, bene[1:] != bene[:-1]]) if len(bene) else np.array([], dtype=int)
    codes = dict(zip(bene[starts], (tuple(c) for c in np.split(code, starts[1:])))) if len(bene) else {}
    age = people["AGE"].astype(float).to_numpy()
    male = (people["SEX"] == "male").to_numpy()
    dual = people["DUAL"].astype(float).fillna(0.0).to_numpy() > 0
    cache: dict = {}
    out = np.empty(len(people))
    for i, bene in enumerate(people["BENE_ID"].to_numpy()):
        aged = age[i] >= 65
        key = (codes.get(bene, ()), int(age[i]), bool(male[i]), bool(dual[i]))
        if key not in cache:
            elig = ("CF" if dual[i] else "CN") + ("A" if aged else "D")
            cache[key] = float(engine.profile(list(key[0]), age=int(age[i]), sex="M" if male[i] else "F",
                                              elig=elig, orec="0" if aged else "1",
                                              medicaid=bool(dual[i]))["risk_score"])
        out[i] = cache[key]
    return pd.Series(out, index=people.index, name="HCC_SCORE")
