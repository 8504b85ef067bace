"""Time to first MI/stroke/TIA and to death, with the claims runout applied."""
import logging

import pandas as pd

from mheval.analysis import build_time_to_event
from mheval.io import run_step, write_parquet

sm = snakemake  # noqa: F821


def main():
    tte = build_time_to_event(sm.params.data_dir, pd.read_parquet(sm.input.cohort), sm.params.cfg)
    write_parquet(tte, sm.output.tte)
    logging.info("follow-up ends %s; censoring: %s", tte["FU_END_DT"].iloc[0], tte["EVENT_CENSOR"].value_counts().to_dict())


run_step(main, sm.log[0])
