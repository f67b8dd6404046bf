"""A simulated in-situ heating series (synthesis of a P2 sodium layered oxide), for tests.

Independent of phasetrace's own code: structures are written from textbook structure types
with pymatgen (``Structure.from_spacegroup``), reflection intensities come from pymatgen's
``XRDCalculator`` (|F|² · multiplicity · Lorentz-polarisation), peaks are drawn as Gaussians
with numpy, intensities scaled by the Hill–Howard relation (scale ∝ W / (Z M V)) and Poisson
noise added.  Cells expand isotropically with temperature (α = 1.2e-5 K⁻¹).

Truth: the scans in which each phase is present (``WINDOWS``), with its weight fraction
ramping up over the first two scans and down over the last two.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WAVELENGTH_A = 0.72932
TWO_THETA = np.arange(6.0, 40.0, 0.01)
N_SCANS = 30
T_START_K, T_STEP_K = 300.0, 30.0
FWHM_DEG = 0.06
ALPHA_PER_K = 1.2e-5

#: phase -> (space group, lattice, species, coordinates); textbook structure types.
STRUCTURES = {
    "NaNO3": ("R-3c", ("hexagonal", 5.070, 16.82), ["Na", "N", "O"],
              [(0, 0, 0), (0, 0, 0.25), (0.2428, 0, 0.25)]),                     # calcite type
    "MnO2": ("P4_2/mnm", ("tetragonal", 4.398, 2.873), ["Mn", "O"],
             [(0, 0, 0), (0.305, 0.305, 0)]),                                      # rutile type
    "NiO": ("Fm-3m", ("cubic", 4.177), ["Ni", "O"], [(0, 0, 0), (0.5, 0.5, 0.5)]),  # rock salt
    "Mn2O3": ("Ia-3", ("cubic", 9.409), ["Mn", "Mn", "O"],
              [(0.25, 0.25, 0.25), (0.9655, 0, 0.25), (0.385, 0.145, 0.380)]),   # bixbyite
    "Mn3O4": ("I4_1/amd", ("tetragonal", 5.762, 9.470), ["Mn", "Mn", "O"],
              [(0, 0.75, 0.125), (0, 0, 0.5), (0, 0.4717, 0.2587)]),              # hausmannite
    "NiMn2O4": ("Fd-3m", ("cubic", 8.390), ["Ni", "Mn", "O"],
                [(0.125, 0.125, 0.125), (0.5, 0.5, 0.5), (0.263, 0.263, 0.263)]),  # spinel
    "O3": ("R-3m", ("hexagonal", 2.962, 15.90), ["Na", "Ni", "O"],
           [(0, 0, 0.5), (0, 0, 0), (0, 0, 0.2667)]),                              # α-NaFeO2 type
    "P2": ("P6_3/mmc", ("hexagonal", 2.886, 11.16), ["Na", "Mn", "O"],
           [(0, 0, 0.25), (0, 0, 0), (1 / 3, 2 / 3, 0.0912)]),                     # P2 (Na on 2b)
}
#: phase -> (first scan, last scan) present; plateau weight (before normalisation).
WINDOWS = {
    "NaNO3": (0, 8, 0.30), "MnO2": (0, 10, 0.40), "NiO": (0, 17, 0.25), "Mn2O3": (9, 19, 0.40),
    "NiMn2O4": (15, 23, 0.30), "Mn3O4": (17, 24, 0.30), "O3": (19, 26, 0.40), "P2": (21, 29, 1.0),
}


def structure(name: str, temperature_K: float = 300.0):
    """The pymatgen Structure of ``name`` at ``temperature_K`` (isotropic expansion)."""
    from pymatgen.core import Lattice, Structure

    group, lat, species, coords = STRUCTURES[name]
    scale = 1.0 + ALPHA_PER_K * (temperature_K - 300.0)
    kind, *values = lat
    values = [v * scale for v in values]
    lattice = {"cubic": Lattice.cubic, "hexagonal": Lattice.hexagonal,
               "tetragonal": Lattice.tetragonal}[kind](*values)
    return Structure.from_spacegroup(group, lattice, species, coords)


def write_cifs(folder: Path) -> list[str]:
    """Write ``<phase>.cif`` for every phase (room-temperature cells); return the labels."""
    from pymatgen.io.cif import CifWriter

    folder.mkdir(parents=True, exist_ok=True)
    for name in STRUCTURES:
        CifWriter(structure(name), symprec=0.01).write_file(str(folder / f"{name}.cif"))
    return list(STRUCTURES)


def weights() -> np.ndarray:
    """True weight fractions, shape (N_SCANS, n_phases), rows summing to 1."""
    w = np.zeros((N_SCANS, len(STRUCTURES)))
    for j, name in enumerate(STRUCTURES):
        first, last, plateau = WINDOWS[name]
        for s in range(first, last + 1):
            up = 1.0 if first == 0 else min(1.0, (s - first + 1) / 2.0)
            down = 1.0 if last == N_SCANS - 1 else min(1.0, (last - s + 1) / 2.0)
            w[s, j] = plateau * min(up, down)
    return w / w.sum(axis=1, keepdims=True)


def simulate(folder: Path, *, seed: int = 7) -> dict:
    """Write ``scan_NN.xye`` files (header with wavelength and temperature) into ``folder`` and
    ``truth.json`` beside it."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    calc = XRDCalculator(wavelength=WAVELENGTH_A, debye_waller_factors=None)
    w = weights()
    sigma = FWHM_DEG / 2.3548
    base = {}
    for name in STRUCTURES:
        s = structure(name)
        pattern = calc.get_pattern(s, scaled=False, two_theta_range=(3, 45))
        d = np.asarray(pattern.d_hkls, float)
        base[name] = (d, np.asarray(pattern.y, float) / (s.composition.weight * s.volume))
    temps = T_START_K + T_STEP_K * np.arange(N_SCANS)
    for i, temp in enumerate(temps):
        y = 200.0 + 30.0 * np.exp(-(TWO_THETA - 6) / 15.0)
        for j, name in enumerate(STRUCTURES):
            if w[i, j] <= 0:
                continue
            d0, inten = base[name]
            d = d0 * (1.0 + ALPHA_PER_K * (temp - 300.0))
            tt = 2 * np.degrees(np.arcsin(WAVELENGTH_A / (2 * d)))
            ok = (tt > TWO_THETA[0] - 1) & (tt < TWO_THETA[-1] + 1)
            prof = np.exp(-0.5 * ((TWO_THETA[:, None] - tt[ok][None]) / sigma) ** 2)
            y = y + w[i, j] * 300.0 * (prof @ inten[ok])
        counts = rng.poisson(y).astype(float)
        lines = [f"# wavelength_A = {WAVELENGTH_A}", f"# temperature_K = {temp:.1f}"]
        lines += [f"{t:.4f} {c:.1f} {np.sqrt(max(c, 1.0)):.3f}" for t, c in zip(TWO_THETA, counts)]
        (folder / f"scan_{i:02d}.xye").write_text("\n".join(lines) + "\n")
    truth = {"phases": list(STRUCTURES), "temperature_K": temps.tolist(),
             "windows": {k: list(v[:2]) for k, v in WINDOWS.items()}, "weights": w.tolist()}
    (folder.parent / "truth.json").write_text(json.dumps(truth))
    return truth
