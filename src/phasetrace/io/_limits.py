"""Size limits on what a reader accepts, so a small hostile file cannot exhaust memory or time.

The limits describe what a powder-diffraction stack can be, with a wide margin:

* :data:`MAX_SCANS` — 10⁶ scans in one stack (a year of 30-second scans);
* :data:`MAX_POINTS` — 10⁶ points per scan (0.0001° steps over 100° of 2θ);
* :data:`MAX_TEXT_BYTES` — 128 MiB per text pattern file (10⁶ points × 3 columns
  of ~40 characters; parsing holds about ten times the file size in memory);
* :data:`MAX_XML_BYTES` — 256 MiB of XML per file (an ``.xrdml`` file, or all
  documents read from one ``.brml``/``.rasx`` archive); the parsed element tree
  takes several times the text size;
* :data:`MAX_ZIP_MEMBERS` — 100 000 entries in a ``.brml``/``.rasx`` archive
  (its directory is read into memory when the archive is opened);
* a stack read at once must fit, as float64 intensities and σ with working
  copies (:data:`BYTES_PER_VALUE`), in half the memory available to the process
  (:func:`memory_budget`); larger HDF5 stacks are analysed chunk by chunk.

A declared size is checked *before* anything is allocated (zip headers, HDF5
shapes), and zip members are also read with a byte budget, because a header can lie.
"""

from __future__ import annotations

import math
import os
import resource

__all__ = ["MAX_SCANS", "MAX_POINTS", "MAX_TEXT_BYTES", "MAX_XML_BYTES", "MAX_ZIP_MEMBERS",
           "BYTES_PER_VALUE", "memory_budget", "human_bytes"]

MAX_SCANS = 1_000_000
MAX_POINTS = 1_000_000
MAX_TEXT_BYTES = 128 * 1024**2
MAX_XML_BYTES = 256 * 1024**2
MAX_ZIP_MEMBERS = 100_000
#: bytes of memory per stack value when a stack is read at once: intensity and σ as
#: float64 (16 B) plus the reading copy and the validation temporaries (16 B).
BYTES_PER_VALUE = 32
#: cap on :func:`memory_budget` where the available memory cannot be read.
_DEFAULT_BUDGET = 8 * 1024**3


def _available_bytes() -> float:
    """Memory this process may still use: MemAvailable, and the address-space limit if lower."""
    avail = math.inf
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as fh:
                used = float(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            avail = min(avail, max(soft - used, 0.0))
    except (OSError, ValueError, IndexError):
        pass
    return avail


def memory_budget() -> float:
    """Bytes a stack read at once may take: half the memory available to this process."""
    avail = _available_bytes()
    return 0.5 * avail if math.isfinite(avail) else float(_DEFAULT_BUDGET)


def human_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'`` (binary units, three significant digits)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024.0
    return f"{n:.3g} EiB"  # pragma: no cover
