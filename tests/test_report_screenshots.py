"""benchmarks/report_screenshots.py on a small generated report: a screenshot and a
printed PDF with a page per section (the print stylesheet). Skips when Chromium is absent."""

import importlib.util
import struct
from pathlib import Path

import pandas as pd
import pytest

from mheval.report import build_html_report
from mheval.report.tables import Display

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("report_screenshots", ROOT / "benchmarks" / "report_screenshots.py")
shots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shots)

pytestmark = pytest.mark.skipif(shots.find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_screenshots_and_print_of_a_small_report(tmp_path):
    wide = pd.DataFrame({"outcome": ["Heart attack, stroke or TIA"] * 3, "population": ["high", "medium", "high_medium"],
                         **{k: v for a in ("intervention", "control") for k, v in (
                             (f"n_events_{a}", [1234, 456, 1690]), (f"person_years_{a}", [23456.7, 9000.2, 32456.9]),
                             (f"rate_per_1000py_{a}", [52.6, 50.7, 52.1]))},
                         "hazard_ratio": [0.96, 1.01, 0.97], "ci90_lower": [0.9, 0.9, 0.91], "ci90_upper": [1.03, 1.1, 1.02],
                         "p_value": [0.3, 0.9, 0.4], "note": [""] * 3})
    sections = [{"heading": f"Section {i}", "text": "Text. " * 40,
                 "tables": [(wide, Display.infer(wide, "hazard_ratios", caption="Hazard ratios"))]} for i in (1, 2, 3)]
    html = tmp_path / "report.html"
    html.write_text(build_html_report("Small report", sections))
    written = shots.screenshots(html, tmp_path / "shots", full_page=False, widths={"narrow": 800}, keep_pdf=True)
    names = [Path(p).name for p, _ in written["files"]]
    assert {"report_narrow.png", "report.pdf"} <= set(names)  # keep_pdf
    assert _png_size(tmp_path / "shots" / "report_narrow.png") == (800, 1000)
    # the print stylesheet: the contents, then each of the three sections on a page of its own
    assert written["pages"] >= 4
