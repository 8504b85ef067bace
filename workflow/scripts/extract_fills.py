"""Part D statin and antihypertensive fills of one year."""
from mheval.io import run_step
from mheval.outcomes.extract import write_fills

sm = snakemake  # noqa: F821

run_step(lambda: write_fills(sm.params.data_dir, int(sm.wildcards.year), sm.input.drugs, sm.output.fills), sm.log[0])
