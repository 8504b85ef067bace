"""The errors on which a workflow step stops with one clear message (no traceback) and exit status 1.

A neutral module that every package may import (it imports nothing of mheval): the packages'
errors derive from :class:`StepError`, and :func:`mheval.io.run_step` catches that base class, so
``io`` needs no import of the packages that raise them.
"""

from __future__ import annotations


class StepError(Exception):
    """Base of the errors that stop a workflow step with one message; ``heading`` prefixes it in the
    log (e.g. "INPUT ERROR")."""

    heading = "ERROR"
