"""Synthetic Million Hearts trial with known true effects (the embedded default and test bed).

``generate_trial(out_dir, scale, seed)`` writes every input file of the data contract plus
truth.json. Also runnable as ``python -m mheval.synth --scale S --seed N --out DIR``.
The data-generating process is documented in docs/synthetic_trial.md.
"""

from mheval.synth.generate import generate_trial
from mheval.synth.params import DEFAULTS, resolve_params

__all__ = ["DEFAULTS", "generate_trial", "resolve_params"]
