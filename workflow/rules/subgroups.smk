# Subgroup impacts: interaction models per outcome, partially pooled in PyMC; table and forest plots.

SUBGROUP_OUTCOMES = config["subgroups"]["equation1_outcomes"] + config["subgroups"]["survival_outcomes"]


rule fit_subgroups:
    input:
        tte="results/analysis/time_to_event.parquet",
        by="results/analysis/beneficiary_year.parquet",
    output:
        json="results/models/subgroups/{outcome}.json",
        idata=directory("results/models/subgroups/{outcome}_posteriors"),
    wildcard_constraints:
        outcome=one_of(SUBGROUP_OUTCOMES),
    params:
        covariates=config["models"].get("covariates"),
        average=config["models"].get("average_weighting", "simple"),
        lmm_cov_type=config["models"].get("lmm_cov_type", "CR2"),
        cox_cov_type=config["models"].get("cox_cov_type", "mbn"),
        cfg=config["subgroups"],
        alpha=config["models"]["alpha"],
        limits=LIMITS,
    log:
        "results/logs/fit_subgroups_{outcome}.log",
    threads: rule_threads("fit_subgroups")
    priority: rule_priority("fit_subgroups")
    resources:
        mem_mb=rule_mem_mb("fit_subgroups"),
        runtime=rule_runtime("fit_subgroups"),
    script:
        "../scripts/fit_subgroups.py"


rule subgroup_outputs:
    input:
        results=expand("results/models/subgroups/{outcome}.json", outcome=SUBGROUP_OUTCOMES),
        flow="results/tables/cohort_flow.csv",
    output:
        table=report("results/tables/subgroups.csv", caption="../report/subgroups.rst", category="Subgroups"),
        other=multiext("results/tables/subgroups", ".md", ".tex", ".html"),
        tests=multiext("results/tables/subgroup_tests", ".csv", ".md", ".tex", ".html"),
        figures=report(expand("results/figures/subgroups_{outcome}_{population}.{ext}", outcome=SUBGROUP_OUTCOMES,
                              population=config["subgroups"]["populations"], ext=["png", "svg"]),
                       caption="../report/subgroups_figure.rst", category="Subgroups"),
        disclosure="results/qc/disclosure/subgroups.json",
    params:
        alpha=config["models"]["alpha"],
        report=config["report"],
    log:
        "results/logs/subgroup_outputs.log",
    script:
        "../scripts/subgroup_outputs.py"
