"""Speed and information loss of the disclosure engine (mheval.disclosure).

Usage: python benchmarks/bench_disclosure.py [--scales 0.05 0.005] [--tables 40]
Writes benchmarks/results/disclosure.json and disclosure.md.

1. The cohort flow and balance tables of synthetic trials (the default scale 0.05, and a tiny
   adversarial one at 0.005 where many cells are small), protected as the workflow does (flow
   first, balance with the published flow), written in four formats and audited.
2. A stress test: ``--tables`` random flow tables (12 steps x 3 columns, about one count in ten
   from 1 to 10), protected one by one, then audited together.

Loss is reported as the share of count and count-derived cells hidden, and the sum of the counts
hidden as complements.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mheval.cohort import build_cohort
from mheval.cohort.tables import balance_for_populations, publishable_flow
from mheval.disclosure import Rule, audit, protect
from mheval.report import write_table
from mheval.synth import generate_trial

ROOT = Path(__file__).resolve().parents[1]


def trial_run(scale: float, rule: Rule, work: Path) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key in ("codes", "ed_revenue_centers", "office_visit_hcpcs", "drugs"):
        cfg["outcomes"][key] = str(ROOT / cfg["outcomes"][key])
    data = work / f"trial_{scale:g}"
    if not (data / "truth.json").exists():
        generate_trial(data, scale=scale, seed=cfg["synthetic"].get("seed", 20170101))
    people, flow, _ = build_cohort(data, cfg)
    t0 = time.perf_counter()
    pf = publishable_flow(flow, rule)
    t1 = time.perf_counter()
    pb = protect({"balance": balance_for_populations(people[people["EXCLUSION"] == ""])}, rule, published=pf.tables)
    t2 = time.perf_counter()
    out = work / f"published_{scale:g}"
    files = []
    for name, df in {**pf.tables, **pb.tables}.items():
        files += write_table(df, out / name, digits=4 if name == "balance" else 3)
    t3 = time.perf_counter()
    result = audit(files, rule)
    t4 = time.perf_counter()
    summary = pd.concat([pf.summary, pb.summary])
    return {"case": f"trial scale {scale:g}", "analyzed": int((people["EXCLUSION"] == "").sum()),
            "protect_seconds": round(t2 - t0, 2), "flow_seconds": round(t1 - t0, 2),
            "audit_seconds": round(t4 - t3, 2), "audit_ok": result.ok, "attacked": result.attacked,
            **_loss(summary)}


def stress_run(n_tables: int, rule: Rule, work: Path) -> dict:
    rng = np.random.default_rng(7)
    steps = ["enrolled"] + [f"excluded:r{i}" for i in range(9)] + ["analyzed", "analyzed:high", "analyzed:medium"]
    summaries, tables, seconds = [], {}, 0.0
    for t in range(n_tables):
        rows = {}
        for arm in ("intervention", "control"):
            excl = np.where(rng.random(9) < 0.15, rng.integers(1, 11, 9), rng.integers(11, 400, 9))
            high, medium = (rng.integers(1, 11) if rng.random() < 0.1 else rng.integers(11, 800)), rng.integers(11, 1500)
            rows[arm] = [high + medium + excl.sum(), *excl, high + medium, high, medium]
        flow = pd.DataFrame({"step": steps, "label": steps, **rows})
        flow["total"] = flow["intervention"] + flow["control"]
        t0 = time.perf_counter()
        res = publishable_flow(flow, rule)
        seconds += time.perf_counter() - t0
        summaries.append(res.summary)
        tables[f"flow_{t}"] = res.tables["cohort_flow"]
    out = work / "stress"
    files = []
    for name, df in tables.items():  # each written as its own cohort_flow-shaped table
        files += write_table(df, out / name / "cohort_flow")
    t0 = time.perf_counter()
    ok = all(audit([out / name], rule).ok for name in tables)
    return {"case": f"{n_tables} random flow tables", "protect_seconds": round(seconds, 2),
            "audit_seconds": round(time.perf_counter() - t0, 2), "audit_ok": ok, **_loss(pd.concat(summaries))}


def _loss(summary: pd.DataFrame) -> dict:
    s = summary[["cells", "primary", "complementary", "derived", "complementary_total"]].sum()
    hidden = int(s["primary"] + s["complementary"] + s["derived"])
    return {"cells": int(s["cells"]), "primary": int(s["primary"]), "complementary": int(s["complementary"]),
            "derived": int(s["derived"]), "hidden_share": round(hidden / max(1, int(s["cells"])), 4),
            "complementary_total": int(s["complementary_total"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.005])
    ap.add_argument("--tables", type=int, default=40)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    rule = Rule(11, 10)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_disclosure_"))
    rows = [trial_run(s, rule, work) for s in args.scales] + [stress_run(args.tables, rule, work)]
    meta = {"machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
            "rule": {"min_cell": rule.min_cell, "protection_width": rule.protection_width}}
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "disclosure.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    frame = pd.DataFrame(rows)
    lines = ["# Disclosure engine: speed and information loss", "",
             f"`python benchmarks/bench_disclosure.py` on {meta['machine']} (2 shared cores); rule min_cell "
             f"{rule.min_cell}, protection width {rule.protection_width}.", "",
             "| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in frame.columns) + " |" for r in rows]
    (res / "disclosure.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
