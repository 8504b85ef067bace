# Equation 4 (first version): marginal Cox model with cluster-robust SEs, per outcome x population.

rule fit_survival:
    input:
        tte="results/analysis/time_to_event.parquet",
    output:
        json="results/models/survival/{outcome}_{population}.json",
        curve="results/models/survival/{outcome}_{population}_curve.csv",
    wildcard_constraints:
        outcome="|".join(SURVIVAL_OUTCOMES),
        population="high|medium|high_medium",
    params:
        alpha=config["models"]["alpha"],
        min_cell=config["report"]["min_cell"],
    log:
        "results/logs/fit_survival_{outcome}_{population}.log",
    script:
        "../scripts/fit_survival.py"


rule fit_fixed_window:
    input:
        tte="results/analysis/time_to_event.parquet",
    output:
        json="results/models/survival/event_within_window_{population}.json",
    wildcard_constraints:
        population="high|medium|high_medium",
    params:
        alpha=config["models"]["alpha"],
        size=config["models"]["size_percent"],
        years=config["models"]["fixed_window_years"],
    log:
        "results/logs/fit_fixed_window_{population}.log",
    script:
        "../scripts/fit_fixed_window.py"
