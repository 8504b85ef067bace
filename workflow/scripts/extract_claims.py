"""Summarize one claim type and year: payments, CVD event codes, ED visits, office visits."""
from mheval.io import run_step
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import write_extraction

sm = snakemake  # noqa: F821


def main():
    cfg = sm.params.cfg
    write_extraction(sm.params.data_dir, sm.wildcards.claim_type, int(sm.wildcards.year),
                     load_event_codes(cfg["outcomes"]["codes"]), cfg, sm.output.claims, sm.output.office)


run_step(main, sm.log[0])
