"""Claims extraction next to the read limit: a bare DuckDB scan of the same Parquet columns, side by side.

Usage: python benchmarks/bench_extract.py [--data benchmarks/work/synth] [--repeats 3]

For every claim type and year (and the Part D fills), in one run and alternating:
- extraction: :func:`mheval.outcomes.extract.write_extraction` (``extract_fills`` for Part D) as a
  workflow job runs it: read, find events, ED and office visits, write the Parquet summaries;
- bare scan: DuckDB reads the same columns of the same files into memory (Arrow) and does nothing else.
Each is timed ``--repeats`` times and the fastest kept (the machine is shared; the fastest is the
least disturbed). Writes benchmarks/results/extract.md and .json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

from mheval.contract.read import columns_of, input_files
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.events import diagnosis_columns
from mheval.outcomes.extract import BASE_TYPES, extract_fills, write_extraction

BASE = ["BENE_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "NCH_WKLY_PROC_DT", "CLM_PMT_AMT"]
LINE_COLUMNS = {"outpatient": ("outpatient_revenue", ["CLM_ID", "REV_CNTR"]),
                "carrier": ("carrier_line", ["BENE_ID", "CLM_ID", "LINE_NUM", "HCPCS_CD", "LINE_1ST_EXPNS_DT",
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


def fastest(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="benchmarks/work/synth")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = Path(args.data)
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    codes = load_event_codes(cfg["outcomes"]["codes"])
    truth = json.loads((data / "truth.json").read_text())
    years = sorted({int(f.stem[-4:]) for f in input_files(data, "inpatient")})
    con = duckdb.connect()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for claim_type in (*BASE_TYPES, "pde"):
            for year in years:
                reads = read_set(data, claim_type, year, cfg)
                if not reads:
                    continue

                def bare():
                    for f, cols in reads:
                        con.sql(f"SELECT {', '.join(cols)} FROM read_parquet('{f}')").to_arrow_table()

                def extract():
                    if claim_type == "pde":
                        extract_fills(data, year, cfg["outcomes"]["drugs"])
                    else:
                        write_extraction(data, claim_type, year, codes, cfg, Path(tmp) / "c.parquet",
                                         Path(tmp) / "o.parquet")

                n = sum(con.sql(f"SELECT count(*) FROM read_parquet('{f}')").fetchall()[0][0] for f, _ in reads)
                t_bare, t_extract = fastest(bare, args.repeats), fastest(extract, args.repeats)
                rows.append({"claim_type": claim_type, "year": year, "rows_read": int(n),
                             "bare_scan_s": round(t_bare, 4), "extraction_s": round(t_extract, 4)})
                print(rows[-1], flush=True)
    total_rows = sum(r["rows_read"] for r in rows)
    t_bare, t_ext = sum(r["bare_scan_s"] for r in rows), sum(r["extraction_s"] for r in rows)
    by_type = {}
    for r in rows:
        s = by_type.setdefault(r["claim_type"], {"rows_read": 0, "bare_scan_s": 0.0, "extraction_s": 0.0})
        for k in s:
            s[k] += r[k]
    result = {"scale": truth["params"]["scale"], "repeats": args.repeats, "rows_read": total_rows,
              "bare_scan_s": round(t_bare, 2), "extraction_s": round(t_ext, 2), "ratio": round(t_ext / t_bare, 2),
              "by_type": by_type, "jobs": rows}
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "extract.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Claims extraction vs a bare DuckDB scan of the same columns (scale {result['scale']:g})", "",
             "`python benchmarks/bench_extract.py` (fastest of "
             f"{args.repeats} per job, side by side in one run; DuckDB {duckdb.__version__}).", "",
             "| claim type | rows read | bare scan s | extraction s | ratio | extraction M rows/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for t, s in by_type.items():
        lines.append(f"| {t} | {s['rows_read']:,} | {s['bare_scan_s']:.2f} | {s['extraction_s']:.2f} | "
                     f"{s['extraction_s'] / s['bare_scan_s']:.2f} | {s['rows_read'] / s['extraction_s'] / 1e6:.1f} |")
    lines.append(f"| **all** | {total_rows:,} | {t_bare:.2f} | {t_ext:.2f} | **{t_ext / t_bare:.2f}** | "
                 f"{total_rows / t_ext / 1e6:.1f} |")
    (out / "extract.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
