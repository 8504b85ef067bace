# Equation 1: nested mixed models per continuous outcome x population.

rule fit_mixed:
    input:
        by="results/analysis/beneficiary_year.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"]["continuous_outcomes"]),
        population="high|medium|high_medium",
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
    script:
        "../scripts/fit_mixed.py"


rule fit_binary:
    input:
        by="results/analysis/beneficiary_year.parquet",
    output:
        json="results/models/mixed/{outcome}_{population}.json",
    wildcard_constraints:
        outcome=one_of(config["models"].get("binary_outcomes", [])),
        population="high|medium|high_medium",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        average=config["models"].get("average_weighting", "simple"),
    log:
        "results/logs/fit_binary_{outcome}_{population}.log",
    script:
        "../scripts/fit_binary.py"


rule fit_mixed_predicted_risk:
    input:
        risk="results/analysis/predicted_risk.parquet",
        cohort="results/analysis/cohort.parquet",
    output:
        json="results/models/mixed/risk_pct_{population}.json",
    wildcard_constraints:
        population="high|medium|high_medium",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        limits=LIMITS,
        cov_type=config["models"].get("lmm_cov_type", "CR2"),
        average=config["models"].get("average_weighting", "simple"),
    log:
        "results/logs/fit_mixed_risk_pct_{population}.log",
    script:
        "../scripts/fit_mixed_predicted_risk.py"


rule impact_table:
    input:
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"]["continuous_outcomes"], population=POPULATIONS),
        expand("results/models/mixed/risk_pct_{population}.json", population=POPULATIONS),
        expand("results/models/mixed/{outcome}_{population}.json",
               outcome=config["models"].get("binary_outcomes", []), population=POPULATIONS),
        expand("results/models/survival/event_within_window_{population}.json",
               population=POPULATIONS if "event_within_window" not in LEFT_OUT else []),
    output:
        csv=report("results/tables/impacts.csv", caption="../report/impacts.rst", category="Impacts"),
        md="results/tables/impacts.md",
        tex="results/tables/impacts.tex",
        html="results/tables/impacts.html",
        readings="results/tables/impacts_bayesian_reading.md",
    params:
        left_out={o: r for o, r in LEFT_OUT.items() if o not in SURVIVAL_LEFT_OUT_KEYS},
        populations=POPULATIONS,
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
