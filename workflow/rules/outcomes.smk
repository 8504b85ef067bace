# Claims outcomes: one extraction job per claim type and calendar year (DuckDB over Parquet).
# The runout is applied downstream, so a new runout does not rerun these jobs; a new or changed
# claims file reruns only its own job.

rule extract_claims:
    input:
        data_ready(),
        validation="results/qc/validation_report.json",
        raw=lambda wc: claims_file(wc.claim_type, wc.year),
        codes=config["outcomes"]["codes"],
    output:
        claims="results/outcomes/claims/{claim_type}_{year}.parquet",
        office="results/outcomes/office/{claim_type}_{year}.parquet",
    wildcard_constraints:
        claim_type="|".join(CLAIM_TYPES),
        year=r"\d{4}",
    params:
        data_dir=DATA_DIR,
        cfg=cfg_subset("outcomes", "data"),
    log:
        "results/logs/extract_claims/{claim_type}_{year}.log",
    script:
        "../scripts/extract_claims.py"


rule build_beneficiary_year:
    input:
        tte="results/analysis/time_to_event.parquet",
        claims=expand("results/outcomes/claims/{claim_type}_{year}.parquet", claim_type=CLAIM_TYPES, year=CLAIM_YEARS),
        office=expand("results/outcomes/office/carrier_{year}.parquet", year=CLAIM_YEARS) if available("carrier") else [],
        fills=expand("results/outcomes/fills/pde_{year}.parquet", year=CLAIM_YEARS) if available("pde") else [],
    output:
        by="results/analysis/beneficiary_year.parquet",
    params:
        data_dir=DATA_DIR,
        payments=available("payments"),
        cfg=cfg_subset("claims", "outcomes", "cohort"),
    log:
        "results/logs/build_beneficiary_year.log",
    script:
        "../scripts/build_beneficiary_year.py"


rule extract_fills:
    input:
        data_ready(),
        validation="results/qc/validation_report.json",
        raw=lambda wc: claims_file("pde", wc.year),
        drugs=config["outcomes"]["drugs"],
    output:
        fills="results/outcomes/fills/pde_{year}.parquet",
    wildcard_constraints:
        year=r"\d{4}",
    params:
        data_dir=DATA_DIR,
    log:
        "results/logs/extract_fills/pde_{year}.log",
    script:
        "../scripts/extract_fills.py"
