# Input layouts and validation: files in a CMS layout are staged as the data contract, then every
# contract rule is checked; bad input stops the run before any model.

if LAYOUT != "contract":

    rule stage_inputs:
        input:
            layout_sources(),
        output:
            staged=directory(STAGED_DIR),
        params:
            layout=LAYOUT,
            data_dir=RAW_DIR,
            processing_lag_days=config["claims"].get("processing_lag_days", 30),
        log:
            "results/logs/stage_inputs.log",
        script:
            "../scripts/stage_inputs.py"


rule validate_inputs:
    input:
        data_ready(),
    output:
        report="results/qc/validation_report.json",
    params:
        data_dir=DATA_DIR,
        plausible=config["cohort"]["plausible"],
        source=config["data"]["source"],
    log:
        "results/logs/validate_inputs.log",
    script:
        "../scripts/validate_inputs.py"
