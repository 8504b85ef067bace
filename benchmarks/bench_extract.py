"""Claims extraction next to the read limit: a bare DuckDB scan of the same Parquet columns, side by side.

Usage: python benchmarks/bench_extract.py [--data benchmarks/work/synth] [--repeats 3] [--years 2017,2018]
                                         [--out benchmarks/results/extract]

For every claim type and year (and the Part D fills), in one run and alternating:
- extraction: :func:`mheval.outcomes.extract.write_extraction` (``write_fills`` for Part D) as a
  workflow job runs it: read, find events, ED and office visits, write the Parquet summaries;
- bare scan: DuckDB reads the same columns of the same files into memory (Arrow) and does nothing else,
  on a default connection (all cores) and on the extraction's own one-thread connection
  (:func:`mheval.sql.connect`: a workflow job declares one thread).
Each is timed ``--repeats`` times and the fastest kept (the machine is shared; the fastest is the
least disturbed), in elapsed time and in this process's CPU time (the one-thread scan and the job run on
one thread, so their CPU times compare them even on a busy machine; the default scan's CPU time would add
up its threads, so only its elapsed time is kept). The load average before and after the run is recorded.
Writes ``--out``.md and .json (default benchmarks/results/extract).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

from mheval.contract.read import columns_of, input_files
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import diagnosis_columns
from mheval.outcomes import extract as ex
from mheval.outcomes.extract import BASE_TYPES, write_extraction
from mheval.sql import connect

BASE = ["BENE_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "NCH_WKLY_PROC_DT", "CLM_PMT_AMT"]
LINE_COLUMNS = {"outpatient": ("outpatient_revenue", ["CLM_ID", "REV_CNTR"]),
                "carrier": ("carrier_line", ["BENE_ID", "CLM_ID", "HCPCS_CD", "LINE_1ST_EXPNS_DT",
                                             "PRF_PHYSN_NPI"])}


def _file(data: Path, name: str, year: int) -> Path | None:
    return next((f for f in input_files(data, name) if f.stem.endswith(str(year))), None)


def read_set(data: Path, claim_type: str, year: int, cfg: dict) -> list[tuple[Path, list[str]]]:
    """The files and columns one extraction job reads (what the bare scan reads too)."""
    out = []
    if claim_type == "pde":
        pde, ndc = _file(data, "pde", year), next(iter(input_files(data, "ndc")), None)
        if pde is None or ndc is None:
            return []
        return [(pde, ["BENE_ID", "PROD_SRVC_ID", "SRVC_DT", "PD_DT"]), (ndc, ["PROD_SRVC_ID", "GNN", "STRENGTH_MG"])]
    f = _file(data, claim_type, year)
    if f is None:
        return []
    cols = [c for c in BASE + ["CLM_ADMSN_DT"] if c in columns_of(f)]
    if claim_type in cfg["outcomes"]["event_claim_types"]:
        cols += diagnosis_columns([f], cfg["outcomes"]["event_positions"])
    out.append((f, cols))
    if claim_type in LINE_COLUMNS:
        name, lcols = LINE_COLUMNS[claim_type]
        lf = _file(data, name, year)
        if lf is not None:
            out.append((lf, lcols))
    return out


def fastest(fn, repeats: int) -> tuple[float, float]:
    """The fastest of ``repeats`` calls of ``fn``: (elapsed seconds, CPU seconds of this process)."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall, cpu


