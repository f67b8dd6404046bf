"""Pristine and rest scans: outside the cycler record, kept with NaN unless the clocks disagree."""

from __future__ import annotations

import re

import numpy as np
import pytest

from phasetrace.echem import align
from phasetrace.errors import AlignmentWarning, EchemError


def test_pristine_scan_kept_by_default(cycle_csv, make_stack_n):
    # the cycler record starts at 0 s; the pristine scan was taken 200–100 s before it
    stack = make_stack_n(3, file=["pristine.xye", "b.xye", "c.xye"],
                         time_start_s=[-200.0, 100.0, 1000.0], time_end_s=[-100.0, 200.0, 1100.0])
    with pytest.warns(AlignmentWarning, match=re.escape(
            "echem.csv: the echem record spans 0–11400 s but scan(s) pristine.xye (mid-time -150 s) "
            "fall outside it (before the record starts (pristine)); they are kept with NaN voltage, "
            "capacity and current")):
        out = align(stack, cycle_csv)
    v = out["voltage_V"].values
    assert np.isnan(v[0]) and v[1] == pytest.approx(3.0) and v[2] == pytest.approx(3.15)  # 3.0 + 1.2 V · 450 s / 3600 s
    assert out["cycle"].values.tolist() == [0, 1, 1]


def test_rest_scan_after_the_record(cycle_csv, make_stack_n):
    stack = make_stack_n(3, file=["a", "b", "after"], time_start_s=[100.0, 200.0, 12000.0],
                         time_end_s=[200.0, 300.0, 12100.0])
    with pytest.warns(AlignmentWarning, match=re.escape("(after it ends (rest))")):
        out = align(stack, cycle_csv)
    assert np.isnan(out["voltage_V"].values[2])


def test_most_scans_outside_means_the_clocks_disagree(cycle_csv, make_stack_n):
    stack = make_stack_n(3, file=["a", "b", "c"], time_start_s=[100.0, 20000.0, 30000.0],
                         time_end_s=[200.0, 20100.0, 30100.0])
    with pytest.raises(EchemError, match=re.escape(
            "(2 of 3 scans, more than half: the scan and cycler clocks disagree); check the clocks, "
            "or pass --echem-outside nan to keep those scans without electrochemistry")):
        align(stack, cycle_csv)
    with pytest.warns(AlignmentWarning):
        assert np.isnan(align(stack, cycle_csv, outside="nan")["voltage_V"].values[1:]).all()


@pytest.mark.shared
def test_real_coin_cell_pristine_scan(shared, xye_stack):
    root = shared("data", "operando_coincell_datalab")
    stack = xye_stack(root / "xrd_data", 0.49)
    log_path = next((root / "Log").glob("*.csv"))
    # scan 1355639 (19:05:59–19:06:56) precedes the first cycler record (19:08:11) by 103 s
    with pytest.warns(AlignmentWarning, match=re.escape(
            "scan(s) 1355639_summed_mythen3.xye (mid-time -103 s) fall outside it (before the "
            "record starts (pristine))")):
        out = align(stack, root / "Echem" / "cc8.ndax", scan_log=log_path)
    v = out["voltage_V"].values
    assert np.isnan(v[0]) and np.all(np.isfinite(v[1:]))
