"""Disclosure control: the LP attack, the suppression over linked tables, and the audit of every format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mheval.cohort.flow import flow_table
from mheval.cohort.tables import balance_for_populations, publishable_flow
from mheval.disclosure import Cell, Layout, Ratio, Relation, Rule, audit, declare, feasible_ranges, protect
from mheval.disclosure.protect import shown_cells
from mheval.disclosure.summary import suppression_note
from mheval.report import build_html_report, write_table
from mheval.report.impact_tables import hazard_ratio_table

RULE = Rule(min_cell=11, protection_width=10)


def ranges_of(tables):
    layout = declare(tables)
    return feasible_ranges(layout, shown_cells(layout, tables))


def assert_protected(tables, rule=RULE):
    """Every shown count is 0 or >= min_cell; every unshown count (suppressed or implicit) passes the rule."""
    layout = declare(tables)
    shown = shown_cells(layout, tables)
    for key, cells in layout.counts.items():
        for c in cells:
            if c in shown:
                assert not rule.small(shown[c][0]), (key, c)
    for key, (lo, hi) in feasible_ranges(layout, shown).items():
        assert rule.violation(lo, hi) is None, (key, lo, hi)


# --------------------------------------------------------------------------- the rule and the LP


@pytest.mark.parametrize("lo, hi, ok", [(0, 24, True), (4, 4, False), (0, 9, False), (5, 12, False),
                                        (0, np.inf, True), (0, 0, True), (12, 12, True), (0.4, 10.6, False),
                                        (3, 13.2, True), (0.2, 0.8, True)])
def test_rule_on_hand_ranges(lo, hi, ok):
    # [0.4, 10.6] holds the integers 1..10 only; [0.2, 0.8] holds no integer but 0 after rounding inward
    assert (RULE.violation(lo, hi) is None) is ok


def test_lp_gives_the_frechet_bounds_of_a_two_by_two_table():
    # interior hidden, margins shown: x11 in [max(0, r1 + c1 - N), min(r1, c1)] = [0, 10]; x22 in [8, 18]
    lay = Layout()
    t = "t"
    for k in ("x11", "x12", "x21", "x22"):
        lay.count(k)
    for k, col in (("r1", "a"), ("r2", "b"), ("c1", "c"), ("c2", "d")):
        lay.count(k, Cell(t, 0, col))
    lay.relations += [Relation.total("r1", ["x11", "x12"]), Relation.total("r2", ["x21", "x22"]),
                      Relation.total("c1", ["x11", "x21"]), Relation.total("c2", ["x12", "x22"])]
    shown = {Cell(t, 0, "a"): (10, 0), Cell(t, 0, "b"): (20, 0), Cell(t, 0, "c"): (12, 0), Cell(t, 0, "d"): (18, 0)}
    r = feasible_ranges(lay, shown)
    assert r["x11"] == pytest.approx((0, 10)) and r["x22"] == pytest.approx((8, 18))
    assert r["x12"] == pytest.approx((0, 10)) and r["x21"] == pytest.approx((2, 12))


def test_a_shown_rate_and_person_years_pin_the_events():
    lay = Layout()
    lay.count("events")
    lay.amount("py", Cell("t", 0, "py"))
    lay.ratios.append(Ratio(Cell("t", 0, "rate"), "events", "py", 1000.0))
    # 2 events over 30 person-years: rate 66.667 (3 decimals), person-years rounded to 30
    lo, hi = feasible_ranges(lay, {Cell("t", 0, "py"): (30, 0.5), Cell("t", 0, "rate"): (66.667, 0.0005)})["events"]
    assert 1.9 < lo <= 2 <= hi < 2.1
    assert RULE.violation(lo, hi)


def test_the_attack_recovers_the_4_from_the_flow_table_as_published_before():
    """tests/test_cohort.py's data: enrolled 100, exclusions 4 and 30, analyzed 66. The old suppression hid
    the 4 and the control cell of its row only; enrolled - excluded = analyzed gives it back."""
    published = pd.DataFrame({"step": ["enrolled", "excluded:x", "excluded:y", "analyzed"], "label": list("abcd"),
                              "n_intervention": [100, None, 30, 66], "n_control": [80, None, 20, 40],
                              "n_total": [180, 24, 50, 106]})
    lo, hi = ranges_of({"cohort_flow": published})["flow:excluded:x:intervention"]
    assert lo == pytest.approx(4) and hi == pytest.approx(4)


def test_inconsistent_published_values_are_an_error():
    from mheval.disclosure import DisclosureError

    bad = pd.DataFrame({"step": ["enrolled", "excluded:x", "analyzed"], "label": list("abc"),
                        "n_intervention": [100, 30, 60], "n_control": [80, 20, 60], "n_total": [180, 50, 120]})
    with pytest.raises(DisclosureError, match="contradict"):
        ranges_of({"cohort_flow": bad})


# --------------------------------------------------------------------------- tiny trial with small cells everywhere


def tiny_people():
    """A handmade trial: an exclusion of 3 (intervention), 9 high-risk intervention beneficiaries, an
    organization with 4 enrollees (the only rural one), 3 intervention beneficiaries without Part D."""
    rng = np.random.default_rng(4)
    rows = []
    def add(n, arm, exclusion="", stratum="medium", org="O1"):
        for _ in range(n):
            rows.append({"BENE_ID": f"B{len(rows):09d}", "ARM": arm, "MH": int(arm == "intervention"),
                         "EXCLUSION": exclusion, "STRATUM": stratum, "ORG_ID": org})
    add(3, "intervention", "age")
    add(14, "control", "age")
    add(25, "intervention", "no_risk")
    add(22, "control", "no_risk")
    add(9, "intervention", stratum="high")
    add(4, "intervention", stratum="medium", org="O4")  # the organization with 4 enrollees
    add(40, "intervention")
    add(30, "control", stratum="high", org="O2")
    add(35, "control", org="O2")
    p = pd.DataFrame(rows)
    n = len(p)
    p["AGE"] = rng.normal(70, 5, n)
    p["SEX"] = np.where(rng.random(n) < 0.5, "male", "female")
    p["RACE"] = np.where(np.arange(n) % 9 == 0, "black", "white")
    p["DUAL"] = rng.random(n) < 0.3
    p["PART_D"] = True
    p.loc[p.index[(p["ARM"] == "intervention") & (p["EXCLUSION"] == "")][:3], "PART_D"] = False
    for c in ("total_cholesterol", "hdl", "systolic_bp"):
        p[c] = rng.normal(150, 20, n)
    for c in ("smoking", "diabetes", "antihypertensive", "statin"):
        p[c] = (rng.random(n) < 0.4).astype(int)
    p["RISK"] = np.where(p["STRATUM"] == "high", 0.35, 0.2)
    p["MODIFIABLE_SHARE"] = 0.4
    p["RURAL"] = p["ORG_ID"] == "O4"
    p["HEALTH_SYSTEM"] = p["ORG_ID"] == "O2"
    p["ORG_TYPE"] = np.where(p["ORG_ID"] == "O2", "cardiology", "primary_care")
    return p


def hr_results():
    """Crude counts of two outcomes x three populations; 2 events in the high-risk intervention arm, and a
    medium-risk death count of 3 that only high + medium minus high would reveal."""
    def r(outcome, pop, e1, py1, e0, py0):
        return {"outcome": outcome, "outcome_label": outcome.capitalize(), "population": pop, "alpha": 0.1,
                "crude": {"intervention": {"events": e1, "person_years": py1, "rate_per_1000py": 1000 * e1 / py1},
                          "control": {"events": e0, "person_years": py0, "rate_per_1000py": 1000 * e0 / py0}},
                "hr": 0.9, "lower": 0.7, "upper": 1.1, "p": 0.4, "prob_hr_below_1": 0.7}
    return [r("event", "high", 2, 30.4, 15, 100.2), r("event", "medium", 20, 250.3, 20, 101.1),
            r("event", "high_medium", 22, 280.7, 35, 201.3),
            r("death", "high", 40, 30.4, 15, 100.2), r("death", "high_medium", 43, 280.7, 50, 201.3)]


def publish_tiny(tmp_path, protected=True):
    """Build, protect (in the workflow's order) and write every table of the tiny trial, its report
    and its flow figure; return the written files."""
    from mheval.report.figures import plot_cohort_flow

    people = tiny_people()
    flow = flow_table(people, ["age", "no_risk"], {"age": "Aged under 40 or over 79", "no_risk": "No risk score"})
    raw_flow = flow.rename(columns={"intervention": "n_intervention", "control": "n_control", "total": "n_total"})
    balance = balance_for_populations(people[people["EXCLUSION"] == ""])
    hr = hazard_ratio_table(hr_results())
    survey = pd.DataFrame({"item": ["a", "b"], "n_organizations": [4, 30], "impact": [0.1, 0.2]})
    if protected:
        pf = publishable_flow(flow, RULE)
        pb = protect({"balance": balance}, RULE, published=pf.tables)
        ph = protect({"hazard_ratios": hr}, RULE)
        ps = protect({"survey_impacts": survey}, RULE)
        tables = {**pf.tables, **pb.tables, **ph.tables, **ps.tables}
        summaries = [r for p in (pf, pb, ph, ps) for r in p.summary_records()]
    else:
        tables = {"cohort_flow": raw_flow, "balance": balance, "hazard_ratios": hr, "survey_impacts": survey}
        summaries = []
    files = []
    for name, df in tables.items():
        files += write_table(df, tmp_path / "tables" / name, digits=4 if name == "balance" else 3)
    plot_cohort_flow(tables["cohort_flow"], [tmp_path / "figures" / "cohort_flow.svg"])
    files.append(tmp_path / "figures" / "cohort_flow.svg")
    sections = [{"heading": "Cohort", "tables": [("Cohort flow", pd.read_csv(tmp_path / "tables" / "cohort_flow.csv"))]},
                {"heading": "Disclosure control", "text": suppression_note(summaries, RULE)}]
    (tmp_path / "report.html").write_text(build_html_report("Tiny", sections))
    files.append(tmp_path / "report.html")
    return files, tables, summaries


def test_tiny_trial_every_published_file_survives_the_attack(tmp_path):
    files, tables, summaries = publish_tiny(tmp_path)
    flow = tables["cohort_flow"].set_index("step")
    assert pd.isna(flow.loc["excluded:age", "n_intervention"])  # the exclusion of 3
    assert pd.isna(flow.loc["analyzed:high", "n_intervention"])  # the population of 9
    bal = tables["balance"]
    high = bal[bal["population"] == "high"]
    assert high["intervention"].isna().all()  # every mean and percent over the 9 high-risk beneficiaries
    rural = bal[(bal["population"] == "high_medium") & bal["variable"].str.contains("rural")]
    assert rural[["intervention", "std_difference"]].isna().all(axis=None)  # the organization of 4
    part_d = bal[(bal["population"] == "high_medium") & (bal["variable"] == "Enrolled in Part D")]
    # 3 without Part D: the percent, or the number of beneficiaries it is a percent of, is hidden
    assert pd.isna(part_d["intervention"].iloc[0]) or pd.isna(flow.loc["analyzed", "n_intervention"])
    hr = tables["hazard_ratios"]
    two = hr[(hr["outcome"] == "Event") & (hr["population"] == "High risk")].iloc[0]
    assert pd.isna(two["n_events_intervention"]) and pd.isna(two["rate_per_1000py_intervention"])  # 2 events
    assert pd.isna(tables["survey_impacts"].loc[0, "n_organizations"])
    for name in tables:
        assert_protected({n: t for n, t in tables.items() if n in (name, "cohort_flow")})
    result = audit(files, RULE)
    assert result.ok, result.problems
    assert result.attacked > 0 and result.suppressed_cells > 0
    # the 3 and the 9 of the flow, the 9 again in the balance table, the 2 events, the 4 organizations
    assert {r["table"]: r["primary"] for r in summaries} == {"cohort_flow": 2, "balance": 1, "hazard_ratios": 1,
                                                             "survey_impacts": 1}
    html = (tmp_path / "report.html").read_text()
    assert "are suppressed" in html and "complementary" in html


def test_tiny_trial_unprotected_fails_the_audit_naming_file_and_cell(tmp_path):
    files, _, _ = publish_tiny(tmp_path, protected=False)
    problems = audit(files, RULE).problems
    text = "\n".join(problems)
    assert "cohort_flow.csv" in text and "column 'n_intervention'" in text
    assert "hazard_ratios" in text and "implicit count" in text  # death, medium: 43 - 40 = 3
    assert any("cohort_flow.svg" in p for p in problems)  # the figure's boxes


def test_implicit_medium_row_is_protected():
    # high 40, high + medium 43: the unpublished medium-risk count is 3
    hr = hazard_ratio_table([r for r in hr_results() if r["outcome"] == "death"])
    out = protect({"hazard_ratios": hr}, RULE).tables["hazard_ratios"]
    assert out[["n_events_intervention"]].isna().any(axis=None)
    assert_protected({"hazard_ratios": out})


def test_complementary_suppression_prefers_small_cells_and_prunes():
    flow = pd.DataFrame({"step": ["enrolled", "excluded:a", "excluded:b", "excluded:c", "analyzed"], "label": list("abcde"),
                         "n_intervention": [1000, 3, 15, 400, 582], "n_control": [900, 50, 60, 300, 490]})
    flow["n_total"] = flow["n_intervention"] + flow["n_control"]
    res = protect({"cohort_flow": flow}, RULE)
    out = res.tables["cohort_flow"]
    hidden = set(zip(*np.nonzero(out[["n_intervention", "n_control", "n_total"]].isna().to_numpy())))
    # the 3, its column partner 15 (not 400 or 582), and on the row the control 50 with its partner 60
    assert hidden == {(1, 0), (2, 0), (1, 1), (2, 1)}
    s = res.summary.iloc[0]
    assert (s["primary"], s["complementary"], s["complementary_total"]) == (1, 3, 125)
    assert_protected(res.tables)


def test_a_count_in_an_already_published_table_is_kept_hidden():
    flow = pd.DataFrame({"step": ["analyzed", "analyzed:high", "analyzed:medium"], "label": list("abc"),
                         "n_intervention": [67, 7, 60], "n_control": [50, 25, 25]})
    flow["n_total"] = flow["n_intervention"] + flow["n_control"]
    pf = protect({"cohort_flow": flow}, RULE).tables
    bal = pd.DataFrame([{"population": "high", "variable": "Beneficiaries", "statistic": "count",
                         "intervention": 7, "control": 25, "std_difference": np.nan},
                        {"population": "high", "variable": "Age", "statistic": "mean", "intervention": 70.0,
                         "control": 69.0, "std_difference": 0.1}])
    out = protect({"balance": bal}, RULE, published=pf).tables["balance"]
    assert out["intervention"].isna().all() and pd.isna(out.loc[1, "std_difference"])
    assert pd.isna(out.loc[0, "control"]) == pd.isna(pf["cohort_flow"].loc[1, "n_control"])


def subgroup_results():
    """Sex levels of high + medium risk: 7 women in the intervention arm; risk levels as in the flow."""
    def imp(dim, level, n1, n0):
        return {"model": "cox", "outcome": "event", "population": "high_medium", "dimension": dim, "level": level,
                "estimate": -0.1, "lower": -0.5, "upper": 0.3, "post_mean": -0.05, "cred_lower": -0.3,
                "cred_upper": 0.2, "prob_below_0": 0.6, "prob_beyond_size": 0.4, "heterogeneity_p": 0.5,
                "n_beneficiaries_intervention": n1, "n_beneficiaries_control": n0}
    return [{"alpha": 0.1, "impacts": [imp("sex", "female", 7, 40), imp("sex", "male", 60, 35),
                                       imp("risk", "high", 20, 30), imp("risk", "medium", 47, 45)]}]


def test_a_subgroup_arm_of_7_is_suppressed_with_its_estimates():
    from mheval.report.impact_tables import subgroup_table

    flow = pd.DataFrame({"step": ["analyzed", "analyzed:high", "analyzed:medium"], "label": list("abc"),
                         "n_intervention": [67, 20, 47], "n_control": [75, 30, 45]})
    flow["n_total"] = flow["n_intervention"] + flow["n_control"]
    pf = protect({"cohort_flow": flow}, RULE).tables
    res = protect({"subgroups": subgroup_table(subgroup_results())}, RULE, published=pf)
    out = res.tables["subgroups"]
    female, male = out.iloc[0], out.iloc[1]
    assert pd.isna(female["n_beneficiaries_intervention"]) and female[["unpooled", "pooled", "prob_reduction"]].isna().all()
    assert pd.isna(male["n_beneficiaries_intervention"])  # 67 - 60 would give the 7
    assert not pd.isna(male["unpooled"])  # an estimate over 60 and 35 beneficiaries is shown
    assert out.iloc[2]["n_beneficiaries_intervention"] == 20  # the risk levels are the flow's populations
    assert_protected({"cohort_flow": pf["cohort_flow"], "subgroups": out})


# --------------------------------------------------------------------------- the audit reads every format


def test_audit_reads_latex_markdown_html_svg_and_notebooks(tmp_path):
    (tmp_path / "t.tex").write_text("\\begin{tabular}{lr}\n\\toprule\nname & value \\\\\n\\midrule\n"
                                    "npi & 1234567893 \\\\\n\\bottomrule\n\\end{tabular}\n")
    (tmp_path / "m.md").write_text("**Counts**\n\n| group | n_events | note |\n|:---|---:|:---|\n| a | 7 | fewer than 11 |\n"
                                   "| b | 0 | from 2 organizations |\n")
    (tmp_path / "h.html").write_text("<html><body><p>We found 4 beneficiaries.</p><table><tr><th>group</th>"
                                     "<th>n</th></tr><tr><td>x</td><td>12</td></tr></table></body></html>")
    (tmp_path / "f.svg").write_text('<svg><g id="text_1"><!-- n = 5 --></g><text x="0">MBI 1EG4TE5MK73</text></svg>')
    nb = {"cells": [{"cell_type": "code", "source": [], "outputs": [
        {"output_type": "execute_result", "data": {"text/plain": ["born 1947-03-12"]}}]}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    problems = audit([tmp_path], RULE).problems
    text = "\n".join(problems)
    assert "t.tex" in text and "NPI-like" in text
    assert "m.md: row 1 (a / fewer than 11), column 'n_events': a count from 1 to 10" in text
    assert "m.md: row 2, column 'note': a count from 1 to 10 in the text" in text
    assert "h.html: line" in text and "count from 1 to 10 in the text" in text
    assert "f.svg" in text and "MBI-like" in text
    assert "n.ipynb" in text and "birth-date-like" in text
    assert len(problems) == 7, problems


def test_a_cell_blank_in_the_csv_but_shown_in_another_format_is_caught(tmp_path):
    flow = pd.DataFrame({"step": ["enrolled", "excluded:x", "excluded:y", "analyzed"], "label": list("abcd"),
                         "n_intervention": [100, 4, 30, 66], "n_control": [80, 20, 20, 40],
                         "n_total": [180, 24, 50, 106]})
    safe = publishable_flow(flow.rename(columns=lambda c: c.removeprefix("n_")), RULE).tables["cohort_flow"]
    write_table(safe, tmp_path / "cohort_flow")
    assert audit([tmp_path], RULE).ok
    leaky = safe.copy()
    leaky.loc[2, "n_intervention"] = 30  # the Markdown shows the complement the CSV hides
    (tmp_path / "cohort_flow.md").unlink()
    write_table(leaky, tmp_path / "leak")
    (tmp_path / "leak.md").rename(tmp_path / "cohort_flow.md")
    problems = audit([tmp_path / "cohort_flow.csv", tmp_path / "cohort_flow.md"], RULE).problems
    assert any("cohort_flow.md: row 3, column 'n_intervention': shows a number" in p for p in problems)
    assert any("row 2 (excluded:x / b), column 'n_intervention': suppressed count can be derived" in p
               for p in problems)


@pytest.mark.parametrize("text, bad", [
    ("B123456789", True), ("12-3456789", True), ("123456789A", True), ("1EG4TE5MK73", True),
    ("1947-03-12", True), ("03/12/1947", True), ("1234567890", True),
    ("1234567890.12", False), ("2021-09-30", False), ("fewer than 11 beneficiaries", False),
    ("at least 5 organizations", False), ("12 beneficiaries", False), ("year 5", False),
])
def test_identifier_and_prose_patterns(tmp_path, text, bad):
    (tmp_path / "x.md").write_text(f"Note: {text}.\n")
    assert (not audit([tmp_path / "x.md"], RULE).ok) is bad


def test_rule_from_config():
    assert Rule.from_config({"report": {"min_cell": 11, "disclosure": {"protection_width": 5}}}) == Rule(11, 5)
    assert Rule.from_config({"report": {"min_cell": 16}}) == Rule(16, 15)


def test_a_report_table_is_one_more_format_of_its_table(tmp_path):
    flow = pd.DataFrame({"step": ["enrolled", "excluded:x", "excluded:y", "analyzed"], "label": list("abcd"),
                         "intervention": [100, 4, 30, 66], "control": [80, 20, 20, 40], "total": [180, 24, 50, 106]})
    safe = publishable_flow(flow, RULE).tables["cohort_flow"]
    write_table(safe, tmp_path / "cohort_flow")
    leaky = safe.copy()
    leaky.loc[2, "n_intervention"] = 30
    (tmp_path / "report.html").write_text(build_html_report("r", [{"heading": "Cohort", "tables": [("Flow", leaky)]}]))
    problems = audit([tmp_path], RULE).problems
    assert any(p.startswith(f"{tmp_path / 'report.html'}#table1: row 3, column 'n_intervention': shows a number")
               for p in problems), problems
    assert any("suppressed count can be derived" in p for p in problems)


def test_the_note_counts_the_suppressed_cells():
    rows = [{"table": "a", "cells": 40, "primary": 2, "complementary": 3, "derived": 1, "complementary_total": 50,
             "implicit_protected": 1}, {"table": "b", "cells": 60, "primary": 1, "complementary": 0, "derived": 0,
                                        "complementary_total": 0, "implicit_protected": 0}]
    note = suppression_note(rows, RULE)
    assert "Of the 100 count and count-derived cells of the a, b tables, 7 (7.0 percent) are suppressed" in note
    assert "3 counts from 1 to 10; 1 rates" in note and "3 complementary cell(s)" in note
    assert "sum to 50" in note
