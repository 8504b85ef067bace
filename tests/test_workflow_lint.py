"""`snakemake --lint` on the default config finds nothing but the one finding the workflow justifies
(Snakemake's conventions: a log on every rule, no hard-coded path prefixes in params, no functions
beside rules in a rule file, ...). The justified one: no rule names a conda environment, since every
rule runs the installed mheval library (the reason is in workflow/rules/common.smk)."""

from __future__ import annotations

import re
import subprocess
import sys

# finding title -> why it stays (each also explained where the workflow decides it)
JUSTIFIED = {
    "Specify a conda environment or container for each rule.":
        "rules run the mheval library from the environment that runs Snakemake (workflow/rules/common.smk)",
}


def _lint(wd):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--directory", str(wd),
                           "--snakefile", str(wd / "Snakefile")], cwd=wd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    # each finding is printed as "    * <title>:" under "Lints for rule <name> ..." or "Lints for snakefile ..."
    findings = re.findall(r"^\s+\* (.+?):$", out, re.M)
    return proc, out, findings


def test_snakemake_lint_finds_nothing_unjustified(workflow_copy):
    proc, out, findings = _lint(workflow_copy("lint"))
    assert "Lints for" in out or proc.returncode == 0, out[-3000:]  # it ran the linter, not a crash
    assert "Error" not in out, out[-3000:]
    unjustified = sorted(set(findings) - set(JUSTIFIED))
    assert not unjustified, f"snakemake --lint: {unjustified}\n{out[-6000:]}"


def test_lint_reports_a_rule_without_a_log(workflow_copy):
    # the same check fails on a finding: a rule with no log directive
    wd = workflow_copy("lint_finding")
    with open(wd / "workflow" / "rules" / "report.smk", "a") as f:
        f.write('\n\nrule unlogged:\n    output:\n        "results/x.txt"\n    shell:\n        "touch {output}"\n')
    proc, out, findings = _lint(wd)
    assert proc.returncode == 1
    assert "Lints for rule unlogged" in out
    assert "No log directive defined" in set(findings) - set(JUSTIFIED)
