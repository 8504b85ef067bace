# mheval: evaluation pipeline for the Million Hearts CVD Risk Reduction Model trial.
# Run: snakemake --cores all            (embedded synthetic trial, see config/config.yaml)
#      snakemake --cores all --config "claims={runout_date: 2022-06-30}"   (nested keys merge into their section)
from snakemake.utils import min_version, validate

min_version("8.0")

configfile: "config/config.yaml"


def _typed(node):
    """Nested --config values arrive as text (Snakemake parses them with YAML's BaseLoader):
    read numbers and booleans as such, and keep dates as ISO text, as the schema expects."""
    import datetime

    import yaml

    if isinstance(node, dict):
        return {k: _typed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_typed(v) for v in node]
    if isinstance(node, str):
        try:
            value = yaml.safe_load(node)
        except yaml.YAMLError:
            return node
        if isinstance(value, (bool, int, float)):
            return value
        return value.isoformat() if isinstance(value, datetime.date) else node
    return node.isoformat() if isinstance(node, datetime.date) else node


config.update(_typed(config))
# every key checked against the schema (closed at every level): a misspelt key stops the run here,
# named with its full path; validate() then sets the schema's defaults
from mheval.config import check_config

check_config(config, workflow.source_path("config/schema.yaml"))
validate(config, "config/schema.yaml")

report: "workflow/report/workflow.rst"

include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/contract.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/outcomes.smk"
include: "workflow/rules/models_mixed.smk"
include: "workflow/rules/models_survival.smk"
include: "workflow/rules/models_survey.smk"
include: "workflow/rules/subgroups.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/qc/validation_report.json",
        "results/analysis/predicted_risk.parquet",
        "results/analysis/beneficiary_year.parquet",
        "results/tables/cohort_flow.csv",
        "results/tables/balance.csv",
        "results/figures/cohort_flow.png",
        "results/tables/hazard_ratios.csv",
        "results/tables/impacts.csv",
        "results/tables/survey_impacts.csv",
        expand("results/figures/cumulative_incidence_{outcome}.png", outcome=config["models"]["survival_outcomes"]),
        "results/report.html",
        "results/qc/publication_check.txt",
