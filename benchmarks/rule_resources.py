"""Per-rule wall time and peak memory of a whole workflow run, for the rules' threads/resources.

    python benchmarks/rule_resources.py --scale 0.05 --cores 2 [--workdir /tmp/rule-resources]

Runs `snakemake --cores N --config "synthetic={scale: S}"` on a copy of the workflow and samples,
every 0.2 s, the resident memory (RSS, summed over each job's process and its children) of every
job process Snakemake starts for a `script:` rule (.snakemake/scripts/tmpXXXX.<script>.py), and
each job's wall time from first to last sample and CPU time (user + system). Writes benchmarks/results/rule_resources_<scale>.json
(per rule: jobs, total and longest seconds, peak MB); benchmarks/results/rule_resources.md is written
from those files by --table. The sampler (`copy_workflow`, `run_sampled`, `per_rule`) is shared
with benchmarks/growth.py.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SCRIPT = re.compile(r"\.snakemake/scripts/tmp[^/.]+\.(\w+)\.py")


def _tree_usage(proc: psutil.Process) -> tuple[int, float]:
    """RSS (bytes) and CPU seconds (user + system) of a process and its children."""
    rss, cpu = 0, 0.0
    try:
        children = proc.children(recursive=True)
    except psutil.Error:  # the job ended between two samples
        children = []
    for p in [proc, *children]:
        try:
            rss += p.memory_info().rss
            t = p.cpu_times()
            cpu += t.user + t.system
        except psutil.Error:
            pass
    return rss, cpu


def machine_used() -> int:
    """The machine's memory in use (bytes): total - available, as psutil.virtual_memory reports it."""
    vm = psutil.virtual_memory()
    return vm.total - vm.available


def idle_used(seconds: float = 3.0, interval: float = 0.2) -> int:
    """The machine's memory in use (bytes) before a run: the median of samples over ``seconds``."""
    samples = []
    for _ in range(max(1, int(seconds / interval))):
        samples.append(machine_used())
        time.sleep(interval)
    return int(statistics.median(samples))


def copy_workflow(workdir: Path, fresh: bool = True) -> None:
    """Copy the Snakefile, workflow/ and config/ into ``workdir`` (emptied first when ``fresh``)."""
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config"):
        src, dst = ROOT / name, workdir / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy(src, dst)


def snakemake_cmd(scale: float, cores: int, *targets: str, options: tuple[str, ...] = ()) -> list[str]:
    """`snakemake [targets] [options] --cores N --config "synthetic={scale: S}"` with this Python (targets
    and options first: --config takes every word after it)."""
    return [sys.executable, "-m", "snakemake", *targets, *options, "--cores", str(cores), "--config",
            f"synthetic={{scale: {scale}}}"]


def run_sampled(cmd: list[str], workdir: Path, log: Path, interval: float = 0.2) -> dict:
    """Run ``cmd`` (a Snakemake invocation) in ``workdir``, sampling every ``interval`` s each job process's
    tree (RSS, CPU), the RSS of the whole process tree and the machine's memory in use.

    Returns wall_s, cpu_s (user + system of every process the run waited for, from getrusage), jobs
    (one dict per job: script, first, last, peak bytes, cpu s), tree_peak (bytes), machine_idle and
    machine_peak (bytes; idle measured just before the start). Raises SystemExit naming the log if
    the command fails.
    """
    idle = idle_used()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    with open(log, "w") as err:
        run = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=err)
        jobs: dict[int, dict] = {}
        top = psutil.Process(run.pid)
        tree_peak, machine_peak = 0, machine_used()
        while run.poll() is None:
            now = time.time()
            machine_peak = max(machine_peak, machine_used())
            try:
                children = top.children(recursive=True)
            except psutil.Error:
                children = []
            tree = 0
            for p in [top, *children]:
                try:
                    tree += p.memory_info().rss
                except psutil.Error:
                    pass
            tree_peak = max(tree_peak, tree)
            for p in children:
                try:
                    m = SCRIPT.search(" ".join(p.cmdline()))
                except psutil.Error:
                    continue
                if not m:
                    continue
                job = jobs.setdefault(p.pid, {"script": m.group(1), "first": now, "peak": 0, "cpu": 0.0})
                rss, cpu = _tree_usage(p)
                job["last"] = now
                job["peak"] = max(job["peak"], rss)
                job["cpu"] = max(job["cpu"], cpu)
            time.sleep(interval)
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed, see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "jobs": list(jobs.values()), "tree_peak": tree_peak,
            "machine_idle": idle, "machine_peak": machine_peak}


def per_rule(jobs: list[dict]) -> dict[str, dict]:
    """Per rule (script name): jobs, total and longest job seconds, CPU seconds, peak MB (its largest
    job's process tree) and cores used (CPU seconds per job second), from run_sampled's jobs."""
    by_rule: dict[str, dict] = {}
    for job in jobs:
        r = by_rule.setdefault(job["script"], {"jobs": 0, "total_s": 0.0, "longest_s": 0.0, "peak_mb": 0,
                                               "cpu_s": 0.0})
        secs = job.get("last", job["first"]) - job["first"]
        r["jobs"] += 1
        r["total_s"] = round(r["total_s"] + secs, 1)
        r["longest_s"] = round(max(r["longest_s"], secs), 1)
        r["peak_mb"] = max(r["peak_mb"], round(job["peak"] / 2**20))
        r["cpu_s"] = round(r["cpu_s"] + job["cpu"], 1)
    for r in by_rule.values():
        # CPU seconds per wall second: above 1, the rule's jobs use more than one core
        r["cores_used"] = round(r["cpu_s"] / r["total_s"], 2) if r["total_s"] else None
    return by_rule


def measure(scale: float, cores: int, workdir: Path) -> dict:
    """Run the workflow at ``scale`` in ``workdir`` and return per-rule times and peaks."""
    copy_workflow(workdir)
    run = run_sampled(snakemake_cmd(scale, cores), workdir, workdir / "snakemake.log")
    return {"scale": scale, "cores": cores, "wall_s": round(run["wall_s"], 1), "rules": per_rule(run["jobs"])}


def table() -> str:
    """Markdown: per rule, peak MB and longest job at every measured scale."""
    runs = sorted((json.loads(p.read_text()) for p in OUT.glob("rule_resources_*.json")), key=lambda r: r["scale"])
    rules = sorted({r for run in runs for r in run["rules"]})
    head = "| rule (script) | " + " | ".join(f"scale {r['scale']}: jobs, longest s, peak MB, cores used" for r in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    for rule in rules:
        cells = []
        for run in runs:
            x = run["rules"].get(rule)
            cells.append(f"{x['jobs']}, {x['longest_s']}, {x['peak_mb']}, {x['cores_used']}" if x else "")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Whole run: " + "; ".join(f"scale {r['scale']}: {r['wall_s']} s on {r['cores']} cores" for r in runs))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mheval-rule-resources"))
    ap.add_argument("--table", action="store_true", help="print the markdown table of the measured scales")
    a = ap.parse_args()
    if a.table:
        print(table())
        return
    result = measure(a.scale, a.cores, a.workdir)
    (OUT / f"rule_resources_{a.scale}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
