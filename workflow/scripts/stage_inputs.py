"""Stage the files in data.layout as the data contract under results/inputs/ (data.dir is only read)."""
import logging

from mheval.contract.layouts import stage_inputs
from mheval.io import run_step

sm = snakemake  # noqa: F821


def main():
    prov = stage_inputs(sm.params.layout, sm.params.data_dir, sm.output.staged,
                        {"claims": {"processing_lag_days": sm.params.processing_lag_days}})
    logging.info("staged %d contract files from the %s layout; %s", len(prov.files), prov.layout, prov.counts)


run_step(main, sm.log[0])
