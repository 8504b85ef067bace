"""The input data contract: every input file, its columns, types, keys and allowed values.

This module is the single source of truth; docs/data_contract.md is rendered from it
(``python -m mheval.contract > docs/data_contract.md``) and the validator enforces it.
Column names follow the CMS Chronic Conditions Warehouse (CCW) research identifiable files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

# logical types: string, id (string or integer identifier), date, integer, number, boolean
ICD_PATTERN = r"^([A-TV-Z][0-9][0-9A-Z]{1,5}|[0-9]{3,5}|[EV][0-9]{2,4})$"  # ICD-9/10 without dot
NPI_PATTERN = r"^[12][0-9]{9}$"
TIN_PATTERN = r"^[0-9]{9}$"
HCPCS_PATTERN = r"^[0-9A-Z][0-9]{3}[0-9A-Z]$"
REV_PATTERN = r"^[0-9]{4}$"
NDC_PATTERN = r"^[0-9]{11}$"
UCOD_PATTERN = r"^[A-Z][0-9][0-9A-Z][0-9A-Z]?$"  # ICD-10 cause of death: 3 or 4 characters, no dot
BUYIN_CODES = ["0", "1", "2", "3", "A", "B", "C"]
HMO_CODES = ["0", "1", "2", "4", "A", "B", "C"]
DX_PREFIX = "ICD_DGNS_CD"  # diagnosis positions ICD_DGNS_CD1..N: any number may be present
DX_POSITION = re.compile(r"^ICD_DGNS_CD([1-9][0-9]*)$")
# a missing NCH_WKLY_PROC_DT (column absent, or null) is CLM_THRU_DT plus this many days unless
# config claims.processing_lag_days says otherwise (about the median weekly-processing lag)
DEFAULT_PROCESSING_LAG_DAYS = 30


@dataclass(frozen=True)
class Col:
    """One column: name, logical type, meaning, and its rules."""

    name: str
    type: str
    meaning: str
    required: bool = True
    nullable: bool = False
    allowed: tuple | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    npi: bool = False  # an NPI: besides the shape, the check digit is verified (config data.check_npi)


@dataclass(frozen=True)
class FileSpec:
    """One input file (or a set of yearly files matching ``path`` with ``{year}``)."""

    name: str
    path: str
    group: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Col, ...]
    yearly: bool = False
    required: bool = True
    notes: str = ""
    extra_columns: str = field(default="")

    def col(self, name: str) -> Col:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def columns_for(self, present: Iterable[str]) -> tuple[Col, ...]:
        """The spec's columns plus any diagnosis positions in ``present`` beyond those listed
        (ICD_DGNS_CD26.., with the rules of the other optional positions)."""
        listed = {c.name for c in self.columns}
        extra = [c for c in diagnosis_positions(present) if c not in listed]
        if not extra or not any(c.name.startswith(DX_PREFIX) for c in self.columns):
            return self.columns
        return self.columns + tuple(replace(_dx_col(int(DX_POSITION.match(c).group(1))), name=c) for c in extra)


def _dx_col(i: int, n_required: int = 1) -> Col:
    return Col(f"{DX_PREFIX}{i}", "string", f"diagnosis code in position {i}" + (
        "" if i <= n_required else " (any number of positions may be present: real files carry 8, 10, 12 or 25)"),
        required=i <= n_required, nullable=i > 1, pattern=ICD_PATTERN)


def _dx_cols(n_required: int = 1, n_max: int = 25) -> tuple[Col, ...]:
    cols = [Col("PRNCPAL_DGNS_CD", "string", "principal diagnosis, ICD-9-CM before 2015-10-01, "
                "ICD-10-CM after; no decimal point", pattern=ICD_PATTERN)]
    cols += [_dx_col(i, n_required) for i in range(1, n_max + 1)]
    return tuple(cols)


def diagnosis_positions(columns: Iterable[str]) -> list[str]:
    """The diagnosis-position columns (ICD_DGNS_CD1..N) among ``columns``, in position order."""
    found = [(int(m.group(1)), c) for c in columns if (m := DX_POSITION.match(c))]
    return [c for _, c in sorted(found)]


CLAIM_BASE = (
    Col("BENE_ID", "string", "beneficiary identifier (encrypted CCW BENE_ID)"),
    Col("CLM_ID", "id", "claim identifier, unique within the claim type"),
    Col("NCH_CLM_TYPE_CD", "string", "NCH claim type code", allowed=("10", "20", "30", "40", "50", "60", "71", "72")),
    Col("CLM_FROM_DT", "date", "first day of service on the claim"),
    Col("CLM_THRU_DT", "date", "last day of service on the claim (>= CLM_FROM_DT)"),
    Col("NCH_WKLY_PROC_DT", "date", "weekly date the claim was processed into the NCH; the "
        "claims runout rule uses it (>= CLM_THRU_DT). When absent or empty: CLM_THRU_DT plus "
        "claims.processing_lag_days (counted and warned about in the validation report)",
        required=False, nullable=True),
    Col("CLM_PMT_AMT", "number", "Medicare claim payment amount, USD; negative amounts (CMS "
        "adjustments) are accepted and summed as they are; claims with a negative amount are counted"),
)

FILES: tuple[FileSpec, ...] = (
    # ---------------------------------------------------------------- registry ----------
    FileSpec("organizations", "registry/organizations", "registry",
             "Randomized organizations (one row each), including those that enrolled no one.",
             ("ORG_ID",), (
                 Col("ORG_ID", "string", "organization identifier in the registry"),
                 Col("TIN", "string", "taxpayer identification number (9 digits)", pattern=TIN_PATTERN),
                 Col("ARM", "string", "randomized arm", allowed=("intervention", "control")),
                 Col("STRATUM", "string", "randomization stratum"),
                 Col("REGION", "string", "Census region", allowed=("Northeast", "Midwest", "South", "West")),
                 Col("RURAL", "boolean", "located in a rural area"),
                 Col("ORG_TYPE", "string", "organization type",
                     allowed=("primary_care", "cardiology", "multispecialty")),
                 Col("HEALTH_SYSTEM", "boolean", "owned by a health system"),
                 Col("N_SITES", "integer", "number of practice sites", min=1),
                 Col("N_PRACTITIONERS", "integer", "number of practitioners", min=1),
                 Col("SELF_REPORTED_FFS_BENES", "integer", "Medicare FFS beneficiaries served, as "
                     "reported in the application", min=0),
                 Col("OTHER_CMS_MODELS", "string", "other CMS models joined, ';'-separated "
                     "(e.g. MSSP;CPC+), empty if none", nullable=True),
                 Col("RANDOMIZATION_DT", "date", "date of randomization"),
                 Col("WITHDRAWAL_DT", "date", "date the organization withdrew, if it did",
                     required=False, nullable=True),
             )),
    FileSpec("providers", "registry/providers", "registry",
             "Practitioners (NPIs) participating with each organization, with dates.",
             ("NPI", "ORG_ID", "START_DT"), (
                 Col("NPI", "string", "national provider identifier", pattern=NPI_PATTERN, npi=True),
                 Col("ORG_ID", "string", "organization (must exist in organizations)"),
                 Col("START_DT", "date", "first day the NPI participates with the organization"),
                 Col("END_DT", "date", "last day; empty while still participating", nullable=True),
             )),
    FileSpec("demographics", "registry/demographics", "registry",
             "Registry demographics, one row per enrolled beneficiary.", ("BENE_ID",), (
                 Col("BENE_ID", "string", "beneficiary identifier (links to Medicare files)"),
                 Col("BIRTH_DT", "date", "date of birth"),
                 Col("SEX", "string", "sex", allowed=("female", "male")),
                 Col("RACE", "string", "race; 'black' selects the African-American pooled cohort "
                     "equations", allowed=("white", "black", "asian", "hispanic", "native", "other", "unknown")),
                 Col("ETHNICITY", "string", "ethnicity", allowed=("hispanic", "non-hispanic", "unknown")),
             )),
    FileSpec("alignment", "registry/alignment", "registry",
             "Enrollment of beneficiaries at organizations. A beneficiary may appear again at "
             "another organization later; by intent to treat the first enrollment counts.",
             ("BENE_ID", "ORG_ID", "ENROLL_DT"), (
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("ORG_ID", "string", "enrolling organization"),
                 Col("ENROLL_DT", "date", "registry enrollment date (start of follow-up)"),
                 Col("ELIGIBLE_FLAG", "boolean", "organization attests the beneficiary is eligible"),
                 Col("COMPLETE_BASELINE", "boolean", "all baseline risk indicators were reported"),
             )),
    FileSpec("visits", "registry/visits", "registry",
             "Registry visits: the baseline risk assessment and follow-up visits.", ("VISIT_ID",), (
                 Col("VISIT_ID", "id", "visit identifier"),
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("ORG_ID", "string", "organization reporting the visit"),
                 Col("VISIT_DT", "date", "visit date"),
                 Col("VISIT_TYPE", "string", "visit type", allowed=("baseline", "follow-up")),
                 Col("REPORTED_RISK", "number", "10-year ASCVD risk (fraction) computed and "
                     "reported by the organization; intervention arm only", nullable=True, min=0, max=1),
             )),
    FileSpec("clinical", "registry/clinical", "registry",
             "Clinical indicators, one row per visit and indicator. Values: cholesterol in mg/dL, "
             "systolic BP in mmHg, 0/1 for smoking, diabetes and medication use.",
             ("VISIT_ID", "INDICATOR"), (
                 Col("VISIT_ID", "id", "visit (must exist in visits)"),
                 Col("INDICATOR", "string", "indicator", allowed=(
                     "total_cholesterol", "hdl", "ldl", "systolic_bp", "smoking", "diabetes",
                     "statin", "antihypertensive", "aspirin")),
                 Col("VALUE", "number", "value (implausible values are set to missing by a "
                     "documented rule and counted; see plausible ranges in config)", nullable=True),
                 Col("MEASURE_DT", "date", "date measured"),
             )),
    # ---------------------------------------------------------------- Medicare ----------
    FileSpec("mbsf", "medicare/mbsf/mbsf_{year}", "medicare",
             "Master Beneficiary Summary File, base and monthly enrollment segments: one row per "
             "beneficiary and calendar year. Monthly columns _01.._12.",
             ("BENE_ID", "BENE_ENROLLMT_REF_YR"), (
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("BENE_ENROLLMT_REF_YR", "integer", "reference year", min=1999, max=2100),
                 Col("BENE_BIRTH_DT", "date", "date of birth"),
                 Col("BENE_SEX_IDENT_CD", "string", "sex (1 male, 2 female, 0 unknown)", allowed=("0", "1", "2")),
                 Col("BENE_RACE_CD", "string", "RTI/CMS race code", allowed=("0", "1", "2", "3", "4", "5", "6")),
                 Col("BENE_DEATH_DT", "date", "date of death", nullable=True),
                 Col("ESRD_IND", "string", "end-stage renal disease in the year; decides ESRD for every "
                     "month of the year whose MDCR_STATUS_CODE is absent or empty", allowed=("Y", "0")),
                 Col("BENE_HI_CVRAGE_TOT_MONS", "integer", "months of Part A", min=0, max=12),
                 Col("BENE_SMI_CVRAGE_TOT_MONS", "integer", "months of Part B", min=0, max=12),
                 Col("BENE_HMO_CVRAGE_TOT_MONS", "integer", "months of Medicare Advantage", min=0, max=12),
                 *(Col(f"MDCR_ENTLMT_BUYIN_IND_{m:02d}", "string", f"entitlement/buy-in, month {m}: 0 none, "
                       "1 A only, 2 B only, 3 A and B; A, B, C the same with state buy-in", allowed=tuple(BUYIN_CODES))
                   for m in range(1, 13)),
                 *(Col(f"HMO_IND_{m:02d}", "string", f"Medicare Advantage indicator, month {m}: 0 and 4 FFS; "
                       "1, 2, A, B, C Medicare Advantage", allowed=tuple(HMO_CODES)) for m in range(1, 13)),
                 *(Col(f"PTD_CNTRCT_ID_{m:02d}", "string", f"Part D contract, month {m}: '0', 'N', 'X' "
                       "or empty = no Part D", nullable=True) for m in range(1, 13)),
                 *(Col(f"DUAL_STUS_CD_{m:02d}", "string", f"Medicare-Medicaid dual status, month {m}: "
                       "00/09/NA = not dual; 99, empty or absent = unknown (kept missing, counted); "
                       "other codes = dual", required=False, nullable=True) for m in range(1, 13)),
                 *(Col(f"MDCR_STATUS_CODE_{m:02d}", "string", f"Medicare status, month {m}: 11, 21 and 31 "
                       "involve ESRD; empty or absent: ESRD_IND decides", required=False, nullable=True)
                   for m in range(1, 13)),
             ), yearly=True),
    FileSpec("inpatient", "claims/inpatient/inpatient_{year}", "claims",
             "Inpatient base claims (NCH_CLM_TYPE_CD 60), from 2007 for the prior-event lookback.",
             ("CLM_ID",), CLAIM_BASE + _dx_cols() + (
                 Col("CLM_ADMSN_DT", "date", "admission date"),
                 Col("NCH_BENE_DSCHRG_DT", "date", "discharge date", nullable=True),
                 Col("PTNT_DSCHRG_STUS_CD", "string", "discharge status", required=False, nullable=True),
                 Col("CLM_DRG_CD", "string", "MS-DRG", required=False, nullable=True),
             ), yearly=True),
    FileSpec("outpatient", "claims/outpatient/outpatient_{year}", "claims",
             "Hospital outpatient base claims (40).", ("CLM_ID",), CLAIM_BASE + _dx_cols(), yearly=True),
    FileSpec("outpatient_revenue", "claims/outpatient_revenue/outpatient_revenue_{year}", "claims",
             "Outpatient revenue-center lines.", ("CLM_ID", "CLM_LINE_NUM"), (
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("CLM_ID", "id", "claim (must exist in outpatient)"),
                 Col("CLM_LINE_NUM", "integer", "line number", min=1),
                 Col("REV_CNTR", "string", "revenue center code (0450-0459 and 0981: emergency department)",
                     pattern=REV_PATTERN),
                 Col("REV_CNTR_DT", "date", "date of the revenue-center service", nullable=True),
                 Col("HCPCS_CD", "string", "HCPCS/CPT code", nullable=True, pattern=HCPCS_PATTERN),
                 Col("REV_CNTR_PMT_AMT_AMT", "number", "revenue-center payment, USD (negative: adjustment)"),
             ), yearly=True),
    FileSpec("carrier", "claims/carrier/carrier_{year}", "claims",
             "Carrier (physician/supplier Part B) base claims (71, 72).", ("CLM_ID",),
             tuple(c for c in CLAIM_BASE) + _dx_cols(1, 12) + (
                 Col("CARR_CLM_BLG_NPI_NUM", "string", "billing NPI", nullable=True, pattern=NPI_PATTERN, npi=True),
             ), yearly=True),
    FileSpec("carrier_line", "claims/carrier_line/carrier_line_{year}", "claims",
             "Carrier claim lines. Exact duplicate lines are dropped by a documented rule and counted.",
             ("CLM_ID", "LINE_NUM"), (
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("CLM_ID", "id", "claim (must exist in carrier)"),
                 Col("LINE_NUM", "integer", "line number", min=1),
                 Col("PRF_PHYSN_NPI", "string", "performing NPI", nullable=True, pattern=NPI_PATTERN, npi=True),
                 Col("TAX_NUM", "string", "billing TIN", nullable=True),
                 Col("HCPCS_CD", "string", "HCPCS/CPT code (99202-99205, 99211-99215: office E&M)",
                     nullable=True, pattern=HCPCS_PATTERN),
                 Col("LINE_NCH_PMT_AMT", "number", "line payment, USD (negative: adjustment)"),
                 Col("LINE_1ST_EXPNS_DT", "date", "line first expense (service) date"),
                 Col("LINE_PLACE_OF_SRVC_CD", "string", "place of service (11 office)", nullable=True),
             ), yearly=True),
    FileSpec("snf", "claims/snf/snf_{year}", "claims", "Skilled nursing facility claims (20, 30).",
             ("CLM_ID",), CLAIM_BASE + _dx_cols(), yearly=True),
    FileSpec("hha", "claims/hha/hha_{year}", "claims", "Home health claims (10).",
             ("CLM_ID",), CLAIM_BASE + _dx_cols(), yearly=True),
    FileSpec("hospice", "claims/hospice/hospice_{year}", "claims",
             "Hospice claims (50); the hospice election comes from CLM_HOSPC_START_DT_ID.",
             ("CLM_ID",), CLAIM_BASE + _dx_cols() + (
                 Col("CLM_HOSPC_START_DT_ID", "date", "hospice period start (election) date"),
             ), yearly=True),
    FileSpec("pde", "claims/pde/pde_{year}", "claims",
             "Part D prescription drug events.", ("PDE_ID",), (
                 Col("PDE_ID", "id", "event identifier"),
                 Col("BENE_ID", "string", "beneficiary"),
                 Col("SRVC_DT", "date", "date filled"),
                 Col("PD_DT", "date", "date paid (used for the runout)", nullable=True),
                 Col("PROD_SRVC_ID", "string", "product service ID (11-digit NDC)", pattern=NDC_PATTERN),
                 Col("QTY_DSPNSD_NUM", "number", "quantity dispensed", min=0),
                 Col("DAYS_SUPLY_NUM", "integer", "days supply", min=0, max=365),
                 Col("TOT_RX_CST_AMT", "number", "total drug cost, USD", min=0),
                 Col("BRND_GNRC_CD", "string", "brand (B) or generic (G)", nullable=True, allowed=("B", "G")),
             ), yearly=True),
    FileSpec("ndc", "reference/ndc", "reference",
             "Drug reference: NDC to generic name and strength (from FDA's NDC directory for real "
             "data; synthetic labeler 99999 in the embedded trial).", ("PROD_SRVC_ID",), (
                 Col("PROD_SRVC_ID", "string", "11-digit NDC", pattern=NDC_PATTERN),
                 Col("GNN", "string", "generic name (lower case)"),
                 Col("STRENGTH_MG", "number", "strength in mg", min=0),
                 Col("DRUG_CLASS", "string", "class (informational; the pipeline classifies by generic name and "
                     "strength with config/codes/cv_drugs.csv)", required=False, nullable=True, allowed=(
                     "statin", "ace_inhibitor", "arb", "calcium_channel_blocker", "thiazide", "beta_blocker",
                     "other_antihypertensive")),
                 Col("STATIN_INTENSITY", "string", "ACC/AHA statin intensity (informational)", required=False, nullable=True,
                     allowed=("low", "moderate", "high", "")),
             )),
    # ---------------------------------------------------------------- NDI --------------
    FileSpec("ndi", "ndi/cause_of_death", "ndi",
             "Cause of death from the National Death Index (NCHS), linked to the beneficiaries: one row per "
             "death the NDI matched (CMS's CCW delivers NDI-linked files keyed by BENE_ID). The death date "
             "that ends follow-up is always the enrollment file's (MBSF BENE_DEATH_DT); the NDI gives the "
             "underlying cause, used when its death date agrees with the MBSF's within "
             "outcomes.death_date_tolerance_days (the link rule, counted in the validation report).",
             ("BENE_ID",), (
                 Col("BENE_ID", "string", "beneficiary (must be a registry beneficiary)"),
                 Col("NDI_DEATH_DT", "date", "date of death on the death certificate (NDI)"),
                 Col("UCOD", "string", "underlying cause of death, ICD-10 (WHO, as NCHS codes "
                     "mortality), no decimal point, e.g. I219", pattern=UCOD_PATTERN),
             ), required=False),
    # ---------------------------------------------------------------- CMS --------------
    FileSpec("payments", "cms/payments", "cms",
             "CMS model payments by organization, half-year period and payment type.",
             ("ORG_ID", "PERIOD", "PAYMENT_TYPE"), (
                 Col("ORG_ID", "string", "organization (must exist in organizations)"),
                 Col("PERIOD", "string", "half-year, e.g. 2017H1", pattern=r"^20[0-9]{2}H[12]$"),
                 Col("PAYMENT_TYPE", "string", "CVD_RA risk assessment ($10 once), CVD_CM care "
                     "management (up to $10 a month per high-risk beneficiary), CONTROL_DATA ($20 per "
                     "beneficiary per reporting year)", allowed=("CVD_RA", "CVD_CM", "CONTROL_DATA")),
                 Col("N_BENEFICIARIES", "integer", "beneficiaries the payment covers", min=0),
                 Col("AMOUNT", "number", "amount paid, USD", min=0),
             )),
    FileSpec("survey", "cms/survey", "cms",
             "Provider survey responses, long format (organizations not listed in a wave did not "
             "respond; the organizations file is the frame).", ("ORG_ID", "WAVE", "ITEM"), (
                 Col("ORG_ID", "string", "organization"),
                 Col("WAVE", "integer", "survey wave", min=1),
                 Col("SURVEY_DT", "date", "date of the response"),
                 Col("ITEM", "string", "item name"),
                 Col("VALUE", "number", "response (percent or 0/1)", nullable=True),
             ), required=False),
)

BY_NAME = {f.name: f for f in FILES}

NPI_PREFIX = "80840"  # the card-issuer prefix of the NPI: the check digit is Luhn's over 80840 + the NPI


def _luhn_sum(digits: str) -> int:
    """Luhn sum of ``digits`` with every second digit from the right doubled (digit sum taken)."""
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if k % 2 else 1)
        total += d - 9 if d > 9 else d
    return total


def npi_check_digit(first9: str) -> str:
    """The NPI check digit of the first nine digits (CMS's NPI standard: Luhn over 80840 + them)."""
    return str((10 - _luhn_sum(NPI_PREFIX + first9 + "0") % 10) % 10)


def npi_valid(npi) -> bool:
    """True if ``npi`` is ten digits whose last is the check digit of the first nine
    (e.g. 1234567893 is valid, 1234567890 is not)."""
    s = str(npi)
    return len(s) == 10 and s.isdigit() and npi_check_digit(s[:9]) == s[9]


def spec(name: str) -> FileSpec:
    """The :class:`FileSpec` of input ``name`` (e.g. "alignment", "inpatient")."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no input file named '{name}'; known: {sorted(BY_NAME)}") from None
