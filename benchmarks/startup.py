"""Start-up cost of the workflow's jobs: each workflow script's import CPU seconds times its jobs in a run.

    python benchmarks/startup.py --log /work/runs/g/scale_1/snakemake.log [--label after] [--reps 3]

Every `script:` job is a new Python process that runs Snakemake's preamble and the script's top-level
imports before any work. Per workflow script this measures the CPU seconds (user + system) of a fresh
interpreter running only those imports (``benchmarks/demo_overhead.py``'s ``import_costs``: the least
of ``--reps`` runs) and which heavy packages they load; the jobs per script are counted in a finished
run's Snakemake log (``localrule NAME:`` / ``rule NAME:`` lines: at scale 1.0, 131 jobs). Writes
benchmarks/results/startup_<label>.json; startup.md is written by hand from them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from demo_overhead import import_costs, script_imports  # benchmarks/ is this script's folder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
HEAVY = ["scipy.stats", "scipy.optimize", "scipy.sparse", "matplotlib", "statsmodels", "lifelines", "pymc",
         "pytensor", "arviz", "pandera", "hccpy", "patsy", "duckdb", "pyarrow.parquet", "pandas.io.formats.style"]


def jobs_per_rule(log: Path) -> Counter:
    """Jobs per rule in a Snakemake log (the target rule ``all`` left out)."""
    found = re.findall(r"^(?:local)?rule (\w+):", log.read_text(), re.M)
    return Counter(r for r in found if r != "all")


def heavy_modules(script: Path, env: dict) -> list[str]:
    """The packages of :data:`HEAVY` that the script's top-level imports load."""
    code = script_imports(script) + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else [f"error: {out.stderr.strip()[-200:]}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, default=Path("/work/runs/g/scale_1/snakemake.log"))
    ap.add_argument("--label", default="current")
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    jobs = jobs_per_rule(a.log)
    costs = import_costs(env)
    base = costs.pop("(python + snakemake preamble)")
    rows = []
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        n = jobs.get(script.stem, 0)
        each = costs.get(script.stem)
        rows.append({"script": script.stem, "jobs": n, "import_cpu_s_each": each,
                     "import_cpu_s_total": round(n * (each or 0), 2), "heavy": heavy_modules(script, env)})
    rows.sort(key=lambda r: -r["import_cpu_s_total"])
    result = {"log": str(a.log), "python_plus_preamble_cpu_s": base, "jobs": sum(r["jobs"] for r in rows),
              "import_cpu_s_total": round(sum(r["import_cpu_s_total"] for r in rows), 1), "scripts": rows}
    (OUT / f"startup_{a.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'script':28s} {'jobs':>4s} {'each':>6s} {'total':>7s}  heavy modules loaded")
    for r in rows:
        print(f"{r['script']:28s} {r['jobs']:4d} {r['import_cpu_s_each']:6.2f} {r['import_cpu_s_total']:7.2f}  "
              + ", ".join(r["heavy"]))
    print(f"{'all':28s} {result['jobs']:4d} {'':6s} {result['import_cpu_s_total']:7.1f}  "
          f"(python + Snakemake's preamble alone: {base} s a job)")


if __name__ == "__main__":
    main()
