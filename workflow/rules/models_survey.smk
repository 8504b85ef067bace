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
        covariates=config["models"].get("covariates"),
        report=config["report"],
        data_dir=data_dir,
        alpha=config["models"]["alpha"],
        unavailable=AVAILABILITY_TEXT.get("survey", ""),
    log:
        "results/logs/fit_survey.log",
    threads: rule_threads("fit_survey")
    resources:
        mem_mb=rule_mem_mb("fit_survey"),
        runtime=rule_runtime("fit_survey"),
    script:
        "../scripts/fit_survey.py"


IMPLEMENTATION = config["models"].get("implementation", {})
IMPLEMENTATION_POPULATIONS = IMPLEMENTATION.get("populations", [])


rule fit_implementation:
    # non-randomized comparisons by payment tier and survey implementation measures, and spending net of
    # model payments PBPM (src/mheval/models/implementation.py)
    input:
        contract_inputs("organizations", "payments", "survey"),
        validation=VALIDATED,
        by="results/analysis/beneficiary_year.parquet",
        tte="results/analysis/time_to_event.parquet",
        spend=expand("results/models/mixed/spend_ab_{population}.json",
                     population=IMPLEMENTATION_POPULATIONS if "spend_ab" in config["models"]["continuous_outcomes"] else []),
    output:
        json="results/models/implementation.json",
        table=report("results/tables/implementation.csv", caption="../report/implementation.rst", category="Impacts"),
        other=multiext("results/tables/implementation", ".md", ".tex", ".html"),
        disclosure="results/qc/disclosure/implementation.json",
    params:
        report=config["report"],
        data_dir=data_dir,
        cfg=IMPLEMENTATION,
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
        average=config["models"].get("average_weighting", "simple"),
        high_threshold=config["cohort"].get("risk_high", 0.30),
        unavailable={k: AVAILABILITY_TEXT[k] for k in ("payments", "survey") if k in AVAILABILITY_TEXT},
    log:
        "results/logs/fit_implementation.log",
    threads: rule_threads("fit_implementation")
    resources:
        mem_mb=rule_mem_mb("fit_implementation"),
        runtime=rule_runtime("fit_implementation"),
    script:
        "../scripts/fit_implementation.py"
