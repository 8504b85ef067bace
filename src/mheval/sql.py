"""The one way the library opens DuckDB: a connection whose results do not depend on scheduling.

DuckDB runs a query on several threads by default; its parallel hash aggregates then add floating-
point values (payments) in an order that varies from run to run, and results without ORDER BY come
back in a varying row order, so two runs of the workflow gave analysis files that differed in the
last bits and row order (and models whose estimates differed in the last shown digit). One thread
makes every query's result, and its row order, the same in every run.
"""

from __future__ import annotations

import duckdb


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one thread (deterministic results and row order) and no
    progress bar in logs."""
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET enable_progress_bar = false")
    return con
