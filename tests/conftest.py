"""Shared fixtures: a small synthetic trial generated once per test session."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from mheval.synth import generate_trial

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def config() -> dict:
    """The shipped config, with the code list path made absolute."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key in ("codes", "ed_revenue_centers", "office_visit_hcpcs", "drugs", "cv_death_codes"):
        cfg["outcomes"][key] = str(ROOT / cfg["outcomes"][key])
    return cfg


@pytest.fixture
def cfg(config) -> dict:
    """A fresh copy of the config that a test may change."""
    return copy.deepcopy(config)


def copy_workflow(d: Path) -> Path:
    """Copy the workflow (Snakefile, workflow/, config/) into directory ``d``; returns ``d``."""
    import shutil

    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", d / "Snakefile")
    shutil.copytree(ROOT / "workflow", d / "workflow")
    shutil.copytree(ROOT / "config", d / "config")
    return d


@pytest.fixture(scope="session")
def workflow_copy(tmp_path_factory):
    """Make a copy of the workflow (Snakefile, workflow/, config/) in a new folder; returns the folder."""
    return lambda name: copy_workflow(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A tiny synthetic trial (scale 0.003, about 1,250 enrollees) for input-validation tests."""
    out = tmp_path_factory.mktemp("tiny")
    generate_trial(out, scale=0.003, seed=3)
    return out


@pytest.fixture(scope="session")
def trial(tmp_path_factory) -> tuple[Path, dict]:
    """A synthetic trial at scale 0.03 (about 6,600 analyzed beneficiaries): (dir, truth)."""
    out = tmp_path_factory.mktemp("trial")
    generate_trial(out, scale=0.03, seed=11)
    return out, json.loads((out / "truth.json").read_text())


@pytest.fixture(scope="session")
def cohort(trial, config):
    """build_cohort on the session trial: (people, flow, qc)."""
    from mheval.cohort import build_cohort

    return build_cohort(trial[0], config)


@pytest.fixture(scope="session")
def tte(trial, cohort, config):
    """The time-to-event file of the session trial, with a full runout."""
    from mheval.analysis import build_time_to_event

    people = cohort[0]
    cfg = {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}}
    return build_time_to_event(trial[0], people[people["EXCLUSION"] == ""].reset_index(drop=True), cfg)


@pytest.fixture(scope="session")
def by_inputs(trial, config, tte):
    """The arguments of build_beneficiary_year for the session trial, with a full runout: (positional
    arguments, keyword arguments with the Part D fills and the payments)."""
    import pandas as pd

    from mheval.contract import read_input
    from mheval.outcomes.codes import load_event_codes
    from mheval.outcomes.extract import BASE_TYPES, extract_claims, extract_fills

    cfg = {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}}
    codes = load_event_codes(config["outcomes"]["codes"])
    parts = [extract_claims(trial[0], t, y, codes, cfg) for t in BASE_TYPES for y in range(2016, 2023)]
    claims = pd.concat([p[0] for p in parts if len(p[0])], ignore_index=True)
    office = pd.concat([p[1] for p in parts if len(p[1])], ignore_index=True)
    fills = pd.concat([f for y in range(2016, 2023) if len(f := extract_fills(trial[0], y, config["outcomes"]["drugs"]))], ignore_index=True)
    return ((tte, claims, office, read_input(trial[0], "providers"), trial[0], cfg),
            {"fills": fills, "payments": read_input(trial[0], "payments")})


@pytest.fixture(scope="session")
def by(by_inputs):
    """The beneficiary-year file of the session trial, with a full runout."""
    from mheval.analysis.beneficiary_year import build_beneficiary_year

    return build_beneficiary_year(*by_inputs[0], **by_inputs[1])
