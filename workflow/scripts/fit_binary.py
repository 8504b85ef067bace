"""Equation 1 for one repeated binary outcome and population (multilevel logistic, AMEs in pp),
or not estimable with the reason."""
from mheval.io import run_step, write_json
from mheval.models.binary_impact import binary_impact
from mheval.models.equation1 import model_columns, read_model_rows
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821
outcome = sm.wildcards.outcome
# only the model's columns (any_hosp is built from hosp_all) and the population's rows, baseline year included
# (the baseline values of the binary outcomes come from it)
columns = model_columns(outcome, sm.params.covariates) + ["hosp_all"]

run_step(lambda: write_json(binary_impact(read_model_rows(sm.input.by, columns, sm.wildcards.population, follow_up=False),
                                          outcome, sm.wildcards.population,
                                          alpha=sm.params.alpha, size_percent=sm.params.size,
                                          limits=Limits.from_config(sm.params.limits), average=sm.params.average,
                                          covariates=sm.params.covariates, cov_type=sm.params.cov_type),
                            sm.output.json), sm.log[0])
