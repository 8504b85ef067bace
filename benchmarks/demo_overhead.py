"""CPU seconds of the default demo (scale 0.05) after its inputs exist, split into per-job fixed cost and work.

    python benchmarks/demo_overhead.py --workdir /tmp/demo-overhead [--cores 2] [--scale 0.05] [--label after]
    python benchmarks/demo_overhead.py --imports-only        # the import cost of every workflow script

On a shared machine the wall time says little, so this measures CPU seconds (user + system):

- **whole run**: `snakemake --cores N` in ``--workdir`` (a copy of Snakefile, workflow/ and config/; the
  synthetic trial is generated there first if absent and is not timed), as the resource usage of that
  process and every process it waited for (``os.wait4``): the jobs, their shells, Snakemake itself;
- **per job**: each job's Python process (``.snakemake/scripts/tmp*.<script>.py``) records its own CPU
  seconds and its waited-for children's at exit, through a ``sitecustomize`` module placed first on
  ``PYTHONPATH`` for the run only;
- **fixed cost per job**: a fresh interpreter running only the script's top-level imports and the
  imports of Snakemake's script preamble (``snakemake.script``, ``snakemake.logging``,
  ``snakemake.iocontainers``), the least of three runs;
- **Snakemake's own** share: the whole run less the jobs' processes (parsing, the DAG, scheduling, the
  bookkeeping after each job, the shells).

Writes benchmarks/results/demo_overhead_<label>.json; demo_overhead.md is written by hand from them.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
PREAMBLE = "import snakemake.script, snakemake.logging, snakemake.iocontainers"

HOOK = '''
import atexit, json, os, resource, sys, time
_argv = getattr(sys, "orig_argv", sys.argv)
_script = next((a for a in _argv if "/.snakemake/scripts/" in a or a.startswith(".snakemake/scripts/")), None)
if _script and os.environ.get("MHEVAL_JOB_CPU_LOG"):
    _start = time.time()
    def _record():
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        row = {"script": os.path.basename(_script).split(".")[-2], "cpu_s": s.ru_utime + s.ru_stime + c.ru_utime
               + c.ru_stime, "wall_s": time.time() - _start, "max_rss_mb": s.ru_maxrss / 1024}
        with open(os.environ["MHEVAL_JOB_CPU_LOG"], "a") as f:
            f.write(json.dumps(row) + "\\n")
    atexit.register(_record)
'''


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def script_imports(path: Path) -> str:
    """The top-level import statements of a workflow script, as source."""
    tree = ast.parse(path.read_text())
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def run_cpu(cmd: list[str], **kw) -> tuple[float, float, int]:
    """Run ``cmd``; (CPU seconds of it and its waited-for descendants, wall seconds, return code)."""
    start = time.time()
    proc = subprocess.Popen(cmd, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return _cpu(usage), time.time() - start, proc.returncode


def import_costs(env: dict) -> dict[str, float]:
    """Per workflow script: CPU seconds of a fresh interpreter running only its imports (least of 3)."""
    out = {}
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    for path in [None, *scripts]:
        code = PREAMBLE if path is None else PREAMBLE + "\n" + script_imports(path)
        name = "(python + snakemake preamble)" if path is None else path.stem
        out[name] = round(min(run_cpu([sys.executable, "-c", code], env=env)[0] for _ in range(3)), 2)
    return out


def prepare(workdir: Path, scale: float, env: dict) -> None:
    """A fresh copy of the workflow in ``workdir`` with its inputs generated (untimed), no results."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config"):
        dst = workdir / name
        if dst.is_dir():
            shutil.rmtree(dst)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, dst)
    for stale in ("results", ".snakemake"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    truth = workdir / "resources" / "synthetic" / "truth.json"
    if not truth.exists():
        # the target before --config, which takes every word after it
        subprocess.run([sys.executable, "-m", "snakemake", str(truth.relative_to(workdir)), "--cores", "2",
                        "--config", f"synthetic={{scale: {scale}}}"], cwd=workdir, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the generator's outputs exist: make sure the run does not regenerate them
    shutil.rmtree(workdir / ".snakemake", ignore_errors=True)


def measure(workdir: Path, scale: float, cores: int) -> dict:
    env = dict(os.environ)
    hook = Path(tempfile.mkdtemp(prefix="demo-overhead-hook-"))
    (hook / "sitecustomize.py").write_text(HOOK)
    prepare(workdir, scale, env)
    log = workdir / "job_cpu.jsonl"
    log.unlink(missing_ok=True)
    run_env = dict(env, MHEVAL_JOB_CPU_LOG=str(log),
                   PYTHONPATH=os.pathsep.join([str(hook), *filter(None, [env.get("PYTHONPATH")])]))
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--config", f"synthetic={{scale: {scale}}}"]
    with open(workdir / "snakemake.log", "w") as err:
        total, wall, rc = run_cpu(cmd, cwd=workdir, env=run_env, stdout=subprocess.DEVNULL, stderr=err)
    if rc != 0:
        raise SystemExit(f"workflow failed, see {workdir / 'snakemake.log'}")
    jobs = [json.loads(line) for line in log.read_text().splitlines()]
    # Snakemake's start-up (parsing, inputs' availability, the DAG) once: a dry run of the finished workflow
    dry, _, _ = run_cpu(cmd + ["-n"], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    imports = import_costs(env)
    rules: dict[str, dict] = {}
    for j in jobs:
        r = rules.setdefault(j["script"], {"jobs": 0, "cpu_s": 0.0, "import_cpu_s_each": imports.get(j["script"])})
        r["jobs"] += 1
        r["cpu_s"] += j["cpu_s"]
    for r in rules.values():
        r["cpu_s"] = round(r["cpu_s"], 1)
        r["fixed_cpu_s"] = round(r["jobs"] * (r["import_cpu_s_each"] or 0), 1)
    job_cpu = sum(j["cpu_s"] for j in jobs)
    fixed = sum(r["fixed_cpu_s"] for r in rules.values())
    return {
        "scale": scale, "cores": cores, "command": " ".join(cmd[1:]).replace(sys.executable, "python"),
        "wall_s": round(wall, 1), "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "cpu_s_total": round(total, 1), "jobs": len(jobs), "cpu_s_jobs": round(job_cpu, 1),
        "cpu_s_jobs_fixed": round(fixed, 1), "cpu_s_jobs_work": round(job_cpu - fixed, 1),
        "cpu_s_snakemake": round(total - job_cpu, 1), "cpu_s_snakemake_dry_run": round(dry, 1),
        "rules": dict(sorted(rules.items(), key=lambda kv: -kv[1]["cpu_s"])), "imports": imports,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mheval-demo-overhead"))
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--label", default="current")
    ap.add_argument("--imports-only", action="store_true", help="only the import cost of every workflow script")
    a = ap.parse_args()
    if a.imports_only:
        print(json.dumps(import_costs(dict(os.environ)), indent=1))
        return
    result = measure(a.workdir, a.scale, a.cores)
    (OUT / f"demo_overhead_{a.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
