# The embedded synthetic trial (data.source: synthetic).

if config["data"]["source"] == "synthetic":

    rule simulate_trial:
        output:
            truth=f"{RAW_DIR}/truth.json",
        params:
            synthetic=config["synthetic"],
            out_dir=lambda wildcards, output: str(Path(output.truth).parent),
        log:
            "results/logs/simulate_trial.log",
        conda:
            CONDA_ENV
        script:
            "../scripts/simulate_trial.py"
