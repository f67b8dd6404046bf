"""Temperature of each scan: --temperature-log files and scan-log temperature columns."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from phasetrace.echem import align, read_scan_log, read_temperature_log
from phasetrace.errors import AlignmentWarning, EchemError


def _ramp_log(tmp_path, csv_writer, name="furnace.csv", unit="K"):
    """A furnace log every 10 s from 0 to 1000 s: T = 300 K + 0.5 K/s · t (or in °C)."""
    t = np.arange(0.0, 1001.0, 10.0)
    temp = 300.0 + 0.5 * t
    if unit == "C":
        temp = temp - 273.15
    return csv_writer(tmp_path / name, f"time_s,temperature_{unit}", np.column_stack([t, temp]))


def test_celsius_log_is_read_in_kelvin(tmp_path, csv_writer):
    log = read_temperature_log(_ramp_log(tmp_path, csv_writer, unit="C"))
    assert log.attrs["clock"] == "seconds"
    assert log["temperature_K"].values[[0, -1]] == pytest.approx([300.0, 800.0])


def test_log_interpolated_at_scan_mid_times(tmp_path, csv_writer, make_stack_n):
    path = _ramp_log(tmp_path, csv_writer)
    stack = make_stack_n(3, file=["a", "b", "c"], time_start_s=[100.0, 400.0, 700.0],
                         time_end_s=[200.0, 500.0, 800.0])
    out = align(stack, temperature_log=path)
    # mid-times 150, 450, 750 s → 375, 525, 675 K on the linear ramp
    assert out["temperature_K"].values == pytest.approx([375.0, 525.0, 675.0])
    assert out.attrs["temperature_source"].startswith("temperature log ")


def test_datetime_log_against_header_datetimes(tmp_path, make_stack_n):
    path = tmp_path / "cryostat.csv"
    path.write_text("datetime,temperature_K\n2024-05-01 10:00:00,10\n2024-05-01 11:00:00,310\n")
    stack = make_stack_n(2, file=["a", "b"],
                         datetime_start=["2024-05-01T10:10:00", "2024-05-01T10:40:00"])
    out = align(stack, temperature_log=path)
    # scans start 10:10 and 10:40, end at the next start (last: median interval, 30 min):
    # mid-times 10:25 and 10:55 → 10 + 300·(25/60) = 135 K and 10 + 300·(55/60) = 285 K
    assert out["temperature_K"].values == pytest.approx([135.0, 285.0])


def test_datetime_log_needs_scan_datetimes(tmp_path, make_stack_n):
    path = tmp_path / "cryostat.csv"
    path.write_text("datetime,temperature_K\n2024-05-01 10:00:00,10\n2024-05-01 11:00:00,310\n")
    stack = make_stack_n(1, time_start_s=[0.0], time_end_s=[10.0])
    with pytest.raises(EchemError, match=re.escape(
            f"{path}: the temperature log gives date-times but the scans have no date-time")):
        align(stack, temperature_log=path)


def test_scan_outside_the_log_is_kept_with_nan(tmp_path, csv_writer, make_stack_n):
    path = _ramp_log(tmp_path, csv_writer)
    stack = make_stack_n(3, file=["a", "b", "late"], time_start_s=[100.0, 400.0, 1500.0],
                         time_end_s=[200.0, 500.0, 1600.0])
    with pytest.warns(AlignmentWarning, match=re.escape(
            f"{path}: the temperature log spans 0–1000 s but scan(s) late (mid-time 1550 s) fall "
            "outside it; their temperature is NaN")):
        out = align(stack, temperature_log=path)
    t = out["temperature_K"].values
    assert t[:2] == pytest.approx([375.0, 525.0]) and np.isnan(t[2])


def test_most_scans_outside_the_log_is_an_error(tmp_path, csv_writer, make_stack_n):
    path = _ramp_log(tmp_path, csv_writer)
    stack = make_stack_n(3, file=["a", "b", "c"], time_start_s=[100.0, 5000.0, 6000.0],
                         time_end_s=[200.0, 5100.0, 6100.0])
    with pytest.raises(EchemError, match=re.escape(
            "fall outside it (2 of 3 scans); check the clocks of the temperature log and the scans")):
        align(stack, temperature_log=path)


def test_log_without_temperature_column(tmp_path, csv_writer):
    path = csv_writer(tmp_path / "bad.csv", "time_s,voltage_V", np.array([[0.0, 3.0], [1.0, 3.1]]))
    with pytest.raises(EchemError, match=re.escape(
            f"{path}: temperature log lacks column(s) temperature_K (or temperature_C); "
            "got ['time_s', 'voltage_V']")):
        read_temperature_log(path)


def test_negative_kelvin_is_rejected(tmp_path, csv_writer):
    path = csv_writer(tmp_path / "neg.csv", "time_s,temperature_K", np.array([[0.0, 300.0], [1.0, -5.0]]))
    with pytest.raises(EchemError, match=re.escape(f"{path}: row 2 has a temperature below 0 K")):
        read_temperature_log(path)


def test_scan_log_temperature_column(tmp_path, make_stack_n):
    path = tmp_path / "scan_log.csv"
    path.write_text("file,start_time_s,end_time_s,temperature_C\na.xye,0,10,25\nb.xye,10,20,125.5\n")
    log = read_scan_log(path)
    assert log["temperature_K"].values == pytest.approx([298.15, 398.65])
    stack = make_stack_n(2, file=["a.xye", "b.xye"], temperature_K=[np.nan, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = align(stack, scan_log=path)
    assert out["temperature_K"].values == pytest.approx([298.15, 398.65])


def test_scan_log_without_temperature_keeps_header_values(tmp_path, make_stack_n):
    path = tmp_path / "scan_log.csv"
    path.write_text("file,start_time_s,end_time_s\na.xye,0,10\nb.xye,10,20\n")
    stack = make_stack_n(2, file=["a.xye", "b.xye"], temperature_K=[100.0, 110.0])
    assert align(stack, scan_log=path)["temperature_K"].values.tolist() == [100.0, 110.0]
