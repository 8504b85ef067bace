# Helpers shared by the rules.
import copy
from pathlib import Path

DATA_DIR = config["data"]["dir"]
SURVIVAL_OUTCOMES = config["models"]["survival_outcomes"]
POPULATIONS = config["models"]["populations"]


def data_ready():
    """The file that marks the inputs as present: the generator's truth.json for the synthetic
    trial; nothing for your own files (validate_inputs checks them)."""
    if config["data"]["source"] == "synthetic":
        return [f"{DATA_DIR}/truth.json"]
    return []


def cfg_subset(*keys):
    """Config sections passed as params, so that changing one reruns exactly its users."""
    return {k: copy.deepcopy(config[k]) for k in keys}
