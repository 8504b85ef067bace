"""Equation 1 for one repeated binary outcome and population (multilevel logistic, AMEs in pp),
or not estimable with the reason."""
from mheval.io import read_parquet_columns, run_step, write_json
from mheval.models.binary_impact import binary_impact
from mheval.models.equation1 import model_columns
from mheval.models.estimability import Limits

sm = snakemake  # noqa: F821
outcome = sm.wildcards.outcome
# only the model's columns (any_hosp is built from hosp_all)
columns = model_columns(outcome, sm.params.covariates) + ["hosp_all"]

run_step(lambda: write_json(binary_impact(read_parquet_columns(sm.input.by, columns), outcome, sm.wildcards.population,
                                          alpha=sm.params.alpha, size_percent=sm.params.size,
                                          limits=Limits.from_config(sm.params.limits), average=sm.params.average,
                                          covariates=sm.params.covariates),
                            sm.output.json), sm.log[0])
