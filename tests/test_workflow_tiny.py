"""The whole workflow, every default outcome, on a trial so small (scale 0.004: about 900 analyzed
beneficiaries) that models stop converging, subgroup levels cannot be kept apart and counts are small:
it must end in the report with not-estimable rows and a passing publication audit, never a traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from test_workflow import _snakemake

pytestmark = pytest.mark.workflow


def test_a_tiny_trial_runs_to_the_report(workflow_copy):
    wd = workflow_copy("wf_tiny")
    proc = _snakemake(wd, "--config", "synthetic={scale: 0.004}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = wd / "results"
    assert (r / "qc" / "publication_check.txt").read_text().startswith("publication audit passed")
    for table, estimate in (("impacts", "impact"), ("hazard_ratios", "hazard_ratio")):
        t = pd.read_csv(r / "tables" / f"{table}.csv")
        noted = t["note"].fillna("").str.startswith("not estimable: ")
        # each row is an estimate or says why not (a blank is a suppressed cell only with its reason)
        assert (noted | t[estimate].notna()).all(), t
    html = (r / "report.html").read_text()
    assert "not estimable" in html
    # cumulative incidence: death a competing risk (Aalen-Johansen, standardized and unadjusted), 1 - S as a
    # labelled sensitivity; years 1-5, each an estimate or not estimable with its reason (year 5: no one at risk)
    ci = pd.read_csv(r / "tables" / "adjusted_incidence.csv")
    assert set(ci["method"]) == {"standardized", "unadjusted", "one_minus_s"}
    assert ci.loc[ci["method"] == "one_minus_s", "method_label"].str.startswith("Sensitivity: 1 - S").all()
    assert sorted(set(ci["follow_up_year"])) == [1, 2, 3, 4, 5]
    noted = ci["note"].fillna("").str.startswith("not estimable: ")
    assert (noted | ci["difference"].notna()).all(), ci
    assert noted[ci["follow_up_year"] == 5].all()
    assert "death without the event as a competing risk" in html and "1 - S" in html
    # the organization flow by arm, protected like every table, next to the cohort flow
    org = pd.read_csv(r / "tables" / "organization_flow.csv")
    assert list(org["step"]) == ["randomized", "withdrawn", "enrolling", "analyzed"]
    shown = org[["n_intervention", "n_control", "n_total"]].stack().dropna()
    assert ((shown == 0) | (shown >= 11)).all()
    truth = json.loads((wd / "resources" / "synthetic" / "truth.json").read_text())
    o = org.set_index("step")
    expect = {("randomized", "n_total"): truth["n_orgs_randomized"], ("enrolling", "n_total"): truth["n_orgs_enrolling"],
              ("analyzed", "n_total"): truth["n_orgs_analyzed"],
              **{("enrolling", f"n_{a}"): n for a, n in truth["n_orgs_by_arm"].items()}}
    for (step, col), n in expect.items():  # each count shown is the generator's
        assert pd.isna(o.loc[step, col]) or o.loc[step, col] == n, (step, col)
    assert html.index("Organization flow by arm") > html.index("Cohort flow by arm")
    assert (r / "figures" / "organization_flow.svg").exists()
