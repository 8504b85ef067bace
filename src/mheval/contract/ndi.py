"""The link rule between the National Death Index file (``ndi``) and the enrollment file's deaths.

The date that ends follow-up is always the enrollment file's (MBSF ``BENE_DEATH_DT``). The NDI
supplies the underlying cause of a death, and its cause is used only where the two files agree on
the person and the date. Each beneficiary with a death in either file falls in one class
(:data:`LINK_CLASSES`):

- ``agree``: both files, the same date: the NDI cause is used;
- ``within_tolerance``: both files, dates 1 to ``tolerance_days`` days apart (a date reported
  differently to NCHS and to SSA/CMS): the NDI cause is used, the MBSF date is kept; counted;
- ``date_mismatch``: both files, dates further apart: the link is doubtful, the cause is not
  used (the death counts as a death of unknown cause); counted and warned about;
- ``no_enrollment_death``: a death in the NDI only (alive in the MBSF): not a death for the
  analysis, the cause is not used; counted and warned about;
- ``no_ndi_record``: a death in the MBSF only (the NDI found no match, or the death is later
  than the NDI's delivery): a death of unknown cause; counted.

A death of unknown cause is never a coronary or cerebrovascular death: the composite outcome
censors it, so missing NDI records bias the composite toward the claims-only outcome; the counts
in the validation report say by how much.
"""

from __future__ import annotations

import pandas as pd

# default of config outcomes.death_date_tolerance_days
DEFAULT_DEATH_DATE_TOLERANCE_DAYS = 7
LINK_CLASSES = ("agree", "within_tolerance", "date_mismatch", "no_enrollment_death", "no_ndi_record")
CAUSE_USED = ("agree", "within_tolerance")


def link_ndi(ndi: pd.DataFrame, deaths: pd.DataFrame,
             tolerance_days: int = DEFAULT_DEATH_DATE_TOLERANCE_DAYS) -> pd.DataFrame:
    """Link NDI records to the enrollment file's deaths by the rule of the module docstring.

    Parameters
    ----------
    ndi : the ``ndi`` input (``BENE_ID``, ``NDI_DEATH_DT``, ``UCOD``), one row per beneficiary.
    deaths : ``BENE_ID``, ``DEATH_DT`` (the MBSF death date; rows without a date are ignored).
    tolerance_days : largest difference, in days, between the two dates that still links them.

    Returns one row per beneficiary dead in either file: ``BENE_ID``, ``DEATH_DT`` (MBSF),
    ``NDI_DEATH_DT``, ``DAYS_APART`` (NDI minus MBSF, days), ``LINK`` (one of
    :data:`LINK_CLASSES`) and ``UCOD`` (the NDI cause where :data:`CAUSE_USED`, else missing).
    """
    if tolerance_days < 0:
        raise ValueError(f"the death date tolerance must be at least 0 days, not {tolerance_days}")
    d = deaths.loc[deaths["DEATH_DT"].notna(), ["BENE_ID", "DEATH_DT"]]
    n = ndi[["BENE_ID", "NDI_DEATH_DT", "UCOD"]]
    out = d.merge(n, on="BENE_ID", how="outer")
    out["DEATH_DT"] = pd.to_datetime(out["DEATH_DT"])
    out["NDI_DEATH_DT"] = pd.to_datetime(out["NDI_DEATH_DT"])
    apart = (out["NDI_DEATH_DT"] - out["DEATH_DT"]).dt.days
    out["DAYS_APART"] = apart.astype("Int64")
    both = out["DEATH_DT"].notna() & out["NDI_DEATH_DT"].notna()
    link = pd.Series("no_ndi_record", index=out.index, dtype=object)
    link[out["DEATH_DT"].isna()] = "no_enrollment_death"
    link[both & (apart == 0)] = "agree"
    link[both & (apart != 0) & (apart.abs() <= tolerance_days)] = "within_tolerance"
    link[both & (apart.abs() > tolerance_days)] = "date_mismatch"
    out["LINK"] = link
    out["UCOD"] = out["UCOD"].where(out["LINK"].isin(CAUSE_USED))
    return out.sort_values("BENE_ID").reset_index(drop=True)


def link_counts(linked: pd.DataFrame) -> dict[str, int]:
    """The number of beneficiaries in each link class (every class, zeros included)."""
    counts = linked["LINK"].value_counts()
    return {c: int(counts.get(c, 0)) for c in LINK_CLASSES}
