"""Cycler-file readers: known values of real and hand-made files, and error messages."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from phasetrace.echem import read_echem
from phasetrace.echem._record import derive_cycle
from phasetrace.errors import AlignmentWarning, EchemError

REQUIRED_VARS = ("time_s", "voltage_V", "current_mA", "capacity_mAh_g", "capacity_mAh", "cycle", "direction")


def _check_record(rec):
    for name in REQUIRED_VARS:
        assert name in rec and rec[name].dims == ("record",)
    assert rec["time_s"].values[0] == 0.0
    assert np.all(np.diff(rec["time_s"].values) >= 0)
    assert rec["cycle"].values.min() == 1
    assert set(np.unique(rec["direction"].values)) <= {"charge", "discharge", "rest"}


# -- phasetrace CSV --------------------------------------------------------------------------
def test_contract_csv_values(cycle_csv):
    rec = read_echem(cycle_csv)
    _check_record(rec)
    assert rec.sizes["record"] == 1141
    assert rec["voltage_V"].values[[0, 420, 780]] == pytest.approx([3.0, 4.2, 3.0])
    assert rec["capacity_mAh_g"].values[-1] == pytest.approx(3 * 0.5 / 5e-3, rel=1e-9)  # 300 mAh/g
    # net charge integrated from the current: +0.5 mAh, −0.5 mAh, +0.5 mAh
    assert rec["capacity_mAh"].values[420] == pytest.approx(0.5, abs=2e-3)
    assert rec["capacity_mAh"].values[-1] == pytest.approx(0.5, abs=2e-3)
    # charge (cycle 1), discharge (cycle 1), charge again → cycle 2
    assert rec["cycle"].values[[0, 400, 700, 900]].tolist() == [1, 1, 1, 2]
    assert rec["direction"].values[[10, 400, 700, 900]].tolist() == ["rest", "charge", "discharge", "charge"]
    assert rec.attrs["start_datetime"] == "" and rec.attrs["format"] == "csv"
    assert rec.attrs["current_sign_flipped"] == 0


def test_csv_time_offset_kept(tmp_path, csv_writer):
    t = np.arange(1000.0, 1100.0, 10.0)
    path = csv_writer(tmp_path / "e.csv", "time_s,voltage_V", np.column_stack([t, 3 + t / 1e4]))
    rec = read_echem(path)
    assert rec["time_s"].values[-1] == pytest.approx(90.0)
    assert rec.attrs["time_offset_s"] == pytest.approx(1000.0)
    assert np.all(np.isnan(rec["current_mA"].values)) and np.all(np.isnan(rec["capacity_mAh_g"].values))


def test_reversed_current_sign_is_flipped(tmp_path, cycle_csv):
    text = cycle_csv.read_text().splitlines()
    rows = [line.split(",") for line in text[1:]]
    flipped = [",".join([r[0], r[1], str(-float(r[2])), r[3]]) for r in rows]
    path = tmp_path / "reversed.csv"
    path.write_text("\n".join([text[0]] + flipped) + "\n")
    with pytest.warns(AlignmentWarning, match="opposite sign convention"):
        rec = read_echem(path)
    assert rec.attrs["current_sign_flipped"] == 1
    assert rec["current_mA"].values[400] == pytest.approx(0.5)
    assert rec["direction"].values[400] == "charge"


def test_direction_from_voltage_slope_without_current(tmp_path, csv_writer):
    t = np.arange(0.0, 3 * 7200.0 + 1, 30.0)
    v = np.interp(t, [0, 7200, 14400, 21600], [3.0, 4.0, 3.0, 4.0])   # 1.4e-4 V/s
    rec = read_echem(csv_writer(tmp_path / "v.csv", "time_s,voltage_V", np.column_stack([t, v])))
    assert rec.attrs["direction_source"] == "dV/dt"
    i_charge, i_dis, i_charge2 = np.searchsorted(t, [3600, 10800, 18000])
    assert rec["direction"].values[[i_charge, i_dis, i_charge2]].tolist() == ["charge", "discharge", "charge"]
    assert rec["cycle"].values[[i_charge, i_dis, i_charge2]].tolist() == [1, 1, 2]


def test_derive_cycle_starting_with_discharge():
    codes = np.array([0, -1, -1, 0, 1, 1, -1, 0, 1, -1])
    assert derive_cycle(codes).tolist() == [1, 1, 1, 1, 1, 1, 2, 2, 2, 3]


@pytest.mark.shared
def test_arbin_csv(shared):
    rec = read_echem(shared("data", "formats_datalab", "echem", "arbin_example.bdf.csv"))
    _check_record(rec)
    assert rec.attrs["format"] == "arbin-csv"
    assert rec.sizes["record"] == 2150
    assert rec["voltage_V"].values[0] == pytest.approx(3.8591957)
    assert rec.attrs["time_offset_s"] == pytest.approx(0.072595419795086)
    assert rec.attrs["start_datetime"] == "2023-07-24T18:50:00"   # spreadsheet day 45131.784722
    assert rec["cycle"].values.max() == 5                          # Cycle_Index 1..5
    # Arbin's Current is in A: 8.66e-5 A = 0.0866 mA, and 0.48 mAh charged over ~5.6 h agrees
    assert np.nanmax(np.abs(rec["current_mA"].values)) == pytest.approx(0.086583874, rel=1e-6)
    assert rec.attrs["current_sign_flipped"] == 0


# -- BioLogic ------------------------------------------------------------------------------------
@pytest.mark.shared
def test_biologic_mpr(shared):
    rec = read_echem(shared("data", "formats_datalab", "echem",
                            "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"))
    _check_record(rec)
    assert rec.sizes["record"] == 46102
    assert rec.attrs["start_datetime"] == "2020-10-26T12:49:58"
    assert rec["voltage_V"].values[0] == pytest.approx(2.508576, abs=1e-6)
    assert rec["time_s"].values[-1] == pytest.approx(456309.586, abs=1e-2)
    # no I/mA column: current = P/Ewe; the GCPL set point is ±0.0888 mA
    assert np.nanmax(rec["current_mA"].values) == pytest.approx(0.0888, abs=2e-4)
    assert rec["capacity_mAh"].values[-1] == pytest.approx(0.2761686, abs=1e-6)   # (Q-Qo)/mA.h
    assert rec.attrs["current_sign_flipped"] == 0
    # first step: 1 h rest, then discharge 2.5 → 2.0 V
    assert rec["direction"].values[100] == "rest" and rec["direction"].values[500] == "discharge"


def test_biologic_mpt(data_dir):
    rec = read_echem(data_dir / "gcpl_C03.mpt")
    _check_record(rec)
    assert rec.attrs["format"] == "biologic-mpt"
    assert rec.attrs["start_datetime"] == "2025-07-02T19:08:11"
    assert rec.sizes["record"] == 27
    assert rec["time_s"].values[-1] == 7800.0
    assert rec["capacity_mAh"].values[14] == pytest.approx(0.2)          # 0.72 C after 1 h at 0.2 mA
    assert rec["capacity_mAh_g"].values[14] == pytest.approx(0.2 / 4.2e-3)  # header mass 4.200 mg
    assert rec["direction"].values[[1, 5, 20]].tolist() == ["rest", "charge", "discharge"]
    assert rec["cycle"].values.tolist() == [1] * 27                       # "cycle number" 0 → 1


def test_biologic_mpt_decimal_comma(tmp_path, data_dir):
    text = (data_dir / "gcpl_C03.mpt").read_bytes()
    head, sep, body = text.partition(b"P/W\r\n")
    path = tmp_path / "comma.mpt"
    path.write_bytes(head + sep + body.replace(b".", b","))
    rec = read_echem(path)
    assert rec["voltage_V"].values[14] == pytest.approx(4.1)


def test_biologic_mpt_bad_header(tmp_path):
    path = tmp_path / "bad.mpt"
    path.write_bytes(b"not an EC-Lab file\r\n")
    with pytest.raises(EchemError, match="bad.mpt: not a readable BioLogic .mpt"):
        read_echem(path)


# -- Neware ----------------------------------------------------------------------------------------
@pytest.mark.shared
def test_neware_ndax(shared):
    rec = read_echem(shared("data", "operando_coincell_datalab", "Echem", "cc8.ndax"))
    _check_record(rec)
    assert rec.sizes["record"] == 4647
    assert rec.attrs["start_datetime"] == "2025-07-02T19:08:11"
    # steps: rest 1800 s, charge 21600 s, discharge 18000 s, charge 7200 s, discharge 5577.2 s
    assert rec["time_s"].values[-1] == pytest.approx(1800 + 21600 + 18000 + 7200 + 5577.2, abs=0.01)
    assert rec["voltage_V"].values[0] == pytest.approx(3.098, abs=1e-4)
    assert rec["capacity_mAh"].max() == pytest.approx(1.5017283, abs=1e-5)   # end of first charge
    assert rec["cycle"].values[[0, -1]].tolist() == [1, 2]
    # positive current while the voltage rises: the file follows our convention
    assert rec.attrs["current_sign_flipped"] == 0
    i = int(np.searchsorted(rec["time_s"].values, 1800 + 10000))
    assert rec["current_mA"].values[i] > 0 and rec["direction"].values[i] == "charge"


# -- errors ---------------------------------------------------------------------------------------
def test_missing_voltage_column_is_named(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("time_s,current_mA\n0,1\n10,1\n")
    with pytest.raises(EchemError, match=r"e.csv: no voltage column.*columns are \['time_s', 'current_mA'\]"):
        read_echem(path)


def test_missing_time_column_is_named(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("t,voltage_V\n0,3\n10,3\n")
    with pytest.raises(EchemError, match="no time column"):
        read_echem(path)


def test_non_monotonic_time(tmp_path, csv_writer):
    t = np.array([0.0, 10.0, 20.0, 15.0, 30.0])
    path = csv_writer(tmp_path / "e.csv", "time_s,voltage_V", np.column_stack([t, np.full(5, 3.0)]))
    with pytest.raises(EchemError,
                       match=r"e.csv: time is not monotonic: it goes back from 20 s to 15 s at record 3"):
        read_echem(path)


def test_unitless_current_rejected(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("time_s,voltage_V,Current\n0,3,1\n10,3,1\n")
    with pytest.raises(EchemError, match="'Current' has no unit"):
        read_echem(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(EchemError, match="echem file not found"):
        read_echem(tmp_path / "nope.csv")
    other = tmp_path / "cell.xyz"
    other.write_text("x")
    with pytest.raises(EchemError, match=r"unsupported echem file extension '.xyz'"):
        read_echem(other)


def test_garbage_ndax(tmp_path):
    path = tmp_path / "broken.ndax"
    path.write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(EchemError, match="broken.ndax: not a readable Neware file"):
        read_echem(path)


def test_error_pickles(tmp_path):
    try:
        read_echem(tmp_path / "nope.csv")
    except EchemError as err:
        again = pickle.loads(pickle.dumps(err))
        assert str(again) == str(err) and isinstance(again, ValueError)
