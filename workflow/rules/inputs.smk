# Input validation: every contract rule; bad input stops the run before any model.

rule validate_inputs:
    input:
        data_ready(),
        contract_inputs(*CONTRACT),
    output:
        report="results/qc/validation_report.json",
    params:
        data_dir=DATA_DIR,
        plausible=config["cohort"]["plausible"],
        check_npi=config["data"].get("check_npi", True),
        processing_lag_days=config["claims"].get("processing_lag_days", 30),
        source=config["data"]["source"],
        unavailable=UNAVAILABLE,
    log:
        "results/logs/validate_inputs.log",
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
            year=r"\d{4}",
