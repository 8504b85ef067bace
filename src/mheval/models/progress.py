"""Progress of an iterative model fit in the log, throttled, so a user watching a step's log sees it move."""

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
