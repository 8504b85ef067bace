"""Seeds for the sampling steps of the workflow: one per job, from the config and the job's wildcards.

Every job that samples (bootstrap, randomization test, MCMC) draws from its own stream, seeded by
:func:`job_seed` from the configured seed and a stable hash of what identifies the job (its
wildcards, e.g. outcome and population): two runs of the same commit and config give the same draws
in every job, and no two jobs share a stream. The hash is SHA-256, not Python's ``hash()``, which
is salted per process.
"""

from __future__ import annotations

import hashlib


def job_seed(base: int, **keys) -> int:
    """A seed in [0, 2**32) for the job identified by ``keys`` (e.g. outcome="event",
    population="high"), from the configured seed ``base``: SHA-256 of ``base`` and the sorted
    key=value pairs. The same arguments give the same seed in every process and on every machine."""
    text = "\x1f".join([str(int(base))] + [f"{k}={keys[k]}" for k in sorted(keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
