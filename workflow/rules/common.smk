# Helpers shared by the rules.
import copy
from pathlib import Path

from mheval.contract.availability import available_inputs, restrict_config, unavailable_inputs

DATA_DIR = config["data"]["dir"]
# optional inputs (claim types, line files, Part D, payments, survey): which are available, and the
# run they allow: outcomes that need an unavailable input are left out (no rules), with a reason
AVAILABILITY = available_inputs(config, DATA_DIR)
_restricted, LEFT_OUT, DATA_NOTES = restrict_config(config, AVAILABILITY)
config.update(_restricted)
UNAVAILABLE = unavailable_inputs(AVAILABILITY)
SURVIVAL_LEFT_OUT_KEYS = ("event", "death", "survey")
AVAILABILITY_TEXT = {n: a.reason for n, a in AVAILABILITY.items() if not a.available}
SURVIVAL_OUTCOMES = config["models"]["survival_outcomes"]
POPULATIONS = config["models"]["populations"]
SURVIVAL_POPULATIONS = config["models"]["survival_populations"]


def data_ready():
    """The file that marks the inputs as present: the generator's truth.json for the synthetic
    trial; nothing for your own files (validate_inputs checks them)."""
    if config["data"]["source"] == "synthetic":
        return [f"{DATA_DIR}/truth.json"]
    return []


def cfg_subset(*keys):
    """Config sections passed as params, so that changing one reruns exactly its users."""
    return {k: copy.deepcopy(config[k]) for k in keys}

CLAIM_TYPES = [t for t in ["inpatient", "outpatient", "carrier", "snf", "hha", "hospice"] if t not in UNAVAILABLE]


def available(name):
    """Whether optional input ``name`` is available in this run."""
    return name not in UNAVAILABLE


LIMITS = {k: config["models"][k] for k in ("min_events_per_arm", "min_organizations_per_arm") if k in config["models"]}
# calendar years holding baseline and follow-up claims: the year before the first enrollment
# through the year after the study ends (late stays are filed under their through date)
CLAIM_YEARS = list(range(int(config["study"]["enroll_start"][:4]) - 1, int(config["study"]["end_date"][:4]) + 2))


def claims_file(claim_type, year):
    """The raw yearly claims file when it exists already (your own files), so that a changed file
    reruns its extraction; synthetic files are tracked through the generator's truth.json."""
    for ext in (".parquet", ".csv"):
        path = Path(DATA_DIR) / "claims" / claim_type / f"{claim_type}_{year}{ext}"
        if path.exists() and config["data"]["source"] == "files":
            return [str(path)]
    return []
