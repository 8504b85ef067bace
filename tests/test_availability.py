"""Optional inputs: availability from config, layout and files; the outcomes each input allows;
empty optional files mean "unavailable" in validation, empty required files are an error."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mheval.contract.availability import (LAYOUT_LACKS, OPTIONAL_INPUTS, OUTCOME_NEEDS, available_inputs,
                                          files_are_empty, outcome_reason, restrict_config, unavailable_inputs)


def _cfg(config, **data):
    cfg = copy.deepcopy(config)
    cfg["data"].update(data)
    return cfg


def test_declared_unavailable(config):
    a = available_inputs(_cfg(config, unavailable=["snf", "hha", "hospice"]))
    assert unavailable_inputs(a) == ["snf", "hha", "hospice"]
    assert a["snf"].reason == "declared unavailable in config (data.unavailable)"
    assert a["inpatient"].available and a["survey"].available
    with pytest.raises(ValueError, match="mbsf"):
        available_inputs(_cfg(config, unavailable=["mbsf"]))


def test_layout_lacks(config):
    assert LAYOUT_LACKS["contract"] == () and LAYOUT_LACKS["ccw"] == ()
    a = available_inputs(_cfg(config, layout="desynpuf"))
    assert unavailable_inputs(a) == ["snf", "hha", "hospice", "outpatient_revenue", "ndi"]
    assert a["hha"].reason == "not in the desynpuf layout"
    assert a["carrier_line"].available  # wide carrier lines become a line file in the adapter


def _empty_parquet(path: Path, columns=("BENE_ID", "CLM_ID")):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({c: pa.array([], pa.string()) for c in columns}), path)


def test_files_missing_empty_and_dependencies(config, tmp_path):
    _empty_parquet(tmp_path / "claims/snf/snf_2017.parquet")
    (tmp_path / "claims/hha").mkdir(parents=True)
    (tmp_path / "claims/hha/hha_2017.csv").write_text("BENE_ID,CLM_ID\n\n")
    pq.write_table(pa.table({"BENE_ID": ["b1"], "CLM_ID": ["c1"]}), tmp_path / "claims/snf/snf_2018.parquet")
    _empty_parquet(tmp_path / "claims/inpatient/inpatient_2017.parquet")
    (tmp_path / "claims/inpatient/inpatient_2018.csv").write_text("BENE_ID,CLM_ID\nb1,c1\n")
    a = available_inputs(_cfg(config, source="files", dir=str(tmp_path)))
    assert a["snf"].available  # one year with rows is enough
    assert a["hha"] == a["hha"].__class__(False, "empty file (no rows)")
    assert a["hospice"].reason == "no file in the input directory"
    assert a["carrier_line"].reason == "no file in the input directory"
    # Parquet takes precedence over CSV: only the empty inpatient Parquet file is the input
    assert a["inpatient"].reason == "empty file (no rows)"
    # a line file without its base claims is unavailable
    _empty_parquet(tmp_path / "claims/carrier/carrier_2017.parquet")
    (tmp_path / "claims/carrier_line").mkdir()
    pq.write_table(pa.table({"CLM_ID": ["c1"]}), tmp_path / "claims/carrier_line/carrier_line_2017.parquet")
    a = available_inputs(_cfg(config, source="files", dir=str(tmp_path)))
    assert a["carrier_line"].reason == "needs carrier claims, unavailable"
    # with the synthetic source nothing is looked at: the generator writes every input
    assert not unavailable_inputs(available_inputs(_cfg(config, source="synthetic", dir=str(tmp_path))))


def test_files_are_empty(tmp_path):
    _empty_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("X,Y\n")
    (tmp_path / "c.csv").write_text("X,Y\n1,2\n")
    assert files_are_empty([tmp_path / "a.parquet", tmp_path / "b.csv"])
    assert not files_are_empty([tmp_path / "a.parquet", tmp_path / "c.csv"])


def test_outcome_needs_table_and_restricted_config(config):
    assert set(OUTCOME_NEEDS["spend_ab"]) == {"inpatient", "outpatient", "carrier", "snf", "hha", "hospice"}
    assert all(n in OPTIONAL_INPUTS for needs in OUTCOME_NEEDS.values() for n in needs)
    cfg = _cfg(config, unavailable=["snf", "hha", "hospice", "outpatient"])
    a = available_inputs(cfg)
    assert outcome_reason("spend_ab", a) == "needs outpatient claims, SNF claims, home health claims, hospice claims, unavailable"
    assert outcome_reason("hosp_all", a) == ""
    run, left_out, notes = restrict_config(cfg, a)
    assert run["models"]["continuous_outcomes"] == ["hosp_all", "hosp_cvd", "office_mh"]
    assert run["models"]["binary_outcomes"] == config["models"]["binary_outcomes"]
    assert set(left_out) == {"spend_ab", "spend_ab_mh", "spend_cvd", "ed_all", "ed_cvd"}
    assert left_out["ed_all"] == "needs outpatient claims, outpatient revenue-center lines, unavailable"
    assert run["subgroups"]["equation1_outcomes"] == []
    assert run["outcomes"]["event_claim_types"] == ["inpatient"]
    assert notes == ["Event claim types searched: inpatient; left out: outpatient claims (unavailable).",
                     "Hospice at enrollment is not an exclusion in this run: hospice claims are unavailable."]
    assert run["data"]["unavailable"] == ["outpatient", "snf", "hha", "hospice", "outpatient_revenue"]
    assert config["models"]["continuous_outcomes"][0] == "spend_ab"  # the input config is not changed
    # no inpatient claims: no first-event outcome, no hospitalizations
    run, left_out, _ = restrict_config(config, available_inputs(_cfg(config, unavailable=["inpatient"])))
    assert run["models"]["survival_outcomes"] == ["death"]
    assert {"event", "event_within_window", "hosp_all", "any_hosp"} <= set(left_out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from mheval.synth import generate_trial

    out = tmp_path_factory.mktemp("tiny_avail")
    generate_trial(out, scale=0.003, seed=3)
    return out


def _empty_every_file(d: Path, sub: str):
    for f in sorted((d / sub).glob("*.parquet")):
        t = pq.read_table(f)
        pq.write_table(t.slice(0, 0), f)


def test_validation_empty_optional_is_unavailable_empty_required_is_an_error(tiny, tmp_path):
    from mheval.contract import InputValidationError, validate_inputs

    d = tmp_path / "d"
    shutil.copytree(tiny, d)
    _empty_every_file(d, "claims/snf")
    shutil.rmtree(d / "claims/hha")
    report = validate_inputs(d, unavailable=("hha", "hospice"))
    assert report["unavailable"] == {"snf": "empty file (no rows)", "hha": "unavailable", "hospice": "unavailable"}
    assert "snf" not in report["rows"] and report["rows"]["inpatient"] > 0
    # payments may be unavailable too
    (d / "cms/payments.parquet").unlink()
    assert validate_inputs(d, unavailable=("hha", "payments"))["unavailable"]["payments"] == "unavailable"
    _empty_every_file(d, "registry")
    with pytest.raises(InputValidationError, match="is empty"):
        validate_inputs(d, unavailable=("hha", "payments"))


def test_empty_registry_file_is_still_named(tiny, tmp_path):
    from mheval.contract import InputValidationError, validate_inputs

    d = tmp_path / "d"
    shutil.copytree(tiny, d)
    visits = pd.read_parquet(d / "registry/visits.parquet").head(0)
    visits.to_parquet(d / "registry/visits.parquet", index=False)
    with pytest.raises(InputValidationError, match="visits.parquet"):
        validate_inputs(d)


def test_medication_windows_need_part_d_and_clinical_outcomes_only_the_registry(config):
    cfg = _cfg(config, unavailable=["pde", "snf"])
    a = available_inputs(cfg)
    run, left_out, _ = restrict_config(cfg, a)
    assert run["models"]["medication_window_outcomes"] == []
    assert left_out["med_any_6m"] == "needs Part D events, the NDC drug reference, unavailable"
    assert run["models"]["clinical_outcomes"] == config["models"]["clinical_outcomes"] == ["sbp", "ldl"]
    # CVD spending sums every claim type in the 90 days after the event: no SNF claims, no outcome
    assert left_out["spend_cvd"] == "needs SNF claims, unavailable"
    assert "hosp_cvd" in run["models"]["continuous_outcomes"]
