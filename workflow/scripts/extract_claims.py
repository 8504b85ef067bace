"""Summarize one claim type and year: payments, CVD event codes, ED visits, office visits."""
from mheval.io import run_step, write_parquet
from mheval.outcomes.codes import load_event_codes
from mheval.outcomes.extract import extract_claims

sm = snakemake  # noqa: F821


def main():
    cfg = sm.params.cfg
    claims, office = extract_claims(sm.params.data_dir, sm.wildcards.claim_type, int(sm.wildcards.year),
                                    load_event_codes(cfg["outcomes"]["codes"]), cfg)
    write_parquet(claims, sm.output.claims)
    write_parquet(office, sm.output.office)


run_step(main, sm.log[0])
