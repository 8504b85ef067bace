"""Compare a generated trial's truth.json with the published targets (../shared/trial-facts.md).

Usage: python benchmarks/synth_calibration.py benchmarks/work/synth/truth.json
Writes benchmarks/results/synth_calibration.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = [
    ("Analyzed beneficiaries", lambda t: t["n_analyzed"], "218,864"),
    ("Intervention / control beneficiaries", lambda t: f"{t['n_analyzed_by_arm']['intervention']:,} / {t['n_analyzed_by_arm']['control']:,}", "130,578 / 88,286"),
    ("Organizations with analyzed beneficiaries", lambda t: t["n_orgs_analyzed"], "342"),
    ("Enrolling organizations, intervention / control", lambda t: f"{t['n_orgs_by_arm']['intervention']} / {t['n_orgs_by_arm']['control']}", "172 / 170"),
    ("Randomized organizations", lambda t: t["n_orgs_randomized"], "516"),
    ("Share high risk among analyzed", lambda t: f"{t['share_high_risk']:.1%}", "about 31%"),
    ("Median age", lambda t: t["median_age_analyzed"], "72"),
    ("Male", lambda t: f"{t['share_male_analyzed']:.1%}", "58%"),
    ("Black", lambda t: f"{t['share_black_analyzed']:.1%}", "7%"),
    ("Median follow-up, years", lambda t: t["median_follow_up_years"], "4.3"),
    ("Part D enrollment", lambda t: f"{t['share_part_d_analyzed']:.1%}", "about 70%"),
    ("First MI/stroke/TIA per 1,000 PY, control, high risk", lambda t: t["realized_rates"]["high_control"]["event_per_1000py"], "22.7"),
    ("First MI/stroke/TIA per 1,000 PY, control, medium risk", lambda t: t["realized_rates"]["medium_control"]["event_per_1000py"], "14.6"),
    ("Deaths per 1,000 PY, control, high risk", lambda t: t["realized_rates"]["high_control"]["death_per_1000py"], "39.3"),
    ("Deaths per 1,000 PY, control, medium risk", lambda t: t["realized_rates"]["medium_control"]["death_per_1000py"], "25.4"),
    ("First MI/stroke/TIA per 1,000 PY, intervention, high / medium", lambda t: f"{t['realized_rates']['high_intervention']['event_per_1000py']} / {t['realized_rates']['medium_intervention']['event_per_1000py']}", "21.3 / 13.3"),
    ("Part A and B spending per beneficiary per month, control", lambda t: f"${t['spending']['total_ab_pbpm_control']:,.2f}", "$954.82"),
    ("Part A and B spending per beneficiary per month, intervention", lambda t: f"${t['spending']['total_ab_pbpm_intervention']:,.2f}", "$958.50"),
    ("Provider survey response rate", lambda t: f"{t['survey']['response_rate']:.1%}", "72%"),
]


def main(path: str) -> None:
    t = json.loads(Path(path).read_text())
    lines = [f"# Synthetic trial calibration (scale {t['params']['scale']}, seed {t['params']['seed']})", "",
             "Realized in the generated world (truth.json) vs the published trial (../shared/trial-facts.md).", "",
             "| quantity | synthetic | published |", "|---|---|---|"]
    for label, get, target in TARGETS:
        v = get(t)
        lines.append(f"| {label} | {v:,} | {target} |" if isinstance(v, int) else f"| {label} | {v} | {target} |")
    lines += ["", "Planted exclusions (intervention / control):", ""]
    for reason, c in sorted(t["planted_exclusions"].items()):
        lines.append(f"- {reason}: {c['intervention']:,} / {c['control']:,}")
    out = Path("benchmarks/results/synth_calibration.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/work/synth/truth.json")
