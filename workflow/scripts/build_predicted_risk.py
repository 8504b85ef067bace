"""The predicted-risk outcome: risk recomputed at every registry visit; reported-score QC."""
import pandas as pd

from mheval.analysis import build_predicted_risk
from mheval.io import run_step, write_json, write_parquet

sm = snakemake  # noqa: F821


def main():
    risk, qc = build_predicted_risk(sm.params.data_dir, pd.read_parquet(sm.input.cohort), sm.params.cfg)
    write_parquet(risk, sm.output.risk)
    write_json(qc, sm.output.qc)


run_step(main, sm.log[0])
