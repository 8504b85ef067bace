"""Time to first MI/stroke/TIA, to the composite with coronary or cerebrovascular death, and to death,
with the claims runout applied."""
import logging

import pandas as pd

from mheval.analysis import build_time_to_event
from mheval.io import run_step, write_parquet

sm = snakemake  # noqa: F821


def main():
    tte = build_time_to_event(sm.params.data_dir, pd.read_parquet(sm.input.cohort), sm.params.cfg,
                              cause_of_death=sm.params.cause_of_death)
    write_parquet(tte, sm.output.tte)
    logging.info("follow-up ends %s; censoring: %s", tte["FU_END_DT"].iloc[0], tte["EVENT_CENSOR"].value_counts().to_dict())
    logging.info("composite with CV death, censoring: %s; cause-of-death link of the deaths: %s",
                 tte["EVENT_CVDEATH_CENSOR"].value_counts().to_dict(),
                 tte.loc[tte["DEATH_DT"].notna(), "DEATH_CAUSE_LINK"].value_counts().to_dict())


run_step(main, sm.log[0])
