# Helpers shared by the rules.
import copy
from pathlib import Path

# data.dir holds the files in data.layout; any layout other than the contract is staged as the
# contract in STAGED_DIR (rule stage_inputs), which every later rule reads as DATA_DIR
LAYOUT = config["data"].get("layout", "contract")
RAW_DIR = config["data"]["dir"]
STAGED_DIR = "results/inputs"
if LAYOUT != "contract" and config["data"]["source"] == "synthetic":
    raise ValueError(f"data.layout: {LAYOUT} needs data.source: files (the synthetic trial is simulated in the "
                     "contract; write it in another layout with python -m mheval.synth --layout LAYOUT)")
DATA_DIR = RAW_DIR if LAYOUT == "contract" else STAGED_DIR
SURVIVAL_OUTCOMES = config["models"]["survival_outcomes"]
POPULATIONS = config["models"]["populations"]
SURVIVAL_POPULATIONS = config["models"]["survival_populations"]


def data_ready():
    """The file that marks the inputs as present: the generator's truth.json for the synthetic
    trial; the staged contract directory for another layout; nothing for your own files in the
    contract (validate_inputs checks them)."""
    if config["data"]["source"] == "synthetic":
        return [f"{RAW_DIR}/truth.json"]
    if LAYOUT != "contract":
        return [STAGED_DIR]
    return []


def layout_sources():
    """Every original file the layout adapter reads under data.dir (so replacing one restages)."""
    from mheval.contract.layouts import source_files

    return sorted(str(p) for p in source_files(LAYOUT, RAW_DIR))


def cfg_subset(*keys):
    """Config sections passed as params, so that changing one reruns exactly its users."""
    return {k: copy.deepcopy(config[k]) for k in keys}

CLAIM_TYPES = ["inpatient", "outpatient", "carrier", "snf", "hha", "hospice"]
# calendar years holding baseline and follow-up claims: the year before the first enrollment
# through the year after the study ends (late stays are filed under their through date)
CLAIM_YEARS = list(range(int(config["study"]["enroll_start"][:4]) - 1, int(config["study"]["end_date"][:4]) + 2))


def claims_file(claim_type, year):
    """The raw yearly claims file when it exists already (your own files), so that a changed file
    reruns its extraction; synthetic files are tracked through the generator's truth.json."""
    for ext in (".parquet", ".csv"):
        path = Path(DATA_DIR) / "claims" / claim_type / f"{claim_type}_{year}{ext}"
        if path.exists() and config["data"]["source"] == "files" and LAYOUT == "contract":
            return [str(path)]
    return []
