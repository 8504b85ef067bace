"""With data.source: files, replacing an input file reruns exactly the rules that read it and what
depends on them; touching nothing reruns nothing. Checked by dry runs (seconds, no model is fitted):
every output is first marked up to date with ``snakemake --touch``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from mheval.synth import generate_trial

pytestmark = pytest.mark.workflow
FILES = ["data={source: files, dir: data}"]
# the rules that read input files; each case says which of them must rerun (reading the file, or
# downstream of one that does), and the others must not
READERS = {"build_cohort", "build_time_to_event", "build_predicted_risk", "extract_claims", "extract_fills",
           "build_beneficiary_year", "fit_survey", "fit_implementation"}


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(workdir),
           "--snakefile", str(workdir / "Snakefile"), *args, "--config", *FILES]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _planned(workdir: Path) -> Counter:
    """Jobs per rule that a dry run would run."""
    proc = _snakemake(workdir, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Counter(re.findall(r"^(?:local)?rule (\w+):$", proc.stdout, re.M))


@pytest.fixture(scope="module")
def done(workflow_copy) -> Path:
    """A workflow copy over a tiny trial's files, with every output present and up to date."""
    d = workflow_copy("wf_files")
    generate_trial(d / "data", scale=0.004, seed=3)
    summary = _snakemake(d, "-n", "--summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    for line in summary.stdout.splitlines()[1:]:
        out = d / line.split("\t")[0]
        if out.name.endswith("_posteriors"):  # the one directory() output (subgroup posteriors)
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.touch()
    for _ in range(3):  # touched outputs may tie on mtime with their inputs; a second pass orders them
        assert _snakemake(d, "--touch").returncode == 0
        if not _planned(d):
            break
    assert _planned(d) == Counter()  # nothing changed: nothing reruns
    return d


@contextmanager
def _replaced(path: Path):
    """Replace ``path`` with a different file (its rows reversed), then put the original back."""
    original, stat = path.read_bytes(), path.stat()
    pd.read_parquet(path).iloc[::-1].to_parquet(path, index=False)
    try:
        yield
    finally:  # back as it was: the next case starts from a workflow with nothing to do
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("path, fingerprint, readers", [
    # the survey and payments are read by Equation 3 and the implementation analyses
    ("cms/survey.parquet", "input_fingerprint", {"fit_survey", "fit_implementation"}),
    ("cms/payments.parquet", "input_fingerprint", {"build_beneficiary_year", "fit_implementation"}),
    # the cohort's readers rerun after it (Equation 3 takes its covariate averages from the cohort)
    ("registry/demographics.parquet", "input_fingerprint",
     {"build_cohort", "build_time_to_event", "build_predicted_risk", "build_beneficiary_year", "fit_survey",
      "fit_implementation"}),
    ("medicare/mbsf/mbsf_2018.parquet", "input_fingerprint_yearly",
     {"build_cohort", "build_time_to_event", "build_predicted_risk", "build_beneficiary_year", "fit_survey",
      "fit_implementation"}),
    ("claims/outpatient_revenue/outpatient_revenue_2019.parquet", "input_fingerprint_yearly",
     {"extract_claims", "build_beneficiary_year", "fit_implementation"}),
    # the cause of death: the time-to-event file (the composite) and what reads it
    ("ndi/cause_of_death.parquet", "input_fingerprint", {"build_time_to_event", "build_beneficiary_year",
                                                          "fit_implementation"}),
])
def test_a_replaced_input_reruns_exactly_its_readers(done, path, fingerprint, readers):
    with _replaced(done / "data" / path):
        plan = _planned(done)
    assert plan[fingerprint] == 1 and plan["validate_inputs"] == 1
    assert {r for r in READERS if plan[r]} == readers
    if "extract_claims" in readers:
        assert plan["extract_claims"] == 1  # that year's outpatient extraction only
    if path.startswith("cms/survey"):  # nothing reads the survey but Equation 3, the implementation analyses and the report
        assert set(plan) == {fingerprint, "validate_inputs", "fit_survey", "fit_implementation", "html_report",
                             "publication_check", "all"}
