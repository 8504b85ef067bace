"""Peak memory and CPU seconds of one workflow rule's job, alone, on an existing run's files.

    python benchmarks/rule_memory.py --workdir /tmp/run --scale 1.0 --rule validate_inputs \
        --target results/qc/validation_report.json [--src /path/to/other/checkout] [--label after]

``--workdir`` holds a finished run (resources/, results/, config/: a copy, never the original, since
the job rewrites its outputs there). The first call runs Snakemake once for the rule alone
(--forcerun RULE --allowed-rules RULE, --skip-script-cleanup) to keep the job's script, whose
preamble carries the job's inputs, outputs and params. Every call then runs that preamble followed by
the current ``workflow/scripts/RULE.py`` of ``--src`` (default: this checkout; its src/ first on the
path) under /usr/bin/time -v at nice 10, prints one JSON line (peak resident MB, CPU user + system
seconds) and copies the job's outputs to WORKDIR/../out/LABEL/WORKDIR-NAME/RULE/ for a byte comparison of two
versions (benchmarks/results/memory.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREAMBLE_END = "######## snakemake preamble end #########"


def kept_script(workdir: Path, rule: str, scale: float, target: str) -> Path:
    """The job script Snakemake kept for ``rule`` in ``workdir`` (made by one Snakemake run if absent)."""
    found = sorted((workdir / ".snakemake" / "scripts").glob(f"tmp*.{rule}.py"))
    if not found:
        subprocess.run(["nice", "-n", "10", sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
                        "--directory", str(workdir), "--config", f"synthetic={{scale: {scale}}}", "--cores", "1",
                        "--rerun-triggers", "mtime", "--skip-script-cleanup", "--forcerun", rule,
                        "--allowed-rules", rule, "all", "--", target], check=True)
        found = sorted((workdir / ".snakemake" / "scripts").glob(f"tmp*.{rule}.py"))
    return found[-1]


def measure(workdir: Path, rule: str, scale: float, target: str, src: Path, label: str) -> dict:
    """Run the rule's job once with ``src``'s code; its peak memory and CPU time, outputs copied."""
    kept = kept_script(workdir, rule, scale, target)
    preamble = kept.read_text().split(PREAMBLE_END)[0] + PREAMBLE_END + "\n"
    run = kept.with_name(f"run_{rule}.py")
    run.write_text(preamble + (src / "workflow" / "scripts" / f"{rule}.py").read_text())
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    res = subprocess.run(["nice", "-n", "10", "/usr/bin/time", "-v", sys.executable, str(run)], cwd=workdir, env=env,
                         capture_output=True, text=True)
    stats = dict(re.findall(r"^\s*(.+?): (.+)$", res.stderr, re.M))
    ns = {"__file__": str(kept)}
    exec(kept.read_text().splitlines()[1], ns)  # the preamble's line: the job's `snakemake` object
    out = workdir.parent / "out" / label / workdir.name / rule
    for f in ns["snakemake"].output:
        if (workdir / f).is_file():
            (out / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(workdir / f, out / f)
    return {"rule": rule, "scale": scale, "label": label, "returncode": res.returncode,
            "peak_mb": round(int(stats["Maximum resident set size (kbytes)"]) / 1024),
            "cpu_s": round(float(stats["User time (seconds)"]) + float(stats["System time (seconds)"]), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--rule", required=True)
    ap.add_argument("--target", required=True, help="an output of the rule (for the first, Snakemake, run)")
    ap.add_argument("--src", type=Path, default=ROOT, help="the checkout whose code runs (default: this one)")
    ap.add_argument("--label", default="current")
    a = ap.parse_args()
    print(json.dumps(measure(a.workdir.resolve(), a.rule, a.scale, a.target, a.src.resolve(), a.label)))


if __name__ == "__main__":
    main()
