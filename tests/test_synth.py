"""The synthetic trial generator: contract, calibration, planted exclusions, determinism."""

from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pytest

from mheval.contract import read_input, register_input, validate_inputs
from mheval.synth import DEFAULTS, generate_trial, resolve_params


def test_generated_inputs_pass_validation(trial):
    report = validate_inputs(trial[0])
    assert report["rows"]["alignment"] > report["rows"]["demographics"] - 1
    truth = trial[1]
    # documented mess is planted and counted exactly
    assert report["mess"]["realigned_later"] == truth["registry"]["n_realigned_later"] > 0
    assert report["mess"]["implausible_clinical"] == truth["registry"]["n_implausible_ldl"] > 0
    assert report["mess"]["duplicate_claim_lines"]["carrier_line"] == truth["n_duplicate_carrier_lines"] > 0


def test_sizes_and_shares_are_calibrated(trial):
    truth = trial[1]
    assert truth["n_analyzed"] == round(0.03 * DEFAULTS["n_analyzed"])
    assert 0.26 <= truth["share_high_risk"] <= 0.37  # published: about 31%
    assert 70 <= truth["median_age_analyzed"] <= 74  # published median 72
    assert 0.53 <= truth["share_male_analyzed"] <= 0.64  # published 58%
    assert 0.04 <= truth["share_black_analyzed"] <= 0.10  # published 7%
    assert 0.65 <= truth["share_part_d_analyzed"] <= 0.75
    assert 3.8 <= truth["median_follow_up_years"] <= 4.8  # published median 4.3
    for reason, share in DEFAULTS["exclusions"].items():
        n = sum(truth["planted_exclusions"][reason].values())
        assert n == pytest.approx(share * truth["n_analyzed"], abs=2), reason


def test_control_rates_match_published_targets(trial):
    """Realized control rates are within sampling error of the calibration targets."""
    r = trial[1]["realized_rates"]
    for stratum, target_event, target_death in (("high", 22.7, 39.0), ("medium", 14.6, 25.0)):
        c = r[f"{stratum}_control"]
        py = c["person_years_event"]
        se_event = 1000 * np.sqrt(target_event / 1000 / py)  # Poisson standard error
        # organization frailty adds between-cluster variation: allow 4 Poisson SEs plus 15%
        assert abs(c["event_per_1000py"] - target_event) < 4 * se_event + 0.15 * target_event
        assert abs(c["death_per_1000py"] - target_death) < 4 * 1000 * np.sqrt(target_death / 1000 / py) + 0.15 * target_death


def test_spending_near_published_level(trial):
    s = trial[1]["spending"]["total_ab_pbpm_control"]
    assert 800 <= s <= 1110  # published control mean $954.82 per beneficiary per month


def test_claims_processed_after_service_and_icd_revision_by_date(trial):
    d = trial[0]
    con = duckdb.connect()
    src = register_input(con, "inpatient", data_dir=d)
    bad = con.execute(f"SELECT count(*) FROM {src} WHERE NCH_WKLY_PROC_DT <= CLM_THRU_DT").fetchall()[0][0]
    assert bad == 0
    # ICD-9 codes (numeric) only before 2015-10-01, ICD-10 (letter first) only after
    mixed = con.execute(f"""SELECT count(*) FROM {src} WHERE
        (CLM_FROM_DT < DATE '2015-10-01' AND regexp_matches(PRNCPAL_DGNS_CD, '^[A-Z]'))
        OR (CLM_FROM_DT >= DATE '2015-10-01' AND regexp_matches(PRNCPAL_DGNS_CD, '^[0-9]'))""").fetchall()[0][0]
    assert mixed == 0
    late = con.execute(f"SELECT count(*) FROM {src} WHERE NCH_WKLY_PROC_DT > DATE '2022-03-31'").fetchall()[0][0]
    assert late > 0  # a later runout brings in more claims


def test_arms_randomized_within_strata(trial):
    orgs = read_input(trial[0], "organizations")
    per = orgs.groupby("STRATUM")["ARM"].apply(lambda a: abs((a == "intervention").sum() - (a == "control").sum()))
    assert per.max() <= 1  # alternating assignment within each stratum
    assert set(orgs["ARM"]) == {"intervention", "control"}


def _digest(directory):
    """SHA-256 of every file under ``directory`` (truth.json and the .mheval-synthetic marker included)."""
    h = {}
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        h[str(f.relative_to(directory))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return h


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ta = generate_trial(a, scale=0.004, seed=5)
    tb = generate_trial(b, scale=0.004, seed=5)
    assert {"truth.json", ".mheval-synthetic", "registry/organizations.parquet"} <= set(_digest(a))
    assert _digest(a) == _digest(b)
    assert json.dumps(ta, sort_keys=True, default=str) == json.dumps(tb, sort_keys=True, default=str)
    c = tmp_path / "c"
    generate_trial(c, scale=0.004, seed=6)
    assert _digest(a) != _digest(c)


def test_unknown_parameter_is_rejected():
    with pytest.raises(KeyError, match="effects.hr_evnt"):
        resolve_params({"effects": {"hr_evnt": 0.9}})
