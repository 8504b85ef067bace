"""docs/data_contract.md is generated from the contract spec and must match it."""

from pathlib import Path

from mheval.contract import FILES, contract_markdown, spec

ROOT = Path(__file__).resolve().parents[1]


def test_data_contract_doc_is_current():
    doc = (ROOT / "docs" / "data_contract.md").read_text()
    assert doc == contract_markdown(), "regenerate with: python -m mheval.contract > docs/data_contract.md"


def test_every_file_named_in_the_issue_is_in_the_contract():
    names = {f.name for f in FILES}
    assert {"organizations", "providers", "demographics", "alignment", "visits", "clinical", "mbsf", "inpatient",
            "outpatient", "outpatient_revenue", "carrier", "carrier_line", "snf", "hha", "hospice", "pde",
            "payments", "survey"} <= names
    cols = {c.name for c in spec("inpatient").columns}
    assert {"BENE_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "NCH_WKLY_PROC_DT", "PRNCPAL_DGNS_CD",
            "ICD_DGNS_CD1", "ICD_DGNS_CD25", "CLM_PMT_AMT"} <= cols
