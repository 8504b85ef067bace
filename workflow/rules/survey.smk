# Equation 3: provider-survey outcomes of organizations, one impact per wave, nonresponse weights
# (every randomized organization in the response model) as sampling weights, CR2 SEs.

rule fit_survey:
    input:
        contract_inputs("organizations", "survey"),
        validation=VALIDATED,
        cohort="results/analysis/cohort.parquet",
    output:
        json="results/models/survey/equation3.json",
        table=report("results/tables/survey_impacts.csv", caption="../report/survey_impacts.rst", category="Impacts"),
        other=multiext("results/tables/survey_impacts", ".md", ".tex", ".html"),
        disclosure="results/qc/disclosure/survey_impacts.json",
    params:
        report=config["report"],
        data_dir=DATA_DIR,
        alpha=config["models"]["alpha"],
        unavailable=AVAILABILITY_TEXT.get("survey", ""),
    log:
        "results/logs/fit_survey.log",
    script:
        "../scripts/fit_survey.py"
