"""Implementation analyses (non-randomized comparisons) and spending net of model payments, protected."""
from pathlib import Path

from mheval.disclosure import Rule, protect
from mheval.io import read_json, read_parquet_columns, run_step, write_json
from mheval.models.estimability import Limits
from mheval.models.implementation import TTE_COLUMNS, implementation_columns, implementation_rows, implementation_table
from mheval.report import write_table

sm = snakemake  # noqa: F821


def main():
    p = sm.params
    rows = implementation_rows(p.data_dir, read_parquet_columns(sm.input.by, implementation_columns(p.cfg)),
                               read_parquet_columns(sm.input.tte, TTE_COLUMNS),
                               [read_json(f) for f in sm.input.spend], p.cfg, unavailable=p.unavailable,
                               high_threshold=p.high_threshold, alpha=p.alpha, size_percent=p.size,
                               cov_type=p.cov_type, limits=Limits.from_config(p.limits), average=p.average)
    write_json({"rows": rows}, sm.output.json)
    published = protect({"implementation": implementation_table(rows)}, Rule.from_config(p.report))
    write_table(published.tables["implementation"], Path(sm.output.table).with_suffix(""), digits=4,
                caption="Implementation analyses: NON-RANDOMIZED comparisons of intervention organizations by "
                        "payment tier and survey measures with all controls; spending net of model payments PBPM")
    write_json(published.summary_records(), sm.output.disclosure)


run_step(main, sm.log[0])