def fills_job(data: Path, year: int, drugs: str, out: Path) -> None:
    """The extract_fills job: :func:`mheval.outcomes.extract.write_fills`, or on code from before it
    existed (to measure the change) what the workflow script did then: the frame, written by pandas."""
    if hasattr(ex, "write_fills"):
        ex.write_fills(data, year, drugs, out)
    else:
        ex.extract_fills(data, year, drugs).to_parquet(out, index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="benchmarks/work/synth")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--years", default="", help="comma-separated claim years (default: every year)")
    ap.add_argument("--out", default="benchmarks/results/extract")
    args = ap.parse_args()
    data = Path(args.data)
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    codes = load_event_codes(cfg["outcomes"]["codes"])
    truth = json.loads((data / "truth.json").read_text())
    years = sorted({int(f.stem[-4:]) for f in input_files(data, "inpatient")})
    if args.years:
        years = [y for y in years if str(y) in args.years.split(",")]
    con, con1 = duckdb.connect(), connect()
    rows, load_before = [], os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for claim_type in (*BASE_TYPES, "pde"):
            for year in years:
                reads = read_set(data, claim_type, year, cfg)
                if not reads:
                    continue

                def bare(c=con):
                    for f, cols in reads:
                        c.sql(f"SELECT {', '.join(cols)} FROM read_parquet('{f}')").to_arrow_table()

                def extract():
                    if claim_type == "pde":
                        fills_job(data, year, cfg["outcomes"]["drugs"], Path(tmp) / "f.parquet")
                    else:
                        write_extraction(data, claim_type, year, codes, cfg, Path(tmp) / "c.parquet",
                                         Path(tmp) / "o.parquet")

                n = sum(con.sql(f"SELECT count(*) FROM read_parquet('{f}')").fetchall()[0][0] for f, _ in reads)
                (t_bare, _), (t_bare1, c_bare1) = fastest(bare, args.repeats), fastest(lambda: bare(con1), args.repeats)
                t_extract, c_extract = fastest(extract, args.repeats)
                rows.append({"claim_type": claim_type, "year": year, "rows_read": int(n),
                             "bare_scan_s": round(t_bare, 4), "bare_scan_1thread_s": round(t_bare1, 4),
                             "extraction_s": round(t_extract, 4), "bare_scan_1thread_cpu_s": round(c_bare1, 4),
                             "extraction_cpu_s": round(c_extract, 4)})
                print(rows[-1], flush=True)
    load_after = os.getloadavg()
    total_rows = sum(r["rows_read"] for r in rows)
    t_bare, t_ext = sum(r["bare_scan_s"] for r in rows), sum(r["extraction_s"] for r in rows)
    t_bare1 = sum(r["bare_scan_1thread_s"] for r in rows)
    c_bare1, c_ext = sum(r["bare_scan_1thread_cpu_s"] for r in rows), sum(r["extraction_cpu_s"] for r in rows)
    by_type = {}
    for r in rows:
        s = by_type.setdefault(r["claim_type"], {"rows_read": 0, "bare_scan_s": 0.0, "bare_scan_1thread_s": 0.0,
                                                 "extraction_s": 0.0, "bare_scan_1thread_cpu_s": 0.0,
                                                 "extraction_cpu_s": 0.0})
        for k in s:
            s[k] += r[k]
    result = {"scale": truth["params"]["scale"], "repeats": args.repeats, "rows_read": total_rows,
              "years": years, "bare_scan_s": round(t_bare, 2), "bare_scan_1thread_s": round(t_bare1, 2),
              "extraction_s": round(t_ext, 2), "ratio": round(t_ext / t_bare, 2), "ratio_1thread": round(t_ext / t_bare1, 2),
              "bare_scan_1thread_cpu_s": round(c_bare1, 2), "extraction_cpu_s": round(c_ext, 2),
              "ratio_1thread_cpu": round(c_ext / c_bare1, 2), "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in load_after], "by_type": by_type, "jobs": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    load = f"load average {load_before[0]:.2f} / {load_before[1]:.2f} (1 / 5 min) before, {load_after[0]:.2f} / {load_after[1]:.2f} after"
    lines = [f"# Claims extraction vs a bare DuckDB scan of the same columns (scale {result['scale']:g})", "",
             f"`python benchmarks/bench_extract.py {' '.join(sys.argv[1:])}` (claim years "
             f"{', '.join(map(str, years))}; fastest of {args.repeats} per job, side by side in one run; "
             f"DuckDB {duckdb.__version__}; {load}). Bare scan: default connection (all cores) and one thread (as the "
             "job); elapsed seconds, and CPU seconds for the two one-thread runs.", "",
             "| claim type | rows read | bare scan s | bare scan 1 thread s | extraction s | ratio | ratio (1 thread) "
             "| bare 1 thread CPU s | extraction CPU s | ratio (CPU) | extraction M rows/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, s in by_type.items():
        lines.append(f"| {t} | {s['rows_read']:,} | {s['bare_scan_s']:.2f} | {s['bare_scan_1thread_s']:.2f} | "
                     f"{s['extraction_s']:.2f} | {s['extraction_s'] / s['bare_scan_s']:.2f} | "
                     f"{s['extraction_s'] / s['bare_scan_1thread_s']:.2f} | {s['bare_scan_1thread_cpu_s']:.2f} | "
                     f"{s['extraction_cpu_s']:.2f} | {s['extraction_cpu_s'] / s['bare_scan_1thread_cpu_s']:.2f} | "
                     f"{s['rows_read'] / s['extraction_s'] / 1e6:.1f} |")
    lines.append(f"| **all** | {total_rows:,} | {t_bare:.2f} | {t_bare1:.2f} | {t_ext:.2f} | **{t_ext / t_bare:.2f}** | "
                 f"**{t_ext / t_bare1:.2f}** | {c_bare1:.2f} | {c_ext:.2f} | **{c_ext / c_bare1:.2f}** | "
                 f"{total_rows / t_ext / 1e6:.1f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
