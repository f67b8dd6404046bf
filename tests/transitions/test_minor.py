"""Minor phases: reported beside the sequence, never inside it."""

import numpy as np
import xarray as xr

from phasetrace.transitions.minor import minor_phases


def _ds(present, fraction, labels, cell=None):
    ds = xr.Dataset({"present": (("scan", "phase"), np.array(present, dtype=bool)),
                     "fraction": (("scan", "phase"), np.array(fraction, dtype=float))},
                    coords={"phase": labels})
    if cell is not None:
        ds = ds.assign_coords(is_cell_component=("phase", cell))
    return ds


def test_impurity_below_threshold_is_minor():
    ds = _ds([[True, True, True]] * 10, [[0.97, 0.03, np.nan]] * 10, ["CuCr2O4", "CuO", "Al"],
             cell=[False, False, True])
    found = minor_phases(ds, min_fraction=0.05, stage_phases={"CuCr2O4"})
    assert [m["phase"] for m in found] == ["CuO"]
    assert found[0]["median_fraction"] == 0.03 and found[0]["n_scans"] == 10


def test_rare_or_major_phases_are_not_minor():
    present = [[True, i < 2] for i in range(10)]  # second phase in 2 of 10 scans only
    ds = _ds(present, [[0.98, 0.02]] * 10, ["P2", "NaF"])
    assert minor_phases(ds, min_fraction=0.05, stage_phases={"P2"}) == []
    ds2 = _ds([[True, True]] * 10, [[0.6, 0.4]] * 10, ["P2", "O3"])
    assert minor_phases(ds2, min_fraction=0.05, stage_phases={"P2"}) == []
