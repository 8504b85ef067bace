# Equation 3: provider-survey outcomes of organizations, nonresponse-weighted.

rule fit_survey:
    input:
        contract_inputs("organizations", "alignment", "survey"),
        validation=VALIDATED,
    output:
        json="results/models/survey/equation3.json",
        table=report("results/tables/survey_impacts.csv", caption="../report/survey_impacts.rst", category="Impacts"),
        other=multiext("results/tables/survey_impacts", ".md", ".tex", ".html"),
        disclosure="results/qc/disclosure/survey_impacts.json",
    params:
        covariates=config["models"].get("covariates"),
        report=config["report"],
        data_dir=DATA_DIR,
        alpha=config["models"]["alpha"],
        unavailable=AVAILABILITY_TEXT.get("survey", ""),
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
    log:
        "results/logs/fit_survey.log",
    script:
        "../scripts/fit_survey.py"
