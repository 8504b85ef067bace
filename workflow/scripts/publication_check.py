"""The publication audit: read every published file back, attack each suppressed cell by linear
programming, look for identifiers; fail the run naming file and cell."""
from pathlib import Path

from mheval.disclosure import Rule, audit
from mheval.io import run_step

sm = snakemake  # noqa: F821


def main():
    result = audit(list(sm.input), Rule.from_config(sm.params.report))
    Path(sm.log[0]).parent.mkdir(parents=True, exist_ok=True)
    result.raise_if_failed()
    Path(sm.output[0]).write_text(result.text())


run_step(main, sm.log[0])
