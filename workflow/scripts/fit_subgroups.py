"""Subgroup impacts for one outcome: interaction models in every configured dimension and
population, partial pooling, and each pooled fit's InferenceData."""
import pandas as pd

from mheval.io import read_parquet_columns, run_step, write_json
from mheval.models.equation1 import model_columns
from mheval.models.estimability import Limits
from mheval.subgroups.interaction import SIZE_COLUMN
from mheval.subgroups.run import run_subgroup_analysis

sm = snakemake  # noqa: F821


def main():
    cfg = dict(sm.params.cfg)
    outcome = sm.wildcards.outcome
    survival = outcome in cfg["survival_outcomes"]
    cfg["equation1_outcomes"] = [] if survival else [outcome]
    cfg["survival_outcomes"] = [outcome] if survival else []
    tte = pd.read_parquet(sm.input.tte)
    # the beneficiary-year file: only the model's columns and the size of the size interaction (the
    # subgroup levels come from the time-to-event file); the whole file was 6.4 GB of this job at scale 1.0
    # passed without a name here, so that run_subgroup_analysis can free it once merged (0.5 GB at scale 1.0)
    res = run_subgroup_analysis(tte, None if survival else read_parquet_columns(
                                    sm.input.by, model_columns(outcome, sm.params.covariates) + [SIZE_COLUMN]),
                                cfg, cfg["populations"], alpha=sm.params.alpha, idata_dir=sm.output.idata,
                                limits=Limits.from_config(sm.params.limits), covariates=sm.params.covariates,
                                average=sm.params.average, lmm_cov_type=sm.params.lmm_cov_type,
                                cox_cov_type=sm.params.cox_cov_type)
    write_json({"outcome": outcome, "alpha": sm.params.alpha, "impacts": res["impacts"].to_dict(orient="records"),
                "counts": res["counts"].to_dict(orient="records"), "tests": res["tests"],
                "diagnostics": res["diagnostics"], "skipped": res["skipped"], "idata_files": res["idata_files"]},
               sm.output.json)


run_step(main, sm.log[0])
