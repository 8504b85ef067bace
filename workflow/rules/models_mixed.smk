# Equation 1: nested mixed models per continuous outcome x population.

rule fit_mixed:
    input:
        by="results/analysis/beneficiary_year.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"]["continuous_outcomes"]),
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
        n_perm=config["models"].get("randomization_permutations", 0),
        average=config["models"].get("average_weighting", "simple"),
        seed=config["models"].get("randomization_seed", 0),
        strata_column=config["models"].get("randomization_strata_column", "RAND_STRATUM"),
    log:
        "results/logs/fit_mixed_{outcome}_{population}.log",
    threads: rule_threads("fit_mixed")
    resources:
        mem_mb=rule_mem_mb("fit_mixed"),
        runtime=rule_runtime("fit_mixed"),
    script:
        "../scripts/fit_mixed.py"


rule fit_binary:
    input:
        by="results/analysis/beneficiary_year.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"].get("binary_outcomes", [])),
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        average=config["models"].get("average_weighting", "simple"),
        cov_type=config["models"].get("binary_cov_type", "CR2"),
    log:
        "results/logs/fit_binary_{outcome}_{population}.log",
    threads: rule_threads("fit_binary")
    resources:
        mem_mb=rule_mem_mb("fit_binary"),
        runtime=rule_runtime("fit_binary"),
    script:
        "../scripts/fit_binary.py"


rule fit_mixed_predicted_risk:
    input:
        risk="results/analysis/predicted_risk.parquet",
        cohort="results/analysis/cohort.parquet",
    output:
        json="results/models/mixed/risk_pct_{population}.json",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
        average=config["models"].get("average_weighting", "simple"),
    log:
        "results/logs/fit_mixed_risk_pct_{population}.log",
    threads: rule_threads("fit_mixed_predicted_risk")
    resources:
        mem_mb=rule_mem_mb("fit_mixed_predicted_risk"),
        runtime=rule_runtime("fit_mixed_predicted_risk"),
    script:
        "../scripts/fit_mixed_predicted_risk.py"


rule fit_mixed_clinical:
    input:
        risk="results/analysis/predicted_risk.parquet",
        cohort="results/analysis/cohort.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"].get("clinical_outcomes", [])),
        population="high|medium|high_medium",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
        average=config["models"].get("average_weighting", "simple"),
    log:
        "results/logs/fit_mixed_clinical_{outcome}_{population}.log",
    threads: rule_threads("fit_mixed_clinical")
    resources:
        mem_mb=rule_mem_mb("fit_mixed_clinical"),
        runtime=rule_runtime("fit_mixed_clinical"),
    script:
        "../scripts/fit_mixed_clinical.py"


# the dated statin and antihypertensive initiations and intensifications, once for every medication
# window job and the beneficiary-year file (each recomputed them from all the fills: 9 CPU s a job at scale 1.0)
rule medication_changes:
    input:
        fills=expand("results/outcomes/fills/pde_{year}.parquet", year=CLAIM_YEARS) if available("pde") else [],
    output:
        parquet="results/outcomes/medication_changes.parquet",
    params:
        runout=config["claims"]["runout_date"],
    log:
        "results/logs/medication_changes.log",
    threads: rule_threads("medication_changes")
    priority: rule_priority("medication_changes")
    resources:
        mem_mb=rule_mem_mb("medication_changes"),
        runtime=rule_runtime("medication_changes"),
    script:
        "../scripts/medication_changes.py"


rule fit_medication_window:
    input:
        tte="results/analysis/time_to_event.parquet",
        changes="results/outcomes/medication_changes.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"].get("medication_window_outcomes", [])),
        population="high|medium|high_medium",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("binary_cov_type", "CR2"),
    log:
        "results/logs/fit_medication_window_{outcome}_{population}.log",
    threads: rule_threads("fit_medication_window")
    resources:
        mem_mb=rule_mem_mb("fit_medication_window"),
        runtime=rule_runtime("fit_medication_window"),
    script:
        "../scripts/fit_medication_window.py"


rule impact_table:
    input:
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"]["continuous_outcomes"], population=POPULATIONS),
        expand("results/models/mixed/risk_pct_{population}.json", population=POPULATIONS),
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"].get("binary_outcomes", []), population=POPULATIONS),
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"].get("clinical_outcomes", []), population=POPULATIONS),
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"].get("medication_window_outcomes", []), population=POPULATIONS),
        expand("results/models/survival/event_within_window_{population}.json",
               population=POPULATIONS if "event_within_window" not in LEFT_OUT else []),
        # hazard ratios of the primary time-to-event outcomes, for the prior-sensitivity table
        primary_survival=expand("results/models/survival/{outcome}_{population}.json",
                                outcome=[o for o in config["models"].get("reading", {}).get("primary_outcomes", [])
                                         if o in SURVIVAL_OUTCOMES], population=SURVIVAL_POPULATIONS),
    output:
        csv=report("results/tables/impacts.csv", caption="../report/impacts.rst", category="Impacts"),
        md="results/tables/impacts.md",
        tex="results/tables/impacts.tex",
        html="results/tables/impacts.html",
        readings="results/tables/impacts_bayesian_reading.md",
        prior_sensitivity=report("results/tables/prior_sensitivity.csv", caption="../report/prior_sensitivity.rst",
                                 category="Impacts"),
        prior_sensitivity_other=multiext("results/tables/prior_sensitivity", ".md", ".tex", ".html"),
    params:
        left_out={o: r for o, r in LEFT_OUT.items() if o not in SURVIVAL_LEFT_OUT_KEYS},
        populations=POPULATIONS,
        reading=config["models"].get("reading", {}),
        models=config["models"],  # the table note names the variances the models used
    log:
        "results/logs/impact_table.log",
    script:
        "../scripts/impact_table.py"


rule impacts_by_year_figure:
    input:
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=[o for o in ("spend_ab", "spend_cvd", "office_mh") if o in config["models"]["continuous_outcomes"]],
               population=POPULATIONS),
        expand("results/models/mixed/risk_pct_{population}.json", population=POPULATIONS),
    output:
        png=report("results/figures/impacts_by_year.png", caption="../report/impacts_by_year.rst", category="Impacts"),
        svg="results/figures/impacts_by_year.svg",
    log:
        "results/logs/impacts_by_year_figure.log",
    script:
        "../scripts/impacts_by_year_figure.py"
