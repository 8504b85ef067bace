"""Growth: time and memory of the whole workflow as the trial grows (issue 16, item 6).

    python benchmarks/growth.py --scales 0.25 0.5 1 2 [--cores 2] [--workdir /tmp/mheval-growth]
    python benchmarks/growth.py --table      # benchmarks/results/growth.md and growth.png from every measured scale

For each scale, in a copy of the workflow (WORKDIR/scale_S): first the inputs are generated
(`snakemake ... resources/synthetic/truth.json`, timed on its own), then the whole workflow after
generation is timed: `snakemake --cores N --config "synthetic={scale: S}"`. Sampled every 0.2 s
(benchmarks/rule_resources.py's sampler): each job's wall and CPU seconds and peak RSS (its process
and children), the RSS of the whole Snakemake process tree, and the machine's memory in use
(psutil: total - available) above its idle level, the median of 3 s of samples just before the run
(on a shared machine other processes move it; the tree's RSS does not see them). Resumable: a scale
whose benchmarks/results/growth_<S>.json exists is skipped (--force reruns it); generated inputs
left in WORKDIR/scale_S are reused. The work directory of a measured scale is removed unless --keep.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_resources import OUT, copy_workflow, per_rule, run_sampled, snakemake_cmd  # noqa: E402

TRUTH = "resources/synthetic/truth.json"
TARGET_WALL_S = 600
TARGET_ABOVE_IDLE_GIB = 6.0
GIB = 2**30


def result_path(scale: float, out: Path = OUT) -> Path:
    """Where the measurement of ``scale`` is written: growth_<scale>.json."""
    return out / f"growth_{scale:g}.json"


def measure_scale(scale: float, cores: int, workdir: Path) -> dict:
    """Generate the trial at ``scale`` in ``workdir`` (unless its truth.json is there), then time the
    whole workflow after generation; returns the growth record (see summarize)."""
    truth = workdir / TRUTH
    generation = None
    if not truth.exists():
        copy_workflow(workdir)
        gen = run_sampled(snakemake_cmd(scale, cores, TRUTH), workdir, workdir / "generate.log")
        generation = {"wall_s": round(gen["wall_s"], 1), "cpu_s": round(gen["cpu_s"], 1),
                      "peak_mb": round(max((j["peak"] for j in gen["jobs"]), default=0) / 2**20)}
    else:
        copy_workflow(workdir, fresh=False)
    run = run_sampled(snakemake_cmd(scale, cores), workdir, workdir / "snakemake.log")
    facts = json.loads(truth.read_text())
    return summarize(scale, cores, run, per_rule(run["jobs"]), facts, generation)


def summarize(scale: float, cores: int, run: dict, rules: dict, truth: dict, generation: dict | None) -> dict:
    """The growth record of one scale: the run's totals, each rule's share of the summed job seconds
    and of the summed job CPU seconds (each set sums to 1), and the machine's memory above idle."""
    total_s = sum(r["total_s"] for r in rules.values())
    total_cpu = sum(r["cpu_s"] for r in rules.values())
    for r in rules.values():
        r["share_s"] = r["total_s"] / total_s if total_s else None
        r["share_cpu"] = r["cpu_s"] / total_cpu if total_cpu else None
    return {
        "scale": scale, "cores": cores,
        "beneficiaries": truth["n_analyzed"], "organizations": truth["n_orgs_analyzed"],
        "generation": generation,
        "wall_s": round(run["wall_s"], 1), "cpu_s": round(run["cpu_s"], 1),
        "peak_process_mb": max((r["peak_mb"] for r in rules.values()), default=0),
        "peak_tree_mb": round(run["tree_peak"] / 2**20),
        "machine_idle_mb": round(run["machine_idle"] / 2**20),
        "machine_above_idle_mb": round((run["machine_peak"] - run["machine_idle"]) / 2**20),
        "machine": {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_end": [round(x, 1) for x in psutil.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rules": rules,
    }


def load_results(out: Path = OUT) -> list[dict]:
    """Every growth_<S>.json under ``out``, by scale."""
    return sorted((json.loads(p.read_text()) for p in out.glob("growth_*.json")), key=lambda r: r["scale"])


def top_rules(result: dict, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` rules with the largest share of the summed job seconds, largest first."""
    shares = [(name, r["share_s"]) for name, r in result["rules"].items() if r.get("share_s") is not None]
    return sorted(shares, key=lambda x: -x[1])[:n]


def growth_table(results: list[dict]) -> str:
    """Markdown: one row per scale (beneficiaries, wall, CPU, peak process RSS, machine memory above
    idle, the top rules' shares), then per rule its share of job seconds and peak MB at each scale."""
    lines = ["| scale | beneficiaries | wall (min) | CPU (min) | peak process RSS (GiB) | whole tree RSS (GiB) "
             "| machine memory above idle (GiB) | top rules (share of job seconds) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        tops = ", ".join(f"{name} {share:.0%}" for name, share in top_rules(r))
        lines.append(f"| {r['scale']:g} | {r['beneficiaries']:,} | {r['wall_s'] / 60:.1f} | {r['cpu_s'] / 60:.1f} "
                     f"| {r['peak_process_mb'] / 1024:.2f} | {r['peak_tree_mb'] / 1024:.2f} "
                     f"| {r['machine_above_idle_mb'] / 1024:.2f} | {tops} |")
    rules = sorted({name for r in results for name in r["rules"]},
                   key=lambda name: -max(r["rules"].get(name, {}).get("total_s", 0) for r in results))
    lines += ["", "Per rule at each scale: jobs, total job seconds (share), longest job s, CPU s, peak MB.", "",
              "| rule (script) | " + " | ".join(f"scale {r['scale']:g}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for name in rules:
        cells = []
        for r in results:
            x = r["rules"].get(name)
            cells.append(f"{x['jobs']}, {x['total_s']:g} ({x['share_s']:.1%}), {x['longest_s']:g}, {x['cpu_s']:g}, "
                         f"{x['peak_mb']}" if x else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def growth_plot(results: list[dict], path: Path) -> None:
    """Wall time and memory against beneficiaries, log-log, with the 10-minute and 6-GiB targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["beneficiaries"] for r in results]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    ax_t.plot(n, [r["wall_s"] / 60 for r in results], "o-", label="wall (after generation)")
    ax_t.plot(n, [r["cpu_s"] / 60 for r in results], "s--", label="CPU (all processes)")
    ax_t.axhline(TARGET_WALL_S / 60, color="red", ls=":", label="target: 10 min at scale 1")
    ax_t.set_ylabel("minutes")
    ax_m.plot(n, [r["machine_above_idle_mb"] / 1024 for r in results], "o-", label="machine memory above idle")
    ax_m.plot(n, [r["peak_tree_mb"] / 1024 for r in results], "^-", label="whole process tree RSS")
    ax_m.plot(n, [r["peak_process_mb"] / 1024 for r in results], "s--", label="largest job's RSS")
    ax_m.axhline(TARGET_ABOVE_IDLE_GIB, color="red", ls=":", label="target: 6 GiB above idle")
    ax_m.set_ylabel("GiB")
    for ax in (ax_t, ax_m):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("analyzed beneficiaries")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Whole workflow on {results[0]['cores']} cores" if results else "Whole workflow")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_table(out: Path = OUT) -> tuple[Path, Path]:
    """Write growth.md and growth.png in ``out`` from every growth_<S>.json there."""
    results = load_results(out)
    if not results:
        raise SystemExit(f"no growth_<scale>.json in {out}: run benchmarks/growth.py --scales ... first")
    md, png = out / "growth.md", out / "growth.png"
    head = ["# Growth: the whole workflow as the trial grows", "",
            "```bash", "nice -n 10 python benchmarks/growth.py --scales "
            + " ".join(f"{r['scale']:g}" for r in results) + f" --cores {results[0]['cores']}",
            "python benchmarks/growth.py --table", "```", "",
            "Wall and CPU time of `snakemake --cores N --config \"synthetic={scale: S}\"` after the inputs were "
            "generated (generation timed apart, below); peak RSS of the largest job and of the whole process tree; "
            "the machine's memory in use (total - available) above its idle level before the run. Targets "
            f"(issue 16): {TARGET_WALL_S // 60} min and {TARGET_ABOVE_IDLE_GIB:g} GiB above idle at scale 1 on 2 cores.",
            ""]
    gen = [f"scale {r['scale']:g}: {r['generation']['wall_s']:g} s, {r['generation']['peak_mb'] / 1024:.2f} GiB"
           for r in results if r.get("generation")]
    runs = [f"scale {r['scale']:g}: {r['date']}, load average at the end {r['machine']['load_average_at_end']}"
            for r in results]
    tail = ["", "Generation (simulate_trial, untimed above): " + ("; ".join(gen) or "reused inputs") + ".",
            "", "Measured: " + "; ".join(runs) + ".", "", "![growth](growth.png)", ""]
    md.write_text("\n".join(head) + "\n" + growth_table(results) + "\n".join(tail))
    growth_plot(results, png)
    return md, png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mheval-growth"))
    ap.add_argument("--force", action="store_true", help="remeasure scales that already have a result")
    ap.add_argument("--keep", action="store_true", help="keep each scale's work directory")
    ap.add_argument("--table", action="store_true", help="only write growth.md and growth.png")
    a = ap.parse_args()
    if not a.table:
        OUT.mkdir(parents=True, exist_ok=True)
        for scale in a.scales:
            path = result_path(scale)
            if path.exists() and not a.force:
                print(f"scale {scale:g}: {path} exists, skipped")
                continue
            workdir = a.workdir / f"scale_{scale:g}"
            result = measure_scale(scale, a.cores, workdir)
            path.write_text(json.dumps(result, indent=1) + "\n")
            print(f"scale {scale:g}: {result['wall_s']} s, {result['machine_above_idle_mb']} MB above idle -> {path}")
            if not a.keep:
                shutil.rmtree(workdir)
    print("\n".join(str(p) for p in write_table()))


if __name__ == "__main__":
    main()
