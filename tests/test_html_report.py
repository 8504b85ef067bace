"""Self-contained HTML report and deterministic table writers."""

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mheval.report import build_html_report, format_table, software_versions, write_table  # noqa: E402


@pytest.fixture
def png(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    path = tmp_path / "fig.png"
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "outcome": ["Heart attack", "Stroke <b>", "Death & all"],
            "n": pd.array([1520, pd.NA, 0], dtype="Int64"),
            "impact": [-0.12345, 0.5, -0.00004],
            "p_value": [0.0312, np.nan, 1.0],
        }
    )


def _report(png, table, **kw):
    sections = [
        {
            "heading": "Impacts <on> spending",
            "text": "First paragraph with <script>alert(1)</script> & more.\n\nSecond paragraph.",
            "tables": [("Table 1. Impacts", table), table],
            "figures": [("Figure 1. Curve", png), png],
        },
        {"heading": "Empty section"},
    ]
    metadata = {
        "runout date": "2024-06-30",
        "software": {"numpy": "2.0", "pandas": "2.2"},
        "config": "seed: 1\npopulations:\n  - high\n  - high_medium\nnote: <x>\n",
    }
    return build_html_report("Million Hearts <evaluation>", sections, metadata=metadata, **kw)


def test_report_is_self_contained(png, table):
    page = _report(png, table)
    assert page.startswith("<!DOCTYPE html>")
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert not attr.startswith(("http://", "https://", "//")), attr
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert "<style>" in page


def test_report_embeds_figures(png, table):
    page = _report(png, table)
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(payloads) == 2
    assert base64.b64decode(payloads[0]) == png.read_bytes()
    assert "<figcaption>Figure 1. Curve</figcaption>" in page


def test_report_escapes_text(png, table):
    page = _report(png, table)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more." in page
    assert "<p>Second paragraph.</p>" in page
    assert "<title>Million Hearts &lt;evaluation&gt;</title>" in page
    assert "Impacts &lt;on&gt; spending" in page
    assert "Stroke &lt;b&gt;" in page and "Death &amp; all" in page


def test_report_tables_and_provenance(png, table):
    page = _report(png, table)
    assert "<caption>Table 1. Impacts</caption>" in page
    assert page.count("<table>") == 2 + 2  # two report tables, provenance table, software table
    assert "-0.123" in page and ">0.000<" in page and "-0.000" not in page
    prov = page[page.index("<h2>Provenance</h2>"):]
    assert "runout date" in prov and "2024-06-30" in prov
    assert "<pre>seed: 1\npopulations:\n  - high\n  - high_medium\nnote: &lt;x&gt;</pre>" in prov
    assert "<caption>software</caption>" in prov and "pandas" in prov


def test_report_is_deterministic(png, table):
    assert _report(png, table) == _report(png, table)


def test_missing_figure_raises(tmp_path, table):
    with pytest.raises(FileNotFoundError):
        build_html_report("t", [{"heading": "h", "figures": [tmp_path / "none.png"]}])


def test_software_versions():
    versions = software_versions(("numpy", "surely-not-a-package-xyz", "mheval"))
    assert list(versions) == ["python", "numpy", "surely-not-a-package-xyz", "mheval"]
    assert versions["numpy"] == np.__version__
    assert versions["surely-not-a-package-xyz"] == "not installed"
    assert versions["mheval"] != "not installed"


def test_format_table_keeps_named_index():
    df = pd.DataFrame({"x": [1.0, 2.5]}, index=pd.Index(["a", "b"], name="arm"))
    out = format_table(df, digits=2)
    assert out.columns.tolist() == ["arm", "x"]
    assert out["x"].tolist() == ["1.00", "2.50"]
    assert format_table(df.reset_index(drop=True)).columns.tolist() == ["x"]


def test_write_table_four_files_and_deterministic(tmp_path, table):
    paths = write_table(table, tmp_path / "out" / "impacts", caption="Impacts, 90% CI")
    assert [p.name for p in paths] == ["impacts.csv", "impacts.md", "impacts.tex", "impacts.html"]
    first = [p.read_bytes() for p in paths]
    again = write_table(table.copy(), tmp_path / "out" / "impacts", caption="Impacts, 90% CI")
    assert [p.read_bytes() for p in again] == first

    csv = paths[0].read_text()
    assert csv.splitlines()[0] == "outcome,n,impact,p_value"
    assert "Heart attack,1520,-0.123,0.031" in csv
    assert "\r" not in csv
    assert pd.read_csv(paths[0]).shape == (3, 4)

    # the human formats are labelled and formatted (raw names stay in the CSV); "—" marks a suppressed cell
    md = paths[1].read_text()
    assert "| Outcome | Beneficiaries | Impact | p-value |" in md
    assert "|:---|---:|---:|---:|" in md
    assert "| Heart attack | 1,520 | -0.123 | 0.031 |" in md
    assert "| Death & all | 0 | 0.000 | 1.000 |" in md
    assert "| Stroke <b> | — | 0.500 | — |" in md and "— Not shown: suppressed" in md

    tex = paths[2].read_text()
    assert "\\begin{tabular}{lrrr}" in tex and "\\toprule" in tex
    assert "Death \\& all" in tex and "p-value" in tex and "90\\% CI" in tex

    page = paths[3].read_text()
    assert "Stroke &lt;b&gt;" in page and "http" not in page
