"""The tiny trial (scale 0.004) through a real Slurm scheduler: scripts/slurm_single_node.sh starts a
single-node Slurm cluster (munge, slurmdbd on MariaDB, slurmctld, slurmd) on this machine and runs
`snakemake --profile profiles/slurm` to the report; the test checks the report, the passing audit and
that every job went through Slurm (sacct). Run with `pytest -m slurm`, as root on Debian (it installs
packages and starts daemons, then stops them); the default `pytest` leaves it out (pyproject addopts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slurm


def _why_not() -> str | None:
    if not Path("/etc/debian_version").exists():
        return "needs Debian (apt-get install slurm-wlm munge slurmdbd mariadb-server)"
    if os.geteuid() != 0:
        return "needs root: installs Slurm and starts its daemons"
    if shutil.which("apt-get") is None and shutil.which("sinfo") is None:
        return "neither Slurm (sinfo) nor apt-get to install it"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return 'snakemake-executor-plugin-slurm is not installed (pip install -e ".[slurm]")'
    return None


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
def test_tiny_trial_through_slurm_to_the_report(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_single_node.sh"), str(run)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (run / "results" / "qc" / "publication_check.txt").read_text().startswith("publication audit passed")
    assert "not estimable" in (run / "results" / "report.html").read_text()
    # every job Snakemake ran went through sbatch and ended COMPLETED in Slurm's accounting
    jobs = [line.split() for line in (run / "sacct.txt").read_text().splitlines()
            if line.strip() and line.split()[1] != "hostname"]  # the script's srun check
    log = (run / "snakemake.log").read_text()
    submitted = log.count("has been submitted with SLURM jobid")
    assert submitted > 20 and len(jobs) == submitted, (submitted, len(jobs))
    assert all(j[2] == "COMPLETED" for j in jobs), [j for j in jobs if j[2] != "COMPLETED"]
