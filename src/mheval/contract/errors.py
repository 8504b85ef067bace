"""Input errors that name the file, the column, how many rows fail and a few examples."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import PurePath

from mheval.errors import StepError


class InputError(StepError, ValueError):
    """One problem with one input file.

    Attributes: ``file``, ``column`` (or None), ``n_rows`` (or None), ``examples`` and ``rule``;
    ``source_file`` and ``source_column``: the original file and column the contract file was made
    from (see :meth:`with_provenance`), or None.
    """

    heading = "INPUT ERROR"

    def __init__(self, file: str, column: str | None, n_rows: int | None, examples: list, rule: str,
                 source_file: str | None = None, source_column: str | None = None):
        self.file, self.column, self.n_rows, self.examples, self.rule = file, column, n_rows, list(examples), rule
        self.source_file, self.source_column = source_file, source_column
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.source_file:
            where = f"{self.source_file} (read as {self.file})"
        else:
            where = self.file
        if self.column:
            where += f", column {self.source_column} (contract column {self.column})" if self.source_column \
                else f", column {self.column}"
        rows = f": {self.n_rows:,} row{'s' if self.n_rows != 1 else ''}" if self.n_rows is not None else ""
        ex = f" (e.g. {', '.join(_show(e) for e in self.examples[:5])})" if self.examples else ""
        return f"{where}{rows} {self.rule}{ex}"

    def with_provenance(self, provenance: Mapping | None) -> InputError:
        """The same problem named by the original file and column it came from.

        ``provenance`` maps a contract file to its original file, ``{contract_file: original_file}``,
        and a (contract file, column) pair to the original column, ``{(contract_file, column):
        original_column}``. A contract file key may be the path as reported, or a path relative to
        the data directory (matched as a suffix, e.g. ``claims/inpatient/inpatient_2009.parquet``).
        Names without an entry are kept as they are.
        """
        if not provenance:
            return self
        key = _match_file(self.file, [k for k in provenance if isinstance(k, str)])
        if key is None:
            return self
        col = provenance.get((key, self.column)) if self.column else None
        return InputError(self.file, self.column, self.n_rows, self.examples, self.rule,
                          source_file=str(provenance[key]), source_column=col)


def _show(value) -> str:
    """An example value in words: dates as YYYY-MM-DD, text quoted."""
    if isinstance(value, (datetime.date, datetime.datetime)):  # pandas Timestamps too
        return value.strftime("%Y-%m-%d") if value == value else "missing"  # NaT != NaT
    return repr(value)


def _match_file(file: str, keys: list[str]) -> str | None:
    if file in keys:
        return file
    parts = PurePath(file).parts
    for k in keys:
        kp = PurePath(k).parts
        if kp and parts[-len(kp):] == kp:
            return k
    return None


class InputValidationError(StepError, ValueError):
    """Every problem found in the inputs, in one message; the run stops on it."""

    heading = "INPUT ERROR"

    def __init__(self, problems: list[InputError]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the input files; the run stops here:"]
        lines += [f"  - {p.describe()}" for p in self.problems]
        super().__init__("\n".join(lines))
