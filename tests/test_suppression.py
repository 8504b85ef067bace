"""Cell-size suppression and the pre-publication audit."""

import itertools

import numpy as np
import pandas as pd
import pytest

from mheval.report import (
    PublicationError,
    assert_publishable,
    check_published_outputs,
    find_recoverable_cells,
    find_small_counts,
    is_count_column,
    suppress_small_cells,
)


def _hidden(df, cols):
    return df[cols].apply(pd.to_numeric, errors="coerce").isna()


def _subtraction_leaks(out, count_cols, total_col):
    """Cells recoverable by subtracting the other cells of a row from its shown total."""
    leaks = []
    hidden = _hidden(out, count_cols + [total_col])
    for i in out.index:
        if hidden.loc[i, total_col]:
            continue
        row_hidden = [c for c in count_cols if hidden.loc[i, c]]
        if len(row_hidden) == 1:
            leaks.append((i, row_hidden[0]))
    return leaks


# --------------------------------------------------------------------------- primary


def test_primary_boundaries_zero_ten_eleven():
    df = pd.DataFrame({"n": [0, 1, 10, 11, 250]})
    out, n = suppress_small_cells(df, ["n"])
    assert n == 2
    assert out["n"].dtype == "Int64"
    assert out["n"].isna().tolist() == [False, True, True, False, False]
    assert out["n"].tolist()[0] == 0 and out["n"].tolist()[3] == 11
    assert df["n"].tolist() == [0, 1, 10, 11, 250]  # input untouched


def test_marker_and_min_cell():
    df = pd.DataFrame({"n": [3, 15, 0, 20]})
    out, n = suppress_small_cells(df, ["n"], min_cell=16, marker="<16")
    assert n == 2
    assert out["n"].tolist() == ["<16", "<16", 0, 20]


def test_non_count_columns_untouched_and_existing_na_kept():
    df = pd.DataFrame({"label": ["a", "b", "c"], "rate": [0.5, 2.0, 3.0], "n": [5, None, 40]})
    out, n = suppress_small_cells(df, ["n"])
    assert n == 1
    assert out["rate"].tolist() == [0.5, 2.0, 3.0]
    assert out["n"].isna().tolist() == [True, True, False]


def test_non_numeric_count_column_rejected():
    with pytest.raises(ValueError, match="not numeric"):
        suppress_small_cells(pd.DataFrame({"n": ["a", "b"]}), ["n"])


def test_find_small_counts():
    df = pd.DataFrame({"a": [0, 4, 11], "b": [10, 12, np.nan]}, index=["x", "y", "z"])
    found = find_small_counts(df, ["a", "b"])
    assert list(found.columns) == ["row", "column", "value"]
    assert list(found.itertuples(index=False, name=None)) == [("x", "b", 10), ("y", "a", 4)]
    assert find_small_counts(pd.DataFrame({"a": [0, 11]}), ["a"]).empty


# --------------------------------------------------------------------------- complementary


def test_row_total_would_reveal_suppressed_cell():
    # Row 0: 4 + 30 + 16 = 50. Hiding only the 4 lets a reader compute 50 - 30 - 16.
    df = pd.DataFrame({"a": [4, 20], "b": [30, 25], "c": [16, 40], "total": [50, 85]})
    out, n = suppress_small_cells(df, ["a", "b", "c"], row_total_col="total")
    assert n == 2
    # the complement is the next-smallest non-zero cell of the row
    assert _hidden(out, ["a", "b", "c"]).loc[0].tolist() == [True, False, True]
    assert out.loc[0, "total"] == 50
    assert out.loc[1].tolist() == [20, 25, 40, 85]
    assert _subtraction_leaks(out, ["a", "b", "c"], "total") == []
    assert find_recoverable_cells(out, ["a", "b", "c"], row_total_col="total") == []


def test_without_complement_the_cell_is_recoverable():
    df = pd.DataFrame({"a": [4], "b": [30], "c": [16], "total": [50]})
    naive = df.astype("Float64")
    naive.loc[0, "a"] = pd.NA
    assert find_recoverable_cells(naive, ["a", "b", "c"], row_total_col="total") == [(0, "a")]
    assert 50 - 30 - 16 == 4


