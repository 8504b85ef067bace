# Claims outcomes: one extraction job per claim type and calendar year (DuckDB over Parquet).
# The runout is applied downstream, so a new runout does not rerun these jobs; a new or changed
# claims file (or its revenue-center or line file) reruns only its own job.

rule extract_claims:
    input:
        lambda wc: claims_inputs(wc.claim_type, wc.year),
        validation=VALIDATED,
        codes=config["outcomes"]["codes"],
        other_cvd_codes=config["outcomes"].get("other_cvd_codes", []),
    output:
        claims="results/outcomes/claims/{claim_type}_{year}.parquet",
        office="results/outcomes/office/{claim_type}_{year}.parquet",
    params:
        data_dir=data_dir,
        # the processing lag of the claims section only: a new runout does not rerun extraction
        cfg=dict(cfg_subset("outcomes", "data"), claims={"processing_lag_days": config["claims"].get("processing_lag_days", 30)}),
    log:
        "results/logs/extract_claims/{claim_type}_{year}.log",
    threads: rule_threads("extract_claims")
    resources:
        mem_mb=rule_mem_mb("extract_claims"),
        runtime=rule_runtime("extract_claims"),
    script:
        "../scripts/extract_claims.py"


rule extract_fills:
    input:
        lambda wc: contract_inputs("pde", year=wc.year) + contract_inputs("ndc"),
        validation=VALIDATED,
        drugs=config["outcomes"]["drugs"],
    output:
        fills="results/outcomes/fills/pde_{year}.parquet",
    params:
        data_dir=data_dir,
    log:
        "results/logs/extract_fills/pde_{year}.log",
    threads: rule_threads("extract_fills")
    resources:
        mem_mb=rule_mem_mb("extract_fills"),
        runtime=rule_runtime("extract_fills"),
    script:
        "../scripts/extract_fills.py"
