"""The same inputs give byte-identical outputs, also across processes (each with its own hash seed):
figures (SVG and PNG), and the synthetic trial from the command line and from the library."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from mheval.synth import generate_trial

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


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_synthetic_trial_is_byte_identical_across_processes(tmp_path):
    """``python -m mheval.synth`` and generate_trial with one seed write the same bytes in every
    file (Parquet, truth.json, the .mheval-synthetic marker); the time taken goes to stderr only."""
    cli, lib = tmp_path / "cli", tmp_path / "lib"
    proc = subprocess.run([sys.executable, "-m", "mheval.synth", "--scale", "0.003", "--seed", "11", "--out", str(cli)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    truth = generate_trial(lib, scale=0.003, seed=11)
    a, b = _files(cli), _files(lib)
    assert {"truth.json", ".mheval-synthetic", "claims/inpatient/inpatient_2017.parquet"} <= set(a)
    assert a.keys() == b.keys()
    assert [f for f in a if a[f] != b[f]] == []
    # the printed summary is the truth's counts, with no timing in it; the timing is on stderr
    summary = json.loads(proc.stdout)
    assert summary == {k: truth[k] for k in summary} and summary["n_analyzed"] == truth["n_analyzed"]
    assert "seconds" not in proc.stdout and "seconds" not in a["truth.json"].decode()
    assert "generated in" in proc.stderr


def test_posteriors_are_saved_byte_identically(tmp_path):
    """Two pooled fits that differ only in what varies between runs (ArviZ's creation date, PyMC's
    per-draw timings, the order of the sample statistics, the bits of a NaN) write the same bytes."""
    import arviz as az
    import numpy as np

    from mheval.subgroups.bayes import save_inference_data

    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 50, 3))

    def idata(order, nan, clock):
        stats = {"lp": np.ones((2, 50)), "largest_eigval": np.full((2, 50), nan),
                 "perf_counter_diff": np.full((2, 50), clock), "diverging": np.zeros((2, 50), bool)}
        d = az.from_dict(posterior={"theta": theta}, sample_stats={k: stats[k] for k in order})
        d.posterior.attrs["created_at"] = f"2026-11-30T10:0{int(clock)}:00"
        return d

    negative_nan = -np.float64("nan")
    assert np.signbit(negative_nan) != np.signbit(np.nan)
    a = save_inference_data(idata(["lp", "largest_eigval", "perf_counter_diff", "diverging"], np.nan, 1.0),
                            tmp_path / "a.nc")
    b = save_inference_data(idata(["diverging", "perf_counter_diff", "largest_eigval", "lp"], negative_nan, 2.0),
                            tmp_path / "b.nc")
    assert a.read_bytes() == b.read_bytes()
    back = az.from_netcdf(str(a))
    assert "perf_counter_diff" not in back.sample_stats and "created_at" not in back.posterior.attrs
    assert np.array_equal(back.posterior["theta"].to_numpy(), theta)
