"""Validate every input file; stop the run with one clear message on bad input."""
import logging

from mheval.contract import InputValidationError, validate_inputs, write_report
from mheval.contract.layouts import in_original_names
from mheval.io import run_step

sm = snakemake  # noqa: F821


def main():
    try:
        report = validate_inputs(sm.params.data_dir, plausible={k: tuple(v) for k, v in sm.params.plausible.items()},
                                 check_npi=sm.params.check_npi, processing_lag_days=sm.params.processing_lag_days,
                                 unavailable=tuple(sm.params.unavailable),
                                 death_date_tolerance_days=sm.params.death_date_tolerance_days, threads=sm.threads)
    except InputValidationError as err:  # files staged from another layout: name the originals
        raise in_original_names(err, sm.params.data_dir) from None
    write_report(report, sm.output.report)
    logging.info("inputs valid: %s", report["rows"])
    for w in report["warnings"]:
        logging.warning("%s", w)


run_step(main, sm.log[0])
