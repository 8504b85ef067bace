"""`snakemake --lint` finds nothing in the workflow on the default config (Snakemake's conventions:
a log, a conda environment and no hard-coded path prefixes on every rule, no functions beside rules
in a rule file). Snakemake exits 1 on any finding; the test shows them."""

from __future__ import annotations

import subprocess
import sys


def test_snakemake_lint_is_clean(workflow_copy):
    wd = workflow_copy("lint")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--directory", str(wd),
                           "--snakefile", str(wd / "Snakefile")], cwd=wd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Congratulations, your workflow is in a good condition!" in out


def test_lint_reports_a_rule_without_a_log(workflow_copy):
    # the same check fails on a finding: a rule with no log directive
    wd = workflow_copy("lint_finding")
    with open(wd / "workflow" / "rules" / "report.smk", "a") as f:
        f.write('\n\nrule unlogged:\n    output:\n        "results/x.txt"\n    conda:\n        CONDA_ENV\n'
                '    shell:\n        "touch {output}"\n')
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--directory", str(wd),
                           "--snakefile", str(wd / "Snakefile")], cwd=wd, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Lints for rule unlogged" in proc.stdout + proc.stderr
