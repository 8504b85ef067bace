"""Progress in the log, throttled, so a user watching a step's log sees it move.

:class:`FitProgress` counts the criterion evaluations of an iterative model fit; :class:`LoopProgress`
counts the items of a loop whose length is known (claim batches of the generator, bootstrap
replicates, MCMC draws, calibration trials) and logs the share done, the elapsed time and an estimate
of the time left."""

from __future__ import annotations

import logging
import time


class FitProgress:
    """Count the criterion evaluations of a fit and log the latest one at most every ``every`` seconds.

    ``update(value)`` is called once per evaluation of the criterion (a deviance); ``done(...)``
    logs the total number of evaluations, the final criterion and the elapsed time. Nothing is
    logged for fits that end within ``every`` seconds except the final line (at DEBUG level)."""

    def __init__(self, logger: logging.Logger, what: str, every: float = 5.0):
        self.logger, self.what, self.every = logger, what, every
        self.start = self.last = time.perf_counter()
        self.evaluations = 0
        self.best = float("inf")

    def update(self, value: float) -> None:
        self.evaluations += 1
        self.best = min(self.best, value)
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self.logger.info("%s: %d evaluations, %.0f s, best criterion %.10g", self.what, self.evaluations,
                             now - self.start, self.best)

    def done(self, value: float, converged: bool) -> None:
        seconds = time.perf_counter() - self.start
        level = logging.INFO if seconds >= self.every else logging.DEBUG
        self.logger.log(level, "%s: done after %d evaluations in %.1f s, criterion %.10g, converged %s", self.what,
                        self.evaluations, seconds, value, converged)


class LoopProgress:
    """Count the items of a loop of known length and log progress at most every ``every`` seconds.

    ``step(n)`` marks ``n`` more items done; a line "what: i of total (p%), s elapsed, about s left"
    is logged when ``every`` seconds have passed since the last line. ``done()`` logs the total and
    the elapsed time (at INFO when the loop took ``every`` seconds or more, else at DEBUG)."""

    def __init__(self, logger: logging.Logger, what: str, total: int, every: float = 5.0):
        self.logger, self.what, self.total, self.every = logger, what, int(total), every
        self.start = self.last = time.perf_counter()
        self.count = 0

    def step(self, n: int = 1) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self.last >= self.every and self.count < self.total:
            self.last = now
            elapsed = now - self.start
            left = elapsed * (self.total - self.count) / self.count if self.count else float("nan")
            self.logger.info("%s: %d of %d (%.0f%%), %.0f s elapsed, about %.0f s left", self.what, self.count,
                             self.total, 100.0 * self.count / max(self.total, 1), elapsed, left)

    def done(self) -> None:
        seconds = time.perf_counter() - self.start
        level = logging.INFO if seconds >= self.every else logging.DEBUG
        self.logger.log(level, "%s: %d of %d done in %.1f s", self.what, self.count, self.total, seconds)
