"""Posterior probability of a reduction at least as large as each size (flat prior)."""
from mheval.io import read_json, run_step
from mheval.report.figures import plot_probability_of_size
from mheval.report.impact_tables import probability_of_size_curves

sm = snakemake  # noqa: F821

run_step(lambda: plot_probability_of_size(
    probability_of_size_curves([read_json(p) for p in sm.input.mixed], [read_json(p) for p in sm.input.survival]),
    [sm.output.png, sm.output.svg], "High + medium risk: probability of a reduction at least as large as each size"),
    sm.log[0])
