# mheval: evaluation pipeline for the Million Hearts CVD Risk Reduction Model trial.
# Run: snakemake --cores all            (embedded synthetic trial, see config/config.yaml)
#      snakemake --cores all --config claims.runout_date=2022-06-30
from snakemake.utils import min_version, validate

min_version("8.0")

configfile: "config/config.yaml"


def _dates_as_text(node):
    """--config values such as 2022-06-30 arrive as dates; the schema wants ISO text."""
    import datetime

    if isinstance(node, dict):
        return {k: _dates_as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_dates_as_text(v) for v in node]
    return node.isoformat() if isinstance(node, datetime.date) else node


config.update(_dates_as_text(config))
validate(config, "config/schema.yaml")

report: "workflow/report/workflow.rst"

include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/qc/validation_report.json",
        "results/tables/cohort_flow.csv",
        "results/tables/balance.csv",
        "results/figures/cohort_flow.png",
        "results/tables/hazard_ratios.csv",
        expand("results/figures/cumulative_incidence_{outcome}.png", outcome=config["models"]["survival_outcomes"]),
        "results/report.html",
        "results/qc/publication_check.txt",
