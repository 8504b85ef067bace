"""Input layouts: the DE-SynPUF and CCW adapters rule by rule on hand-written rows, round trips of a
tiny synthetic trial (contract -> layout files -> adapter -> contract), and messages that name the
original file and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.contract import InputError, InputValidationError, read_input
from mheval.contract.layouts import Provenance, source_files, stage_inputs
from mheval.contract.layouts.desynpuf import PART_D_PLACEHOLDER
from mheval.synth import generate_trial
from mheval.synth.__main__ import main as synth_main

SAMPLE = Path(__file__).parent / "data" / "desynpuf"


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("staged")
    stage_inputs("desynpuf", SAMPLE, out, {"claims": {"processing_lag_days": 7}})
    return out


def _read(staged: Path, name: str) -> pd.DataFrame:
    return read_input(staged, name)


def test_files_are_found_anywhere_under_the_data_dir_by_their_cms_names():
    names = {p.name for p in source_files("desynpuf", SAMPLE)}
    assert "DE1_0_2010_Beneficiary_Summary_File_Sample_1.csv" in names  # in a subdirectory
    assert {"DE1_0_2008_to_2010_Carrier_Claims_Sample_1A.csv", "DE1_0_2008_to_2010_Carrier_Claims_Sample_1B.csv"} <= names


def test_two_segments_sharing_a_claim_id_are_merged_into_one_claim(staged):
    ip = _read(staged, "inpatient").set_index("CLM_ID")
    c = ip.loc["196661176988405"]
    assert len(ip) == 2  # three rows, two claims
    assert (c["CLM_FROM_DT"], c["CLM_THRU_DT"]) == (pd.Timestamp("2008-12-20"), pd.Timestamp("2009-01-10"))
    assert c["CLM_PMT_AMT"] == 5000.0 and c["CLM_ADMSN_DT"] == pd.Timestamp("2008-12-20")
    assert c["NCH_BENE_DSCHRG_DT"] == pd.Timestamp("2009-01-10") and c["CLM_DRG_CD"] == "280"
    # principal: the first segment's first code; then distinct codes in segment and position order
    assert c["PRNCPAL_DGNS_CD"] == "41071"
    assert [c[f"ICD_DGNS_CD{i}"] for i in range(1, 6)] == ["41071", "4280", "0389", "V5869", None]
    # filed by the merged through date; processing date = through date + the configured lag
    assert (staged / "claims" / "inpatient" / "inpatient_2009.parquet").exists()
    assert not (staged / "claims" / "inpatient" / "inpatient_2008.parquet").exists()
    assert c["NCH_WKLY_PROC_DT"] == pd.Timestamp("2009-01-17") and c["NCH_CLM_TYPE_CD"] == "60"
    assert ip.loc["000003918726401", "CLM_PMT_AMT"] == -100.0  # a negative adjustment is read as it is


def test_yearly_month_counts_become_months_counted_back_from_december_or_death(staged):
    mb = _read(staged, "mbsf").set_index(["BENE_ID", "BENE_ENROLLMT_REF_YR"])

    def months(bene, year, prefix):
        return "".join(mb.loc[(bene, year), f"{prefix}_{m:02d}"] for m in range(1, 13))

    # new entrant in 2008: Part A 4 months, Part B 3, Medicare Advantage 2, counted back from December
    assert months("00024B3D2352D2D0", 2008, "MDCR_ENTLMT_BUYIN_IND") == "000000001333"
    assert months("00024B3D2352D2D0", 2008, "HMO_IND") == "000000000011"
    # died 2009-06-15 with 12 months of A and B reported: capped at the six months alive, ending in June
    assert months("0001FDD721E223DC", 2009, "MDCR_ENTLMT_BUYIN_IND") == "333333000000"
    ptd = [mb.loc[("0001FDD721E223DC", 2009), f"PTD_CNTRCT_ID_{m:02d}"] for m in range(1, 13)]
    assert ptd == [PART_D_PLACEHOLDER] * 6 + ["0"] * 6
    assert mb.loc[("0001FDD721E223DC", 2009), "BENE_DEATH_DT"] == pd.Timestamp("2009-06-15")
    assert pd.isna(mb.loc[("00013D2EFD8E45D1", 2008), "BENE_DEATH_DT"])  # empty death date is missing
    assert mb.loc[("0001FDD721E223DC", 2008), "ESRD_IND"] == "Y" and mb.loc[("00013D2EFD8E45D1", 2008), "ESRD_IND"] == "0"
    assert mb.loc[("00024B3D2352D2D0", 2008), "BENE_RACE_CD"] == "5" and mb.loc[("0001FDD721E223DC", 2008), "BENE_SEX_IDENT_CD"] == "2"
    assert mb["DUAL_STUS_CD_01"].isna().all() and mb["MDCR_STATUS_CODE_01"].isna().all()  # unknown, not "not dual"
    assert sorted(set(mb.index.get_level_values(1))) == [2008, 2009, 2010]  # the year in each file's name


def test_identifiers_codes_and_npis_keep_their_leading_zeros(staged):
    pde = _read(staged, "pde").set_index("PDE_ID")
    assert pde.loc["233004438287741", "PROD_SRVC_ID"] == "00093505601"
    assert "000004438287743" in pde.index and pde["PD_DT"].isna().all()
    assert pde.loc["233004438287741", "SRVC_DT"] == pd.Timestamp("2008-01-10")
    ip = _read(staged, "inpatient").set_index("CLM_ID")
    assert ip.loc["196661176988405", "AT_PHYSN_NPI"] == "0012345678" and ip.loc["196661176988405", "BENE_ID"] == "00013D2EFD8E45D1"
    op = _read(staged, "outpatient")
    assert op["ICD_DGNS_CD2"].tolist() == ["0389"]


def test_carrier_lines_across_the_row_become_a_line_file(staged):
    lines = _read(staged, "carrier_line").sort_values(["CLM_ID", "LINE_NUM"])
    two = lines[lines["CLM_ID"] == "887733065467088"]
    assert two["LINE_NUM"].tolist() == [1, 2] and two["HCPCS_CD"].tolist() == ["99213", "80061"]
    assert two["PRF_PHYSN_NPI"].tolist() == ["0934591040"] * 2 and two["LINE_NCH_PMT_AMT"].tolist() == [60.0, 20.0]
    assert (two["LINE_1ST_EXPNS_DT"] == pd.Timestamp("2008-03-15")).all()
    assert len(lines) == 4  # 2 + 1 + 1 filled lines of 3 x 13 slots
    car = _read(staged, "carrier").set_index("CLM_ID")
    assert car.loc["887733065467088", "CLM_PMT_AMT"] == 80.0 and car.loc["887733065467088", "NCH_CLM_TYPE_CD"] == "71"
    assert car.loc["887923385646798", "CLM_PMT_AMT"] == -10.0
    # a claim ending in 2009 and its line are filed in 2009
    assert (lines.loc[lines["CLM_ID"] == "887923385646798", "LINE_NUM"] == 1).all()
    assert "887923385646798" in set(pd.read_parquet(staged / "claims/carrier_line/carrier_line_2009.parquet")["CLM_ID"])


def test_data_dir_is_only_read(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    stage_inputs("desynpuf", data, tmp_path / "staged", {})
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before


def test_a_bad_value_names_the_original_file_and_column(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    f = data / "DE1_0_2008_to_2010_Inpatient_Claims_Sample_1.csv"
    f.write_text(f.read_text().replace(",20090301,20090305,", ",2019-13-45,20090305,"))
    with pytest.raises(InputValidationError) as err:
        stage_inputs("desynpuf", data, tmp_path / "staged", {})
    msg = str(err.value)
    assert f"{f}, column CLM_FROM_DT: 1 row is not a date in the form YYYYMMDD" in msg and "'2019-13-45'" in msg


def test_a_rule_broken_in_a_staged_file_is_reported_in_the_original_names(staged):
    prov = Provenance.of(staged)
    staged_file = staged / "medicare" / "mbsf" / "mbsf_2009.parquet"
    msg = prov.translate(InputError(str(staged_file), "ESRD_IND", 1, ["X"], "has values outside the allowed set")).describe()
    assert msg.startswith(str(SAMPLE / "DE1_0_2009_Beneficiary_Summary_File_Sample_1.csv"))
    assert "column BENE_ESRD_IND (contract column ESRD_IND): 1 row has values outside" in msg
    lines = prov.translate(InputError(str(staged / "claims/carrier_line/carrier_line_*.parquet"), "HCPCS_CD", 2, [], "bad"))
    assert "Carrier_Claims_Sample_1A.csv" in lines.file and "Carrier_Claims_Sample_1B.csv" in lines.file
    assert lines.column.startswith("HCPCS_CD_n")


def test_validation_of_staged_files_names_the_original_file_and_column(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    f = data / "DE1_0_2009_Beneficiary_Summary_File_Sample_1.csv"
    f.write_text(f.read_text().replace("0001FDD721E223DC,19360901,20090615,2,", "0001FDD721E223DC,19360901,20090615,7,"))
    stage_inputs("desynpuf", data, tmp_path / "staged", {})
    from mheval.contract import validate_inputs
    from mheval.contract.layouts import in_original_names

    with pytest.raises(InputValidationError) as err:
        validate_inputs(tmp_path / "staged")
    named = in_original_names(err.value, tmp_path / "staged")
    line = next(p.describe() for p in named.problems if p.column and p.column.startswith("BENE_SEX_IDENT_CD"))
    assert str(f) in line and "1 row" in line
    # the same record in the form validate_inputs(provenance=...) takes
    mapping = Provenance.of(tmp_path / "staged").mapping()
    assert mapping["medicare/mbsf/mbsf_2009.parquet"] == str(f)
    assert mapping[("medicare/mbsf/mbsf_2009.parquet", "ESRD_IND")] == "BENE_ESRD_IND"


def test_the_finder_gives_the_original_files_of_each_contract_input():
    from mheval.contract.layouts import input_finder

    find = input_finder("desynpuf", SAMPLE)
    assert [p.name for p in find("carrier_line")] == ["DE1_0_2008_to_2010_Carrier_Claims_Sample_1A.csv",
                                                      "DE1_0_2008_to_2010_Carrier_Claims_Sample_1B.csv"]
    assert len(find("mbsf")) == 3 and find("snf") == [] and find("outpatient_revenue") == []


# ---------------------------------------------------------------- round trips ----------
@pytest.fixture(scope="module")
def trial(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contract")
    generate_trial(out, scale=0.0015, seed=5)
    return out


def test_the_contract_layout_is_validated_in_place(trial, tmp_path):
    prov = stage_inputs("contract", trial, tmp_path / "unused", {})
    assert not (tmp_path / "unused").exists() and Provenance.of(trial) is None  # nothing written anywhere
    assert prov.files["registry/alignment.parquet"] == [str(trial / "registry" / "alignment.parquet")]
    assert len(source_files("contract", trial)) == len(prov.files) > 20


def _monthly(mb: pd.DataFrame) -> pd.DataFrame:
    rows = {"BENE_ID": mb["BENE_ID"], "YEAR": mb["BENE_ENROLLMT_REF_YR"].astype(int)}
    for m in range(1, 13):
        buy, hmo, ptd = (mb[f"{p}_{m:02d}"].fillna("") for p in ("MDCR_ENTLMT_BUYIN_IND", "HMO_IND", "PTD_CNTRCT_ID"))
        rows[f"AB_{m}"] = buy.isin(["3", "C"]) & hmo.isin(["0", "4"])
        rows[f"D_{m}"] = ~ptd.isin(["0", "N", "X", "*", ""])
    for c in ("BENE_BIRTH_DT", "BENE_DEATH_DT", "BENE_SEX_IDENT_CD", "BENE_RACE_CD", "ESRD_IND"):
        rows[c] = mb[c]
    return pd.DataFrame(rows).sort_values(["BENE_ID", "YEAR"]).reset_index(drop=True)


def _claims(df: pd.DataFrame, n_dx: int) -> pd.DataFrame:
    out = df.assign(CLM_ID=df["CLM_ID"].astype(str))
    dx = out[[c for c in out.columns if c.startswith("ICD_DGNS_CD") and int(c[11:]) <= n_dx]]
    out["DX"] = [frozenset(v for v in row if isinstance(v, str)) for row in dx.itertuples(index=False)]
    keep = ["CLM_ID", "BENE_ID", "CLM_FROM_DT", "CLM_THRU_DT", "CLM_PMT_AMT", "PRNCPAL_DGNS_CD", "DX"]
    keep += [c for c in ("CLM_ADMSN_DT", "NCH_BENE_DSCHRG_DT", "CLM_DRG_CD") if c in out.columns]
    out = out[keep].sort_values("CLM_ID").reset_index(drop=True)
    out["CLM_PMT_AMT"] = out["CLM_PMT_AMT"].round(2)
    return out


@pytest.fixture(scope="module")
def desynpuf_round_trip(trial, tmp_path_factory):
    files = tmp_path_factory.mktemp("desynpuf")
    assert synth_main(["--scale", "0.0015", "--seed", "5", "--out", str(files), "--layout", "desynpuf"]) == 0
    staged = tmp_path_factory.mktemp("staged_desynpuf")
    prov = stage_inputs("desynpuf", files, staged, {"claims": {"processing_lag_days": 21}})
    return files, staged, prov


def test_the_generator_writes_the_desynpuf_layout(desynpuf_round_trip):
    files = {p.name for p in desynpuf_round_trip[0].rglob("*.csv")}
    assert "DE1_0_2017_Beneficiary_Summary_File_Sample_1.csv" in files
    assert any(n.endswith("_Carrier_Claims_Sample_1B.csv") for n in files)
    assert not (desynpuf_round_trip[0] / "claims").exists()  # no contract claims: only DE-SynPUF files
    assert not (desynpuf_round_trip[0] / "ndi").exists()  # DE-SynPUF has no cause of death


def test_desynpuf_round_trip_gives_back_the_analysis_data(trial, desynpuf_round_trip):
    _, staged, prov = desynpuf_round_trip
    assert prov.counts["inpatient_claims_with_several_segments"] > 5
    pd.testing.assert_frame_equal(_monthly(read_input(staged, "mbsf")), _monthly(read_input(trial, "mbsf")))
    for name, n_dx in (("inpatient", 10), ("outpatient", 10)):
        got, want = read_input(staged, name), read_input(trial, name)
        pd.testing.assert_frame_equal(_claims(got, n_dx), _claims(want, n_dx))
        lag = (got["NCH_WKLY_PROC_DT"] - got["CLM_THRU_DT"]).dt.days
        assert (lag == 21).all()  # the documented rule; DE-SynPUF has no processing date
    car_got, car_want = read_input(staged, "carrier"), read_input(trial, "carrier")
    pd.testing.assert_frame_equal(_claims(car_got, 8), _claims(car_want, 8))
    cols = ["CLM_ID", "LINE_NUM", "BENE_ID", "PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_NCH_PMT_AMT", "LINE_1ST_EXPNS_DT"]
    want_lines = read_input(trial, "carrier_line").astype({"CLM_ID": str})[cols].drop_duplicates()
    got_lines = read_input(staged, "carrier_line")[cols]
    pd.testing.assert_frame_equal(got_lines.sort_values(cols[:2]).reset_index(drop=True),
                                  want_lines.sort_values(cols[:2]).reset_index(drop=True))
    pcols = ["PDE_ID", "BENE_ID", "SRVC_DT", "PROD_SRVC_ID", "QTY_DSPNSD_NUM", "DAYS_SUPLY_NUM", "TOT_RX_CST_AMT"]
    pde_want = read_input(trial, "pde").astype({"PDE_ID": str})[pcols].sort_values("PDE_ID").reset_index(drop=True)
    pde_got = read_input(staged, "pde")[pcols].sort_values("PDE_ID").reset_index(drop=True)
    pd.testing.assert_frame_equal(pde_got, pde_want, check_dtype=False)
    for name in ("alignment", "organizations", "payments"):
        pd.testing.assert_frame_equal(read_input(staged, name), read_input(trial, name))


@pytest.mark.parametrize("fmt", ["csv"])
def test_ccw_round_trip_gives_back_every_contract_file(trial, tmp_path, fmt):
    from mheval.contract import FILES
    from mheval.synth.layouts import write_layout

    write_layout(trial, "ccw", tmp_path / "ccw", fmt=fmt)
    assert (tmp_path / "ccw" / f"mbsf_abcd_summary_2017.{fmt}").exists()
    assert (tmp_path / "ccw" / "ndi" / "cause_of_death.parquet").exists()  # the NDI file, in the contract's form
    stage_inputs("ccw", tmp_path / "ccw", tmp_path / "staged", {})
    for s in FILES:
        want = read_input(trial, s.name) if s.name != "survey" or (trial / "cms/survey.parquet").exists() else None
        got = read_input(tmp_path / "staged", s.name)
        for c in want.columns:
            w, g = want[c], got[c]
            if s.col(c).type == "id" if c in {x.name for x in s.columns} else False:
                w, g = w.astype(str), g.astype(str)
            np.testing.assert_array_equal(g.to_numpy(), w.to_numpy(), err_msg=f"{s.name}.{c}")


def _ccw_mbsf_row(year_dates: str) -> str:
    months = ",".join(["3"] * 12 + ["0"] * 12 + ["S1234"] * 12 + ["00"] * 12 + ["10"] * 12)
    return f"0001234567,{year_dates},1,2,0,12,12,0,{months}\n"


def test_ccw_files_any_case_sas_dates_and_the_year_from_the_name(tmp_path):
    cols = ["bene_id", "bene_birth_dt", "bene_death_dt", "sex_ident_cd", "bene_race_cd", "esrd_ind",
            "bene_hi_cvrage_tot_mons", "bene_smi_cvrage_tot_mons", "bene_hmo_cvrage_tot_mons"]
    for p in ("MDCR_ENTLMT_BUYIN_IND", "HMO_IND", "PTD_CNTRCT_ID", "DUAL_STUS_CD", "MDCR_STATUS_CODE"):
        cols += [f"{p}_{m:02d}".lower() for m in range(1, 13)]
    data = tmp_path / "ccw" / "2017"
    data.mkdir(parents=True)
    (data / "MBSF_ABCD_SUMMARY_2017.csv").write_text(",".join(cols) + "\n" + _ccw_mbsf_row("15JAN1950,"))
    stage_inputs("ccw", tmp_path / "ccw", tmp_path / "staged", {})
    mb = read_input(tmp_path / "staged", "mbsf")
    assert mb.loc[0, "BENE_ID"] == "0001234567" and mb.loc[0, "BENE_ENROLLMT_REF_YR"] == 2017
    assert mb.loc[0, "BENE_BIRTH_DT"] == pd.Timestamp("1950-01-15") and pd.isna(mb.loc[0, "BENE_DEATH_DT"])
    assert mb.loc[0, "BENE_SEX_IDENT_CD"] == "1" and mb.loc[0, "DUAL_STUS_CD_01"] == "00"
    (data / "MBSF_ABCD_SUMMARY_2017.csv").write_text(",".join(cols) + "\n" + _ccw_mbsf_row("31FEB1950,"))
    with pytest.raises(InputValidationError) as err:
        stage_inputs("ccw", tmp_path / "ccw", tmp_path / "staged", {})
    assert f"{data / 'MBSF_ABCD_SUMMARY_2017.csv'}, column BENE_BIRTH_DT: 1 row is not a date" in str(err.value)
