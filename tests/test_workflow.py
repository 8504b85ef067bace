"""The Snakemake workflow end to end on a tiny config, reruns, and a broken input stopping it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_workflow  # noqa: F401  (test_workflow_layouts imports it from here)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow
# a tiny trial, and few outcomes and subgroup dimensions to keep the run short
TINY = ["synthetic={scale: 0.012}",
        "models={continuous_outcomes: [spend_ab, office_mh], binary_outcomes: [med_statin], bootstrap_replicates: 40}",
        "subgroups={equation1_outcomes: [spend_ab], survival_outcomes: [event], definitions: {enabled: [sex, risk]}}"]


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--directory", str(workdir),
           "--snakefile", str(workdir / "Snakefile"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workdir(workflow_copy) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/) with a tiny synthetic trial."""
    return workflow_copy("wf")


@pytest.fixture(scope="module")
def finished(workdir) -> Path:
    proc = _snakemake(workdir, "--config", *TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def test_dry_run_lists_the_dag(workdir):
    proc = _snakemake(workdir, "-n", "--config", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("simulate_trial", "validate_inputs", "build_cohort", "build_time_to_event", "fit_survival",
                 "hazard_ratio_table", "html_report", "publication_check"):
        assert rule in proc.stdout


def test_outputs_exist_with_sane_values(finished):
    r = finished / "results"
    flow = pd.read_csv(r / "tables" / "cohort_flow.csv")
    assert flow.loc[flow["step"] == "analyzed", "n_total"].iloc[0] > 1000
    hr = pd.read_csv(r / "tables" / "hazard_ratios.csv")
    assert len(hr) == 9  # event, event or CV death, and death x high, medium, high + medium
    assert hr["hazard_ratio"].between(0.3, 3).all()
    assert (hr["ci90_lower"] < hr["hazard_ratio"]).all() and (hr["hazard_ratio"] < hr["ci90_upper"]).all()
    fit = json.loads((r / "models" / "survival" / "event_high_medium.json").read_text())
    assert fit["n_organizations"] >= 30 and fit["n_events"] > 50
    by = pd.read_parquet(r / "analysis" / "beneficiary_year.parquet")
    assert set(by["YEAR"]) == set(range(6)) and by["WEIGHT"].between(0, 1).all()
    fu = by[(by["YEAR"] > 0) & (by["WEIGHT"] > 0)]
    assert 700 < (fu["spend_ab"] * fu["WEIGHT"]).sum() / fu["WEIGHT"].sum() / 12 < 1300
    for f in ("figures/cohort_flow.png", "figures/cumulative_incidence_event.svg", "report.html",
              "qc/publication_check.txt", "analysis/time_to_event.parquet", "tables/hazard_ratios.tex",
              "tables/balance.md", "tables/cohort_flow.tex", "tables/ph_tests.html", "tables/adjusted_incidence.csv",
              "tables/subgroups.tex", "tables/impacts_bayesian_reading.md", "figures/adjusted_incidence_event.svg",
              "figures/subgroups_event_high_medium.png", "figures/probability_of_size.png",
              "models/subgroups/event.json", "tables/subgroup_tests.md"):
        assert (r / f).stat().st_size > 0, f
    assert list((r / "models" / "subgroups" / "event_posteriors").glob("*.nc"))
    impacts = pd.read_csv(r / "tables" / "impacts.csv")
    assert impacts["outcome"].str.contains("Statin").any() and impacts["outcome"].str.contains("fixed window").any()
    html = (r / "report.html").read_text()
    assert "data:image/png;base64" in html and "Hazard ratios" in html
    assert "Subgroup impacts" in html and "percent probability that the model reduced" in html
    assert not re.search(r"(src|href)=\"https?://", html)
    assert "Disclosure control" in html and "are suppressed (left blank; — in the formatted tables)" in html  # how many cells, and why
    assert (r / "qc" / "publication_check.txt").read_text().startswith("publication audit passed")
    # identifiers stay in results/analysis
    assert "BENE_ID" not in html and not re.search(r"\bB\d{10}\b", html)


def test_snakemake_report_archive(finished, tmp_path):
    """`snakemake --report` collects the annotated outputs into a zip report."""
    import zipfile

    proc = _snakemake(finished, "--config", *TINY, "--report", str(tmp_path / "report.zip"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    assert any(n.endswith("hazard_ratios.csv") for n in names) and any(n.endswith("subgroups.csv") for n in names)


def test_new_runout_reruns_exactly_the_affected_steps(finished):
    proc = _snakemake(finished, "-n", "--config", *TINY, "claims={runout_date: 2021-09-30}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = set(re.findall(r"^rule (\w+):", proc.stdout, re.M)) | set(re.findall(r"^localrule (\w+):", proc.stdout, re.M))
    assert {"build_time_to_event", "build_beneficiary_year", "fit_survival", "html_report"} <= jobs
    # claims extraction keeps the processing date and applies the runout downstream
    assert not jobs & {"simulate_trial", "validate_inputs", "build_cohort", "extract_claims"}


def test_later_runout_changes_the_estimates(finished):
    before = json.loads((finished / "results/models/survival/event_high_medium.json").read_text())
    # only the survival chain: every rule downstream of the claims reruns on a new runout, and the one
    # output checked needs only these (the whole rerun cost 98 s of the suite's 14 min)
    proc = _snakemake(finished, "--config", *TINY, "claims={runout_date: 2021-06-30}", "--",
                      "results/models/survival/event_high_medium.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((finished / "results/models/survival/event_high_medium.json").read_text())
    assert after["n_events"] < before["n_events"]
    assert after["hr"] != before["hr"]


def test_broken_input_stops_before_any_model(tmp_path, finished):
    data = tmp_path / "data"
    shutil.copytree(finished / "resources" / "synthetic", data)
    demo = pd.read_parquet(data / "registry" / "demographics.parquet")
    demo.loc[:4, "SEX"] = "M"
    demo.to_parquet(data / "registry" / "demographics.parquet", index=False)
    wd = tmp_path / "wf"
    shutil.copy(finished / "Snakefile", wd / "Snakefile") if wd.exists() else shutil.copytree(
        finished, wd, ignore=shutil.ignore_patterns("results", "resources", ".snakemake"))
    proc = _snakemake(wd, "--config", f"data={{source: files, dir: {data}}}", TINY[1])
    assert proc.returncode != 0
    assert "demographics.parquet, column SEX: 5 rows" in proc.stderr
    assert "Traceback" not in (wd / "results" / "logs" / "validate_inputs.log").read_text()
    assert not (wd / "results" / "models").exists()
    assert not (wd / "results" / "analysis").exists()


def test_notebook_rebuilds_the_report_figures(finished, tmp_path):
    """notebooks/report_figures.ipynb runs top to bottom on the run's results/ and draws every
    figure the workflow drew (same file names)."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "report_figures.ipynb", as_version=4)
    out = tmp_path / "figures"
    os.environ["MHEVAL_RESULTS"], os.environ["MHEVAL_FIGURES"] = str(finished / "results"), str(out)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        del os.environ["MHEVAL_RESULTS"], os.environ["MHEVAL_FIGURES"]
    drawn = {p.name for p in (finished / "results" / "figures").glob("*.png")}
    rebuilt = {p.name for p in out.glob("*.png")}
    assert drawn and drawn <= rebuilt, sorted(drawn - rebuilt)
    assert all(p.stat().st_size > 10_000 for p in out.glob("*.png"))
