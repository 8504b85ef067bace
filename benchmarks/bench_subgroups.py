"""Subgroup analyses of one outcome (the workflow's fit_subgroups: interaction models in every
enabled dimension and the PyMC pooling of each): wall and CPU seconds by stage, per outcome.

Each (code, outcome) runs in its own process, with the config of this checkout (subgroups,
models), the population(s) it names and the analysis files of ``--analysis`` (time_to_event.parquet
and beneficiary_year.parquet of a workflow run, e.g. at scale 1.0). ``--src`` points at the source
tree to measure (default: this checkout's src), ``--label`` names it (e.g. "before" for a
``git archive`` of an older commit, "after"). The unpooled estimates and SEs of every label are
compared with the first label's (maximum relative difference). CPU seconds are the honest measure
on a loaded machine; wall seconds are reported beside them.

Usage: nice -n 10 python benchmarks/bench_subgroups.py --analysis /tmp/subgroups --outcomes event spend_ab
       [--src /tmp/old/src --label before]
Appends to benchmarks/results/subgroups.json and rewrites benchmarks/results/subgroups.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run as a script, benchmarks/ is sys.path[0] and its coverage.py shadows the coverage package numba imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
RESULTS = Path("benchmarks/results")
STAGES = ("assign_subgroups", "_overall_reason", "equation1_by_subgroup", "cox_by_subgroup", "pool_impacts",
          "pool_impacts_jointly")  # run.py calls one of the two pooling functions (the joint one since d9ac3c5)


def worker(analysis: str, outcome: str, out: str) -> None:
    """Run run_subgroup_analysis for ``outcome`` as fit_subgroups does; time each stage."""
    import resource

    import pandas as pd
    import pyarrow.parquet as pq
    import yaml

    import mheval.subgroups.run as run
    from mheval.models.estimability import Limits

    times = {}

    def timed(name, f):
        def g(*a, **k):
            w, c = time.perf_counter(), time.process_time()
            try:
                return f(*a, **k)
            finally:
                t = times.setdefault(name, [0, 0.0, 0.0])
                t[0] += 1
                t[1] += time.perf_counter() - w
                t[2] += time.process_time() - c
        return g

    for name in STAGES:
        if hasattr(run, name):
            setattr(run, name, timed(name, getattr(run, name)))
    config = yaml.safe_load(open("config/config.yaml"))
    cfg = dict(config["subgroups"])
    survival = outcome in cfg["survival_outcomes"]
    cfg["equation1_outcomes"] = [] if survival else [outcome]
    cfg["survival_outcomes"] = [outcome] if survival else []
    m = config["models"]
    limits = {k: m[k] for k in ("min_events_per_arm", "min_organizations_per_arm") if k in m}
    w0, c0 = time.perf_counter(), time.process_time()
    tte = pd.read_parquet(Path(analysis) / "time_to_event.parquet")
    # as workflow/scripts/fit_subgroups.py: only the model's columns and the organization size
    from mheval.io import read_parquet_columns
    from mheval.models.equation1 import model_columns
    from mheval.subgroups.interaction import SIZE_COLUMN

    by_file = Path(analysis) / "beneficiary_year.parquet"
    n_by = None if survival else pq.ParquetFile(by_file).metadata.num_rows
    with tempfile.TemporaryDirectory() as idata_dir:
        res = run.run_subgroup_analysis(tte, None if survival else read_parquet_columns(
                                            str(by_file), model_columns(outcome, m.get("covariates")) + [SIZE_COLUMN]),
                                        cfg, cfg["populations"], alpha=m["alpha"], idata_dir=idata_dir,
                                        limits=Limits.from_config(limits), covariates=m.get("covariates"),
                                        average=m.get("average_weighting", "simple"),
                                        lmm_cov_type=m.get("lmm_cov_type", "CR2"),
                                        cox_cov_type=m.get("cox_cov_type", "mbn"))
    row = {"outcome": outcome, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "rows": len(tte) if n_by is None else n_by, "beneficiaries": int(tte["BENE_ID"].nunique()),
           "fits": len(res["impacts"].groupby(["population", "dimension"])) if len(res["impacts"]) else 0,
           "skipped": len(res["skipped"]),
           "stages": {k: {"calls": v[0], "wall_s": v[1], "cpu_s": v[2]} for k, v in times.items()},
           "estimates": res["impacts"][["population", "dimension", "level", "estimate", "se", "post_mean",
                                        "post_sd"]].to_dict(orient="records")}
    Path(out).write_bytes(pickle.dumps(row))


def max_rel_diff(a: list[dict], b: list[dict], col: str) -> float:
    """Largest |a - b| / |b| of column ``col`` over the levels both hold."""
    key = lambda r: (r["population"], r["dimension"], r["level"])  # noqa: E731
    bb = {key(r): r[col] for r in b}
    out = 0.0
    for r in a:
        if key(r) in bb:
            out = max(out, abs(r[col] - bb[key(r)]) / max(abs(bb[key(r)]), 1e-300))
    return out


def render(rows: list[dict]) -> str:
    first = {}
    for r in rows:
        first.setdefault(r["outcome"], r)
    lines = ["# Subgroup analyses of one outcome (fit_subgroups) at scale 1.0", "",
             "benchmarks/bench_subgroups.py: run_subgroup_analysis as the workflow's fit_subgroups runs it (config of",
             "this checkout: every enabled dimension in the configured populations, the interaction model and its",
             "PyMC pooling each). CPU seconds are the honest measure on the shared, loaded machine (2 cores, load",
             "about 18 during these runs); wall seconds beside them. Relative differences: the label's unpooled",
             "estimates and SEs against the first label's; pooled posterior means against the first label's",
             "(Monte Carlo quantities: equal only up to the sampler's error when the likelihood's arithmetic changes).",
             "", "| label | commit | outcome | rows | beneficiaries | fits | wall s | CPU s | interaction models CPU s "
             "| pooling CPU s | peak MB | max rel. diff estimate / SE | max rel. diff post. mean |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stages"]
        models = sum(st.get(k, {}).get("cpu_s", 0.0) for k in ("equation1_by_subgroup", "cox_by_subgroup"))
        pool = sum(st.get(k, {}).get("cpu_s", 0.0) for k in ("pool_impacts", "pool_impacts_jointly"))
        f = first[r["outcome"]]
        d_est = max(max_rel_diff(r["estimates"], f["estimates"], "estimate"),
                    max_rel_diff(r["estimates"], f["estimates"], "se"))
        d_post = max_rel_diff(r["estimates"], f["estimates"], "post_mean")
        lines.append(f"| {r['label']} | {r['commit']} | {r['outcome']} | {r['rows']:,} | {r['beneficiaries']:,} | "
                     f"{r['fits']} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {models:.0f} | {pool:.0f} | "
                     f"{r['peak_mb']:.0f} | {d_est:.1e} | {d_post:.1e} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analysis", required=True, help="directory with time_to_event.parquet, beneficiary_year.parquet")
    ap.add_argument("--outcomes", nargs="+", default=["spend_ab", "event"])
    ap.add_argument("--src", default="src", help="source tree to measure (its mheval package)")
    ap.add_argument("--label", default="after")
    ap.add_argument("--commit", default=None, help="commit of --src (default: this checkout's HEAD)")
    ap.add_argument("--worker", nargs=2, metavar=("OUTCOME", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.analysis, *a.worker)
        return
    commit = a.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True).stdout.strip()
    store = RESULTS / "subgroups.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    env = {**os.environ, "PYTHONPATH": str(Path(a.src).resolve())}
    for outcome in a.outcomes:
        with tempfile.NamedTemporaryFile(suffix=".pkl") as tmp:
            subprocess.run([sys.executable, __file__, "--analysis", a.analysis, "--worker", outcome, tmp.name],
                           env=env, check=True)
            row = pickle.loads(Path(tmp.name).read_bytes())
        row.update(label=a.label, commit=commit)
        rows = [r for r in rows if (r["label"], r["outcome"]) != (a.label, outcome)] + [row]
        print(f"{a.label} {outcome}: wall {row['wall_s']:.1f} s, CPU {row['cpu_s']:.1f} s", flush=True)
        store.write_text(json.dumps(rows, indent=1))
        (RESULTS / "subgroups.md").write_text(render(rows))


if __name__ == "__main__":
    main()
