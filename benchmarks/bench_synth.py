"""Time and peak memory of the synthetic trial generator at a given scale (default 1.0).

Usage: python benchmarks/bench_synth.py [--scale 1.0] [--out benchmarks/work/synth]
Writes benchmarks/results/synth_scale{S}.json and prints a Markdown line for docs.
Each run is a fresh subprocess; peak memory is its maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20170101)
    ap.add_argument("--out", default="benchmarks/work/synth")
    args = ap.parse_args()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mheval.synth", "--scale", str(args.scale), "--seed", str(args.seed),
                           "--out", args.out], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(proc.stderr)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    truth = json.loads((Path(args.out) / "truth.json").read_text())
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    rows = sum(truth["files"].values())
    result = {
        "scale": args.scale, "seed": args.seed, "wall_seconds": round(wall, 1), "peak_rss_gib": round(peak_kib / 2 ** 20, 2),
        "registry_beneficiaries": truth["n_registry_beneficiaries"], "analyzed": truth["n_analyzed"],
        "organizations_analyzed": truth["n_orgs_analyzed"], "rows_written": rows, "bytes_written": size,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "targets": {"wall_seconds": 600, "peak_rss_gib": 8},
    }
    out = Path("benchmarks/results") / f"synth_scale{args.scale:g}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
