# Input validation: every contract rule; bad input stops the run before any model.

rule validate_inputs:
    input:
        data_ready(),
    output:
        report="results/qc/validation_report.json",
    params:
        data_dir=DATA_DIR,
        plausible=config["cohort"]["plausible"],
        check_npi=config["data"].get("check_npi", True),
        processing_lag_days=config["claims"].get("processing_lag_days", 30),
        source=config["data"]["source"],
    log:
        "results/logs/validate_inputs.log",
    script:
        "../scripts/validate_inputs.py"
