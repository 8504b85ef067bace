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
    for key in ("codes", "ed_revenue_centers", "office_visit_hcpcs", "drugs"):
        cfg["outcomes"][key] = str(ROOT / cfg["outcomes"][key])
    return cfg


@pytest.fixture
def cfg(config) -> dict:
    """A fresh copy of the config that a test may change."""
    return copy.deepcopy(config)


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
