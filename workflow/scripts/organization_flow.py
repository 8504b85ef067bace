"""The organization flow by arm: table (suppressed; four formats) and diagram."""
from pathlib import Path

import pandas as pd

from mheval.cohort.flow import organization_flow
from mheval.cohort.tables import publishable_flow
from mheval.contract.read import read_input
from mheval.disclosure import Rule
from mheval.io import run_step, write_json
from mheval.report import write_table
from mheval.report.figures import plot_cohort_flow

sm = snakemake  # noqa: F821


def main():
    flow = organization_flow(read_input(sm.params.data_dir, "organizations"), pd.read_parquet(sm.input.enrollees))
    published = publishable_flow(flow, Rule.from_config({"report": sm.params.report}), name="organization_flow")
    table = published.tables["organization_flow"]
    write_table(table, Path(sm.output.table).with_suffix(""), caption="Organization flow by arm")
    write_json(published.summary_records(), sm.output.disclosure)
    plot_cohort_flow(table, [sm.output.png, sm.output.svg], title="Organization flow: randomized to analyzed")


run_step(main, sm.log[0])
