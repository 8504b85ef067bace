"""benchmarks/growth.py's record, table and plot on fabricated measurements with known answers
(no workflow is run)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("growth", ROOT / "benchmarks" / "growth.py")
growth = importlib.util.module_from_spec(spec)
sys.modules["growth"] = growth
spec.loader.exec_module(growth)


def test_loading_the_benchmark_leaves_sys_path_alone():
    """benchmarks/ on sys.path would let benchmarks/coverage.py shadow the coverage package for the
    rest of the test process (numba imports it: the subgroup tests failed after this file ran)."""
    assert str(ROOT / "benchmarks") not in sys.path
    assert not any(Path(p or ".").resolve() == ROOT / "benchmarks" for p in sys.path)

MIB = 2**20


def _jobs():
    # fit_mixed: two jobs of 30 s and 10 s (CPU 25 + 9), peaks 900 and 1200 MiB; extract_claims: one of 20 s
    return [
        {"script": "fit_mixed", "first": 100.0, "last": 130.0, "peak": 900 * MIB, "cpu": 25.0},
        {"script": "fit_mixed", "first": 130.0, "last": 140.0, "peak": 1200 * MIB, "cpu": 9.0},
        {"script": "extract_claims", "first": 100.0, "last": 120.0, "peak": 300 * MIB, "cpu": 16.0},
    ]


def _record(scale, n, wall, jobs=None):
    run = {"wall_s": wall, "cpu_s": 2 * wall, "jobs": jobs or _jobs(), "tree_peak": 1500 * MIB,
           "machine_idle": 4096 * MIB, "machine_peak": 4096 * MIB + 3 * 1024 * MIB}
    truth = {"n_analyzed": n, "n_orgs_analyzed": 342}
    return growth.summarize(scale, 2, run, growth.per_rule(run["jobs"]), truth, {"wall_s": 5.0, "cpu_s": 5.0,
                                                                                  "peak_mb": 2048})


def test_record_shares_and_memory_known_answer():
    r = _record(1.0, 218_864, 600.0)
    mixed, extract = r["rules"]["fit_mixed"], r["rules"]["extract_claims"]
    assert (mixed["jobs"], mixed["total_s"], mixed["longest_s"], mixed["cpu_s"], mixed["peak_mb"]) == (2, 40.0, 30.0, 34.0, 1200)
    # job seconds 40 + 20 = 60; CPU 34 + 16 = 50
    assert mixed["share_s"] == pytest.approx(40 / 60) and extract["share_s"] == pytest.approx(20 / 60)
    assert mixed["share_cpu"] == pytest.approx(34 / 50) and extract["share_cpu"] == pytest.approx(16 / 50)
    assert sum(x["share_s"] for x in r["rules"].values()) == pytest.approx(1.0)
    assert sum(x["share_cpu"] for x in r["rules"].values()) == pytest.approx(1.0)
    assert r["machine_above_idle_mb"] == 3072 and r["machine_idle_mb"] == 4096
    assert r["peak_process_mb"] == 1200 and r["peak_tree_mb"] == 1500
    assert r["beneficiaries"] == 218_864 and r["cpu_s"] == 1200.0
    assert growth.top_rules(r, 1) == [("fit_mixed", pytest.approx(2 / 3))]


def test_table_and_plot_from_result_files(tmp_path):
    # written out of order: the table sorts by scale
    for scale, n, wall in ((2.0, 437_728, 1500.0), (0.5, 109_432, 300.0)):
        growth.result_path(scale, tmp_path).write_text(json.dumps(_record(scale, n, wall)))
    md, png = growth.write_table(tmp_path)
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 0.5 |") or line.startswith("| 2 |")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.5", "2"]
    # scale 0.5: 109,432 beneficiaries, 5.0 min wall, 10.0 min CPU, 1200 MiB = 1.17 GiB, tree 1.46, 3.00 above idle
    assert rows[0] == ("| 0.5 | 109,432 | 5.0 | 10.0 | 1.17 | 1.46 | 3.00 | fit_mixed 67%, extract_claims 33% |")
    assert rows[1].startswith("| 2 | 437,728 | 25.0 | 50.0 |")
    assert "| fit_mixed | 2, 40 (66.7%), 30, 34, 1200 | 2, 40 (66.7%), 30, 34, 1200 |" in text
    assert "scale 0.5: 5 s, 2.00 GiB" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_table_without_results_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no growth_<scale>.json"):
        growth.write_table(tmp_path)
