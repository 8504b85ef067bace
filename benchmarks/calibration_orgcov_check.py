"""A short check of the organization-term limit (models.covariates.organizations_per_term) on the
calibration's 47-organization design: the replicates of a scratch run of calibration_trials.py with
the rule (``--out``) against the stored replicates of the same seeds, run before the rule with every
organization covariate (benchmarks/results/calibration_replicates/before_s8/). Writes
benchmarks/results/calibration_orgcov_check.md.

    OPENBLAS_NUM_THREADS=1 nice -n 19 python benchmarks/calibration_trials.py --reps 75 --workers 1 \\
        --designs few --subgroups-every 1000 --out /tmp/orgcov/calib
    cp /tmp/orgcov/calib/calibration_replicates/calibration_trials_few.jsonl benchmarks/results/calibration_orgcov_check_few.jsonl
    python benchmarks/calibration_orgcov_check.py

The replicates of the check are committed (benchmarks/results/calibration_orgcov_check_few.jsonl: seeds 1-75,
run 2026-11-30 at nice 19 with one worker beside other jobs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from calibration_trials import LABELS, RESULTS, WORK, summarize  # noqa: E402 (a sibling script)

KEYS = ["frailty_event", "marginal_event", "frailty_death", "marginal_death", "spend_ab", "office_mh", "any_hosp",
        "survey"]


def _coverage(c: dict) -> str:
    lo, hi = c["coverage_90_ci"]
    return f"{100 * c['coverage_90']:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def main(path: str) -> None:
    new = {r["seed"]: r for r in map(json.loads, Path(path).read_text().splitlines())}
    stored = {r["seed"]: r for r in map(json.loads, (WORK / "before_s8" / "calibration_trials_few.jsonl").read_text().splitlines())}
    seeds = sorted(set(new) & set(stored))
    a, b = [new[s] for s in seeds], [stored[s] for s in seeds]
    # the Cox fits with the rule are the stored stratum-only fits, to the bit (the rule keeps the stratum only)
    same = {k: max(abs(x["est"][k]["estimate"] - y["est"][f"{k}_stratum_only"]["estimate"])
                   for x, y in zip(a, b) if k in x["est"] and f"{k}_stratum_only" in y["est"])
            for k in KEYS[:4]}
    rule, full = summarize(a), summarize(b)
    lines = ["# The organization-term limit on the 47-organization design: a short check", "",
             f"`benchmarks/calibration_orgcov_check.py` (see its docstring for the commands): {len(seeds)} replicates "
             "(seeds " f"{seeds[0]}-{seeds[-1]}) of calibration design `few` (scale 0.02, about 47 organizations) run "
             "with the rule (models.covariates.organizations_per_term = 10: the randomization stratum only at 47 "
             "organizations), against the stored replicates of the same seeds run with every organization covariate "
             "(benchmarks/results/calibration_replicates/before_s8/, the default before the rule). Same data, same seeds: the "
             "differences are the covariates only. 90% coverage with its Clopper-Pearson 90% interval; the default "
             "variance of each estimator.", "",
             "| estimator | variance | reps | SD full (stored) | SD rule | mean SE/SD full | mean SE/SD rule | "
             "coverage full | coverage rule |", "|---|---|---|---|---|---|---|---|---|"]
    for k in KEYS:
        if k not in rule or k not in full:
            continue
        v = {"frailty": "published", "marginal": "mbn"}.get(k.split("_")[0]) or \
            {"spend_ab": "CR2", "office_mh": "CR2", "any_hosp": "model", "survey": "CR2"}[k]
        r, f = rule[k], full[k]
        rc, fc = r["variances"][v], f["variances"][v]
        lines.append(f"| {LABELS[k]} | {v} | {rc['reps']} | {f['empirical_sd']:.4f} | {r['empirical_sd']:.4f} | "
                     f"{fc['mean_se'] / f['empirical_sd']:.2f} | {rc['mean_se'] / r['empirical_sd']:.2f} | {_coverage(fc)} | "
                     f"{_coverage(rc)} |")
    lines += ["", "The Cox estimates with the rule equal the stored stratum-only comparison fits of the same seeds "
              f"(largest absolute difference of the log HR: {', '.join(f'{k} {v:.1e}' for k, v in same.items())}), "
              f"so the stored stratum-only rows of all {len(stored)} stored replicates are the rule's Cox default in "
              "this design (all organization covariates: the stored default rows):", "",
              "| estimator | variance | reps | SD full | SD rule | mean SE/SD full | mean SE/SD rule | coverage full | "
              "coverage rule |", "|---|---|---|---|---|---|---|---|---|"]
    every = summarize(list(stored.values()))
    for k in KEYS[:4]:
        v = "published" if k.startswith("frailty") else "mbn"
        f, r = every[k], every[f"{k}_stratum_only"]
        fc, rc = f["variances"][v], r["variances"][v]
        lines.append(f"| {LABELS[k]} | {v} | {rc['reps']} | {f['empirical_sd']:.4f} | {r['empirical_sd']:.4f} | "
                     f"{fc['mean_se'] / f['empirical_sd']:.2f} | {rc['mean_se'] / r['empirical_sd']:.2f} | "
                     f"{_coverage(fc)} | {_coverage(rc)} |")
    lines.append("")
    out = RESULTS / "calibration_orgcov_check.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(RESULTS / "calibration_orgcov_check_few.jsonl"))
