"""The whole workflow, every default outcome, on a trial so small (scale 0.004: about 900 analyzed
beneficiaries) that models stop converging, subgroup levels cannot be kept apart and counts are small:
it must end in the report with not-estimable rows and a passing publication audit, never a traceback;
and a second run of it gives byte-identical published files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from test_workflow import _snakemake

pytestmark = pytest.mark.workflow


# every default outcome and model; fewer bootstrap replicates than the default 200 (they cost most of
# the run at this size and are not what this test is about)
TINY = ("--config", "synthetic={scale: 0.004}", "models={bootstrap_replicates: 20}")
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
    truth = json.loads((tiny_run / "resources" / "synthetic" / "truth.json").read_text())
    o = org.set_index("step")
    expect = {("randomized", "n_total"): truth["n_orgs_randomized"], ("enrolling", "n_total"): truth["n_orgs_enrolling"],
              ("analyzed", "n_total"): truth["n_orgs_analyzed"],
              **{("enrolling", f"n_{a}"): n for a, n in truth["n_orgs_by_arm"].items()}}
    for (step, col), n in expect.items():  # each count shown is the generator's
        assert pd.isna(o.loc[step, col]) or o.loc[step, col] == n, (step, col)
    assert html.index("Organization flow by arm") > html.index("Cohort flow by arm")  # captions (report/tables.py)
    assert (r / "figures" / "organization_flow.svg").exists()
    # Equation 3: one row per survey item and wave, each an estimate or its reason
    sv = pd.read_csv(r / "tables" / "survey_impacts.csv")
    assert sv.groupby("item")["wave"].nunique().min() == 3
    estimated = sv["impact"].notna() if "impact" in sv.columns else False  # no column: none estimable
    assert (sv["note"].fillna("").str.startswith("not estimable: ") | estimated).all(), sv
    # implementation analyses: every group comparison says it is non-randomized; net spending rows
    imp = pd.read_csv(r / "tables" / "implementation.csv")
    groups = imp[imp["measure"] != "spending net of model payments"]
    assert set(groups["measure"]) >= {"payment tier reached", "survey: EHR_RISK_TOOL"}
    assert groups["design"].str.startswith("non-randomized comparison").all()
    assert (imp["measure"] == "spending net of model payments").any()
    # Bayesian reading: never certain, office visits read in their direction; the prior-sensitivity table
    readings = (r / "tables" / "impacts_bayesian_reading.md").read_text()
    assert "100 percent" not in readings and " 0 percent probability" not in readings
    assert "increased office visits" in readings or "impact on office visits" in readings
    ps = pd.read_csv(r / "tables" / "prior_sensitivity.csv")
    assert set(ps["prior"]) == {"flat", "skeptical", "evidence"}
    # the composite with coronary or cerebrovascular death (National Death Index) has its own rows,
    # one per survival population, each an estimate or not estimable with the reason
    hr = pd.read_csv(r / "tables" / "hazard_ratios.csv")
    composite = hr[hr["outcome"] == "First heart attack, stroke or TIA, or coronary or cerebrovascular death"]
    assert sorted(composite["population"]) == ["High + medium risk", "High risk", "Medium risk"], hr
    first = hr[hr["outcome"] == "First heart attack, stroke or TIA"].set_index("population")
    for _, row in composite.iterrows():  # never fewer events than the first event alone, where both are shown
        for arm in ("intervention", "control"):
            both = row[f"n_events_{arm}"], first.loc[row["population"], f"n_events_{arm}"]
            assert pd.isna(both[0]) or pd.isna(both[1]) or both[0] >= both[1]
    assert (r / "figures" / "cumulative_incidence_event_cvdeath.png").exists()
    validation = json.loads((r / "qc" / "validation_report.json").read_text())
    assert sum(validation["mess"]["ndi_link"].values()) > 0
    # one covariate specification, fixed before randomization, in every fitted model
    from test_covariates import assert_no_post_randomization_terms

    n_terms = assert_no_post_randomization_terms(r / "models", config_covariates(tiny_run))
    assert n_terms > 0
    for name in ("beneficiary_year", "time_to_event"):
        f = pd.read_parquet(r / "analysis" / f"{name}.parquet")
        assert f["RAND_STRATUM"].notna().all() and "ORG_N_ENROLLED" not in f.columns
        assert (f.groupby("ORG_ID")["RAND_STRATUM"].nunique() == 1).all()
    _assert_issue_14_rows(pd.read_csv(r / "tables" / "impacts.csv"), tiny_run)



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


def config_covariates(wd) -> dict:
    import yaml

    return yaml.safe_load((wd / "config" / "config.yaml").read_text())["models"]["covariates"]
