"""Reference library: loading, names, errors, reflection lists against independent values."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from phasetrace.errors import PhaseLibraryError
from phasetrace.phases import load_library, read_cif_phase
from phasetrace.phases.cell import cell_from_free, d_spacing, interlayer_spacing

DATA = Path(__file__).resolve().parents[1] / "data" / "phases"
REQUIRED = ["P2", "P3", "O3", "O2", "OP4", "OP2", "O'3", "P'2", "P'3", "S", "T", "Al", "Be"]


def test_library_has_required_phases_with_provenance(by_label):
    for label in REQUIRED:
        p = by_label[label]
        assert p.hkl.shape[0] > 5 and p.mult_f2.shape == (p.hkl.shape[0],)
        assert "(" in p.source and ".cif:" in p.source  # file and a literature line
        for name, (lo, hi) in p.lattice_range.items():
            assert lo < hi


@pytest.mark.parametrize("label, system, z_fu, n_slabs", [
    ("P2", "hexagonal", 2, 2), ("P3", "hexagonal", 3, 3), ("OP4", "hexagonal", 4, 4),
    ("P'2", "orthorhombic", 4, 2), ("O'3", "monoclinic", 2, 1), ("S", "cubic", 8, 0),
    ("T", "orthorhombic", 18, 0)])
def test_metadata(by_label, label, system, z_fu, n_slabs):
    p = by_label[label]
    assert (p.crystal_system, p.z_fu, p.n_slabs) == (system, z_fu, n_slabs)


def test_aliases_and_parents():
    phases = load_library(["O3'", "P2'", "p3'", "spinel"], cell_components=False)
    assert [p.label for p in phases] == ["O'3", "P'2", "P'3", "S"]
    assert [p.parent for p in phases] == ["O3", "P2", "P3", ""]


def test_cell_components_added_to_explicit_list():
    labels = [p.label for p in load_library(["P2"])]
    assert labels[0] == "P2" and {"Al", "Be"} <= set(labels)
    assert all(p.is_cell_component for p in load_library(["P2"])[1:])


def test_unknown_phase_lists_known():
    with pytest.raises(PhaseLibraryError, match=r"unknown phase 'P9'.*known phases: .*OP4"):
        load_library(["P9"])


def test_broken_cif_names_file(tmp_path):
    bad = tmp_path / "Broken.cif"
    bad.write_text("data_x\n_cell_length_a 3.0\nloop_\n_atom_site_label\n")
    with pytest.raises(PhaseLibraryError, match="Broken.cif"):
        load_library(["Broken"], reference_dir=tmp_path)


def test_reference_dir_adds_user_cif(tmp_path):
    src = Path(__file__).resolve().parents[2] / "reference_phases" / "Al.cif"
    shutil.copy(src, tmp_path / "Foil.cif")
    phases = load_library(["Foil"], reference_dir=tmp_path, cell_components=False)
    assert phases[0].label == "Foil" and phases[0].crystal_system == "cubic"
    lo, hi = phases[0].lattice_range["a"]
    assert lo < 4.0495 < hi


def test_al_reflections_known_positions(by_label):
    # Al a = 4.0495 Å, Cu Kα1: (111) 38.47°, (200) 44.72°, (220) 65.10°, (311) 78.23°
    hkl, tt, rel = by_label["Al"].reflections(None, 1.5406, (30, 80))
    assert [tuple(h) for h in hkl] == [(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1)]
    np.testing.assert_allclose(tt, [38.47, 44.72, 65.10, 78.23], atol=0.01)
    assert rel[0] == 100.0 and 40 < rel[1] < 55


@pytest.mark.parametrize("label", ["P2", "O3", "S", "Al", "P'2", "O'3"])
def test_positions_and_intensities_match_frozen_pymatgen(by_label, label):
    ref = np.array(json.loads((DATA / "pymatgen_reflections.json").read_text())["phases"][label])
    hkl, tt, rel = by_label[label].reflections(None, 1.5406, (10, 80))
    strong = ref[ref[:, 1] > 5]
    for t, inten in strong:
        # every strong pymatgen peak is one of ours (possibly the sum of accidental overlaps)
        near = np.abs(tt - t) < 2e-3
        assert near.any(), (label, t)
        ours = rel[np.abs(tt - t) < 0.02].sum()
        # pymatgen has no Debye-Waller factor; ours uses B = 1 Å^2 (a few % over the range)
        assert ours == pytest.approx(inten, rel=0.25, abs=3.0), (label, t)


def test_reflections_follow_the_cell(by_label):
    p2 = by_label["P2"]
    cell = cell_from_free("hexagonal", np.array([2.85, 11.30]))
    hkl, tt, _ = p2.reflections(cell, 1.5406, (10, 20))
    assert tuple(hkl[0]) == (0, 0, 2)
    assert tt[0] == pytest.approx(2 * math.degrees(math.asin(1.5406 / (2 * 11.30 / 2))), abs=1e-9)
    assert interlayer_spacing(cell, 2) == pytest.approx(5.65)


def test_distorted_variant_splits_in_plane_reflections(by_label):
    """P'2 with b = √3 a puts its reflections on P2's; a distortion splits (100)_hex."""
    p2, pp2 = by_label["P2"], by_label["P'2"]
    a, c = 2.85, 11.2
    _, tt_hex, _ = p2.reflections(cell_from_free("hexagonal", np.array([a, c])), 1.0, (5, 40))
    undist = cell_from_free("orthorhombic", np.array([a, math.sqrt(3) * a, c]))
    _, tt_ort, rel = pp2.reflections(undist, 1.0, (5, 40))
    strong = tt_ort[rel > 1]
    assert np.all(np.min(np.abs(strong[:, None] - tt_hex[None, :]), axis=1) < 1e-6)
    dist = cell_from_free("orthorhombic", np.array([a, 1.05 * math.sqrt(3) * a, c]))
    hkl, tt, _ = pp2.reflections(dist, 1.0, (5, 40))
    d = dict(zip(map(tuple, hkl), tt))
    assert d[(1, 1, 0)] - d[(0, 2, 0)] > 0.3   # (110) and (020) no longer coincide


def test_monoclinic_d_spacing_against_direct_formula():
    a, b, c, beta = 5.319, 2.845, 5.583, 110.45
    cell = np.array([a, b, c, 90, beta, 90])
    h, k, l = 2, 0, -1
    sb, cb = math.sin(math.radians(beta)), math.cos(math.radians(beta))
    inv_d2 = (h**2 / a**2 + k**2 * sb**2 / b**2 + l**2 / c**2 - 2 * h * l * cb / (a * c)) / sb**2
    assert d_spacing(cell, np.array([[h, k, l]]))[0] == pytest.approx(1 / math.sqrt(inv_d2))


def test_read_cif_phase_missing_file(tmp_path):
    with pytest.raises(PhaseLibraryError, match="no such CIF"):
        read_cif_phase(tmp_path / "nothing.cif")
