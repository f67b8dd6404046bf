"""HDF5 / NeXus stacks of 1-D patterns, as written by pyFAI and beamline pipelines.

The pattern block is found as follows:

1. an ``NXdata`` group whose ``signal`` attribute names a 1-D or 2-D dataset and
   whose ``axes`` attribute names the radial axis;
2. otherwise the largest 1-D/2-D numeric dataset that has a 1-D sibling (or,
   failing that, any 1-D dataset) named like a radial axis (``2th``, ``tth``,
   ``two_theta``, ``2theta``, ``q``) whose length matches one of its dimensions.

The axis is 2θ (degrees; radians converted) or Q (``nm^-1`` or ``A^-1`` from its
``units`` attribute or name), converted to 2θ with the file's wavelength
(a ``wavelength`` dataset/attribute, in m, nm or Å, or an ``energy`` in keV).
σ comes from a sibling named ``errors``/``sigma``/``I_errors``/``intensity_sigma``;
per-frame ``time``/``timestamp``/``epoch`` (epoch seconds → ``datetime_start``,
otherwise ``time_s``) and ``temperature`` (K, or °C with units) become scan coordinates.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ..errors import ReaderError
from ..schema import q_to_two_theta
from ._common import build_stack, check_file
from ._h5safe import H5_ERRORS, check_pattern_dataset, check_read_size, member, safe_items, scan_times
from ._registry import register

__all__ = ["read", "open_lazy", "LazyHDF5Stack"]

logger = logging.getLogger(__name__)

_TT_NAMES = {"2th", "2th_deg", "tth", "two_theta", "twotheta", "2theta", "2theta_deg", "2th_rad", "tth_deg"}
_Q_RE = re.compile(r"^q(_?(nm|a|ang|angstrom)?(\^?-1|_inv)?)?$", re.IGNORECASE)
_SIGMA_NAMES = ("errors", "I_errors", "sigma", "intensity_sigma", "uncertainty", "error", "esd")
_SIGNAL_NAMES = ("I", "intensity", "data", "counts", "signal", "sum")
_KEV_A = 12.398419843320026


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.ravel()[0])
    return str(value) if value is not None else ""


def _axis_kind(name: str, dset: h5py.Dataset) -> str:
    """'tt', 'tt_rad', 'q_nm', 'q_a' or '' for a candidate axis dataset."""
    base = name.rsplit("/", 1)[-1]
    units = _text(dset.attrs.get("units", "")).lower().replace(" ", "")
    if units in _TT_NAMES or _Q_RE.match(units):  # pyFAI writes e.g. units="2th_deg" / "q_nm^-1"
        base, units = units, ""
    if base.lower() in _TT_NAMES or units in ("deg", "degree", "degrees", "°"):
        return "tt_rad" if units.startswith("rad") or base.lower().endswith("rad") else "tt"
    if _Q_RE.match(base):
        if "nm" in units or "nm" in base.lower():
            return "q_nm"
        return "q_a"
    return ""


def _numeric(d: Any) -> bool:
    return isinstance(d, h5py.Dataset) and d.dtype.kind in "fiu" and d.ndim in (1, 2)


def _nxdata_candidate(p: Path, f: h5py.File) -> tuple[str, str] | None:
    found: list[tuple[str, str]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _text(obj.attrs.get("NX_class", "")) == "NXdata":
            signal = _text(obj.attrs.get("signal", ""))
            axes = obj.attrs.get("axes", None)
            axes_list = [_text(a) for a in np.atleast_1d(axes)] if axes is not None else []
            names = [a for a in reversed(axes_list) if a and a != "."]
            axis = next((a for a in names if member(p, obj, a, required=False) is not None), "")
            if signal and axis and _numeric(member(p, obj, signal)) and _numeric(obj[axis]):
                found.append((f"{name}/{signal}", f"{name}/{axis}"))

    f.visititems(visit)
    return found[0] if found else None


def _heuristic_candidate(f: h5py.File) -> tuple[str, str] | None:
    datasets: dict[str, h5py.Dataset] = {}
    f.visititems(lambda n, o: datasets.__setitem__(n, o) if _numeric(o) else None)
    axes = {n: d for n, d in datasets.items() if d.ndim == 1 and _axis_kind(n, d)}
    best, best_score = None, -1.0
    for name, d in datasets.items():
        if name in axes or max(d.shape) < 5:
            continue
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        for aname, a in axes.items():
            if a.shape[0] not in d.shape:
                continue
            a_parent = aname.rsplit("/", 1)[0] if "/" in aname else ""
            score = d.size * (4 if a_parent == parent else 1) * (2 if d.ndim == 2 else 1)
            score *= 2 if name.rsplit("/", 1)[-1] in _SIGNAL_NAMES else 1
            if score > best_score:
                best, best_score = (name, aname), score
    return best


def _find_wavelength(f: h5py.File) -> float:
    hits: list[tuple[str, Any, str]] = []

    def visit(name: str, obj: Any) -> None:
        for key, value in obj.attrs.items():
            if key.lower() in ("wavelength", "wavelength_a", "energy"):
                hits.append((key.lower(), value, _text(obj.attrs.get(f"{key}_units", ""))))
        base = name.rsplit("/", 1)[-1].lower()
        if isinstance(obj, h5py.Dataset) and obj.size == 1 and base in ("wavelength", "wavelength_a",
                                                                         "incident_wavelength", "energy"):
            hits.append((base, obj[()], _text(obj.attrs.get("units", ""))))

    visit("", f)  # visititems skips the root group's own attributes
    f.visititems(visit)
    for key, value, units in hits:
        try:
            v = float(np.asarray(value).ravel()[0])
        except (TypeError, ValueError, IndexError):
            continue
        u = units.lower().strip()
        if key == "energy":
            return _KEV_A / (v / 1000.0 if u == "ev" else v) if v > 0 else math.nan
        if u in ("m", "meter", "metre") or (not u and 0 < v < 1e-6):
            return v * 1e10
        return v * 10.0 if u == "nm" else v
    return math.nan


def _per_scan(p: Path, group: h5py.Group, n: int) -> dict[str, Any]:
    coords: dict[str, Any] = {}
    for name, obj in safe_items(p, group):
        if not (isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.shape[0] == n and n > 0):
            continue
        low = name.lower()
        if low in ("time", "timestamp", "epoch", "start_time", "time_s") and obj.dtype.kind in "fiu":
            coords.update(scan_times(p, obj.name, obj[()].astype(float)))
        elif low in ("temperature", "temp", "temperature_k") and obj.dtype.kind in "fiu":
            t = obj[()].astype(float)
            units = _text(obj.attrs.get("units", "K")).upper().replace("°", "").replace("DEG", "")
            kelvin = t + 273.15 if units.strip() == "C" else t
            if np.isinf(kelvin).any() or (kelvin < 0).any():
                raise ReaderError(f"{p}: dataset {obj.name} holds temperatures that are infinite or below 0 K")
            coords["temperature_K"] = kelvin
    return coords


def _arrays(path: Path, f: h5py.File, sig_name: str, ax_name: str) -> tuple[np.ndarray, ...]:
    sig, ax = member(path, f, sig_name), member(path, f, ax_name)
    x = np.asarray(ax[()], dtype=float)
    y = np.atleast_2d(np.asarray(sig[()], dtype=float))
    if y.shape[-1] != x.size and y.shape[0] == x.size:
        y = y.T
    if y.shape[-1] != x.size:
        raise ReaderError(f"{path}: dataset {sig_name} shape {sig.shape} does not match axis {ax_name} ({x.size})")
    parent = sig.parent
    s = None
    for name in _SIGMA_NAMES:
        obj = member(path, parent, name, required=False)
        if isinstance(obj, h5py.Dataset) and obj.shape == sig.shape:
            s = np.atleast_2d(np.asarray(obj[()], dtype=float))
            s = s.T if s.shape != y.shape else s
            break
    return x, y, s


def _open_patterns(p: Path) -> tuple[h5py.File, str, str]:
    """Open ``p`` read-only and find its pattern dataset: (file, signal name, axis name).

    The dataset's links, storage and declared size are checked (:mod:`._h5safe`).
    The caller closes the file (``with f:``).
    """
    try:
        f = h5py.File(p, "r")
    except (OSError, ValueError) as err:
        raise ReaderError(f"{p}: not a readable HDF5 file ({err})") from err
    try:
        pick = _nxdata_candidate(p, f) or _heuristic_candidate(f)
        if pick is None:
            raise ReaderError(f"{p}: no 1-D/2-D pattern dataset with a 2θ or Q axis dataset found")
        check_pattern_dataset(p, member(p, f, pick[0]), member(p, f, pick[1]))
    except ReaderError:
        f.close()
        raise
    except H5_ERRORS as err:
        f.close()
        raise ReaderError(f"{p}: cannot read the HDF5 structure ({type(err).__name__}: {err})") from err
    return f, pick[0], pick[1]


@register("hdf5", extensions=(".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus"),
          description="HDF5/NeXus pattern stack")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a stack of 1-D patterns from an HDF5/NeXus file.

    Parameters
    ----------
    path : str or Path
        HDF5 file (opened read-only).
    wavelength_A : float, optional
        Wavelength (Å) for converting a Q axis; takes precedence over the file's.

    Returns
    -------
    xarray.Dataset
        Stack of shape (n_frames, n_points).

    Raises
    ------
    ReaderError
        Not HDF5, no pattern dataset with a radial axis, or a Q axis without wavelength.
    """
    p = check_file(path)
    f, sig_name, ax_name = _open_patterns(p)
    with f:
        logger.debug("%s: patterns from %s on axis %s", p, sig_name, ax_name)
        try:
            n_scans, n_points = check_pattern_dataset(p, f[sig_name], f[ax_name])
            check_read_size(p, f"dataset {sig_name}", n_scans, n_points,
                            hint="; 'phasetrace analyse' reads such stacks in chunks (--chunk-scans)")
            x, y, s = _arrays(p, f, sig_name, ax_name)
            kind = _axis_kind(ax_name, f[ax_name])
            if not kind:
                logger.warning("%s: axis %s has no recognised name or units; taken as 2θ in degrees", p, ax_name)
            file_wl = _find_wavelength(f)
            coords = _per_scan(p, f[sig_name].parent, y.shape[0])
        except H5_ERRORS as err:
            if isinstance(err, ReaderError):
                raise
            raise ReaderError(f"{p}: cannot read {sig_name} ({type(err).__name__}: {err})") from err
    wl = float(wavelength_A) if wavelength_A else file_wl  # the caller's override wins
    if kind == "tt_rad":
        x = np.rad2deg(x)
    elif kind.startswith("q"):
        if not math.isfinite(wl):
            raise ReaderError(f"{p}: axis {ax_name} is Q and the file gives no wavelength; pass --wavelength")
        x = q_to_two_theta(x / 10.0 if kind == "q_nm" else x, wl)
        if not np.all(np.isfinite(x)):
            raise ReaderError(f"{p}: Q values on {ax_name} are unreachable at λ = {wl:g} Å")
    wavelength = (file_wl, math.nan, 0.0) if math.isfinite(file_wl) else None
    return build_stack(p, x, y, s, source_format="hdf5", wavelength=wavelength,
                       radiation="synchrotron" if wavelength and file_wl < 1.0 else "", coords=coords,
                       attrs={"hdf5_dataset": sig_name, "hdf5_axis": ax_name})


