# The analysis population: eligibility, arm, risk and strata, flow and balance tables.

rule build_cohort:
    input:
        contract_inputs("organizations", "alignment", "demographics", "visits", "clinical", "mbsf", "hospice",
                        *config["cohort"]["prior_event_claim_types"],
                        *[t for t in config["models"]["covariates"].get("hcc_claim_types", ["inpatient", "outpatient",
                                                                                           "carrier"])
                          if t not in UNAVAILABLE]),
        validation=VALIDATED,
        codes=config["outcomes"]["codes"],
    output:
        enrollees="results/analysis/enrollees.parquet",
        cohort="results/analysis/cohort.parquet",
        flow=report("results/tables/cohort_flow.csv", caption="../report/cohort_flow.rst", category="Cohort"),
        flow_other=multiext("results/tables/cohort_flow", ".md", ".tex", ".html"),
        qc="results/qc/cohort_qc.json",
        disclosure="results/qc/disclosure/cohort_flow.json",
    params:
        data_dir=data_dir,
        cfg=cfg_subset("cohort", "study", "outcomes", "report", "data"),
        covariates=config["models"]["covariates"],  # the health-status (CMS-HCC) settings
    log:
        "results/logs/build_cohort.log",
    threads: rule_threads("build_cohort")
    resources:
        mem_mb=rule_mem_mb("build_cohort"),
        runtime=rule_runtime("build_cohort"),
    script:
        "../scripts/build_cohort.py"


rule cohort_flow_figure:
    input:
        flow="results/tables/cohort_flow.csv",
    output:
        png=report("results/figures/cohort_flow.png", caption="../report/cohort_flow_figure.rst", category="Cohort"),
        svg="results/figures/cohort_flow.svg",
    log:
        "results/logs/cohort_flow_figure.log",
    script:
        "../scripts/cohort_flow_figure.py"


rule balance_table:
    input:
        cohort="results/analysis/cohort.parquet",
        by="results/analysis/beneficiary_year.parquet",
        flow="results/tables/cohort_flow.csv",
    output:
        balance=report("results/tables/balance.csv", caption="../report/balance.rst", category="Cohort"),
        other=multiext("results/tables/balance", ".md", ".tex", ".html"),
        disclosure="results/qc/disclosure/balance.json",
    params:
        report=config["report"],
    log:
        "results/logs/balance_table.log",
    script:
        "../scripts/balance_table.py"


rule organization_flow:
    # organizations by arm: randomized, withdrawn, enrolling, analyzed (suppressed as every table)
    input:
        contract_inputs("organizations"),
        enrollees="results/analysis/enrollees.parquet",
        validation=VALIDATED,
    output:
        table=report("results/tables/organization_flow.csv", caption="../report/organization_flow.rst",
                     category="Cohort"),
        other=multiext("results/tables/organization_flow", ".md", ".tex", ".html"),
        disclosure="results/qc/disclosure/organization_flow.json",
        png=report("results/figures/organization_flow.png", caption="../report/organization_flow.rst",
                   category="Cohort"),
        svg="results/figures/organization_flow.svg",
    params:
        data_dir=data_dir,
        report=config["report"],
    log:
        "results/logs/organization_flow.log",
    script:
        "../scripts/organization_flow.py"
