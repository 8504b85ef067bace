"""The event a claim carries (claim_event_sql) against a plain-Python reading of the code list's rule:
the first diagnosis column (principal first) with a code matching a pattern of the claim's era
decides, and within a column the first matching pattern in the list's order."""
import re

import duckdb
import numpy as np
import pandas as pd

from mheval.outcomes.codes import claim_event_sql, code_event_lookup_sql, create_code_event_table, load_event_codes

COLUMNS = ["PRNCPAL_DGNS_CD", "ICD_DGNS_CD1", "ICD_DGNS_CD2", "ICD_DGNS_CD3"]


def reference_event(row: dict, codes: pd.DataFrame, icd10_start: pd.Timestamp):
    era = "icd10" if row["CLM_FROM_DT"] >= icd10_start else "icd9"
    rules = codes[codes["code_system"] == era]
    for col in COLUMNS:
        code = row[col]
        if code is None:
            continue
        for event, pattern in zip(rules["event"], rules["pattern"]):
            if re.search(pattern, code):
                return event
    return None


def run(codes: pd.DataFrame, claims: pd.DataFrame, start: str = "2015-10-01") -> list:
    con = duckdb.connect()
    con.register("claims", claims)
    sql, params = claim_event_sql(codes, COLUMNS, start)
    return [r[0] for r in con.execute(f"SELECT {sql} FROM claims", params).fetchall()]


def run_lookup(codes: pd.DataFrame, claims: pd.DataFrame, start: str = "2015-10-01") -> list:
    """The same rule through the per-code table (create_code_event_table), joined once per column."""
    con = duckdb.connect()
    con.register("claims_in", claims.assign(ROW=range(len(claims))))
    table = create_code_event_table(con, {"event": codes}, "claims_in", COLUMNS)
    joins = "".join(f' LEFT JOIN {table} t{i} ON t{i}.code = c."{col}"' for i, col in enumerate(COLUMNS))
    sql = code_event_lookup_sql("event", [f"t{i}" for i in range(len(COLUMNS))], date_expr="c.CLM_FROM_DT")
    return [r[0] for r in con.execute(f"SELECT {sql} FROM claims_in c{joins} ORDER BY c.ROW",
                                      {"icd10_start": start}).fetchall()]


def random_claims(n: int, seed: int = 7) -> pd.DataFrame:
    """Claims of both eras with codes that match, nearly match (410.x0 vs 410.x1, G45.4) or match
    nothing, in random positions, some missing."""
    rng = np.random.default_rng(seed)
    pool = ["I210", "I214", "I229", "I639", "I601", "I611", "G450", "G454", "G459", "I10", "E119", "Z0000",
            "41001", "41011", "41002", "4309", "431", "43311", "43310", "43401", "436", "4359", "4019", "25000"]
    claims = pd.DataFrame({c: [None if rng.random() < 0.2 else str(rng.choice(pool)) for _ in range(n)]
                           for c in COLUMNS})
    claims["CLM_FROM_DT"] = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 1200, n), unit="D")
    return claims


def test_matches_the_rule_on_random_claims_with_the_default_code_list():
    """3,000 random claims of both eras, in random positions, some missing."""
    codes = load_event_codes("config/codes/cvd_events.csv")
    claims = random_claims(3000)
    got = run(codes, claims)
    start = pd.Timestamp("2015-10-01")
    want = [reference_event(r, codes, start) for r in claims.to_dict("records")]
    assert got == want
    assert {"mi", "stroke", "tia", None} <= set(want)  # every outcome occurs


def test_list_order_decides_between_events_whose_patterns_overlap():
    """A code matching patterns of two events takes the event listed first, even when that
    event's patterns are not contiguous in the list."""
    codes = pd.DataFrame({"event": ["a", "b", "a"], "code_system": ["icd10"] * 3,
                          "pattern": ["^X1", "^X", "^X2|^Y"], "source": ["test"] * 3})
    claims = pd.DataFrame({"PRNCPAL_DGNS_CD": ["X12", "X23", "Y1", None], "ICD_DGNS_CD1": [None, "X11", None, "X25"],
                           "ICD_DGNS_CD2": [None] * 4, "ICD_DGNS_CD3": [None] * 4,
                           "CLM_FROM_DT": pd.to_datetime(["2016-01-01"] * 4)})
    # X12: ^X1 (a) is listed before ^X (b); X23 in the principal position decides before X11 and
    # takes b (^X comes before ^X2 of a: grouping a's patterns together would say a); Y1 only a's
    # last pattern; X25 in the second position: b again
    assert run(codes, claims) == ["a", "b", "a", "b"]
    # before the ICD-10 start no ICD-10 pattern applies
    claims["CLM_FROM_DT"] = pd.Timestamp("2015-01-01")
    assert run(codes, claims) == [None] * 4


def test_per_code_table_matches_the_rule_with_both_code_lists():
    """The extraction's path (the rule applied once per distinct code, then joined per position) gives
    the plain-Python reading's event on the random claims, for the event list and for the other-CVD
    list, whose ICD-9 patterns end in $ like the event list's 410.x1 (the other list's 410.x0/x2)."""
    claims = random_claims(3000, seed=11)
    start = pd.Timestamp("2015-10-01")
    for path in ("config/codes/cvd_events.csv", "config/codes/other_cvd.csv"):
        codes = load_event_codes(path)
        want = [reference_event(r, codes, start) for r in claims.to_dict("records")]
        assert run_lookup(codes, claims) == want
        assert len({w for w in want if w}) >= 3  # several events occur
    # list order between overlapping events, and the era by the claim date, as pattern by pattern
    codes = pd.DataFrame({"event": ["a", "b", "a"], "code_system": ["icd10"] * 3,
                          "pattern": ["^X1", "^X", "^X2|^Y"], "source": ["test"] * 3})
    few = pd.DataFrame({"PRNCPAL_DGNS_CD": ["X12", "X23", "Y1", None], "ICD_DGNS_CD1": [None, "X11", None, "X25"],
                        "ICD_DGNS_CD2": [None] * 4, "ICD_DGNS_CD3": [None] * 4,
                        "CLM_FROM_DT": pd.to_datetime(["2016-01-01", "2016-01-01", "2015-01-01", "2016-01-01"])})
    assert run_lookup(codes, few) == ["a", "b", None, "b"]
