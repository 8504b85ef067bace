# Equation 4: shared-frailty Cox (primary) and marginal Cox (sensitivity) per outcome x population,
# the proportional-hazards check, adjusted cumulative incidence, and the Equation 2 fixed-window supplement.

rule fit_survival:
    input:
        tte="results/analysis/time_to_event.parquet",
    output:
        json="results/models/survival/{outcome}_{population}.json",
        curve="results/models/survival/{outcome}_{population}_curve.csv",
    wildcard_constraints:
        outcome=one_of(SURVIVAL_OUTCOMES),
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        ph_alpha=config["models"]["ph_alpha"],
        min_cell=config["report"]["min_cell"],
        limits=LIMITS,
        cox_cov_type=config["models"].get("cox_cov_type", "mbn"),
        n_perm=config["models"].get("randomization_permutations", 0),
        seed=config["models"].get("randomization_seed", 0),
        strata_column=config["models"].get("randomization_strata_column", "RAND_STRATUM"),
    log:
        "results/logs/fit_survival_{outcome}_{population}.log",
    threads: rule_threads("fit_survival")
    resources:
        mem_mb=rule_mem_mb("fit_survival"),
        runtime=rule_runtime("fit_survival"),
    script:
        "../scripts/fit_survival.py"


rule fit_fixed_window:
    input:
        tte="results/analysis/time_to_event.parquet",
    output:
        json="results/models/survival/event_within_window_{population}.json",
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        years=config["models"]["fixed_window_years"],
        limits=LIMITS,
        cov_type=config["models"].get("binary_cov_type", "CR2"),
    log:
        "results/logs/fit_fixed_window_{population}.log",
    threads: rule_threads("fit_fixed_window")
    resources:
        mem_mb=rule_mem_mb("fit_fixed_window"),
        runtime=rule_runtime("fit_fixed_window"),
    script:
        "../scripts/fit_fixed_window.py"


rule adjusted_incidence:
    input:
        tte="results/analysis/time_to_event.parquet",
    output:
        table="results/models/survival/{outcome}_{population}_adjusted_incidence.csv",
        curves="results/models/survival/{outcome}_{population}_adjusted_curves.csv",
        json="results/models/survival/{outcome}_{population}_adjusted_incidence.json",
    wildcard_constraints:
        outcome=one_of(SURVIVAL_OUTCOMES),
    params:
        covariates=config["models"].get("covariates"),
        alpha=config["models"]["alpha"],
        years=config["models"]["incidence_years"],
        n_boot=config["models"]["bootstrap_replicates"],
        max_failed_share=config["models"]["bootstrap_max_failed_share"],
        seed=config["models"]["bootstrap_seed"],
        min_cell=config["report"]["min_cell"],
        limits=LIMITS,
    log:
        "results/logs/adjusted_incidence_{outcome}_{population}.log",
    threads: rule_threads("adjusted_incidence")
    resources:
        mem_mb=rule_mem_mb("adjusted_incidence"),
        runtime=rule_runtime("adjusted_incidence"),
    script:
        "../scripts/adjusted_incidence.py"
