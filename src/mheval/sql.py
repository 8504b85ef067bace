"""The one way the library opens DuckDB: a connection whose results do not depend on scheduling.

DuckDB runs a query on several threads by default; its parallel hash aggregates then add floating-
point values (payments) in an order that varies from run to run, and results without ORDER BY come
back in a varying row order, so two runs of the workflow gave analysis files that differed in the
last bits and row order (and models whose estimates differed in the last shown digit). One thread
makes every query's result, and its row order, the same in every run.
"""

from __future__ import annotations

import duckdb


# DuckDB's own memory (hash tables, sorts, windows) for the steps that hold a whole input in one query
# (validation's key checks, the beneficiary-year sums): past it DuckDB spills to a temporary folder
# instead of growing (its default is 80% of the machine's memory, which let one step take 5-6 GB at
# the published trial's size; benchmarks/results/memory.md)
BOUNDED_MEMORY = "1GB"


def connect(memory_limit: str | None = None, threads: int = 1) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one thread (deterministic results and row order) and no
    progress bar in logs. ``memory_limit`` (e.g. :data:`BOUNDED_MEMORY`): the most memory DuckDB
    holds for a query before spilling to the system's temporary folder (the same rows; a
    floating-point sum may then differ in its last bits, as the spill changes the order of addition).
    ``threads`` > 1 only where results do not depend on the order rows are combined in (counts and
    checks, not floating-point sums written to an output)."""
    con = duckdb.connect(config={"threads": max(1, int(threads))})
    con.execute("SET enable_progress_bar = false")
    if memory_limit is not None:
        import os
        import tempfile

        con.execute("SET memory_limit = $limit", {"limit": memory_limit})
        con.execute("SET temp_directory = $dir", {"dir": os.path.join(tempfile.gettempdir(), f"mheval-duckdb-{os.getpid()}")})
    return con
