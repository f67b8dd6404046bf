"""Helpers of the hostile-input tests (issue 14): run the CLI in a subprocess, with limits.

Every test runs ``python -m phasetrace`` the way a user does and asserts the exact
one-line message; memory-bomb tests run it under an address-space limit
(``RLIMIT_AS``) and a wall-clock timeout, so a regression fails fast instead of
swapping the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

#: a normal ``info`` run needs < 1 GiB of address space, a normal ``analyse`` run
#: (numba/LLVM loaded) < 2 GiB (measured with RLIMIT_AS on a 2-scan file); the limits
#: leave ~1 GiB of headroom over that, far below what any of the bombs would take.
INFO_AS_BYTES = 2 * 1024**3
ANALYSE_AS_BYTES = 3 * 1024**3


def _limit(as_bytes: int | None):
    if as_bytes is None:
        return None

    def pre() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))

    return pre


def run_cli(*args: str, as_bytes: int | None = None, timeout: float = 300, inject: Path | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m phasetrace ARGS``; ``inject`` is a folder put first on PYTHONPATH (sitecustomize)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if inject is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(inject), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "phasetrace", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd, preexec_fn=_limit(as_bytes))


def error_line(res: subprocess.CompletedProcess) -> str:
    """The single ``phasetrace: error:`` line of a failed run (exit 1, no traceback, last line of stderr)."""
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = res.stderr.strip().split("\n")
    errors = [ln for ln in lines if ln.startswith("phasetrace: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    return errors[0]


def write_xy(path: Path, header: str = "", *, x: np.ndarray | None = None, centre: float = 30.0) -> Path:
    """A two-column pattern (one Gaussian peak on a flat background) with ``header`` lines before it."""
    x = np.arange(10.0, 60.0, 0.02) if x is None else x
    y = 100.0 + 1000.0 * np.exp(-0.5 * ((x - centre) / (0.01 * (x.max() - x.min()))) ** 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(f"{a:.6f} {b:.3f}\n" for a, b in zip(x, y)), encoding="utf-8")
    return path
