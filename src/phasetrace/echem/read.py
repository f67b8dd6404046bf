"""Format registry and :func:`read_echem`, the entry point for cycler files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from ..errors import EchemError
from .biologic import read_mpr, read_mpt
from .neware import read_ndax
from .table import read_table

logger = logging.getLogger(__name__)

Reader = Callable[..., xr.Dataset]

#: reader name -> (function, file extensions)
ECHEM_FORMATS: dict[str, tuple[Reader, tuple[str, ...]]] = {
    "csv": (read_table, (".csv", ".tsv", ".txt")),
    "biologic-mpr": (read_mpr, (".mpr",)),
    "biologic-mpt": (read_mpt, (".mpt",)),
    "neware-ndax": (read_ndax, (".ndax", ".nda")),
}


def _pick_reader(path: Path, format: str | None) -> Reader:
    if format is not None:
        if format not in ECHEM_FORMATS:
            raise EchemError(
                f"{path}: unknown echem format {format!r}; expected one of {', '.join(ECHEM_FORMATS)}")
        return ECHEM_FORMATS[format][0]
    suffix = path.suffix.lower()
    for reader, suffixes in ECHEM_FORMATS.values():
        if suffix in suffixes:
            return reader
    known = ", ".join(s for _, suffixes in ECHEM_FORMATS.values() for s in suffixes)
    raise EchemError(f"{path}: unsupported echem file extension {suffix!r}; expected one of {known}")


def read_echem(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    active_mass_mg: float | None = None,
) -> xr.Dataset:
    """Read a cycler file into an electrochemistry record.

    Parameters
    ----------
    path : str or PathLike
        CSV (``time_s, voltage_V[, current_mA, capacity_mAh_g]`` or a common
        cycler export such as Arbin's), BioLogic ``.mpr``/``.mpt`` or Neware
        ``.ndax``/``.nda`` file.
    format : str, optional
        Reader name from :data:`ECHEM_FORMATS`; by default chosen from the extension.
    active_mass_mg : float, optional
        Active mass (mg); when the file has no specific capacity,
        ``capacity_mAh_g`` = ``capacity_mAh`` / mass.  Without it
        ``capacity_mAh_g`` is NaN for such files.

    Returns
    -------
    xarray.Dataset
        Dimension ``record``; variables ``time_s`` (s from the first record,
        non-decreasing), ``voltage_V`` (V), ``current_mA`` (mA, positive =
        charge; NaN when absent), ``capacity_mAh_g`` (mAh/g; NaN when absent),
        ``capacity_mAh`` (net charge passed since the first record, mAh; NaN
        when neither a capacity nor a current is in the file), ``cycle`` (int,
        from 1) and ``direction`` (``"charge"``/``"discharge"``/``"rest"``).
        Attributes: ``start_datetime`` (ISO 8601 of the first record or
        ``""``), ``source_file``, ``format``, ``time_offset_s`` (file time of
        the first record, s), ``current_sign_flipped`` (0/1),
        ``direction_source`` and ``cycle_source``.

    Raises
    ------
    EchemError
        Missing or unreadable file, unknown extension, missing required
        columns (named in the message) or time going backwards.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "echem.csv"
    >>> _ = f.write_text("time_s,voltage_V,current_mA\\n0,3.0,0.1\\n60,3.1,0.1\\n120,3.2,0.1\\n")
    >>> rec = read_echem(f)
    >>> rec.sizes["record"], str(rec["direction"].values[0]), int(rec["cycle"].max())
    (3, 'charge', 1)
    """
    path = Path(path)
    if not path.is_file():
        raise EchemError(f"{path}: echem file not found (expected a CSV, .mpr, .mpt or .ndax file)")
    reader = _pick_reader(path, format)
    record = reader(path, active_mass_mg=active_mass_mg)
    logger.info("%s: %d records over %.0f s (%s)", path, record.sizes["record"],
                float(record["time_s"][-1]), record.attrs["format"])
    return record
