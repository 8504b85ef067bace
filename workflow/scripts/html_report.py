"""The self-contained HTML report."""
from pathlib import Path

from mheval.io import run_step
from mheval.report.assemble import assemble_report

sm = snakemake  # noqa: F821


def main():
    html = assemble_report(tables={"flow": sm.input.flow, "org_flow": sm.input.org_flow, "balance": sm.input.balance, "hr": sm.input.hr, "impacts": sm.input.impacts,
                                   "readings": sm.input.readings,
                                   "survey": sm.input.survey, "ph": sm.input.ph, "by_year_hr": sm.input.by_year_hr,
                                   "adjusted": sm.input.adjusted, "subgroups": sm.input.subgroups,
                                   "subgroup_tests": sm.input.subgroup_tests,
                                   "prior_sensitivity": sm.input.prior_sensitivity,
                                   "implementation": sm.input.implementation},
                           figures={"flow": sm.input.flow_fig, "org_flow": sm.input.org_flow_fig, "incidence": list(sm.input.ci_figs),
                                    "by_year": sm.input.year_fig, "probability": sm.input.prob_fig,
                                    "adjusted": list(sm.input.adjusted_figs),
                                    "subgroups": list(sm.input.subgroup_figs)},
                           validation=sm.input.validation, config=dict(sm.params.config),
                           availability=dict(sm.params.availability), left_out=dict(sm.params.left_out),
                           notes=list(sm.params.notes), disclosure=list(sm.input.disclosure))
    Path(sm.output.html).write_text(html)


run_step(main, sm.log[0])
