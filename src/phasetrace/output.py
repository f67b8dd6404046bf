"""Writing results: atomic files, provenance and the contract outputs.

Every file is first written under a temporary name in the destination folder
and then renamed (``os.replace``), so a crash never leaves a half-written file
that looks complete, and re-running into the same folder replaces results
cleanly.  Nothing outside the output folder is touched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import OutputError

logger = logging.getLogger(__name__)

_UMASK = os.umask(0o022)
os.umask(_UMASK)

__all__ = ["atomic_path", "write_text_atomic", "write_json_atomic", "write_netcdf_atomic",
           "prepare_out_dir", "file_sha256", "json_default"]


def prepare_out_dir(out: str | Path) -> Path:
    """Create the output folder (and parents); check it is writable.

    Raises
    ------
    OutputError
        If the folder cannot be created or written to.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".phasetrace-probe-"):
            pass
    except OSError as err:
        raise OutputError(f"{out}: output folder is not writable ({err.strerror or err}); "
                          "choose another --out") from err
    return out


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    A full disk (ENOSPC) becomes an :class:`OutputError` naming the file.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno == errno.ENOSPC:
            raise OutputError(f"{path}: disk full while writing; free space and re-run "
                              "(no partial result was left)") from err
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj: Any) -> Any:
    """JSON encoder hook for numpy scalars/arrays and paths."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        value = float(obj)
        return None if not np.isfinite(value) else value
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_nan(obj: Any) -> Any:
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON (UTF-8, non-ASCII kept, NaN → null) atomically."""
    text = json.dumps(_clean_nan(data), indent=1, ensure_ascii=False, default=json_default)
    return write_text_atomic(path, text + "\n")


def write_netcdf_atomic(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a Dataset to netCDF-4 (h5netcdf engine) atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file (read-only)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
