"""Input errors that name the file, the column, how many rows fail and a few examples."""

from __future__ import annotations


class InputError(ValueError):
    """One problem with one input file.

    Attributes: ``file``, ``column`` (or None), ``n_rows`` (or None), ``examples`` and ``rule``.
    """

    def __init__(self, file: str, column: str | None, n_rows: int | None, examples: list, rule: str):
        self.file, self.column, self.n_rows, self.examples, self.rule = file, column, n_rows, list(examples), rule
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.file + (f", column {self.column}" if self.column else "")
        rows = f": {self.n_rows:,} row{'s' if self.n_rows != 1 else ''}" if self.n_rows is not None else ""
        ex = f" (e.g. {', '.join(repr(e) for e in self.examples[:5])})" if self.examples else ""
        return f"{where}{rows} {self.rule}{ex}"


class InputValidationError(ValueError):
    """Every problem found in the inputs, in one message; the run stops on it."""

    def __init__(self, problems: list[InputError]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the input files; the run stops here:"]
        lines += [f"  - {p.describe()}" for p in self.problems]
        super().__init__("\n".join(lines))
