# The embedded synthetic trial (data.source: synthetic).

if config["data"]["source"] == "synthetic":

    rule simulate_trial:
        output:
            truth=f"{DATA_DIR}/truth.json",
        params:
            synthetic=config["synthetic"],
            out_dir=DATA_DIR,
        log:
            "results/logs/simulate_trial.log",
        script:
            "../scripts/simulate_trial.py"
