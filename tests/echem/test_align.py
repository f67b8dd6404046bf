"""Alignment of scans with the electrochemistry: synthetic truth, real data, shared cases."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import numpy as np
import pytest

from phasetrace.echem import align, read_echem, read_scan_log
from phasetrace.errors import AlignmentWarning, EchemError


def _v_true(t):
    """Voltage of the ``cycle_csv`` fixture at time t (s)."""
    return np.interp(t, [0, 600, 4200, 7800, 11400], [3.0, 3.0, 4.2, 3.0, 4.2])


# -- synthetic truth ---------------------------------------------------------------------------
def test_values_at_mid_time_and_input_unchanged(cycle_csv, make_stack_n):
    start = np.array([100.0, 1995.0, 5000.0, 9000.0])
    stack = make_stack_n(4, time_start_s=start, time_end_s=start + 300.0)
    before = stack.copy(deep=True)
    out = align(stack, read_echem(cycle_csv))
    assert stack.identical(before)                      # input not modified
    mid = start + 150.0
    assert out["time_s"].values.tolist() == mid.tolist()
    assert np.allclose(out["voltage_V"].values, _v_true(mid), atol=1e-9)
    assert out["direction"].values.tolist() == ["rest", "charge", "discharge", "charge"]
    assert out["cycle"].values.tolist() == [1, 1, 1, 2]
    assert out["current_mA"].values.tolist() == [0.0, 0.5, -0.5, 0.5]
    # specific capacity: |I| integrated, 0.5 mA / 5 mg = 100 mAh/g per hour
    assert out["capacity_mAh_g"].values[1] == pytest.approx(100.0 * (mid[1] - 600) / 3600, abs=0.2)
    assert out.attrs["time_source"] == "stack time_start_s"


def test_mean_over_window_differs_at_a_kink(cycle_csv, make_stack_n):
    # window 300–900 s: 3.0 V up to 600 s, then +1/3000 V/s → mean 3.025 V, mid value 3.0 V
    stack = make_stack_n(1, time_start_s=[300.0], time_end_s=[900.0])
    rec = read_echem(cycle_csv)
    assert align(stack, rec)["voltage_V"].values[0] == pytest.approx(3.0)
    assert align(stack, rec, method="mean")["voltage_V"].values[0] == pytest.approx(3.025, abs=1e-9)


def test_scan_log_on_the_file_clock(tmp_path, csv_writer, make_stack_n):
    t = np.arange(1000.0, 5001.0, 10.0)
    echem = csv_writer(tmp_path / "e.csv", "time_s,voltage_V", np.column_stack([t, 3 + (t - 1000) / 4000]))
    log = tmp_path / "log.csv"
    log.write_text("file,start_time_s,end_time_s\nb.xye,3000,3100\na.xye,2000,2100\n")
    stack = make_stack_n(2, file=["data/a.xye", "data/b.xye"], time_start_s=[0.0, 1.0])
    out = align(stack, echem, scan_log=log)
    # log times are on the echem file's clock (starting at 1000 s); matched by base name
    assert out["time_s"].values.tolist() == [1050.0, 2050.0]
    assert out["voltage_V"].values == pytest.approx([3.2625, 3.5125])
    assert out.attrs["time_source"].startswith("scan log")


def test_scan_log_mismatches(tmp_path, cycle_csv, make_stack_n):
    log = tmp_path / "log.csv"
    log.write_text("file,start_time_s,end_time_s\na.xye,0,10\nzzz.xye,20,30\n")
    stack = make_stack_n(2, file=["a.xye", "b.xye"])
    with pytest.raises(EchemError, match=r"log.csv: the scan log names file\(s\) not in the stack: zzz.xye"):
        align(stack, cycle_csv, scan_log=log)
    log.write_text("file,start_time_s,end_time_s\na.xye,0,10\n")
    with pytest.raises(EchemError, match=r"stack file\(s\) missing from the scan log: b.xye"):
        align(stack, cycle_csv, scan_log=log)


def test_absolute_times_in_stack(tmp_path, make_stack_n):
    t0 = dt.datetime(2025, 7, 2, 19, 0, 0)
    lines = ["DateTime,time_s,voltage_V,current_mA"]
    for k in range(361):
        lines.append(f"{(t0 + dt.timedelta(seconds=10 * k)).isoformat()},{10 * k},{3 + k / 1000},0.1")
    path = tmp_path / "e.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = read_echem(path)
    assert rec.attrs["start_datetime"] == "2025-07-02T19:00:00"
    stack = make_stack_n(2, datetime_start=["2025-07-02T19:10:00", "2025-07-02T19:30:00"])
    out = align(stack, rec)
    # ends taken as the next start (last: median interval): windows 600–1800 s and 1800–3000 s
    assert out["time_s"].values.tolist() == [1200.0, 2400.0]
    assert out["voltage_V"].values == pytest.approx([3.12, 3.24])
    assert out.attrs["time_source"] == "stack datetime_start"


def test_even_spacing_warns(cycle_csv, make_stack_n):
    with pytest.warns(AlignmentWarning, match="assumed the 4 scans evenly spaced"):
        out = align(make_stack_n(4), cycle_csv)
    span = 600.0 + 3 * 3600.0
    assert out["time_start_s"].values[0] == 0.0 and out["time_end_s"].values[-1] == span
    assert out["time_s"].values == pytest.approx((np.arange(4) + 0.5) * span / 4)


def test_no_time_source_at_all(make_stack_n):
    with pytest.raises(EchemError, match="cannot place the scans in time"):
        align(make_stack_n(2))


def test_scans_outside_the_record(cycle_csv, make_stack_n):
    stack = make_stack_n(2, file=["a.xye", "late.xye"], time_start_s=[100.0, 20000.0],
                         time_end_s=[200.0, 20100.0])
    with pytest.raises(EchemError,
                       match=r"echem.csv: the echem record spans 0–11400 s but scan\(s\) late.xye"):
        align(stack, cycle_csv, outside="raise")
    with pytest.warns(AlignmentWarning, match="late.xye"):
        out = align(stack, cycle_csv, outside="nan")
    assert out["voltage_V"].values[0] == pytest.approx(3.0) and np.isnan(out["voltage_V"].values[1])
    assert out["cycle"].values.tolist() == [1, 0] and out["direction"].values.tolist() == ["rest", ""]


def test_gap_during_a_scan(tmp_path, csv_writer, make_stack_n):
    t = np.concatenate([np.arange(0.0, 1000.0, 10.0), np.arange(4000.0, 6000.0, 10.0)])
    path = csv_writer(tmp_path / "gap.csv", "time_s,voltage_V,current_mA",
                      np.column_stack([t, 3 + t / 1e4, np.full(t.size, 0.2)]))
    stack = make_stack_n(3, file=["a", "b", "c"], time_start_s=[100.0, 2000.0, 4500.0],
                         time_end_s=[200.0, 2100.0, 4600.0])
    with pytest.warns(AlignmentWarning, match=r"a 3010 s gap at 990–4000 s.*during scan\(s\) b;"):
        out = align(stack, path)
    v = out["voltage_V"].values
    assert v[0] == pytest.approx(3.015) and np.isnan(v[1]) and v[2] == pytest.approx(3.455)
    assert out["direction"].values.tolist() == ["charge", "", "charge"]
    with warnings.catch_warnings():                       # a tolerant threshold: no gap
        warnings.simplefilter("error")
        assert np.isfinite(align(stack, path, max_gap_s=5000)["voltage_V"].values).all()


def test_scans_out_of_order_warn(cycle_csv, make_stack_n):
    stack = make_stack_n(2, time_start_s=[500.0, 100.0], time_end_s=[600.0, 200.0])
    with pytest.warns(AlignmentWarning, match="do not increase"):
        align(stack, cycle_csv)


def test_bad_options(cycle_csv, make_stack_n):
    stack = make_stack_n(1, time_start_s=[0.0])
    with pytest.raises(EchemError, match="method='nearest'"):
        align(stack, cycle_csv, method="nearest")
    with pytest.raises(EchemError, match="outside='clip'"):
        align(stack, cycle_csv, outside="clip")


# -- real data: datalab operando coin cell (Neware .ndax + beamline scan log) --------------------
@pytest.mark.shared
def test_real_coin_cell(shared, xye_stack):
    import NewareNDA

    root = shared("data", "operando_coincell_datalab")
    stack = xye_stack(root / "xrd_data", 0.49)
    assert stack.sizes["scan"] == 5 and stack.sizes["two_theta"] == 16553
    assert stack["two_theta"].values[[0, -1]] == pytest.approx([2.08, 68.312])
    log_path = next((root / "Log").glob("*.csv"))
    ndax = root / "Echem" / "cc8.ndax"
    # the first scan (19:05:59–19:06:56) was taken before the cycler started logging (19:08:11)
    with pytest.raises(EchemError, match=r"scan\(s\) 1355639_summed_mythen3.xye \(mid-time -103 s\)"):
        align(stack, ndax, scan_log=log_path, outside="raise")
    with pytest.warns(AlignmentWarning, match="1355639"):
        out = align(stack, ndax, scan_log=log_path, outside="nan")
    assert out["file"].values.tolist() == sorted(out["file"].values.tolist())
    assert np.all(np.diff(out["time_s"].values) > 0)
    v = out["voltage_V"].values
    assert np.isnan(v[0])
    # independent lookup: NewareNDA timestamps and the log's mid-times, parsed here
    frame = NewareNDA.read(str(ndax))
    t_rec = (frame["Timestamp"] - frame["Timestamp"].iloc[0]).dt.total_seconds().to_numpy()
    log = read_scan_log(log_path)
    starts = [dt.datetime.fromisoformat(s) for s in log["datetime_start"].values]
    ends = [dt.datetime.fromisoformat(s) for s in log["datetime_end"].values]
    t0 = frame["Timestamp"].iloc[0].to_pydatetime()
    mids = np.array([((a - t0) + (b - a) / 2).total_seconds() for a, b in zip(starts, ends)])
    direct = np.interp(mids, t_rec, frame["Voltage"].to_numpy(dtype=float))
    assert out["time_s"].values == pytest.approx(mids, abs=1e-6)
    assert v[1:] == pytest.approx(direct[1:], abs=2e-3)
    vmin, vmax = float(frame["Voltage"].min()), float(frame["Voltage"].max())
    assert np.all((v[1:] >= vmin) & (v[1:] <= vmax))
    # scans 2–4 fall in the opening 30 min rest at open circuit; scan 5 after charging began
    assert out["direction"].values.tolist() == ["", "rest", "rest", "rest", "charge"]
    assert v[1:4] == pytest.approx(3.098, abs=1e-3) and v[4] > 3.2
    assert out["datetime_start"].values[0] == "2025-07-02T19:05:59.614000"


# -- shared cases with known per-scan voltages ---------------------------------------------------
@pytest.mark.shared
@pytest.mark.parametrize("case", ["lit_p2_o2", "t1_row04_p2p3_op4", "t1_row07_p2s_distort"])
def test_shared_case_voltages(shared, make_stack_n, case):
    folder = shared("cases", case)
    files = sorted(p.name for p in (folder / "patterns").glob("*.xye"))
    truth = json.loads((folder / "truth.json").read_text())
    out = align(make_stack_n(len(files), file=files), folder / "echem.csv",
                scan_log=folder / "scan_log.csv")
    expected = np.array([s["voltage"] for s in truth["scans"]])
    assert np.abs(out["voltage_V"].values - expected).max() < 0.02
    assert np.all(np.diff(out["time_s"].values) > 0)
    assert set(out["direction"].values) == {"charge", "discharge"}


def test_scan_number_matching(tmp_path, cycle_csv, make_stack_n):
    log = tmp_path / "log.csv"
    log.write_text("scan_number,cell_name,start_time,end_time\n"
                   "12,c,2025-01-01 10:00:00,2025-01-01 10:01:00\n"
                   "120,c,2025-01-01 10:10:00,2025-01-01 10:11:00\n")
    # "12" must not match "scan_120" (digit runs are matched whole)
    stack = make_stack_n(2, file=["run_120_x.xye", "run_12_x.xye"])
    with pytest.warns(AlignmentWarning, match="do not increase"):   # stack order 120, 12
        out = align(stack, scan_log=log)                  # no echem: seconds since the first scan
    assert out["time_start_s"].values.tolist() == [600.0, 0.0]
    assert out["datetime_start"].values[1] == "2025-01-01T10:00:00"
    with pytest.raises(EchemError, match="has no start date-time"):
        align(stack, cycle_csv, scan_log=log)


def test_not_a_record(make_stack_n):
    import xarray as xr

    stack = make_stack_n(1, time_start_s=[0.0])
    with pytest.raises(EchemError, match="not an echem record.*lacks voltage_V"):
        align(stack, xr.Dataset({"time_s": ("record", [0.0, 1.0])}))


def test_align_is_idempotent(tmp_path, csv_writer, make_stack_n):
    t = np.arange(500.0, 4001.0, 10.0)                   # file clock starts at 500 s
    echem = read_echem(csv_writer(tmp_path / "e.csv", "time_s,voltage_V,current_mA",
                                  np.column_stack([t, 3 + t / 1e4, np.full(t.size, 0.1)])))
    log = tmp_path / "log.csv"
    log.write_text("file,start_time_s,end_time_s\na.xye,1000,1100\nb.xye,2000,2100\n")
    once = align(make_stack_n(2, file=["a.xye", "b.xye"]), echem, scan_log=log)
    assert once["time_s"].values.tolist() == [550.0, 1550.0]     # since the first record
    assert once["voltage_V"].values == pytest.approx([3.105, 3.205])
    twice = align(once, echem)                                  # from the stack's time_start_s
    assert twice["time_s"].values.tolist() == once["time_s"].values.tolist()
    assert twice["voltage_V"].values.tolist() == once["voltage_V"].values.tolist()
