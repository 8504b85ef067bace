"""Publication-grade table renderings (mheval.report.tables) and the audit reading them back."""

import numpy as np
import pandas as pd
import pytest

from mheval.disclosure import Rule, audit
from mheval.disclosure.audit import _cell_numbers, read_published
from mheval.report import write_table
from mheval.report.tables import Display, display_table, label, render_html, results_display

RULE = Rule(11, 10)


@pytest.fixture
def hr():
    return pd.DataFrame({
        "outcome": ["Heart attack, stroke or TIA"] * 2, "population": ["High risk", "High + medium risk"],
        "n_events_intervention": pd.array([1234, 2000], dtype="Int64"),
        "person_years_intervention": [23456.78, 40000.0], "rate_per_1000py_intervention": [52.6083, 50.0],
        "n_events_control": pd.array([1100, 1900], dtype="Int64"),
        "person_years_control": [22000.1, 38000.0], "rate_per_1000py_control": [49.9998, 50.0],
        "hazard_ratio": [0.9612, 0.9], "ci90_lower": [0.9011, 0.8], "ci90_upper": [1.0311, 1.0],
        "p_value": [0.0002, 0.5], "note": ["", ""]})


def test_labels_and_formats_per_measure(hr):
    d = results_display("hazard_ratios", hr, {"models": {"alpha": 0.1}, "report": {"min_cell": 11}})
    t = display_table(hr, d)
    assert ("Intervention", "Events") in t.columns and ("Control", "Rate per 1,000 person-years") in t.columns
    row = t.iloc[0]
    assert row[("Intervention", "Events")] == "1,234"
    assert row[("Intervention", "Person-years")] == "23,457"  # whole person-years, thousands separator
    assert row[("Intervention", "Rate per 1,000 person-years")] == "52.6"
    assert row[("", "Hazard ratio (90% CI)")] == "0.96 (0.90, 1.03)"
    assert row[("", "p-value")] == "<0.001"
    assert t.iloc[1][("", "Population")] == "High or medium risk"
    assert any("frailty" in n for n in d.notes) and any("Marginal Cox" in n for n in d.notes)
    # an unknown code falls back to a readable form
    assert label("cvd_death_composite") == "Cvd death composite" and label("high_medium") == "High or medium risk"


def test_suppressed_cells_are_dashed_not_estimable_rows_blank(hr):
    hr.loc[0, ["n_events_control", "rate_per_1000py_control"]] = [pd.NA, np.nan]
    hr.loc[1, ["hazard_ratio", "ci90_lower", "ci90_upper", "p_value"]] = np.nan
    hr.loc[1, "note"] = "not estimable: too few events"
    t = display_table(hr, Display.infer(hr, "hazard_ratios"))
    assert t.iloc[0][("Control", "Events")] == "—" and t.iloc[0][("Control", "Rate per 1,000 person-years")] == "—"
    assert t.iloc[1][("", "Hazard ratio (90% CI)")] == "" and t.iloc[1][("", "p-value")] == ""
    assert "— Not shown: suppressed" in render_html(hr, Display.infer(hr, "hazard_ratios"))


@pytest.mark.parametrize("cell, numbers", [
    ("1,234", ["1234"]), ("0.96 (0.90, 1.03)", ["0.96", "0.90", "1.03"]), ("-1,234.5 (-2,000.0, 12.3)",
                                                                           ["-1234.5", "-2000.0", "12.3"]),
    ("—", [""]), ("<0.001", [""]), ("0.96 (—, 1.03)", ["0.96", "", "1.03"]), ("12.5%", ["12.5"]),
    ("High risk", None), ("not estimable: 3 events", None), ("", None),
])
def test_audit_reads_formatted_cells(cell, numbers):
    assert _cell_numbers(cell) == numbers


def test_audit_passes_every_formatted_rendering_and_reads_it_back(tmp_path, hr):
    files = write_table(hr, tmp_path / "hazard_ratios")
    result = audit([tmp_path], RULE)
    assert result.ok, result.problems
    for f in files[1:]:  # Markdown, LaTeX, HTML: a two-level header and one cell per estimate with its CI
        tables, _ = read_published(f)
        assert tables[0][1].attrs["key"]["columns"][8] == ["hazard_ratio", "ci90_lower", "ci90_upper"]
    merged = result.tables["hazard_ratios"]
    assert merged.loc[0, "n_events_intervention"] == "1234" and merged.loc[0, "ci90_upper"] == "1.031"  # the CSV, 3 decimals, is the most precise


def test_audit_catches_a_formatted_rendering_that_shows_what_the_csv_hides(tmp_path, hr):
    hidden = hr.copy()
    hidden.loc[0, ["n_events_control", "rate_per_1000py_control"]] = [pd.NA, np.nan]
    write_table(hidden, tmp_path / "hazard_ratios")
    assert audit([tmp_path], RULE).ok
    hr.loc[0, "n_events_control"] = 7  # the formatted rendering shows a small count the CSV hides
    write_table(hr, tmp_path / "leak")
    (tmp_path / "leak.html").rename(tmp_path / "hazard_ratios.html")
    (tmp_path / "leak.csv").unlink(), (tmp_path / "leak.md").unlink(), (tmp_path / "leak.tex").unlink()
    problems = audit([tmp_path], RULE).problems
    assert any("hazard_ratios.html: row 1, column 'n_events_control': shows a number" in p for p in problems), problems
    assert any("column 'n_events_control': a count from 1 to 10" in p for p in problems), problems


