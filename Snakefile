# mheval: evaluation pipeline for the Million Hearts CVD Risk Reduction Model trial.
# Run: snakemake --cores all            (embedded synthetic trial, see config/config.yaml)
#      snakemake --cores all --config "claims={runout_date: 2022-06-30}"   (nested keys merge into their section)
from snakemake.utils import min_version, validate

min_version("8.0")

configfile: "config/config.yaml"


# nested --config values arrive as text: numbers and booleans read as such, dates kept as ISO text
from mheval.config import check_config, typed_values

config.update(typed_values(config))
# every key checked against the schema (closed at every level): a misspelt key stops the run here,
# named with its full path; validate() then sets the schema's defaults
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
        final_outputs,
    default_target: True
