"""Write the simulated operando measurement set (tests/sim) as case folders.

Usage::

    python benchmarks/make_sim_sequences.py [--out /tmp/phasetrace-sim] [--only NAME ...]

Each case folder has the layout of ``../shared/cases/*``: ``patterns/*.xye``,
``echem.csv``, ``scan_log.csv``, ``truth.json``.  The simulator
(:mod:`tests.sim`) uses numpy, scipy and pymatgen only, not phasetrace's
analysis code; see ``tests/sim/cases.py`` for the list and the physics.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sim.cases import CASES  # noqa: E402
from sim.operando import simulate  # noqa: E402
from sim.writer import write_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/phasetrace-sim", help="folder for the case folders")
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")              # pymatgen CIF rounding notes
    out = Path(args.out)
    todo = [c for c in CASES if not args.only or c.name in args.only]
    for case in todo:
        t0 = time.perf_counter()
        sim = simulate(case)
        folder = write_case(case, sim, out / case.name)
        print(f"{case.name}: {sim.counts.shape[0]} scans x {sim.counts.shape[1]} points "
              f"-> {folder} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
