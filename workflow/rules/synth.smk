# The embedded synthetic trial (data.source: synthetic).

if config["data"]["source"] == "synthetic":

    rule simulate_trial:
        output:
            truth=f"{RAW_DIR}/truth.json",
        params:
            synthetic=config["synthetic"],
            out_dir=RAW_DIR,
        log:
            "results/logs/simulate_trial.log",
        script:
            "../scripts/simulate_trial.py"
