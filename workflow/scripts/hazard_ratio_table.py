"""The hazard-ratio table (shaped like the trial's published Table 3), protected, in four formats."""
from pathlib import Path

from mheval.disclosure import Rule, protect
from mheval.io import read_json, run_step, write_json
from mheval.report import write_table
from mheval.report.impact_tables import hazard_ratio_table, left_out_results

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    results += left_out_results(sm.params.left_out, sm.params.populations, alpha=results[0]["alpha"] if results else 0.1)
    table = hazard_ratio_table(results)
    published = protect({"hazard_ratios": table}, Rule.from_config(sm.params.report))
    write_table(published.tables["hazard_ratios"], Path(sm.output.csv).with_suffix(""),
                config={"report": sm.params.report, "models": sm.params.models})
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
