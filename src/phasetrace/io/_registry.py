"""Registry of pattern readers: one entry per file format.

Each format module registers its ``read`` function with :func:`register`::

    @register("xrdml", extensions=(".xrdml",), description="PANalytical XML")
    def read(path: Path, *, wavelength_A: float | None = None) -> xr.Dataset: ...

The registry maps a name and file extensions to the function; there is no
metaclass and no import-time scanning of the file system (cf. HEXRD's
``imageseries/load/registry.py``, minus its metaclass).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ..errors import ReaderError

__all__ = ["ReaderInfo", "register", "get_reader", "reader_for_path", "available_formats",
           "supported_extensions"]

logger = logging.getLogger(__name__)

ReadFunc = Callable[..., xr.Dataset]


@dataclass(frozen=True)
class ReaderInfo:
    """A registered reader.

    Attributes
    ----------
    name : str
        Format name used by ``format=`` (e.g. ``"xrdml"``).
    extensions : tuple of str
        Lower-case file extensions with the dot (e.g. ``(".xrdml",)``).
    read : callable
        ``read(path, *, wavelength_A=None) -> xarray.Dataset`` returning a stack.
    description : str
        One line for ``phasetrace info`` and error messages.
    """

    name: str
    extensions: tuple[str, ...]
    read: ReadFunc
    description: str = ""


_READERS: dict[str, ReaderInfo] = {}


def register(name: str, *, extensions: tuple[str, ...], description: str = "") -> Callable[[ReadFunc], ReadFunc]:
    """Register a reader function under ``name`` and file ``extensions``.

    Parameters
    ----------
    name : str
        Unique format name.
    extensions : tuple of str
        File extensions (with the dot, any case) this reader handles.
    description : str, optional
        Human-readable description.

    Returns
    -------
    callable
        A decorator returning the function unchanged.
    """
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)

    def decorator(func: ReadFunc) -> ReadFunc:
        if name in _READERS and _READERS[name].read is not func:
            raise ValueError(f"a reader named {name!r} is already registered")
        _READERS[name] = ReaderInfo(name, exts, func, description)
        return func

    return decorator


def available_formats() -> dict[str, ReaderInfo]:
    """Return a copy of the registry: format name → :class:`ReaderInfo`."""
    return dict(_READERS)


def supported_extensions() -> set[str]:
    """Return every registered file extension (lower case, with the dot)."""
    return {ext for info in _READERS.values() for ext in info.extensions}


def get_reader(name: str) -> ReaderInfo:
    """Return the reader registered as ``name``; raise :class:`ReaderError` if unknown."""
    key = name.strip().lower()
    if key not in _READERS:
        raise ReaderError(
            f"unknown format {name!r}: expected one of {', '.join(sorted(_READERS))}")
    return _READERS[key]


def reader_for_path(path: Path) -> ReaderInfo:
    """Choose the reader for ``path`` from its extension (and content for text files).

    Text-like extensions (``.dat``, ``.txt``, ``.xye`` ...) holding a GSAS
    ``BANK`` record are sent to the GSAS reader.

    Raises
    ------
    ReaderError
        If no reader handles the extension.
    """
    ext = path.suffix.lower()
    matches = [info for info in _READERS.values() if ext in info.extensions]
    if not matches:
        raise ReaderError(
            f"{path}: unsupported file type {ext or '(no extension)'!r}; supported: "
            f"{', '.join(sorted(supported_extensions()))} (or pass format=...)")
    info = matches[0]
    if info.name == "text" and "gsas" in _READERS and _looks_like_gsas(path):
        logger.debug("%s: GSAS BANK record found; using the GSAS reader", path)
        return _READERS["gsas"]
    return info


def _looks_like_gsas(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return any(line.lstrip().startswith(b"BANK ") for line in head.splitlines()[:200])
