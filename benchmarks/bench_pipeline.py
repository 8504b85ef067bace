"""Time the pipeline's steps on a generated trial and measure the primary hazard ratio's interval.

Usage: python benchmarks/bench_pipeline.py [--data benchmarks/work/synth]
Writes benchmarks/results/pipeline_scale{S}.json. Run bench_synth.py first to generate the data.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import yaml

import duckdb
import pandas as pd

from mheval.analysis import build_time_to_event
from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.contract import read_input
from mheval.contract.read import input_files
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import BASE_TYPES, extract_fills, write_extraction
from mheval.cohort import build_cohort
from mheval.contract import validate_inputs
from mheval.models import survival_impact


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="benchmarks/work/synth")
    args = ap.parse_args()
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    truth = json.loads((Path(args.data) / "truth.json").read_text())
    times = {}
    t = time.perf_counter()
    validate_inputs(args.data)
    times["validate_inputs"] = time.perf_counter() - t
    t = time.perf_counter()
    people, flow, qc = build_cohort(args.data, cfg)
    times["build_cohort"] = time.perf_counter() - t
    cohort = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    t = time.perf_counter()
    tte = build_time_to_event(args.data, cohort, cfg)
    times["build_time_to_event"] = time.perf_counter() - t
    Path("benchmarks/work").mkdir(parents=True, exist_ok=True)
    tte.to_parquet("benchmarks/work/time_to_event.parquet", index=False)  # for bench_frailty.py
    # claims outcomes: every claim type x year extraction, then the beneficiary-year file
    codes = load_event_codes(cfg["outcomes"]["codes"])
    work = Path("benchmarks/work/outcomes")
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    claim_files, office_files = [], []
    for ct in BASE_TYPES:  # as the workflow does: one job and output file per claim type and year
        for y in range(2016, 2023):
            write_extraction(args.data, ct, y, codes, cfg, work / f"{ct}_{y}.parquet", work / f"office_{ct}_{y}.parquet")
            claim_files.append(work / f"{ct}_{y}.parquet")
            office_files.append(work / f"office_{ct}_{y}.parquet")
    fills = pd.concat([f for y in range(2016, 2023) if len(f := extract_fills(args.data, y, cfg["outcomes"]["drugs"]))], ignore_index=True)
    times["extract_claims_and_fills"] = time.perf_counter() - t
    t = time.perf_counter()
    by = build_beneficiary_year(tte, claim_files, office_files, read_input(args.data, "providers"), args.data, cfg,
                                fills=fills, payments=read_input(args.data, "payments"))
    times["build_beneficiary_year"] = time.perf_counter() - t
    by.to_parquet("benchmarks/work/beneficiary_year.parquet", index=False)  # for bench_lmm.py
    # the read limit: a plain DuckDB scan of the same files and columns the extraction reads
    con = duckdb.connect()
    t = time.perf_counter()
    rows_scanned = 0
    for ct in BASE_TYPES:
        files = [str(f) for f in input_files(args.data, ct) if int(f.stem[-4:]) >= 2016]
        rows_scanned += con.execute(f"""SELECT count(*), max(BENE_ID), max(CLM_ID), max(CLM_FROM_DT), max(CLM_THRU_DT),
            max(NCH_WKLY_PROC_DT), sum(CLM_PMT_AMT), max(PRNCPAL_DGNS_CD), max(ICD_DGNS_CD1), max(ICD_DGNS_CD2)
            FROM read_parquet({files}, union_by_name=true)""").fetchall()[0][0]
    times["plain_duckdb_scan"] = time.perf_counter() - t
    scan = {"rows": int(rows_scanned), "extraction_rows_per_second": round(rows_scanned / times["extract_claims_and_fills"]),
            "plain_scan_rows_per_second": round(rows_scanned / times["plain_duckdb_scan"]),
            "beneficiary_years": int(len(by))}
    fits = {}
    for outcome in ("event", "death"):
        t = time.perf_counter()
        r = survival_impact(tte, outcome, "high_medium")
        times[f"marginal_cox_{outcome}"] = time.perf_counter() - t
        fits[outcome] = {k: r[k] for k in ("hr", "lower", "upper", "p", "n", "n_events", "n_organizations")}
        fits[outcome]["log_ci_half_width"] = (np.log(r["upper"]) - np.log(r["lower"])) / 2
    result = {"scale": truth["params"]["scale"], "seconds": {k: round(v, 1) for k, v in times.items()},
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
              "fits_high_medium": fits, "claims_scan": scan,
              "published": {"event": {"hr": 0.97, "lower": 0.93, "upper": 1.00, "log_ci_half_width": round((np.log(1.0) - np.log(0.93)) / 2, 4)},
                            "death": {"hr": 0.96, "lower": 0.93, "upper": 0.98, "log_ci_half_width": round((np.log(0.98) - np.log(0.93)) / 2, 4)}},
              "true_conditional_hr": {"event": truth["true_effects"]["hr_event"], "death": truth["true_effects"]["hr_death"]}}
    out = Path("benchmarks/results") / f"pipeline_scale{result['scale']:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
