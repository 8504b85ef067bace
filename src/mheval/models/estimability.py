"""Estimability: one mechanism for estimates that cannot be made.

An outcome with no events, no variance, too few events or too few organizations in an arm, or a
fit whose standard error is zero or not finite (a singular information matrix), is **not
estimable**. It is never a crash and never a number: every fitter checks its data with
:func:`check_estimable` before fitting and its standard errors with :func:`check_standard_error`
after, raising :class:`NotEstimable` with a reason in words; every driver returns
:func:`estimate_or_note`'s result, which is either the estimate or a not-estimable result
(``{"estimable": False, "reason": ...}``); every table writer renders a not-estimable result as a
row with the estimate cells empty and the reason in its ``note`` column.

Thresholds (config ``models``, documented in config/config.yaml):

=========================== ======= ==========================================================
key                         default meaning
=========================== ======= ==========================================================
min_events_per_arm          5       binary outcomes: beneficiary-years (or beneficiaries) with
                                    the outcome, and without it, in each arm; time-to-event:
                                    events in each arm; counts and spending: beneficiary-years
                                    with a nonzero value in each arm
min_organizations_per_arm   2       organizations (the unit randomized) in each arm
=========================== ======= ==========================================================

These are floors below which no model of the trial can separate the arms (a constant outcome, an
arm without events, one organization per arm confounding the arm with the organization); passing
them does not make an estimate precise. Reasons name thresholds, never counts of the data, so a
reason never publishes a count from 1 to 10.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

ARMS = {1: "intervention", 0: "control"}


class NotEstimable(RuntimeError):
    """An estimate that cannot be made; ``reason`` says why in words (for tables and the report).

    A RuntimeError, so that code which treats a failed fit as a failed replicate (bootstrap,
    permutations) keeps doing so."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """The estimability thresholds (see the module docstring)."""

    min_events_per_arm: int = 5
    min_organizations_per_arm: int = 2

    @classmethod
    def from_config(cls, models: dict | None) -> Limits:
        """The thresholds of the config's ``models`` section (defaults where absent)."""
        models = models or {}
        return cls(int(models.get("min_events_per_arm", cls.min_events_per_arm)),
                   int(models.get("min_organizations_per_arm", cls.min_organizations_per_arm)))


def check_estimable(y, arm, org, kind: str, limits: Limits | None = None) -> None:
    """Raise :class:`NotEstimable` unless the outcome ``y`` can be compared between the arms.

    Parameters
    ----------
    y : outcome values (rows with a missing outcome are ignored).
    arm : 1 intervention, 0 control, aligned with ``y``.
    org : organization of each row.
    kind : "continuous" (spending, counts, percentages), "binary" (0/1) or "events" (time to event;
        ``y`` is the event indicator).
    limits : thresholds (default :class:`Limits`).
    """
    lim = limits or Limits()
    d = pd.DataFrame({"y": np.asarray(y, float), "arm": np.asarray(arm), "org": np.asarray(org)})
    d = d[d["y"].notna()]
    if d.empty:
        raise NotEstimable("no observations")
    rows = "beneficiaries" if kind == "events" else "observations"
    for code, name in ARMS.items():
        a = d[d["arm"] == code]
        if a.empty:
            raise NotEstimable(f"no {rows} in the {name} arm")
        if a["org"].nunique() < lim.min_organizations_per_arm:
            raise NotEstimable(f"fewer than {lim.min_organizations_per_arm} organizations in the {name} arm")
    if kind in ("binary", "events") and not d["y"].isin([0.0, 1.0]).all():
        raise ValueError(f"a {kind} outcome must be 0 or 1")
    if (d["y"] == 0).all():
        raise NotEstimable("no events: the outcome is 0 for everyone" if kind == "events"
                           else "no events: the outcome is 0 for every observation")
    if kind == "continuous" and d["y"].nunique() == 1:
        raise NotEstimable(f"no variance: the outcome is {d['y'].iloc[0]:g} for every observation")
    if kind == "binary" and (d["y"] == 1).all():
        raise NotEstimable("no variance: the outcome is 1 for every observation")
    what = {"binary": "observations with the outcome", "events": "events",
            "continuous": "observations with a nonzero value"}[kind]
    counts = [(what, lambda a: (a != 0).sum())]
    if kind == "binary":
        counts.append(("observations without the outcome", lambda a: (a == 0).sum()))
    for label, count in counts:
        for code, name in ARMS.items():
            k = count(d.loc[d["arm"] == code, "y"])
            if k < lim.min_events_per_arm:
                raise NotEstimable(f"{'no' if k == 0 else f'fewer than {lim.min_events_per_arm}'} {label} "
                                   f"in the {name} arm")


def check_standard_error(se, what: str = "the impact") -> None:
    """Raise :class:`NotEstimable` if a standard error is zero, negative or not finite: the
    information matrix is singular (or the fit failed), and the estimate is not published."""
    v = np.atleast_1d(np.asarray(se, float))
    if not np.all(np.isfinite(v)):
        raise NotEstimable(f"the standard error of {what} is not finite (singular information matrix)")
    if np.any(v <= 0):
        raise NotEstimable(f"the standard error of {what} is zero (singular information matrix)")


def not_estimable(reason: str, **fields) -> dict:
    """A not-estimable result: the identifying ``fields`` (outcome, population, alpha, ...) with
    ``estimable: False`` and ``reason``."""
    return {**fields, "estimable": False, "reason": reason}


def is_estimable(result: dict) -> bool:
    """Whether a result file holds an estimate (results written before this flag existed do)."""
    return bool(result.get("estimable", True))


def estimate_or_note(fit: Callable[[], dict], **fields) -> dict:
    """Run ``fit`` and return its result marked ``estimable: True`` (unless the result marks itself
    not estimable, with its ``reason``), or, when it raises
    :class:`NotEstimable` or meets a singular matrix (``numpy.linalg.LinAlgError``), the
    :func:`not_estimable` result with ``fields`` and the reason."""
    try:
        out = fit()
    except NotEstimable as e:
        return not_estimable(e.reason, **fields)
    except np.linalg.LinAlgError as e:
        return not_estimable(f"singular information matrix ({e})", **fields)
    return {"estimable": True, **out}
