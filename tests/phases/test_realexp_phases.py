"""User phases done right: second instances, P1 CIFs, chemistry restriction; new library phases."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from phasetrace.errors import ConfigError, PhaseLibraryWarning
from phasetrace.phases import load_library, read_cif_phase
from phasetrace.phases.cell import cell_from_free, d_spacing, metric_from_free, reciprocal_metric
from phasetrace.phases.chemistry import check_elements

from phasesim import SHARED

#: literature / certified cells of the new cell parts and standards (Å).
LITERATURE_A = {"Cu": 3.6150, "Fe-fcc": 3.5911, "Fe-bcc": 2.8664, "Li": 3.5093,
                "Si": 5.431179, "LaB6": 4.15689, "CeO2": 5.4111}


@pytest.mark.parametrize("label", sorted(LITERATURE_A))
def test_cubic_cell_parts_and_standards(label):
    phase = load_library([label], cell_components=False)[0]
    assert phase.cell[:3] == pytest.approx((LITERATURE_A[label],) * 3, abs=1e-9)
    assert phase.is_cell_component and phase.crystal_system == "cubic"
    assert "NIST SRM" in phase.source or "ICDD" in phase.source or "NBS" in phase.source


def test_corundum_and_graphite_cells():
    corundum, graphite = load_library(["corundum", "graphite"], cell_components=False)
    assert corundum.cell[0] == pytest.approx(4.7589) and corundum.cell[2] == pytest.approx(12.991)
    assert corundum.crystal_system == "hexagonal" and "SRM 676a" in corundum.source
    assert graphite.cell[0] == pytest.approx(2.464) and graphite.cell[2] == pytest.approx(6.711)


def test_known_line_positions_of_standards():
    """Bragg's law with Cu Kα1 (1.540593 Å): Si 111 28.442°, LaB6 100 21.358°, Cu 111 43.317°
    (d = 3.6150/√3 = 2.0871 Å; ICDD 04-0836 lists 43.297° for its rounded d 2.088 Å),
    graphite 002 26.54° (d = c/2 = 3.3555 Å)."""
    si, lab6, cu, gr = load_library(["Si", "LaB6", "Cu", "graphite"], cell_components=False)
    for phase, hkl, expected in ((si, (1, 1, 1), 28.442), (lab6, (1, 0, 0), 21.358),
                                 (cu, (1, 1, 1), 43.317), (gr, (0, 0, 2), 26.54)):
        h, tt, _ = phase.reflections(None, 1.540593, (10, 50))
        k = [tuple(int(i) for i in row) for row in h].index(hkl)
        assert tt[k] == pytest.approx(expected, abs=0.01)
    h, _, _ = si.reflections(None, 1.540593, (10, 90))
    assert (2, 0, 0) not in [tuple(int(i) for i in row) for row in h]    # diamond glide: extinct


def test_standards_only_on_request_cu_by_default():
    auto = [p.label for p in load_library("auto")]
    assert "Cu" in auto and "Cu#2" in auto           # current collector, met twice along the beam
    for label in ("Si", "LaB6", "CeO2", "corundum", "Fe-fcc", "Fe-bcc", "Li", "graphite"):
        assert label not in auto
    assert {"Cu", "Cu#2"} <= {p.label for p in load_library(["P2"])}
    assert [p.label for p in load_library(["Cu"], cell_components=False)] == ["Cu"]


def test_repeated_name_is_a_second_instance():
    lib = load_library(["S", "spinel"], cell_components=False)
    assert [p.label for p in lib] == ["S", "S#2"]
    assert lib[0].source == lib[1].source and lib[0].cell == lib[1].cell


@pytest.mark.shared
def test_s_s_on_lmo_two_phase_gives_two_spinels():
    from phasetrace.config import Config
    from phasetrace.io import read_stack
    from phasetrace.pipeline import analyse_stack

    path = SHARED / "data" / "lmo_spinel_scimap" / "LMO-two-phase.plt"
    if not path.exists():
        pytest.skip(f"{path} not available")
    config = Config.from_dict({"phases": {"phases": "S,S"}, "peaks": {"enabled": False}})
    res = analyse_stack(read_stack(str(path)), config=config)
    present = [str(p) for p, x in zip(res.phase.values, res.present.values[0]) if x]
    assert sorted(present) == ["S", "S#2"]
    a = res.a.sel(phase=["S", "S#2"]).values[0]
    assert np.all((a > 7.95) & (a < 8.30)) and abs(a[0] - a[1]) > 0.05   # two distinct cubic cells


@pytest.mark.shared
def test_auto_on_lmo_two_phase_reports_two_spinels_and_no_layered_oxide():
    """The automatic search carries a second spinel instance (two-phase LixMn2O4): the
    second spinel's lines are its own, not a P2/P3 cell fitted onto them."""
    from phasetrace.config import Config
    from phasetrace.io import read_stack
    from phasetrace.pipeline import analyse_stack

    path = SHARED / "data" / "lmo_spinel_scimap" / "LMO-two-phase.plt"
    if not path.exists():
        pytest.skip(f"{path} not available")
    res = analyse_stack(read_stack(str(path)), config=Config.from_dict({"peaks": {"enabled": False}}))
    present = [str(p) for p, x in zip(res.phase.values, res.present.values[0]) if x]
    assert sorted(present) == ["S", "S#2"]
    a = res.a.sel(phase=["S", "S#2"]).values[0]
    assert np.all((a > 7.95) & (a < 8.30)) and abs(a[0] - a[1]) > 0.05


