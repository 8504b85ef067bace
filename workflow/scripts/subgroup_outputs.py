"""The subgroup table (four formats) and a forest plot per outcome and population."""
from pathlib import Path

from mheval.io import read_json, run_step
from mheval.report import write_table
from mheval.report.figures import plot_subgroup_forest
from mheval.report.impact_tables import POPULATION_LABELS, subgroup_table, subgroup_tests_table

sm = snakemake  # noqa: F821


def main():
    results = [read_json(p) for p in sm.input]
    write_table(subgroup_table(results), Path(sm.output.table).with_suffix(""),
                caption="Subgroup impacts: unpooled (interaction models) and partially pooled (Bayesian)")
    write_table(subgroup_tests_table(results), Path(sm.output.tests[0]).with_suffix(""),
                caption="Subgroup tests: heterogeneity across levels and the organization size x impact interaction")
    pct = int(round(100 * (1 - sm.params.alpha)))
    names = {"unpooled": "estimate", f"unpooled_ci{pct}_lower": "lower", f"unpooled_ci{pct}_upper": "upper",
             "pooled": "pooled_mean", f"pooled_cri{pct}_lower": "pooled_lower", f"pooled_cri{pct}_upper": "pooled_upper"}
    for r in results:
        for population in sorted({i["population"] for i in r["impacts"]} | {s["population"] for s in r["skipped"]}):
            paths = [f for f in sm.output.figures if Path(f).stem == f"subgroups_{r['outcome']}_{population}"]
            sub = subgroup_table([{**r, "impacts": [i for i in r["impacts"] if i["population"] == population],
                                   "skipped": [s for s in r["skipped"] if s["population"] == population]}])
            sub = sub.rename(columns=names)
            cox = sub["scale"].iloc[0] == "hazard ratio"
            plot_subgroup_forest(sub, paths, f"{sub['outcome'].iloc[0]}: subgroup impacts, "
                                 f"{POPULATION_LABELS.get(population, population)}",
                                 "Hazard ratio, intervention vs control" if cox else "Impact, intervention minus control",
                                 null=1.0 if cox else 0.0, log_x=cox)


run_step(main, sm.log[0])
