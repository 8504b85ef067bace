"""Vectorized building blocks for simulated claims: Poisson dates in windows, payments, lags."""

from __future__ import annotations

import numpy as np

DAY = np.timedelta64(1, "D")


def poisson_dates(rng: np.random.Generator, start: np.ndarray, end: np.ndarray,
                  rate_per_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events of a Poisson process in each window [start_i, end_i] (inclusive days).

    Returns (row index into the windows, event date), sorted by row. Empty or reversed windows
    (end < start, or NaT) give no events.
    """
    start = start.astype("datetime64[D]")
    end = end.astype("datetime64[D]")
    days = (end - start).astype("int64") + 1
    valid = ~np.isnat(start) & ~np.isnat(end) & (days > 0)
    days = np.where(valid, days, 0)
    lam = np.where(valid, np.asarray(rate_per_year, dtype=float) * days / 365.25, 0.0)
    counts = rng.poisson(lam)
    idx = np.repeat(np.arange(len(start)), counts)
    offset = np.floor(rng.random(len(idx)) * days[idx]).astype("int64")
    return idx, start[idx] + offset * DAY


def payments(rng: np.random.Generator, mean: float | np.ndarray, n: int, sigma: float) -> np.ndarray:
    """Lognormal payment amounts (USD, cents) with the given mean: a heavy right tail."""
    amount = np.asarray(mean) * rng.lognormal(-sigma ** 2 / 2, sigma, n)
    return np.round(amount, 2)


def processing_dates(rng: np.random.Generator, thru: np.ndarray, median_days: float,
                     sigma: float) -> np.ndarray:
    """NCH weekly processing date: a lognormal lag after the through date, on the next Friday."""
    lag = np.ceil(median_days * rng.lognormal(0.0, sigma, len(thru))).astype("int64")
    d = thru.astype("datetime64[D]") + lag * DAY
    # 1970-01-01 was a Thursday: Fridays are days with (days since epoch) % 7 == 1
    since = d.astype("int64")
    return d + ((1 - since) % 7) * DAY


def pick(rng: np.random.Generator, choices: np.ndarray, n: int, p=None) -> np.ndarray:
    """Random choice of ``n`` values from ``choices``."""
    return np.asarray(choices)[rng.choice(len(choices), size=n, p=p)]


def icd_by_date(rng: np.random.Generator, dates: np.ndarray, icd10: np.ndarray,
                icd9: np.ndarray, start10: np.datetime64) -> np.ndarray:
    """Pick a code per date from paired ICD-10/ICD-9 lists: ICD-10 from ``start10`` on."""
    k = rng.integers(0, len(icd10), len(dates))
    return np.where(dates >= start10, np.asarray(icd10)[k], np.asarray(icd9)[k % len(icd9)])
