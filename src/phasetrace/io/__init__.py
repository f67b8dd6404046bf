"""Pattern readers: one module per file format behind a registry, and stack assembly.

Public API
----------
read_pattern(path, *, format=None)
    One file (one or several scans) → stack Dataset.
read_stack(source, *, format=None, wavelength=None, require_wavelength=True, progress=False)
    Folder / file / glob / list → one stack on a common 2θ grid.
available_formats()
    Registered readers (name → :class:`ReaderInfo`).
register(name, *, extensions, description="")
    Decorator to add a reader.

Formats: plain text (.xy .xye .dat .csv .txt .asc), Fit2D .chi, GSAS .gsa/.fxye,
PANalytical .xrdml, Bruker .brml and .raw (v4), Rigaku .rasx, Bruker GADDS .plt,
HDF5/NeXus (.h5 .hdf5 .nxs).
"""

from __future__ import annotations

from . import brml, bruker_raw, chi, gsas, hdf5, plt, rasx, text, xrdml  # noqa: F401  (register readers)
from ._registry import ReaderInfo, available_formats, register, supported_extensions
from ._paths import check_out_dir, wavelength_option
from .stack import find_pattern_files, natural_key, read_pattern, read_stack

__all__ = [
    "read_pattern", "read_stack", "find_pattern_files", "natural_key",
    "available_formats", "register", "supported_extensions", "ReaderInfo",
    "check_out_dir", "wavelength_option",
]
