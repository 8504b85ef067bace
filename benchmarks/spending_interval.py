"""The spending impact's interval width on a generated trial next to the published one (sizes the
synthetic trial's organization effect on utilization, docs/synthetic_trial.md "Organizations").

Usage: python benchmarks/spending_interval.py --scale 1.0 [--set org_utilization_sigma=0.08 ...]
Generates the trial into benchmarks/work/spending_s{scale}, builds the beneficiary-year file as the
workflow does, fits Equation 1 for Part A and B spending (high + medium risk, the default variance),
and writes benchmarks/results/spending_interval.md and .json: the average impact's 90% interval
half-width per beneficiary per month against the published +-$18.8 (trial-facts.md), with the fitted
organization variance.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import yaml

from mheval.analysis import build_time_to_event
from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.cohort import build_cohort
from mheval.contract import read_input
from mheval.models.equation1 import equation1_impact
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import BASE_TYPES, extract_fills, write_extraction
from mheval.synth import generate_trial
from mheval.synth.__main__ import _parse_set

PUBLISHED_HALF_WIDTH_PBPM = 18.8  # total Part A and B spending, trial-facts.md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20170101)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    data = Path(f"benchmarks/work/spending_s{args.scale:g}")
    t0 = time.perf_counter()
    truth = generate_trial(data, scale=args.scale, seed=args.seed, overrides=_parse_set(args.set))
    people, _, _ = build_cohort(data, cfg)
    cohort = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    tte = build_time_to_event(data, cohort, cfg)
    codes = load_event_codes(cfg["outcomes"]["codes"])
    work = data.parent / f"spending_s{args.scale:g}_outcomes"
    work.mkdir(parents=True, exist_ok=True)
    claim_files, office_files = [], []
    years = range(2016, int(cfg["study"]["end_date"][:4]) + 2)
    for ct in BASE_TYPES:
        for y in years:
            write_extraction(data, ct, y, codes, cfg, work / f"{ct}_{y}.parquet", work / f"office_{ct}_{y}.parquet")
            claim_files.append(work / f"{ct}_{y}.parquet")
            office_files.append(work / f"office_{ct}_{y}.parquet")
    fills = pd.concat([f for y in years if len(f := extract_fills(data, y, cfg["outcomes"]["drugs"]))], ignore_index=True)
    by = build_beneficiary_year(tte, claim_files, office_files, read_input(data, "providers"), data, cfg,
                                fills=fills, payments=read_input(data, "payments"))
    fit = equation1_impact(by, "spend_ab", "high_medium", alpha=cfg["models"]["alpha"],
                           cov_type=cfg["models"]["lmm_cov_type"], average=cfg["models"]["average_weighting"])
    avg = fit["average"]
    half = (avg["upper"] - avg["lower"]) / 2 / 12
    result = {"scale": args.scale, "overrides": _parse_set(args.set),
              "organization_effects": truth.get("organization_effects"), "n_organizations": fit["n_organizations"],
              "n_beneficiaries": fit["n_beneficiaries"], "cov_type": fit["cov_type"],
              "variance_components": fit["variance_components"],
              "average_impact_pbpm": avg["impact"] / 12, "half_width_pbpm": half, "se_model_pbpm": avg.get("se_model", float("nan")) / 12,
              "se_pbpm": avg["se"] / 12, "published_half_width_pbpm": PUBLISHED_HALF_WIDTH_PBPM,
              "seconds": round(time.perf_counter() - t0, 1)}
    out = Path("benchmarks/results")
    (out / "spending_interval.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "spending_interval.md").write_text("\n".join([
        "# Part A and B spending impact: interval width on the synthetic trial vs published", "",
        f"`python benchmarks/spending_interval.py --scale {args.scale:g} {' '.join('--set ' + x for x in args.set)}`", "",
        "| scale | organizations | beneficiaries | org utilization sigma | organization variance | impact PBPM | "
        "90% half-width PBPM (" + fit["cov_type"] + ") | published half-width |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.scale:g} | {fit['n_organizations']} | {fit['n_beneficiaries']:,} | "
        f"{truth['organization_effects']['utilization_sigma']} | {fit['variance_components']['org']:.4g} | "
        f"{avg['impact'] / 12:.2f} | {half:.2f} | {PUBLISHED_HALF_WIDTH_PBPM} |", ""]))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
