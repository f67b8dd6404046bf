"""An operando powder-diffraction simulator independent of phasetrace's analysis code.

Written from textbook formulas with numpy, scipy and pymatgen only (structures from
the CIFs of ``reference_phases/``); nothing here imports phasetrace's refinement or
identification code, so that tests and benchmarks built on it check the analysis
against physics, not against itself.

Modules: :mod:`.crystal` (reflections and |F|² of a structure at any cell),
:mod:`.pattern` (instrument, profiles, one pattern), :mod:`.operando` (a cycling
scenario → scans and truth), :mod:`.cases` (the simulated measurement set) and
:mod:`.writer` (case folders in the layout of ``../shared/cases``).
"""
