"""The whole workflow, every default outcome, on a trial so small (scale 0.004: about 900 analyzed
beneficiaries) that models stop converging, subgroup levels cannot be kept apart and counts are small:
it must end in the report with not-estimable rows and a passing publication audit, never a traceback;
and a second run of it gives byte-identical published files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from test_workflow import _snakemake

pytestmark = pytest.mark.workflow


TINY = ("--config", "synthetic={scale: 0.004}")
PUBLISHED = ("results/tables", "results/figures", "results/models", "results/report.html", "resources/synthetic")


@pytest.fixture(scope="module")
def tiny_run(workflow_copy):
    """The workflow run to the report on a scale-0.004 trial (once per module)."""
    wd = workflow_copy("wf_tiny")
    proc = _snakemake(wd, *TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return wd


def published_files(wd: Path) -> dict[str, bytes]:
    """Every published file of a run (tables, figures, models' results, the report, the synthetic
    trial) by path relative to the run's folder."""
    out = {}
    for top in PUBLISHED:
        p = wd / top
        for f in sorted(p.rglob("*")) if p.is_dir() else [p] if p.exists() else []:
            if f.is_file():
                out[f.relative_to(wd).as_posix()] = f.read_bytes()
    return out


def test_a_tiny_trial_runs_to_the_report(tiny_run):
    r = tiny_run / "results"
    assert (r / "qc" / "publication_check.txt").read_text().startswith("publication audit passed")
    for table, estimate in (("impacts", "impact"), ("hazard_ratios", "hazard_ratio")):
        t = pd.read_csv(r / "tables" / f"{table}.csv")
        noted = t["note"].fillna("").str.startswith("not estimable: ")
        # each row is an estimate or says why not (a blank is a suppressed cell only with its reason)
        assert (noted | t[estimate].notna()).all(), t
    assert "not estimable" in (r / "report.html").read_text()


def test_a_second_run_gives_byte_identical_published_files(tiny_run, workflow_copy):
    """The same commit, config and inputs give the same bytes in every published file: tables,
    figures, models' JSON and posteriors, the report and the synthetic trial (issue 15, item 6)."""
    again = workflow_copy("wf_tiny_again")
    proc = _snakemake(again, *TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    a, b = published_files(tiny_run), published_files(again)
    assert any(f.startswith("results/models/subgroups/") for f in a) and "results/report.html" in a
    assert sorted(a) == sorted(b)
    assert [f for f in a if a[f] != b[f]] == []
