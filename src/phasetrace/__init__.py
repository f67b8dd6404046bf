"""phasetrace: analyser for operando powder X-ray diffraction of battery electrodes.

The pipeline is read → preprocess → fit → identify → refine → transitions → report;
each step is a subpackage (:mod:`phasetrace.io`, :mod:`phasetrace.background`,
:mod:`phasetrace.peaks`, :mod:`phasetrace.phases`, :mod:`phasetrace.lattice`,
:mod:`phasetrace.transitions`, :mod:`phasetrace.plot`, :mod:`phasetrace.report`).
Heavy dependencies (numba, matplotlib, dask) are imported only by the
subpackages that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import PhasetraceError  # noqa: E402

__all__ = ["__version__", "PhasetraceError"]