def test_zero_is_not_used_as_complement_total_hidden_instead():
    # Only non-zero cell is the small one: the total equals it and must go too.
    df = pd.DataFrame({"a": [7], "b": [0], "total": [7]})
    out, n = suppress_small_cells(df, ["a", "b"], row_total_col="total")
    assert out.loc[0, "b"] == 0
    assert out[["a", "total"]].isna().all(axis=None)
    assert n == 2


def test_total_row_protects_columns():
    df = pd.DataFrame(
        {"stratum": ["high", "medium", "low", "All"], "treat": [5, 120, 300, 425], "control": [40, 118, 290, 448]}
    )
    kw = dict(total_row_label="All", label_col="stratum")
    out, n = suppress_small_cells(df, ["treat", "control"], **kw)
    hidden = _hidden(out, ["treat", "control"])
    assert hidden["treat"].sum() == 2  # the 5 and the next-smallest non-zero (120)
    assert bool(hidden.loc[1, "treat"])
    assert not hidden.iloc[3].any()
    assert find_recoverable_cells(out, ["treat", "control"], **kw) == []
    # the total row's label is not required to be a column: index works too
    out2, n2 = suppress_small_cells(df.set_index("stratum"), ["treat", "control"], total_row_label="All")
    assert n2 == n


def test_two_way_table_with_row_and_column_totals():
    df = pd.DataFrame(
        {
            "grp": ["a", "b", "c", "d", "Total"],
            "x": [5, 20, 30, 44, 99],
            "y": [40, 0, 12, 60, 112],
            "z": [15, 33, 3, 70, 121],
        }
    )
    df["tot"] = df[["x", "y", "z"]].sum(axis=1)
    cols = ["x", "y", "z"]
    kw = dict(row_total_col="tot", total_row_label="Total", label_col="grp")
    out, n = suppress_small_cells(df, cols, **kw)
    hidden = _hidden(out, cols + ["tot"])
    # every primary cell hidden, zeros shown
    assert hidden.loc[0, "x"] and hidden.loc[2, "z"]
    assert out.loc[1, "y"] == 0
    assert n == int(hidden.to_numpy().sum())
    # no row or column with a shown total hides exactly one cell
    assert _subtraction_leaks(out, cols, "tot") == []
    for c in cols + ["tot"]:
        col_hidden = hidden.loc[:3, c]
        assert hidden.loc[4, c] or col_hidden.sum() != 1
    # and no hidden cell is fixed by the whole system of totals
    assert find_recoverable_cells(out, cols, **kw) == []
    # shown cells keep their values
    shown = ~hidden
    assert (out[cols + ["tot"]][shown].fillna(-1) == df[cols + ["tot"]][shown].fillna(-1)).all(axis=None)


def test_brute_force_no_hidden_value_is_unique():
    """Enumerate all fills of the hidden cells consistent with the totals: none is pinned."""
    df = pd.DataFrame({"g": ["a", "b", "T"], "x": [3, 14, 17], "y": [12, 13, 25]})
    df["t"] = df.x + df.y
    kw = dict(row_total_col="t", total_row_label="T", label_col="g")
    out, _ = suppress_small_cells(df, ["x", "y"], **kw)
    grid = out[["x", "y", "t"]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    holes = list(zip(*np.nonzero(np.isnan(grid))))
    assert holes
    fills = np.array(list(itertools.product(range(0, 30), repeat=len(holes))), dtype=float)
    g = np.broadcast_to(grid, (len(fills),) + grid.shape).copy()
    for k, (i, j) in enumerate(holes):
        g[:, i, j] = fills[:, k]
    rows_ok = np.isclose(g[:, :, :2].sum(axis=2), g[:, :, 2]).all(axis=1)
    cols_ok = np.isclose(g[:, :2].sum(axis=1), g[:, 2]).all(axis=1)
    sols = fills[rows_ok & cols_ok]
    assert len(sols) > 1
    truth = np.array([df[["x", "y", "t"]].to_numpy()[i, j] for i, j in holes])
    assert (sols == truth).all(axis=1).any()  # the true values are among the solutions
    assert all(len(set(sols[:, k])) > 1 for k in range(len(holes)))


def _bridge_table():
    """4x4 counts + totals; small cells form two 2x2 cycles joined by one bridge cell (0, 2)."""
    small = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)}
    grid = np.array([[5 if (i, j) in small else 50 + 10 * i + j for j in range(4)] for i in range(4)])
    df = pd.DataFrame(grid, columns=list("abcd"))
    df["tot"] = df.sum(axis=1)
    df.loc[4] = df.sum()
    return df, small


