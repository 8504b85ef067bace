"""The subgroup table (four formats, protected with the published flow table) and a forest plot per
outcome and population drawn from the protected table."""
from pathlib import Path

import pandas as pd

from mheval.disclosure import Rule, protect
from mheval.io import read_json, run_step, write_json
from mheval.report import write_table
from mheval.report.figures import plot_subgroup_forest
from mheval.report.impact_tables import POPULATION_LABELS, outcome_label, subgroup_table, subgroup_tests_table

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input.results]
    published = protect({"subgroups": subgroup_table(results)}, Rule.from_config(sm.params.report),
                        published={"cohort_flow": pd.read_csv(sm.input.flow)})
    table = published.tables["subgroups"]
    write_json(published.summary_records(), sm.output.disclosure)
    write_table(table, Path(sm.output.table).with_suffix(""), config={"report": sm.params.report})
    write_table(subgroup_tests_table(results), Path(sm.output.tests[0]).with_suffix(""), config={"report": sm.params.report})
    pct = int(round(100 * (1 - sm.params.alpha)))
    names = {"unpooled": "estimate", f"unpooled_ci{pct}_lower": "lower", f"unpooled_ci{pct}_upper": "upper",
             "pooled": "pooled_mean", f"pooled_cri{pct}_lower": "pooled_lower", f"pooled_cri{pct}_upper": "pooled_upper"}
    for r in results:
        for population in sorted({i["population"] for i in r["impacts"]} | {s["population"] for s in r["skipped"]}):
            paths = [f for f in sm.output.figures if Path(f).stem == f"subgroups_{r['outcome']}_{population}"]
            label = POPULATION_LABELS.get(population, population)
            sub = table[(table["outcome"] == outcome_label(r["outcome"])) & (table["population"] == label)]
            sub = sub.rename(columns=names).astype({c: float for c in names.values() if c in sub})
            cox = sub["scale"].iloc[0] == "hazard ratio"
            plot_subgroup_forest(sub, paths, f"{sub['outcome'].iloc[0]}: subgroup impacts, "
                                 f"{POPULATION_LABELS.get(population, population)}",
                                 "Hazard ratio, intervention vs control" if cox else "Impact, intervention minus control",
                                 null=1.0 if cox else 0.0, log_x=cox, level=pct)


run_step(main, sm.log[0])
