# Analysis files (restricted: results/analysis holds identifiers).

rule build_time_to_event:
    input:
        contract_inputs("mbsf", *config["outcomes"]["event_claim_types"], *(["ndi"] if available("ndi") else [])),
        cohort="results/analysis/cohort.parquet",
        codes=config["outcomes"]["codes"],
        cv_death_codes=config["outcomes"].get("cv_death_codes", "config/codes/cv_death_icd10.csv"),
    output:
        tte="results/analysis/time_to_event.parquet",
    params:
        data_dir=data_dir,
        cfg=cfg_subset("claims", "study", "outcomes"),
        cause_of_death=available("ndi"),
    log:
        "results/logs/build_time_to_event.log",
    threads: rule_threads("build_time_to_event")
    resources:
        mem_mb=rule_mem_mb("build_time_to_event"),
        runtime=rule_runtime("build_time_to_event"),
    script:
        "../scripts/build_time_to_event.py"


rule build_predicted_risk:
    input:
        contract_inputs("visits", "clinical"),
        cohort="results/analysis/cohort.parquet",
    output:
        risk="results/analysis/predicted_risk.parquet",
        qc="results/qc/predicted_risk_qc.json",
    params:
        data_dir=data_dir,
        cfg=cfg_subset("cohort"),
    log:
        "results/logs/build_predicted_risk.log",
    threads: rule_threads("build_predicted_risk")
    resources:
        mem_mb=rule_mem_mb("build_predicted_risk"),
        runtime=rule_runtime("build_predicted_risk"),
    script:
        "../scripts/build_predicted_risk.py"


# one row per beneficiary and follow-up year: the claims outcomes (outcomes.smk) joined to the
# analysis population
rule build_beneficiary_year:
    input:
        tte="results/analysis/time_to_event.parquet",
        claims=expand("results/outcomes/claims/{claim_type}_{year}.parquet", claim_type=CLAIM_TYPES, year=CLAIM_YEARS),
        office=expand("results/outcomes/office/carrier_{year}.parquet", year=CLAIM_YEARS) if available("carrier") else [],
        # the statin and antihypertensive changes, derived once from the Part D fills (models_mixed.smk)
        changes="results/outcomes/medication_changes.parquet" if available("pde") else [],
        raw=contract_inputs("mbsf", "providers", "payments"),
    output:
        by="results/analysis/beneficiary_year.parquet",
    params:
        data_dir=data_dir,
        payments=available("payments"),
        cfg=cfg_subset("claims", "outcomes", "cohort"),
    log:
        "results/logs/build_beneficiary_year.log",
    threads: rule_threads("build_beneficiary_year")
    priority: rule_priority("build_beneficiary_year")
    resources:
        mem_mb=rule_mem_mb("build_beneficiary_year"),
        runtime=rule_runtime("build_beneficiary_year"),
    script:
        "../scripts/build_beneficiary_year.py"
