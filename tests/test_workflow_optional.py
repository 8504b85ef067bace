"""The workflow end to end without SNF, home health and hospice claims, and with a continuous and a
binary outcome that have no events: it finishes (no --keep-going) with not-estimable rows and the
report's data section saying what was left out and why."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from test_workflow import ROOT, _snakemake

pytestmark = pytest.mark.workflow


def test_run_without_optional_inputs_and_with_outcomes_without_events(tmp_path):
    from mheval.synth import generate_trial

    data = tmp_path / "data"
    generate_trial(data, scale=0.012, seed=20170101)
    for f in (data / "claims" / "snf").glob("*.parquet"):  # SNF: empty files with the right columns
        pq.write_table(pq.read_table(f).slice(0, 0), f)
    shutil.rmtree(data / "claims" / "hha")  # home health: no files at all
    # hospice: files present, declared unavailable in config
    # no ED revenue center and no cardiovascular drug is ever matched: ED visits and statin changes have no events
    (tmp_path / "ed.csv").write_text("code,description,source\n0999,never billed,test\n")
    drugs = pd.read_csv(ROOT / "config/codes/cv_drugs.csv", dtype=str, keep_default_na=False)
    drugs.assign(generic_name="no such drug").to_csv(tmp_path / "drugs.csv", index=False)
    wd = tmp_path / "wf"
    wd.mkdir()
    shutil.copy(ROOT / "Snakefile", wd / "Snakefile")
    shutil.copytree(ROOT / "workflow", wd / "workflow")
    shutil.copytree(ROOT / "config", wd / "config")
    proc = _snakemake(wd, "--config", f"data={{source: files, dir: {data}, unavailable: [hospice]}}",
                      f"outcomes={{ed_revenue_centers: {tmp_path / 'ed.csv'}, drugs: {tmp_path / 'drugs.csv'}}}",
                      "models={continuous_outcomes: [spend_ab, hosp_all, ed_all], binary_outcomes: [med_statin], "
                      "populations: [high_medium], bootstrap_replicates: 20}",
                      "subgroups={equation1_outcomes: [spend_ab], survival_outcomes: [event], "
                      "definitions: {enabled: [sex]}}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = wd / "results"
    # no extraction scheduled for the unavailable claim types
    extracted = {p.name.split("_")[0] for p in (r / "outcomes" / "claims").glob("*.parquet")}
    assert extracted == {"inpatient", "outpatient", "carrier"}
    val = json.loads((r / "qc" / "validation_report.json").read_text())
    assert val["unavailable"] == {"snf": "unavailable", "hha": "unavailable", "hospice": "unavailable"}

    impacts = pd.read_csv(r / "tables" / "impacts.csv", keep_default_na=False).set_index("outcome")
    note = impacts["note"]
    assert note["Part A and B spending per year, USD"] == (
        "not estimable: needs SNF claims, home health claims, hospice claims, unavailable")
    assert note["Outpatient ED visits per year"].startswith("not estimable: no events")
    statin = next(k for k in note.index if k.startswith("Statin"))
    assert note[statin].startswith("not estimable: no events")
    for row in ("Part A and B spending per year, USD", "Outpatient ED visits per year", statin):
        assert impacts.loc[row, ["impact", "se" if "se" in impacts else "p_value", "impact_percent"]].eq("").all()
    assert note["Hospitalizations per year"] == "" and float(impacts.loc["Hospitalizations per year", "p_value"]) > 0
    hosp = json.loads((r / "models" / "mixed" / "hosp_all_high_medium.json").read_text())
    assert hosp["estimable"] and hosp["average"]["se"] > 0
    ed = json.loads((r / "models" / "mixed" / "ed_all_high_medium.json").read_text())
    assert ed == {**ed, "estimable": False} and "average" not in ed

    html = (r / "report.html").read_text()
    assert "Unavailable input: SNF claims (empty file (no rows))." in html
    assert "Unavailable input: home health claims (no file in the input directory)." in html
    assert "Left out of the run, not estimable: Part A and B spending per year, USD (needs SNF claims" in html
    assert "the impact on outpatient ED visits is not estimable" in html
    assert (r / "qc" / "publication_check.txt").exists()
