"""Scan-log reader: both layouts, known values, errors."""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.echem import read_scan_log
from phasetrace.errors import EchemError


def test_contract_log(tmp_path):
    path = tmp_path / "scan_log.csv"
    path.write_text("file,start_time_s,end_time_s\nscan_0000.xye,0.0,659.3\nscan_0001.xye,679.7,1338.9\n")
    log = read_scan_log(path)
    assert log["file"].values.tolist() == ["scan_0000.xye", "scan_0001.xye"]
    assert log["start_time_s"].values.tolist() == [0.0, 679.7]
    assert log["end_time_s"].values.tolist() == [659.3, 1338.9]
    assert log.attrs["clock"] == "seconds" and log.attrs["time_origin"] == ""
    assert log["datetime_start"].values.tolist() == ["", ""]


@pytest.mark.shared
def test_datalab_log(shared):
    folder = shared("data", "operando_coincell_datalab", "Log")
    log = read_scan_log(next(folder.glob("*.csv")))
    assert log.sizes["scan"] == 5
    assert log["scan_number"].values.tolist() == ["1355639", "1355647", "1355655", "1355663", "1355671"]
    assert log["file"].values.tolist() == [""] * 5
    assert log.attrs["clock"] == "datetime"
    assert log.attrs["time_origin"] == "2025-07-02T19:05:59.614000"
    assert log["datetime_start"].values[1] == "2025-07-02T19:15:03.582000"
    assert log["datetime_end"].values[4] == "2025-07-02T19:43:13.916000"
    # 19:05:59.614 → 19:15:03.582 is 543.968 s; first scan lasts 56.553 s
    assert log["start_time_s"].values[1] == pytest.approx(543.968)
    assert log["end_time_s"].values[0] == pytest.approx(56.553)


def test_missing_columns_named(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("file,start_time_s\na.xye,0\n")
    with pytest.raises(EchemError, match=r"log.csv: scan log lacks column\(s\) end_time_s"):
        read_scan_log(path)


def test_end_before_start(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("file,start_time_s,end_time_s\na.xye,0,10\nb.xye,30,20\n")
    with pytest.raises(EchemError, match=r"row\(s\) 2 end before they start"):
        read_scan_log(path)


def test_bad_datetime(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("scan_number,start_time,end_time\n7,yesterday,today\n")
    with pytest.raises(EchemError, match="cannot read the date-time 'yesterday'"):
        read_scan_log(path)


def test_missing_file(tmp_path):
    with pytest.raises(EchemError, match="scan log not found"):
        read_scan_log(tmp_path / "none.csv")


def test_datetimes_with_offsets(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("file,start_time,end_time\n"
                    "a.xye,2025-07-02T19:00:00+01:00,2025-07-02T19:01:00+01:00\n"
                    "b.xye,2025-07-02T18:30:00+00:00,2025-07-02T18:31:00+00:00\n")
    log = read_scan_log(path)
    # 18:30 UTC is 30 min after 19:00+01:00 (= 18:00 UTC)
    assert np.allclose(log["start_time_s"].values, [0.0, 1800.0])


def test_empty_time_cell(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("file,start_time_s,end_time_s\na.xye,0,10\nb.xye,,30\n")
    with pytest.raises(EchemError, match=r"column 'start_time_s' is empty in row\(s\) 2"):
        read_scan_log(path)
