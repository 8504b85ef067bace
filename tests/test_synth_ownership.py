"""The generator writes only into an empty directory or one it marked as its own, and never deletes
files it did not write."""

from __future__ import annotations

import json

import pytest

from mheval.synth import generate_trial
from mheval.synth.ownership import MARKER, ForeignDirectoryError, synthetic_output_dir

TINY = 0.004


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_directory_with_a_foreign_file_is_refused_and_left_intact(tmp_path):
    real = tmp_path / "claims" / "inpatient" / "inpatient_2019.parquet"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"real CMS claims")
    (tmp_path / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    with pytest.raises(ForeignDirectoryError, match="was not written by the synthetic generator") as err:
        generate_trial(tmp_path, scale=TINY, seed=3)
    assert "claims/inpatient/inpatient_2019.parquet" in str(err.value) and "data.source: files" in str(err.value)
    assert _tree(tmp_path) == before  # nothing written, nothing deleted, no marker


def test_marked_directory_is_regenerated_and_only_its_own_files_replaced(tmp_path):
    out = tmp_path / "trial"
    generate_trial(out, scale=TINY, seed=3)
    marker = json.loads((out / MARKER).read_text())
    assert marker["complete"] and "truth.json" in marker["files"]
    assert "registry/alignment.parquet" in marker["files"] and marker["params"]["seed"] == 3
    assert sorted(marker["files"]) == sorted(_tree(out).keys() - {MARKER})
    # a file the generator wrote and later removed by the user: still fine to regenerate
    (out / "cms" / "survey.parquet").unlink()
    generate_trial(out, scale=TINY, seed=4)
    assert json.loads((out / "truth.json").read_text())["params"]["seed"] == 4
    # a foreign file dropped into the marked directory: refused, and both it and the trial stay
    stray = out / "claims" / "snf" / "snf_2030.csv"
    stray.write_text("BENE_ID\n1\n")
    before = _tree(out)
    with pytest.raises(ForeignDirectoryError, match="marker does not list.*claims/snf/snf_2030.csv"):
        generate_trial(out, scale=TINY, seed=5)
    assert _tree(out) == before


def test_marker_records_files_written_before_a_failure(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with synthetic_output_dir(tmp_path / "t", {"seed": 1}) as out:
            (out / "a").mkdir()
            (out / "a" / "x.parquet").write_bytes(b"x")
            raise RuntimeError("boom")
    marker = json.loads((tmp_path / "t" / MARKER).read_text())
    assert marker == {"written_by": "mheval.synth.generate_trial", "complete": False, "params": {"seed": 1},
                      "files": ["a/x.parquet"]}
    with synthetic_output_dir(tmp_path / "t", {"seed": 2}) as out:  # the partial output is replaced
        assert not (out / "a").exists()


def test_layout_writer_claims_its_directory_like_the_generator(tmp_path):
    """python -m mheval.synth --layout desynpuf: a foreign directory is refused and left intact; an
    empty one is written and marked, so a second run replaces only its own files."""
    from mheval.synth.__main__ import main

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "DE1_0_2008_Beneficiary_Summary_File_Sample_1.csv").write_text("real DE-SynPUF file")
    before = _tree(foreign)
    with pytest.raises(ForeignDirectoryError):
        main(["--scale", str(TINY), "--seed", "3", "--out", str(foreign), "--layout", "desynpuf"])
    assert _tree(foreign) == before
    out = tmp_path / "mine"
    assert main(["--scale", str(TINY), "--seed", "3", "--out", str(out), "--layout", "desynpuf"]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert sorted(marker["files"]) == sorted(_tree(out).keys() - {MARKER}) and "truth.json" in marker["files"]
    assert main(["--scale", str(TINY), "--seed", "3", "--out", str(out), "--layout", "desynpuf"]) == 0
