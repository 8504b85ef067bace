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
        contract_inputs(*CONTRACT),
    output:
        report="results/qc/validation_report.json",
    params:
        data_dir=data_dir,
        plausible=config["cohort"]["plausible"],
        # DE-SynPUF's NPIs are scrambled by CMS (most fail the check digit): never checked there
        check_npi=config["data"].get("check_npi", True) and LAYOUT != "desynpuf",
        processing_lag_days=config["claims"].get("processing_lag_days", 30),
        death_date_tolerance_days=config["outcomes"].get("death_date_tolerance_days", 7),
        source=config["data"]["source"],
        unavailable=UNAVAILABLE,
    log:
        "results/logs/validate_inputs.log",
    threads: rule_threads("validate_inputs")
    resources:
        mem_mb=rule_mem_mb("validate_inputs"),
        runtime=rule_runtime("validate_inputs"),
    script:
        "../scripts/validate_inputs.py"


if FILE_SOURCE:

    # One small job per input (and year): lists the files it stands for (ls: size, time, name).
    # Readers depend on it, so that a replaced file reruns exactly its readers (see
    # contract_inputs in common.smk). A shell command, local: many jobs of a few milliseconds each.
    localrules: input_fingerprint, input_fingerprint_yearly

    rule input_fingerprint:
        input:
            lambda wc: contract_input_files(wc.kind),
        output:
            "results/qc/inputs/{kind}.txt",
        wildcard_constraints:
            kind="|".join(k for k, s in CONTRACT.items() if not s.yearly),
        shell:
            "ls -lnL {input:q} > {output:q}"

    use rule input_fingerprint as input_fingerprint_yearly with:
        input:
            lambda wc: contract_input_files(wc.kind, wc.year),
        output:
            "results/qc/inputs/{kind}_{year}.txt",
        wildcard_constraints:
            kind="|".join(k for k, s in CONTRACT.items() if s.yearly),