def test_chain_of_totals_is_caught_even_when_every_line_hides_two():
    df, small = _bridge_table()
    naive = df.astype("Float64")
    for i, j in small:
        naive.iloc[i, j] = pd.NA
    # every row and column hides 0 or at least 2 cells, yet the bridge is derivable
    assert _subtraction_leaks(naive, list("abcd"), "tot") == []
    assert find_recoverable_cells(naive, list("abcd"), row_total_col="tot", total_row_label=4) == [(0, "c")]
    out, n = suppress_small_cells(df, list("abcd"), row_total_col="tot", total_row_label=4)
    assert n > len(small)
    assert find_recoverable_cells(out, list("abcd"), row_total_col="tot", total_row_label=4) == []


def test_bad_total_row_label():
    df = pd.DataFrame({"g": ["a", "b"], "x": [1, 2]})
    with pytest.raises(ValueError, match="total row"):
        suppress_small_cells(df, ["x"], total_row_label="Total", label_col="g")


# --------------------------------------------------------------------------- publication audit


@pytest.mark.parametrize(
    "name, expected",
    [("n", True), ("N", True), ("n_events", True), ("bene_n", True), ("count", True), ("claim_count", True),
     ("Events", True), ("N treated", True), ("mean", False), ("region", False), ("estimate", False),
     ("pct", False), ("events_rate", False)],
)  # fmt: skip
def test_count_column_convention(name, expected):
    assert is_count_column(name) is expected


def test_check_published_outputs_flags_identifiers_and_small_counts(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"NPI": ["1234567893", "1987654321"], "label": ["x", "y"], "n": [3, 40]}).to_csv(bad, index=False)
    problems = check_published_outputs(bad)
    text = "\n".join(problems)
    assert "identifier column 'NPI'" in text
    assert "NPI-like" in text
    assert "count column 'n', data row 1" in text
    assert "1234567893" not in text  # messages do not echo identifiers
    # an NPI-looking value hidden in an innocent column is caught too
    sneaky = tmp_path / "sneaky.csv"
    pd.DataFrame({"label": ["org 1234567893"], "estimate": [1.5]}).to_csv(sneaky, index=False)
    assert any("NPI-like" in p for p in check_published_outputs(sneaky))


def test_check_published_outputs_passes_clean_directory(tmp_path):
    sub = tmp_path / "tables"
    sub.mkdir()
    pd.DataFrame(
        {"arm": ["treatment", "control"], "n": [0, 1520], "events": ["<11", 34], "spending": [1234567890.12, 12.5]}
    ).to_csv(sub / "clean.csv", index=False)
    (sub / "clean.md").write_text("| arm | n |\n|---|---:|\n| T | 1520 |\n\nRun 2024-06-30, 90% CI.\n")
    (sub / "clean.html").write_text('<p>ok</p><img src="data:image/png;base64,AAAA/B1234567890+QQ==">')
    assert check_published_outputs(tmp_path) == []
    assert_publishable([tmp_path])


def test_text_files_scanned_for_identifiers(tmp_path):
    (tmp_path / "r.md").write_text("intro\nbeneficiary B0000012345 had an event\n")
    (tmp_path / "r.html").write_text("<td>12-3456789</td>")
    problems = check_published_outputs(tmp_path)
    assert any("r.md: line 2" in p and "BENE_ID" in p for p in problems)
    assert any("r.html" in p and "TIN" in p for p in problems)


def test_assert_publishable_message(tmp_path):
    for k in range(4):
        pd.DataFrame({"n_events": [1, 2, 3], "BENE_ID": ["a", "b", "c"]}).to_csv(tmp_path / f"t{k}.csv", index=False)
    with pytest.raises(PublicationError) as info:
        assert_publishable(tmp_path, max_examples=3)
    err = info.value
    assert isinstance(err, ValueError)
    assert len(err.problems) == 16
    msg = str(err)
    assert msg.startswith("16 publication problem(s)")
    assert "... and 13 more" in msg
    assert msg.count("\n  - ") == 3


def test_missing_path_is_a_problem(tmp_path):
    assert check_published_outputs(tmp_path / "nope.csv") == [f"{tmp_path / 'nope.csv'}: does not exist"]