@dataclass(frozen=True)
class LazyHDF5Stack:
    """An HDF5/NeXus pattern stack opened without reading its intensities.

    Holds only the file path, the dataset names, the 2θ grid and the per-scan
    coordinates; :meth:`read` reads a slice of scans with h5py (the file is opened
    read-only for each call, so the object pickles and can travel to Dask workers).

    Attributes
    ----------
    path : str
        HDF5 file.
    signal, axis, sigma : str
        Dataset names of the patterns, the radial axis and σ ("" when absent).
    scans_last : bool
        True when the signal is stored (n_points, n_scans).
    n_scans : int
        Number of scans.
    two_theta : ndarray, shape (n_points,)
        2θ grid, degrees (a Q or radian axis already converted).
    wavelength : tuple of float or None
        ``(λ1 Å, λ2 Å, I2/I1)`` from the file, None when the file gives none.
    coords : dict of str to ndarray
        Per-scan coordinates (``time_s``, ``datetime_start``, ``temperature_K``), shape (n_scans,).
    """

    path: str
    signal: str
    axis: str
    sigma: str
    scans_last: bool
    n_scans: int
    two_theta: np.ndarray
    wavelength: tuple[float, float, float] | None
    radiation: str
    coords: dict[str, np.ndarray]

    def read(self, start: int = 0, stop: int | None = None) -> xr.Dataset:
        """Read scans ``start`` to ``stop - 1`` (Python slice semantics) as a stack.

        Returns
        -------
        xarray.Dataset
            Stack of shape (stop - start, n_points), scans numbered from 0 as by :func:`read`.

        Raises
        ------
        ReaderError
            An empty or out-of-range slice, or an unreadable file.
        """
        start, stop = int(start), self.n_scans if stop is None else int(stop)
        if not 0 <= start < stop <= self.n_scans:
            raise ReaderError(f"{self.path}: scans {start}:{stop} requested; the file has {self.n_scans}")
        p = Path(self.path)
        check_read_size(p, f"scans {start}:{stop} of {self.signal}", stop - start, self.two_theta.size,
                        hint="; use a smaller --chunk-scans")
        try:
            with h5py.File(p, "r") as f:
                y = self._slice(f[self.signal], start, stop)
                s = self._slice(f[self.sigma], start, stop) if self.sigma else None
        except H5_ERRORS as err:
            if isinstance(err, ReaderError):
                raise
            raise ReaderError(f"{p}: cannot read scans {start}:{stop} of {self.signal} ({err})") from err
        x = self.two_theta  # a decreasing grid is reversed by build_stack, as in read()
        coords = {k: v[start:stop] for k, v in self.coords.items()}
        return build_stack(p, x, y, s, source_format="hdf5", wavelength=self.wavelength,
                           radiation=self.radiation, coords=coords,
                           attrs={"hdf5_dataset": self.signal, "hdf5_axis": self.axis,
                                  "first_scan": start})

    def read_rows(self, rows: list[int]) -> xr.Dataset:
        """Read the scans at increasing indices ``rows`` as one stack (one file open).

        The same stack as concatenating ``read(i, i + 1)`` for every ``i`` in ``rows``
        (a survey of a few scans spread over the file), in one h5py selection.

        Raises
        ------
        ReaderError
            Indices out of range or not strictly increasing, or an unreadable file.
        """
        rows = [int(i) for i in rows]
        if not rows or rows[0] < 0 or rows[-1] >= self.n_scans or any(b <= a for a, b in zip(rows, rows[1:])):
            raise ReaderError(f"{self.path}: scans {rows[:5]}... requested; expected increasing indices "
                              f"below {self.n_scans}")
        p = Path(self.path)
        try:
            with h5py.File(p, "r") as f:
                y = self._rows(f[self.signal], rows)
                s = self._rows(f[self.sigma], rows) if self.sigma else None
        except H5_ERRORS as err:
            if isinstance(err, ReaderError):
                raise
            raise ReaderError(f"{p}: cannot read scans {rows[:5]}... of {self.signal} ({err})") from err
        coords = {k: v[rows] for k, v in self.coords.items()}
        return build_stack(p, self.two_theta, y, s, source_format="hdf5", wavelength=self.wavelength,
                           radiation=self.radiation, coords=coords,
                           attrs={"hdf5_dataset": self.signal, "hdf5_axis": self.axis,
                                  "first_scan": rows[0]})

    def _rows(self, dset: h5py.Dataset, rows: list[int]) -> np.ndarray:
        if dset.ndim == 1:
            return np.repeat(np.asarray(dset[()], dtype=float)[None, :], len(rows), axis=0)
        block = dset[:, rows].T if self.scans_last else dset[rows]
        return np.asarray(block, dtype=float)

    def _slice(self, dset: h5py.Dataset, start: int, stop: int) -> np.ndarray:
        if dset.ndim == 1:
            return np.asarray(dset[()], dtype=float)[None, :]
        block = dset[:, start:stop].T if self.scans_last else dset[start:stop]
        return np.asarray(block, dtype=float)


