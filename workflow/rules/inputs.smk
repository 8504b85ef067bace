# Input validation: every contract rule; bad input stops the run before any model.

rule validate_inputs:
    input:
        data_ready(),
    output:
        report="results/qc/validation_report.json",
    params:
        data_dir=DATA_DIR,
        plausible=config["cohort"]["plausible"],
        source=config["data"]["source"],
        unavailable=UNAVAILABLE,
    log:
        "results/logs/validate_inputs.log",
    script:
        "../scripts/validate_inputs.py"
