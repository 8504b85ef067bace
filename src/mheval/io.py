"""Small I/O helpers shared by the workflow scripts and notebooks (no Snakemake here)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.errors import StepError


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.date().isoformat()
    raise TypeError(f"not JSON serializable: {type(o)}")


def write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as sorted, indented JSON (deterministic), creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")


def read_json(path: str | Path):
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write a frame to Parquet without its index, creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def read_parquet_columns(path: str | Path, columns) -> pd.DataFrame:
    """The columns of ``columns`` that the Parquet file at ``path`` has, in that order (the rest of
    a wide file is never loaded; a column the caller needs and the file lacks is left to the
    caller's own clear error)."""
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(columns) if c in present])


def run_step(step: Callable[[], None], log_path: str | Path | None = None) -> None:
    """Run a workflow step; on a :class:`mheval.errors.StepError` (bad input, a failed publication
    check, failed Bayesian sampling diagnostics) print one clear message (no traceback) and exit 1.

    The message goes to standard error and to ``log_path``; other errors are logged with their
    traceback (to the log file too) and propagate.
    """
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    try:
        step()
    except StepError as err:
        logging.getLogger("mheval").error("%s: %s", err.heading, err)
        sys.exit(1)
    except Exception:
        logging.getLogger("mheval").exception("step failed")  # the traceback in the log file too
        raise
