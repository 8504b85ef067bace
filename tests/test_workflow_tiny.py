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
    # one covariate specification, fixed before randomization, in every fitted model
    from test_covariates import assert_no_post_randomization_terms

    n_terms = assert_no_post_randomization_terms(r / "models", config_covariates(wd))
    assert n_terms > 0
    for name in ("beneficiary_year", "time_to_event"):
        f = pd.read_parquet(r / "analysis" / f"{name}.parquet")
        assert f["RAND_STRATUM"].notna().all() and "ORG_N_ENROLLED" not in f.columns
        assert (f.groupby("ORG_ID")["RAND_STRATUM"].nunique() == 1).all()


def config_covariates(wd) -> dict:
    import yaml

    return yaml.safe_load((wd / "config" / "config.yaml").read_text())["models"]["covariates"]
