"""The whole workflow, every default outcome, on a trial so small (scale 0.004: about 900 analyzed
beneficiaries) that models stop converging, subgroup levels cannot be kept apart and counts are small:
it must end in the report with not-estimable rows and a passing publication audit, never a traceback."""

from __future__ import annotations

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
    assert "not estimable" in (r / "report.html").read_text()
    _assert_issue_14_rows(pd.read_csv(r / "tables" / "impacts.csv"), wd)


def _assert_issue_14_rows(t: pd.DataFrame, wd):
    """Issue 14's outcomes are rows of the impacts table: CVD spending per beneficiary per month,
    blood pressure and LDL at follow-up visits, medication starts within 6 months and 3 years."""
    import yaml

    from mheval.report.impact_tables import POPULATION_LABELS, outcome_label

    models = yaml.safe_load((wd / "config" / "config.yaml").read_text())["models"]
    new = ["spend_ab_pbpm", "spend_cvd_pbpm", *models["clinical_outcomes"], *models["medication_window_outcomes"]]
    assert {"sbp", "ldl", "med_any_6m", "med_any_36m"} <= set(new)
    for o in new:
        rows = t[t["outcome"] == outcome_label(o)]
        assert set(rows["population"]) == {POPULATION_LABELS[p] for p in models["populations"]}, o
    # per beneficiary per month = the annual row / 12, estimate and interval (3 significant digits shown)
    for annual in ("spend_ab", "spend_cvd"):
        a = t[t["outcome"] == outcome_label(annual)].set_index("population")
        m = t[t["outcome"] == outcome_label(f"{annual}_pbpm")].set_index("population")
        for col in ("impact", "ci90_lower", "ci90_upper", "control_mean"):
            shown = a[col].notna()
            assert (m.loc[shown.index[shown], col] - a.loc[shown, col] / 12).abs().le(
                0.006 * a.loc[shown, col].abs() / 12 + 0.001).all(), (annual, col)
        assert (m["note"].fillna("") == a["note"].fillna("")).all()
