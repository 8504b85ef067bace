"""Time of the workflow's adjusted_incidence jobs (one per outcome and population): the cumulative
incidence with death as a competing risk (Aalen-Johansen unadjusted and standardized) and 1 - S, each
with its cluster bootstrap, as workflow/scripts/adjusted_incidence.py runs them with the config's
settings. Wall and CPU seconds (CPU: this process, all its threads: the honest measure on a shared
machine) for each job, split into the two estimates.

Usage: python benchmarks/incidence_jobs.py --tte results/analysis/time_to_event.parquet --label after
       [--n-boot N] [--jobs event:high_medium ...] [--scale 1.0]
Writes benchmarks/results/incidence_jobs_<label>.json; with --markdown, the section "Scale <scale>:
the adjusted_incidence jobs" of benchmarks/results/competing_risks.md from every incidence_jobs_*.json
(benchmarks/competing_risks.py keeps that section when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks/results"
SECTION = "## Scale {scale}: the adjusted_incidence jobs"


def run_job(tte, outcome, population, cfg, n_boot):
    from mheval.models.estimability import Limits
    from mheval.models.equation4 import adjusted_incidence, competing_incidence
    from mheval.seeds import job_seed

    m = cfg["models"]
    kw = dict(years=m["incidence_years"], n_boot=n_boot, alpha=m["alpha"],
              seed=job_seed(m["bootstrap_seed"], outcome=outcome, population=population),
              limits=Limits.from_config({k: m[k] for k in ("min_events_per_arm", "min_organizations_per_arm") if k in m}),
              covariates=m.get("covariates"))
    out = {"outcome": outcome, "population": population, "n_boot": n_boot}
    for name, f, extra in (("competing_risk", competing_incidence, {"min_cell": cfg["report"]["min_cell"]}),
                           ("one_minus_s", adjusted_incidence, {"min_at_risk": cfg["report"]["min_cell"]})):
        t0, c0 = time.perf_counter(), time.process_time()
        res = f(tte, outcome, population, **extra, **kw)
        out[name] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                     "n_boot_failed": res.n_boot_failed}
        out["n"] = getattr(res, "n", None) or res.nobs
    out["wall_s"] = out["competing_risk"]["wall_s"] + out["one_minus_s"]["wall_s"]
    out["cpu_s"] = out["competing_risk"]["cpu_s"] + out["one_minus_s"]["cpu_s"]
    return out


def markdown(scale: str) -> list[str]:
    lines = [SECTION.format(scale=scale), ""]
    for path in sorted(RESULTS.glob("incidence_jobs_*.json")):
        r = json.loads(path.read_text())
        if str(r["scale"]) != scale:
            continue
        lines += [f"**{r['label']}** (commit {r['commit']}, {r['date']}): `{r['command']}`. {r['note']}", "",
                  "| outcome | population | n | replicates | competing risk wall / CPU s | 1 - S wall / CPU s | "
                  "job wall / CPU s |", "|---|---|---|---|---|---|---|"]
        for j in r["jobs"]:
            c, s = j["competing_risk"], j["one_minus_s"]
            lines.append(f"| {j['outcome']} | {j['population']} | {j['n']:,} | {j['n_boot']} | "
                         f"{c['wall_s']:.1f} / {c['cpu_s']:.1f} | {s['wall_s']:.1f} / {s['cpu_s']:.1f} | "
                         f"{j['wall_s']:.1f} / {j['cpu_s']:.1f} |")
        lines.append("")
    lines += extrapolated(scale)
    return lines


def extrapolated(scale: str) -> list[str]:
    """Jobs timed with two numbers of replicates (e.g. the code before the change, too slow for 200):
    CPU = fixed + per replicate x replicates, fitted through the two runs, at the config's default."""
    runs: dict = {}
    for path in sorted(RESULTS.glob("incidence_jobs_*.json")):
        r = json.loads(path.read_text())
        if str(r["scale"]) == scale:
            for j in r["jobs"]:
                runs.setdefault((r["commit"], j["outcome"], j["population"]), []).append(j)
    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())["models"]["bootstrap_replicates"]
    out = []
    for (commit, outcome, population), js in runs.items():
        by_n = {j["n_boot"]: j for j in js}
        if len(by_n) < 2 or default in by_n:
            continue
        (n0, a), (n1, b) = sorted(by_n.items())[:2]
        parts = []
        for k in ("competing_risk", "one_minus_s"):
            per = (b[k]["cpu_s"] - a[k]["cpu_s"]) / (n1 - n0)
            parts.append((k, per, a[k]["cpu_s"] - per * n0 + per * default))
        total = sum(x[2] for x in parts)
        out.append(f"Commit {commit}, {outcome} / {population}, extrapolated to {default} replicates from the runs "
                   f"with {n0} and {n1}: " + "; ".join(f"{k} {per:.2f} CPU s per replicate, {tot:.0f} CPU s"
                                                       for k, per, tot in parts) + f"; the job about {total:.0f} CPU s.")
    return out + [""] if out else out


def write_markdown(scale: str) -> None:
    path = RESULTS / "competing_risks.md"
    text = path.read_text() if path.exists() else ""
    head = SECTION.format(scale=scale)
    if head in text:  # replace the section up to the next "## " heading
        before, rest = text.split(head, 1)
        nxt = rest.find("\n## ")
        text = before.rstrip("\n") + "\n" + (rest[nxt:] if nxt >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(markdown(scale)).rstrip("\n") + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tte", required=False)
    ap.add_argument("--label", default="after")
    ap.add_argument("--note", default="")
    ap.add_argument("--scale", default="1.0")
    ap.add_argument("--n-boot", type=int)
    ap.add_argument("--jobs", nargs="*", help="outcome:population (default: every job of the config)")
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--markdown", action="store_true", help="only rewrite the section of competing_risks.md")
    args = ap.parse_args()
    if args.markdown:
        write_markdown(args.scale)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = yaml.safe_load(Path(args.config).read_text())
    n_boot = cfg["models"]["bootstrap_replicates"] if args.n_boot is None else args.n_boot
    jobs = ([j.split(":") for j in args.jobs] if args.jobs else
            [(o, p) for o in cfg["models"]["survival_outcomes"] for p in cfg["models"]["survival_populations"]])
    tte = pd.read_parquet(args.tte)
    rows = []
    for outcome, population in jobs:
        rows.append(run_job(tte, outcome, population, cfg, n_boot))
        print(json.dumps(rows[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    out = {"label": args.label, "scale": args.scale, "commit": commit, "machine": platform.platform(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": args.note,
           "command": "python benchmarks/incidence_jobs.py " + " ".join(sys.argv[1:]), "jobs": rows}
    (RESULTS / f"incidence_jobs_{args.label}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
