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
        data_dir=DATA_DIR,
        cfg=cfg_subset("claims", "study", "outcomes"),
        cause_of_death=available("ndi"),
    log:
        "results/logs/build_time_to_event.log",
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
        data_dir=DATA_DIR,
        cfg=cfg_subset("cohort"),
    log:
        "results/logs/build_predicted_risk.log",
    script:
        "../scripts/build_predicted_risk.py"
