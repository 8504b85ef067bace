# Impact tables, figures, the HTML report and the publication audit (mheval.disclosure).

PUBLISHED_TABLES = ["cohort_flow", "organization_flow", "balance", "hazard_ratios", "impacts", "survey_impacts", "ph_tests",
                    "prior_sensitivity", "implementation",
                    "hazard_ratios_by_year", "adjusted_incidence", "subgroups", "subgroup_tests"]
DISCLOSURE_SUMMARIES = expand("results/qc/disclosure/{table}.json",
                              table=["cohort_flow", "organization_flow", "balance", "hazard_ratios", "survey_impacts",
                                     "subgroups", "implementation"])


rule hazard_ratio_table:
    input:
        expand("results/models/survival/{outcome}_{population}.json",
               outcome=SURVIVAL_OUTCOMES, population=SURVIVAL_POPULATIONS),
    output:
        csv=report("results/tables/hazard_ratios.csv", caption="../report/hazard_ratios.rst", category="Impacts"),
        md="results/tables/hazard_ratios.md",
        tex="results/tables/hazard_ratios.tex",
        html="results/tables/hazard_ratios.html",
        disclosure="results/qc/disclosure/hazard_ratios.json",
    params:
        report=config["report"],
        models=config["models"],  # the table note names the variances the models used
        left_out={o: r for o, r in LEFT_OUT.items() if o in SURVIVAL_KEYS},
        populations=SURVIVAL_POPULATIONS,
    log:
        "results/logs/hazard_ratio_table.log",
    script:
        "../scripts/hazard_ratio_table.py"


rule cumulative_incidence_figure:
    input:
        expand("results/models/survival/{{outcome}}_{population}_curve.csv", population=SURVIVAL_POPULATIONS),
    output:
        png=report("results/figures/cumulative_incidence_{outcome}.png",
                   caption="../report/cumulative_incidence.rst", category="Impacts"),
        svg="results/figures/cumulative_incidence_{outcome}.svg",
    params:
        alpha=config["models"]["alpha"],
    log:
        "results/logs/cumulative_incidence_{outcome}.log",
    script:
        "../scripts/cumulative_incidence_figure.py"


rule html_report:
    input:
        flow="results/tables/cohort_flow.csv",
        balance="results/tables/balance.csv",
        hr="results/tables/hazard_ratios.csv",
        impacts="results/tables/impacts.csv",
        readings="results/tables/impacts_bayesian_reading.md",
        survey="results/tables/survey_impacts.csv",
        flow_fig="results/figures/cohort_flow.png",
        org_flow="results/tables/organization_flow.csv",
        org_flow_fig="results/figures/organization_flow.png",
        year_fig="results/figures/impacts_by_year.png",
        prob_fig="results/figures/probability_of_size.png",
        ci_figs=expand("results/figures/cumulative_incidence_{outcome}.png", outcome=SURVIVAL_OUTCOMES),
        validation="results/qc/validation_report.json",
        ph="results/tables/ph_tests.csv",
        by_year_hr="results/tables/hazard_ratios_by_year.csv",
        adjusted="results/tables/adjusted_incidence.csv",
        adjusted_figs=expand("results/figures/adjusted_incidence_{outcome}.png", outcome=SURVIVAL_OUTCOMES),
        subgroups="results/tables/subgroups.csv",
        subgroup_tests="results/tables/subgroup_tests.csv",
        prior_sensitivity="results/tables/prior_sensitivity.csv",
        implementation="results/tables/implementation.csv",
        subgroup_figs=expand("results/figures/subgroups_{outcome}_{population}.png", outcome=SUBGROUP_OUTCOMES,
                             population=config["subgroups"]["populations"]),
        disclosure=DISCLOSURE_SUMMARIES,
    output:
        html="results/report.html",
    params:
        config=config,
        availability=AVAILABILITY_TEXT,
        left_out=LEFT_OUT,
        notes=DATA_NOTES,
    log:
        "results/logs/html_report.log",
    script:
        "../scripts/html_report.py"


