"""The workflow on files in the DE-SynPUF and CCW layouts: staging is a step whose inputs are the
original files, and (with optional inputs) the whole run on DE-SynPUF beneficiary summaries,
inpatient claims and Part D events plus the registry in the contract's form."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mheval.synth.__main__ import main as synth_main
from test_workflow import TINY, _snakemake, copy_workflow

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def desynpuf_files(tmp_path_factory) -> Path:
    """A tiny synthetic trial in the DE-SynPUF layout: beneficiary summaries, inpatient claims and
    Part D events only (no outpatient or carrier files), the registry in the contract's form."""
    d = tmp_path_factory.mktemp("desynpuf_files")
    assert synth_main(["--scale", "0.012", "--out", str(d), "--layout", "desynpuf"]) == 0
    for p in list(d.glob("*Outpatient_Claims*")) + list(d.glob("*Carrier_Claims*")):
        p.unlink()
    return d


def _data(layout: str, d: Path) -> str:
    return f"data={{source: files, layout: {layout}, dir: {d}}}"


def test_replacing_an_original_file_restages(desynpuf_files, tmp_path):
    # a copy: the mtimes moved below must not reach the module's shared files (a later run on them
    # would find inputs newer than its outputs)
    desynpuf_files = Path(shutil.copytree(desynpuf_files, tmp_path / "files"))
    wd = copy_workflow(tmp_path / "wf")
    proc = _snakemake(wd, "--config", _data("desynpuf", desynpuf_files), "--", "results/inputs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (wd / "results/inputs/provenance.json").exists() and (wd / "results/inputs/claims/pde").is_dir()
    assert not (desynpuf_files / "claims").exists()  # data.dir is only read
    proc = _snakemake(wd, "-n", "--config", _data("desynpuf", desynpuf_files), "--", "results/inputs")
    assert "stage_inputs" not in proc.stdout, proc.stdout[-2000:]
    pde = next(desynpuf_files.glob("*Prescription_Drug_Events*"))
    os.utime(pde, (pde.stat().st_atime + 60, pde.stat().st_mtime + 60))
    proc = _snakemake(wd, "-n", "--config", _data("desynpuf", desynpuf_files), "--", "results/inputs")
    assert re.search(r"^rule stage_inputs:", proc.stdout, re.M), proc.stdout[-2000:]
    registry = desynpuf_files / "registry" / "demographics.parquet"
    os.utime(registry, (registry.stat().st_atime + 120, registry.stat().st_mtime + 120))
    proc = _snakemake(wd, "-n", "--config", _data("desynpuf", desynpuf_files), "--", "results/inputs")
    assert re.search(r"^rule stage_inputs:", proc.stdout, re.M), proc.stdout[-2000:]


def test_ccw_layout_runs_end_to_end(tmp_path):
    """CCW files (CSV, dates as YYYYMMDD, CCW names) staged, then the workflow through the cohort and
    every hazard ratio; the cohort built from the staged files is the generator's analyzed cohort. (The
    layout changes only staging: the run from the staged files to the report is the contract layout's,
    which test_workflow_tiny and test_workflow run whole; this test ran it whole too, 218 s of the suite.)"""
    files = tmp_path / "ccw"
    assert synth_main(["--scale", "0.012", "--out", str(files), "--layout", "ccw"]) == 0
    truth = json.loads((files / "truth.json").read_text())
    wd = copy_workflow(tmp_path / "wf")
    proc = _snakemake(wd, "-n", "--config", _data("ccw", files), *TINY[1:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):", proc.stdout, re.M)
    assert jobs.index("stage_inputs") < jobs.index("validate_inputs") and "simulate_trial" not in jobs
    proc = _snakemake(wd, "--config", _data("ccw", files), *TINY[1:], "--", "results/tables/cohort_flow.csv",
                      "results/tables/hazard_ratios.csv")
    assert proc.returncode == 0, proc.stderr[-4000:]
    flow = pd.read_csv(wd / "results" / "tables" / "cohort_flow.csv")
    assert flow.loc[flow["step"] == "analyzed", "n_total"].iloc[0] == truth["n_analyzed"]
    hr = pd.read_csv(wd / "results" / "tables" / "hazard_ratios.csv")
    assert len(hr) == 9 and hr["hazard_ratio"].between(0.3, 3).all()  # the CCW layout has the NDI: the composite too
    assert not list(files.rglob("results"))  # data.dir is only read


def test_desynpuf_layout_runs_end_to_end(desynpuf_files, tmp_path):
    wd = copy_workflow(tmp_path)
    proc = _snakemake(wd, "--config", _data("desynpuf", desynpuf_files), *TINY[1:])
    assert proc.returncode == 0, proc.stderr[-4000:]
    html = (wd / "results" / "report.html").read_text()
    assert "Hazard ratios" in html and "not estimable" in html.lower()
    # every outcome is estimated or marked not estimable with its reason, never a blank or a crash
    for table, estimate in (("impacts", "impact"), ("hazard_ratios", "hazard_ratio")):
        t = pd.read_csv(wd / "results" / "tables" / f"{table}.csv")
        noted = t["note"].fillna("").str.startswith("not estimable: ")
        assert (noted ^ t[estimate].notna()).all(), t[["outcome", "population", estimate, "note"]]
    impacts = pd.read_csv(wd / "results" / "tables" / "impacts.csv").set_index("outcome")
    # no SNF, home health, hospice or carrier files: total spending and office visits are not estimable
    assert impacts.filter(like="Part A and B spending per year", axis=0)["note"].str.contains("not estimable").all()
    assert impacts.filter(like="Office visits", axis=0)["note"].str.contains("not estimable").all()
    hr = pd.read_csv(wd / "results" / "tables" / "hazard_ratios.csv")
    assert hr["hazard_ratio"].notna().any()  # inpatient claims and deaths are there: hazard ratios estimated
    # DE-SynPUF has no cause of death: the composite with CV death is not estimable, with the reason
    composite = hr[hr["outcome"].str.endswith("coronary or cerebrovascular death")]
    assert len(composite) == 3 and composite["note"].str.contains("needs the National Death Index").all()
