"""Run ``phasetrace analyse`` on every simulated case and compare the sequence with truth.

Usage::

    python benchmarks/make_sim_sequences.py --out /tmp/phasetrace-sim
    PYTHONPATH=src python benchmarks/run_sim_sequences.py [--cases /tmp/phasetrace-sim]
                                                          [--out /tmp/phasetrace-sim-out] [--jobs 2]

Each case is analysed the way ``tests/test_cases_end_to_end.py`` analyses the
shared cases: ``python -m phasetrace analyse CASE/patterns --echem CASE/echem.csv
--scan-log CASE/scan_log.csv --out OUT/CASE`` (default options).  Prints per
case the truth sequence, the found one (``sequence.json``) and whether they are
exactly equal, then "N of M exact".  The phasetrace that runs is the one on the
interpreter's path (set ``PYTHONPATH`` to choose a checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_case(case: Path, out: Path) -> tuple[str, str, float]:
    """(found sequence or the error line, stderr tail, seconds) of one case."""
    cmd = [sys.executable, "-m", "phasetrace", "analyse", str(case / "patterns"),
           "--echem", str(case / "echem.csv"), "--scan-log", str(case / "scan_log.csv"),
           "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, MPLBACKEND="Agg"))
    dt = time.perf_counter() - t0
    seq = out / "sequence.json"
    if proc.returncode != 0 or not seq.is_file():
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return f"ERROR rc={proc.returncode}: {tail}", proc.stderr, dt
    return json.loads(seq.read_text(encoding="utf-8"))["sequence"], proc.stderr, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="/tmp/phasetrace-sim", help="folder of case folders")
    ap.add_argument("--out", default="/tmp/phasetrace-sim-out", help="folder for the run outputs")
    ap.add_argument("--jobs", type=int, default=1, help="cases analysed at once")
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    args = ap.parse_args()
    root = Path(args.cases)
    cases = sorted(p for p in root.iterdir() if (p / "truth.json").is_file()
                   and (not args.only or p.name in args.only))
    if not cases:
        print(f"no case folders with truth.json in {root}; run benchmarks/make_sim_sequences.py",
              file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda c: run_case(c, Path(args.out) / c.name), cases))
    n_exact = 0
    for case, (found, _, dt) in zip(cases, results):
        truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))["sequence"]
        exact = found == truth
        n_exact += exact
        print(f"{case.name}  ({dt:.0f} s)\n  truth: {truth}\n  found: {found}\n  exact: "
              f"{'yes' if exact else 'no'}")
    print(f"{n_exact} of {len(cases)} exact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