# -- P1 CIFs ------------------------------------------------------------------------------
ANATASE = (3.7845, 9.5143)   # I4_1/amd, Ti 4a, O 8e z 0.2081 (Horn et al., Z. Kristallogr. 1972)


def _anatase():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("I4_1/amd", Lattice.tetragonal(*ANATASE), ["Ti", "O"],
                                     [(0, 0.75, 0.125), (0, 0.75, 0.3331)])


@pytest.fixture
def anatase_p1(tmp_path):
    """Anatase written in P1 on its primitive (triclinic-looking) cell, as databases export it."""
    from pymatgen.io.cif import CifWriter

    path = tmp_path / "anatase.cif"
    CifWriter(_anatase().get_primitive_structure()).write_file(str(path))
    assert "_symmetry_space_group_name_H-M   'P 1'" in path.read_text()
    return path


def test_p1_cif_is_symmetrised_with_a_warning(anatase_p1):
    with pytest.warns(PhaseLibraryWarning, match=re.escape(
            f"{anatase_p1}: CIF in P1; symmetrised to I4_1/amd (No. 141, tetragonal) found by spglib "
            "within 0.01 Å; its cell is refined with the constraints of that crystal system")):
        phase = read_cif_phase(anatase_p1, label="anatase")
    assert phase.crystal_system == "tetragonal" and phase.free_names == ("a", "c")
    assert phase.cell == pytest.approx((*ANATASE[:1], *ANATASE[:1], ANATASE[1], 90, 90, 90), abs=1e-4)
    assert phase.symmetrised_from_p1 and phase.space_group == "I4_1/amd"
    hkl = phase.hkl
    assert np.all((hkl.sum(axis=1) % 2) == 0)       # body centring: h + k + l odd are extinct
    assert not any(tuple(h) in {(0, 0, 2), (1, 0, 0), (1, 1, 0)} for h in hkl.tolist())


def test_p1_anatase_refines_with_a_equal_b(anatase_p1):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from phasetrace.lattice import analyse_phases
    from phasetrace.schema import make_stack

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PhaseLibraryWarning)
        phase = read_cif_phase(anatase_p1, label="anatase")
    # an anatase pattern 0.4 % larger in a and 0.3 % smaller in c than the CIF, drawn from
    # pymatgen's structure factors (not phasetrace's)
    from pymatgen.core import Lattice

    s = _anatase()
    s.lattice = Lattice.tetragonal(ANATASE[0] * 1.004, ANATASE[1] * 0.997)
    pat = XRDCalculator(wavelength=0.7).get_pattern(s, two_theta_range=(8, 45))
    tt = np.arange(8.0, 45.0, 0.01)
    y = 100 + (np.exp(-0.5 * ((tt[:, None] - pat.x[None]) / 0.025) ** 2) @ pat.y) * 50
    rng = np.random.default_rng(3)
    stack = make_stack(tt, rng.poisson(y)[None].astype(float), wavelength_A=0.7)
    res = analyse_phases(stack, library=[phase])
    a, b, c = (float(res[k].sel(phase="anatase")[0]) for k in ("a", "b", "c"))
    assert a == b
    assert a == pytest.approx(ANATASE[0] * 1.004, rel=3e-4)
    assert c == pytest.approx(ANATASE[1] * 0.997, rel=3e-4)


def test_tetragonal_metric_and_anatase_101_spacing():
    free = np.array([3.7845, 9.5143])
    cell = cell_from_free("tetragonal", free)
    assert cell.tolist() == [3.7845, 3.7845, 9.5143, 90.0, 90.0, 90.0]
    assert metric_from_free("tetragonal", free) == pytest.approx(reciprocal_metric(cell))
    # anatase (101): 1/d² = 1/a² + 1/c² → d = 3.5165 Å (the 25.3° Cu Kα line)
    assert d_spacing(cell, np.array([[1, 0, 1]]))[0] == pytest.approx(3.5165, abs=1e-4)


# -- chemistry restriction ----------------------------------------------------------------
def test_elements_keep_na_oxides_out_of_a_li_sample():
    labels = [p.label for p in load_library("auto", elements=("Li", "Mn", "O"))]
    for na_phase in ("P2", "O3", "O'3", "P3", "T"):
        assert na_phase not in labels
    assert "S" in labels                                    # LiMn2O4 spinel
    assert {"Al", "Cu", "Be"} <= set(labels)                # cell parts always kept


def test_elements_keep_layered_prototypes_for_other_transition_metals():
    labels = [p.label for p in load_library("auto", elements=("Na", "Mn", "Fe", "O"))]
    assert {"P2", "O3", "P3", "O'3", "T", "S"} <= set(labels)
    assert "NaF" in labels                                  # cell part (SEI)


def test_elements_restrict_user_cifs_strictly(tmp_path):
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    for name, species in (("NiO", ["Ni", "O"]), ("CoO", ["Co", "O"])):
        s = Structure.from_spacegroup(225, Lattice.cubic(4.2), species, [(0, 0, 0), (0.5, 0.5, 0.5)])
        CifWriter(s).write_file(str(tmp_path / f"{name}.cif"))
    labels = [p.label for p in load_library("auto", reference_dir=tmp_path, elements=("Na", "Ni", "O"))]
    assert "NiO" in labels and "CoO" not in labels


def test_bad_element_symbol():
    with pytest.raises(ConfigError, match=re.escape(
            "elements 'Xx', 'mn': not element symbols; expected e.g. Li,Mn,O (symbols with their capitals)")):
        check_elements(["Li", "Xx", "mn"])
