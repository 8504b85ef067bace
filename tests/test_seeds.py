"""Per-job seeds (mheval.seeds.job_seed): the same in every process, one stream per job."""

from __future__ import annotations

import os
import subprocess
import sys

from mheval.seeds import job_seed


def test_the_seed_is_the_same_in_every_process_and_differs_between_jobs():
    code = "from mheval.seeds import job_seed; print(job_seed(20240101, outcome='event', population='high'))"
    seeds = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout.strip()
             for h in (1, 2)}
    assert seeds == {str(job_seed(20240101, outcome="event", population="high"))}  # hash salt plays no part
    assert job_seed(20240101, population="high", outcome="event") == job_seed(20240101, outcome="event",
                                                                               population="high")
    jobs = [job_seed(base, outcome=o, population=p) for base in (1, 2) for o in ("event", "death")
            for p in ("high", "medium", "high_medium")]
    assert len(set(jobs)) == len(jobs) and all(0 <= s < 2 ** 32 for s in jobs)
    assert job_seed(1, outcome="event") != job_seed(1, outcome="event", population="high")