rule publication_check:
    # the independent audit: every published file, read back and attacked (mheval.disclosure.audit)
    input:
        tables=expand("results/tables/{table}.{ext}", table=PUBLISHED_TABLES, ext=["csv", "md", "tex", "html"]),
        readings="results/tables/impacts_bayesian_reading.md",
        report="results/report.html",
        figures=["results/figures/cohort_flow.svg", "results/figures/organization_flow.svg",
                 "results/figures/impacts_by_year.svg",
                 "results/figures/probability_of_size.svg"]
                + expand("results/figures/{kind}_{outcome}.svg", kind=["cumulative_incidence", "adjusted_incidence"],
                         outcome=SURVIVAL_OUTCOMES)
                + expand("results/figures/subgroups_{outcome}_{population}.svg", outcome=SUBGROUP_OUTCOMES,
                         population=config["subgroups"]["populations"]),
    output:
        "results/qc/publication_check.txt",
    params:
        report=config["report"],
    log:
        "results/logs/publication_check.log",
    script:
        "../scripts/publication_check.py"


PROBABILITY_OUTCOMES = [o for o in ("spend_ab", "spend_cvd", "hosp_all", "hosp_cvd")
                        if o in config["models"]["continuous_outcomes"]]


rule probability_of_size_figure:
    input:
        mixed=expand("results/models/mixed/{outcome}_high_medium.json", outcome=PROBABILITY_OUTCOMES),
        survival=expand("results/models/survival/{outcome}_high_medium.json", outcome=SURVIVAL_OUTCOMES),
    output:
        png=report("results/figures/probability_of_size.png", caption="../report/probability_of_size.rst",
                   category="Impacts"),
        svg="results/figures/probability_of_size.svg",
    log:
        "results/logs/probability_of_size_figure.log",
    script:
        "../scripts/probability_of_size_figure.py"


rule survival_checks_tables:
    input:
        expand("results/models/survival/{outcome}_{population}.json",
               outcome=SURVIVAL_OUTCOMES, population=SURVIVAL_POPULATIONS),
    output:
        ph=report("results/tables/ph_tests.csv", caption="../report/ph_tests.rst", category="Impacts"),
        ph_other=multiext("results/tables/ph_tests", ".md", ".tex", ".html"),
        by_year=multiext("results/tables/hazard_ratios_by_year", ".csv", ".md", ".tex", ".html"),
    params:
        left_out={o: r for o, r in LEFT_OUT.items() if o in SURVIVAL_KEYS},
        populations=SURVIVAL_POPULATIONS,
    log:
        "results/logs/survival_checks_tables.log",
    script:
        "../scripts/survival_checks_tables.py"


rule adjusted_incidence_outputs:
    input:
        tables=expand("results/models/survival/{outcome}_{population}_adjusted_incidence.csv",
                      outcome=SURVIVAL_OUTCOMES, population=SURVIVAL_POPULATIONS),
        curves=expand("results/models/survival/{outcome}_{population}_adjusted_curves.csv",
                      outcome=SURVIVAL_OUTCOMES, population=SURVIVAL_POPULATIONS),
    output:
        table=report("results/tables/adjusted_incidence.csv", caption="../report/adjusted_incidence.rst",
                     category="Impacts"),
        other=multiext("results/tables/adjusted_incidence", ".md", ".tex", ".html"),
        figures=report(expand("results/figures/adjusted_incidence_{outcome}.{ext}", outcome=SURVIVAL_OUTCOMES,
                              ext=["png", "svg"]), caption="../report/adjusted_incidence_figure.rst", category="Impacts"),
    params:
        alpha=config["models"]["alpha"],
    log:
        "results/logs/adjusted_incidence_outputs.log",
    script:
        "../scripts/adjusted_incidence_outputs.py"
