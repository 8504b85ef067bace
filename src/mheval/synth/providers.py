"""Participating clinicians (NPIs) of each organization and the outside clinicians."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.contract.spec import npi_check_digit


def valid_npis(ids: np.ndarray) -> np.ndarray:
    """Distinct NPIs with a valid check digit from distinct integers (no random draws): "1", eight
    digits from each id (the next free value on a collision) and the CMS check digit."""
    seen: set[int] = set()
    out = []
    for i in np.asarray(ids, dtype="int64") % 10 ** 8:
        i = int(i)
        while i in seen:
            i = (i + 1) % 10 ** 8
        seen.add(i)
        first9 = f"1{i:08d}"
        out.append(first9 + npi_check_digit(first9))
    return np.array(out)


class ProviderRoster:
    """NPIs by organization with participation dates, and a pool of outside clinicians.

    The first NPI of each organization participates for the whole study; others join or leave
    at random dates. :meth:`draw` picks the performing NPI of a visit: an NPI of the organization
    participating on the visit date, or an outside one.
    """

    def __init__(self, rng: np.random.Generator, orgs: pd.DataFrame, n_outside: int):
        n_npi = np.minimum(orgs["N_PRACTITIONERS"].to_numpy(), 60)
        self.offset = np.r_[0, np.cumsum(n_npi)[:-1]]
        self.count = n_npi
        total = int(n_npi.sum())
        ids = rng.choice(9 * 10 ** 8, size=total + n_outside, replace=False) + 10 ** 8
        npis = valid_npis(ids)  # 10 digits starting with 1 and a valid check digit, like real NPIs
        self.npi = npis[:total]
        self.outside = npis[total:]
        self.org = np.repeat(np.arange(len(orgs)), n_npi)
        first = np.zeros(total, bool)
        first[self.offset] = True
        joins = ~first & (rng.random(total) < 0.15)
        leaves = ~first & (rng.random(total) < 0.10)
        self.start = np.where(joins, np.datetime64("2017-01-01") + rng.integers(60, 1200, total) * np.timedelta64(1, "D"),
                              np.datetime64("2015-01-01")).astype("datetime64[D]")
        self.end = np.where(leaves, self.start + rng.integers(200, 1500, total) * np.timedelta64(1, "D"),
                            np.datetime64("NaT")).astype("datetime64[D]")
        self.tin = orgs["TIN"].to_numpy()
        self.outside_tin = (rng.choice(9 * 10 ** 8, size=max(1, n_outside // 5), replace=False) + 10 ** 8).astype(str)

    def table(self, orgs: pd.DataFrame) -> pd.DataFrame:
        """The registry's providers file: NPI, ORG_ID, START_DT, END_DT."""
        return pd.DataFrame({"NPI": self.npi, "ORG_ID": orgs["ORG_ID"].to_numpy()[self.org],
                             "START_DT": self.start, "END_DT": self.end})

    def draw(self, rng, org_idx: np.ndarray, dates: np.ndarray, at_org: np.ndarray):
        """Performing NPI and billing TIN for each visit (vectorized)."""
        n = len(org_idx)
        k = self.offset[org_idx] + np.floor(rng.random(n) * self.count[org_idx]).astype(int)
        active = (self.start[k] <= dates) & (np.isnat(self.end[k]) | (dates <= self.end[k]))
        k = np.where(active, k, self.offset[org_idx])  # fall back to the always-participating NPI
        out_k = rng.integers(0, len(self.outside), n)
        npi = np.where(at_org, self.npi[k], self.outside[out_k])
        tin = np.where(at_org, self.tin[org_idx], self.outside_tin[out_k % len(self.outside_tin)])
        return npi, tin