def open_lazy(path: str | Path, *, wavelength_A: float | None = None) -> LazyHDF5Stack:
    """Open an HDF5/NeXus stack for reading slices of scans (nothing large is read).

    Parameters
    ----------
    path : str or Path
        HDF5 file (opened read-only).
    wavelength_A : float, optional
        Wavelength (Å) for converting a Q axis; takes precedence over the file's.

    Returns
    -------
    LazyHDF5Stack
        Call ``.read(start, stop)`` for a stack of those scans.

    Raises
    ------
    ReaderError
        As :func:`read`.
    """
    p = check_file(path)
    f, sig_name, ax_name = _open_patterns(p)
    with f:
        try:
            return _lazy(p, f, sig_name, ax_name, wavelength_A)
        except H5_ERRORS as err:
            if isinstance(err, ReaderError):
                raise
            raise ReaderError(f"{p}: cannot read {sig_name} ({type(err).__name__}: {err})") from err


def _lazy(p: Path, f: h5py.File, sig_name: str, ax_name: str, wavelength_A: float | None) -> LazyHDF5Stack:
    """The body of :func:`open_lazy` with the file open."""
    sig, ax = member(p, f, sig_name), member(p, f, ax_name)
    x = np.asarray(ax[()], dtype=float)
    shape = sig.shape if sig.ndim == 2 else (1, sig.shape[0])
    scans_last = shape[-1] != x.size and shape[0] == x.size
    if (shape[0] if scans_last else shape[-1]) != x.size:
        raise ReaderError(f"{p}: dataset {sig_name} shape {sig.shape} does not match axis {ax_name} ({x.size})")
    n = shape[-1] if scans_last else shape[0]
    parent = sig.parent
    sigmas = (member(p, parent, nm, required=False) for nm in _SIGMA_NAMES)
    sigma = next((obj.name for obj in sigmas if isinstance(obj, h5py.Dataset) and obj.shape == sig.shape), "")
    kind = _axis_kind(ax_name, ax)
    file_wl = _find_wavelength(f)
    coords = _per_scan(p, parent, n)
    x = _convert_axis(p, x, kind, ax_name, float(wavelength_A) if wavelength_A else file_wl)
    wavelength = (file_wl, math.nan, 0.0) if math.isfinite(file_wl) else None
    return LazyHDF5Stack(str(p), sig_name, ax_name, sigma, bool(scans_last), int(n), x, wavelength,
                         "synchrotron" if wavelength and file_wl < 1.0 else "",
                         {k: np.asarray(v) for k, v in coords.items()})


def _convert_axis(p: Path, x: np.ndarray, kind: str, ax_name: str, wl: float) -> np.ndarray:
    if kind == "tt_rad":
        return np.rad2deg(x)
    if kind.startswith("q"):
        if not math.isfinite(wl):
            raise ReaderError(f"{p}: axis {ax_name} is Q and the file gives no wavelength; pass --wavelength")
        x = q_to_two_theta(x / 10.0 if kind == "q_nm" else x, wl)
        if not np.all(np.isfinite(x)):
            raise ReaderError(f"{p}: Q values on {ax_name} are unreachable at λ = {wl:g} Å")
    return x
