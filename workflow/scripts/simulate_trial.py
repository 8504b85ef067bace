"""Simulate the embedded synthetic trial into data.dir: only an empty directory or one the generator
marked as its own (.mheval-synthetic); it replaces only files it wrote and refuses anything else."""
from mheval.io import run_step
from mheval.synth import generate_trial

p = snakemake.params  # noqa: F821

run_step(lambda: generate_trial(p.out_dir, overrides=dict(p.synthetic)), snakemake.log[0])  # noqa: F821
