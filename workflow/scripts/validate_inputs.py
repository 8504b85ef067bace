"""Validate every input file; stop the run with one clear message on bad input."""
import logging

from mheval.contract import validate_inputs, write_report
from mheval.io import run_step

sm = snakemake  # noqa: F821


def main():
    report = validate_inputs(sm.params.data_dir, plausible={k: tuple(v) for k, v in sm.params.plausible.items()},
                             unavailable=tuple(sm.params.unavailable))
    write_report(report, sm.output.report)
    logging.info("inputs valid: %s", report["rows"])


run_step(main, sm.log[0])
