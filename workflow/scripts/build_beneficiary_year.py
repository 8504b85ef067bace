"""The beneficiary-year analysis file (restricted): annualized outcomes, weights, covariates."""
import logging

import pandas as pd

from mheval.analysis.beneficiary_year import build_beneficiary_year
from mheval.contract import read_input
from mheval.io import run_step, write_parquet

sm = snakemake  # noqa: F821


def main():
    by = build_beneficiary_year(pd.read_parquet(sm.input.tte), list(sm.input.claims), list(sm.input.office),
                                read_input(sm.params.data_dir, "providers"), sm.params.data_dir, sm.params.cfg,
                                # the medication changes of the medication_changes rule (none: Part D unavailable)
                                changes=pd.read_parquet(sm.input.changes) if sm.input.changes else None,
                                payments=read_input(sm.params.data_dir, "payments") if sm.params.payments else None)
    write_parquet(by, sm.output.by)
    logging.info("beneficiary-years: %d rows, %d beneficiaries", len(by), by["BENE_ID"].nunique())


run_step(main, sm.log[0])
