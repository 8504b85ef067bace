"""Part D statin and antihypertensive fills of one year."""
from mheval.io import run_step, write_parquet
from mheval.outcomes.extract import extract_fills

sm = snakemake  # noqa: F821

run_step(lambda: write_parquet(extract_fills(sm.params.data_dir, int(sm.wildcards.year), sm.input.drugs), sm.output.fills), sm.log[0])
