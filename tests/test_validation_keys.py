"""Keys of the large (yearly) inputs across their files: a key shared by different rows is an error
naming each file and its rows; exact duplicate claim lines are counted, not errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mheval.contract import InputValidationError, validate_inputs


def _year_files(d: Path, sub: str) -> list[Path]:
    return sorted((d / sub).glob("*.parquet"))


def _append(path: Path, rows: pd.DataFrame) -> None:
    df = pd.read_parquet(path)
    pd.concat([df, rows], ignore_index=True).to_parquet(path, index=False)


@pytest.fixture()
def data(tiny, tmp_path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(tiny, d)
    return d


def _key_problems(d: Path) -> list:
    with pytest.raises(InputValidationError) as info:
        validate_inputs(d)
    return [p for p in info.value.problems if "duplicate key" in p.rule]


def test_exact_duplicate_lines_are_counted_not_errors(tiny, data):
    clean = validate_inputs(tiny)["mess"]["duplicate_claim_lines"]
    f = _year_files(data, "claims/carrier_line")[-2]
    lines = pd.read_parquet(f)
    _append(f, pd.concat([lines.head(2), lines.head(1)]))  # line 0 three times, line 1 twice: 3 extra copies
    report = validate_inputs(data)
    assert report["mess"]["duplicate_claim_lines"]["carrier_line"] == clean["carrier_line"] + 3
    assert report["mess"]["duplicate_claim_lines"]["outpatient_revenue"] == clean["outpatient_revenue"]
    assert report["rows"]["carrier_line"] == validate_inputs(tiny)["rows"]["carrier_line"] + 3


def test_a_line_key_with_two_different_rows_is_an_error(data):
    f = _year_files(data, "claims/carrier_line")[-2]
    lines = pd.read_parquet(f)
    line = lines.head(1)
    # an exact copy (documented mess) and a different row under the same key: two distinct rows
    _append(f, pd.concat([line, line.assign(LINE_NCH_PMT_AMT=line["LINE_NCH_PMT_AMT"] + 1)]))
    found = _key_problems(data)
    assert len(found) == 1
    p = found[0]
    assert p.file == str(f) and p.column == "CLM_ID+LINE_NUM" and p.n_rows == 2
    assert p.examples == [f"{line['CLM_ID'].iloc[0]}/{line['LINE_NUM'].iloc[0]}"]


def test_a_claim_in_two_year_files_names_both(data):
    a, b = _year_files(data, "claims/carrier")[-3:-1]
    claim = pd.read_parquet(a).head(1)
    _append(b, claim)  # the same claim (identical row) again in the next year's file: an error for a base claim
    found = _key_problems(data)
    assert sorted(p.file for p in found) == sorted([str(a), str(b)])
    assert all(p.column == "CLM_ID" and p.n_rows == 1 and p.examples == [str(claim["CLM_ID"].iloc[0])] for p in found)


def test_an_enrollment_year_twice_is_an_error(data):
    f = _year_files(data, "medicare/mbsf")[-1]
    rows = pd.read_parquet(f).head(2)
    _append(f, rows)
    found = _key_problems(data)
    assert len(found) == 1 and found[0].file == str(f) and found[0].n_rows == 4
    assert found[0].column == "BENE_ID+BENE_ENROLLMT_REF_YR"
    assert sorted(found[0].examples) == sorted(f"{b}/{y}" for b, y in zip(rows["BENE_ID"], rows["BENE_ENROLLMT_REF_YR"]))
