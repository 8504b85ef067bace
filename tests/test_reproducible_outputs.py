"""The same inputs give byte-identical outputs: figures (SVG and PNG) drawn in two processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

DRAW = textwrap.dedent("""
    import sys
    import pandas as pd
    from mheval.report.figures import plot_cumulative_incidence

    rows = []
    for pop in ("high", "medium"):
        for arm, k in (("intervention", 0.010), ("control", 0.012)):
            for t in range(6):
                ci = k * t
                rows.append({"population": pop, "arm": arm, "years": t, "cumulative_incidence": ci,
                             "lower": 0.8 * ci, "upper": 1.2 * ci, "outcome_label": "First MI, stroke or TIA"})
    out = sys.argv[1]
    plot_cumulative_incidence(pd.DataFrame(rows), [out + ".svg", out + ".png"])
""")


def _draw(path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", DRAW, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_figure_is_byte_identical_across_processes(tmp_path):
    _draw(tmp_path / "a")
    _draw(tmp_path / "b")
    svg = (tmp_path / "a.svg").read_bytes()
    # the figure has what used to differ between runs: clip paths (random ids) and a date field
    assert b'clip-path="url(#' in svg
    assert b"<dc:date>" not in svg
    assert svg == (tmp_path / "b.svg").read_bytes()
    png = (tmp_path / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG") and b"tIME" not in png
    assert png == (tmp_path / "b.png").read_bytes()
