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
        threads: rule_threads("simulate_trial")
        resources:
            mem_mb=rule_mem_mb("simulate_trial"),
            runtime=rule_runtime("simulate_trial"),
        script:
            "../scripts/simulate_trial.py"
