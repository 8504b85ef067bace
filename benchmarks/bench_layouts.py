"""Time and peak memory of staging the DE-SynPUF and CCW layouts as the data contract.

Writes the synthetic trial at --scale in both layouts (benchmarks/work/layouts/), stages each with
mheval.contract.layouts.stage_inputs and records wall time, CPU time, peak memory (of the staging
process, DuckDB included) and the rows staged, in benchmarks/results/layouts.json and .md.

    python benchmarks/bench_layouts.py --scale 0.2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "layouts"

STAGE = """
import json, resource, sys, time
import duckdb
from mheval.contract.layouts import stage_inputs
t0, c0 = time.perf_counter(), time.process_time()
prov = stage_inputs(sys.argv[1], sys.argv[2], sys.argv[3], {})
rows = {}
for rel in prov.files:
    if rel.endswith('.parquet') and rel.startswith(('claims', 'medicare')):
        name = rel.split('/')[1]
        rows[name] = rows.get(name, 0) + duckdb.sql(f"SELECT count(*) FROM '{sys.argv[3]}/{rel}'").fetchall()[0][0]
print(json.dumps({'seconds': round(time.perf_counter() - t0, 1), 'cpu_seconds': round(time.process_time() - c0, 1),
                  'peak_gib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), 'rows': rows,
                  'counts': prov.counts}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--layouts", nargs="+", default=["desynpuf", "ccw"], choices=["desynpuf", "ccw"])
    ap.add_argument("--reuse", action="store_true", help="stage the files a previous run wrote (same scale)")
    args = ap.parse_args()
    out = {"scale": args.scale}
    for layout in args.layouts:
        files, staged = WORK / layout, WORK / f"{layout}_staged"
        t0 = time.perf_counter()
        if not (args.reuse and files.exists()):
            shutil.rmtree(files, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "mheval.synth", "--scale", str(args.scale), "--out", str(files),
                            "--layout", layout], check=True, capture_output=True)
        write_s = round(time.perf_counter() - t0, 1)
        proc = subprocess.run([sys.executable, "-c", STAGE, layout, str(files), str(staged)],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        out[layout] = {"generate_and_write_seconds": write_s, **json.loads(proc.stdout)}
        print(layout, out[layout], flush=True)
    res = ROOT / "benchmarks" / "results"
    (res / "layouts.json").write_text(json.dumps(out, indent=2))
    lines = [f"# Staging input layouts (synthetic trial at scale {args.scale})", "",
             f"`python benchmarks/bench_layouts.py --scale {args.scale} --layouts {' '.join(args.layouts)}`; wall time "
             "depends on the machine's load (CPU seconds do less so).", "",
             "| layout | staging wall s | CPU s | peak GiB | carrier rows | carrier lines | claims rows/s (wall) |",
             "|---|---|---|---|---|---|---|"]
    for layout in args.layouts:
        r = out[layout]
        claims = sum(v for k, v in r["rows"].items() if k != "mbsf")
        lines.append(f"| {layout} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_gib']} | {r['rows'].get('carrier', 0):,} "
                     f"| {r['rows'].get('carrier_line', 0):,} | {claims / max(r['seconds'], 0.1):,.0f} |")
    (res / "layouts.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