def test_a_report_table_with_a_key_is_one_more_format_of_its_table(tmp_path, hr):
    write_table(hr, tmp_path / "hazard_ratios")
    leaky = hr.copy()
    leaky.loc[1, "hazard_ratio"] = 0.5  # differs from the CSV
    page = "<html><body>" + render_html(leaky, Display.infer(leaky, "hazard_ratios"), rows=[1]) + "</body></html>"
    (tmp_path / "report.html").write_text(page)
    problems = audit([tmp_path], RULE).problems
    assert any("report.html" in p and "row 2, column 'hazard_ratio': differs" in p for p in problems), problems


def test_spending_per_beneficiary_month_is_the_annual_impact_over_12():
    from mheval.report.impact_tables import spending_per_beneficiary_month

    impacts = pd.DataFrame({
        "outcome": ["Part A and B spending per year, USD", "Hospitalizations per year"],
        "population": ["High risk", "High risk"], "control_mean": [12000.0, 0.3], "intervention_mean": [11976.0, 0.29],
        "impact": [-21.96, -0.01], "ci90_lower": [-120.0, -0.02], "ci90_upper": [60.0, 0.0],
        "impact_percent": [-0.183, -3.3], "p_value": [0.7, 0.2], "prob_any_reduction": [0.64, 0.9], "note": ["", ""]})
    out = spending_per_beneficiary_month(impacts)
    assert out["outcome"].tolist() == ["Part A and B spending"]  # only spending rows
    assert out.loc[0, "impact_pbpm"] == pytest.approx(-1.83) and out.loc[0, "ci90_lower_pbpm"] == pytest.approx(-10.0)
    assert out.loc[0, "control_mean_pbpm"] == pytest.approx(1000.0) and out.loc[0, "impact_percent"] == -0.183
    row = display_table(out, results_display("impacts_pbpm", out)).iloc[0]
    assert row["Impact (90% CI)"] == "-1.83 (-10.00, 5.00)" and row["Control mean"] == "1,000.00"
    # a table that has its own PBPM columns is used as it is
    impacts["impact_pbpm"] = [-1.5, 0.0]
    assert spending_per_beneficiary_month(impacts).loc[0, "impact_pbpm"] == -1.5


def test_report_text_comes_from_config(config):
    from mheval.report.assemble import methods_text

    cfg = {**config, "cohort": {**config["cohort"], "age_min": 45, "age_max": 84, "risk_medium": 0.2},
           "models": {**config["models"], "alpha": 0.05}, "report": {**config["report"], "min_cell": 16}}
    text = methods_text(cfg)
    assert "aged 45-84" in text and "at least 20 percent" in text and "Intervals are 95 percent" in text
    assert "no count from 1 to 15" in text and "40-79" not in text and "90 percent" not in text


def test_snakemake_captions_take_their_numbers_from_config(config):
    """workflow/report/*.rst are Jinja templates over snakemake.config (as Snakemake's report renders them)."""
    import types
    from pathlib import Path

    import jinja2

    cfg = {**config, "models": {**config["models"], "alpha": 0.05}, "report": {**config["report"], "min_cell": 16}}
    texts = {f.name: jinja2.Environment().from_string(f.read_text()).render(snakemake=types.SimpleNamespace(config=cfg))
             for f in sorted((Path(__file__).resolve().parents[1] / "workflow" / "report").glob("*.rst"))}
    assert not [n for n, t in texts.items() if "90%" in t or "90 percent" in t]
    assert "95% confidence intervals" in texts["hazard_ratios.rst"] and "from 1 to\n15" in texts["hazard_ratios.rst"]
    hr = " ".join(texts["hazard_ratios.rst"].split())
    assert "shared gamma frailty per organization" in hr and "marginal Cox model" in hr and "sensitivity" in hr
    assert "counts from 1 to 15 suppressed" in texts["cohort_flow.rst"]


def test_numbers_in_object_columns_are_formatted_as_numbers():
    """A protected table can hold its numbers in object columns (suppressed cells as <NA>)."""
    t = pd.DataFrame({"population": ["high", "high"], "variable": ["Age, years", "Male"], "statistic": ["mean", "percent"],
                      "intervention": pd.Series([74.338784, pd.NA], dtype=object),
                      "control": pd.Series([73.93, 69.40298], dtype=object), "std_difference": [0.1121, -0.0021]})
    d = results_display("balance", t)
    shown = display_table(t, d)
    assert shown["Intervention"].tolist() == ["74.3", "—"] and shown["Control"].tolist() == ["73.9", "69.4"]
    assert [c.kind for c in d.columns][3:] == ["measure", "measure", "std"]


def test_report_tables_scroll_in_their_own_box_and_the_page_prints(hr):
    from mheval.report import build_html_report

    page = build_html_report("r", [{"heading": "Impacts", "tables": [(hr, results_display("hazard_ratios", hr))]}])
    assert '<div class="table-wrap">' in page and ".table-wrap { overflow-x: auto;" in page
    assert "@media print" in page and "section { break-before: page; }" in page
    assert 'data-mheval="{&quot;table&quot;: &quot;hazard_ratios&quot;' in page  # the audit's key
