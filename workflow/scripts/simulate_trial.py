"""Simulate the embedded synthetic trial into data.dir (replacing what was there)."""
import shutil
from pathlib import Path

from mheval.io import run_step
from mheval.synth import generate_trial

p = snakemake.params  # noqa: F821


def main():
    out = Path(p.out_dir)
    for sub in ("registry", "medicare", "claims", "reference", "cms"):
        shutil.rmtree(out / sub, ignore_errors=True)
    syn = dict(p.synthetic)
    generate_trial(out, overrides=syn)


run_step(main, snakemake.log[0])  # noqa: F821
