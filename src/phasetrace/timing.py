"""Wall and CPU seconds of the stages of a run (read by ``benchmarks/bench_scale.py``).

CPU time is that of this process plus its finished child processes
(:func:`resource.getrusage`), so a ``--jobs N`` run counts its local workers once
the pool has shut down; the CPU of Dask workers (other processes on other
machines) is not seen here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

__all__ = ["StageTimes", "cpu_seconds"]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class StageTimes:
    """Seconds per named stage, in the order the stages ran.

    Attributes
    ----------
    wall_s, cpu_s : dict of str to float
        Wall-clock and CPU seconds of each stage (a stage entered twice adds up).
    peak_rss_mb : dict of str to float
        Peak resident memory of this process (MB) so far at the end of each stage: the
        stage where it rises is the one that needed the memory.
    """

    wall_s: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block as stage ``name``."""
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.wall_s[name] = self.wall_s.get(name, 0.0) + time.perf_counter() - wall0
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + cpu_seconds() - cpu0
            self.peak_rss_mb[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{stage: {"wall_s": ..., "cpu_s": ..., "peak_rss_mb": ...}}``, rounded."""
        return {k: {"wall_s": round(self.wall_s[k], 3), "cpu_s": round(self.cpu_s.get(k, 0.0), 3),
                    **({"peak_rss_mb": round(self.peak_rss_mb[k])} if k in self.peak_rss_mb else {})}
                for k in self.wall_s}

    def log(self) -> None:
        """One INFO line ``stage times: {json}`` (parsed by the scale benchmark)."""
        logger.info("stage times: %s", json.dumps(self.to_dict()))
