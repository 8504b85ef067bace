"""Fail the run if a published table or the report holds a small count or an identifier."""
from pathlib import Path

from mheval.io import run_step
from mheval.report import assert_publishable

sm = snakemake  # noqa: F821


def main():
    paths = ["results/tables", sm.input.html]
    assert_publishable(paths, min_cell=sm.params.min_cell)
    Path(sm.output[0]).write_text("publication check passed: no counts 1-10, no identifiers in "
                                  + ", ".join(map(str, paths)) + "\n")


run_step(main, sm.log[0])
