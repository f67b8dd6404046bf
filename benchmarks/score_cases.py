"""Score phasetrace against the truth of case folders (``../shared/cases`` layout).

For each case: the sequence (exact or not), and on steady scans (truth ``transitional``
false) the median and 90th-percentile |volume fraction − truth| over the phases of the
truth, and the median |cell − truth| per phase and axis (Å), with the share of phase rows
whose fit is not converged.

    PYTHONPATH=src python benchmarks/score_cases.py ../shared/cases/* [--out-root /tmp/score]

Runs ``python -m phasetrace analyse CASE/patterns --echem … --scan-log …`` unless
``OUT_ROOT/<case>/lattice.csv`` exists (``--reuse``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def run_case(case: Path, out: Path, reuse: bool) -> None:
    if reuse and (out / "lattice.csv").exists():
        return
    cmd = [sys.executable, "-m", "phasetrace", "--quiet", "analyse", str(case / "patterns"), "--out", str(out),
           "--no-figures", "--no-report"]
    if (case / "echem.csv").exists():
        cmd += ["--echem", str(case / "echem.csv")]
    if (case / "scan_log.csv").exists():
        cmd += ["--scan-log", str(case / "scan_log.csv")]
    subprocess.run(cmd, check=True, env={**os.environ, "MPLBACKEND": "Agg"})


def score(case: Path, out: Path) -> dict:
    truth = json.loads((case / "truth.json").read_text())
    seq = json.loads((out / "sequence.json").read_text())
    rows = list(csv.DictReader((out / "lattice.csv").open()))
    by_scan: dict[int, dict[str, dict]] = {}
    for r in rows:
        by_scan.setdefault(int(r["scan"]), {})[r["phase"]] = r
    frac_err, cell_err = [], {}
    unconverged = sum(r.get("fit_status", "converged") != "converged" for r in rows)
    for t in truth["scans"]:
        if t.get("transitional"):
            continue
        found = by_scan.get(int(t["scan"]), {})
        for name, p in t["phases"].items():
            r = found.get(name)
            vf = float(r["volume_fraction"]) if r and r["volume_fraction"] not in ("", "nan") else 0.0
            frac_err.append(abs(vf - p["fraction"]))
            if r and r["a"] not in ("", "nan"):
                for ax in ("a", "c"):
                    cell_err.setdefault(f"{name}.{ax}", []).append(abs(float(r[ax]) - p[ax]))
    fe = np.array(frac_err) if frac_err else np.array([np.nan])
    return {"case": case.name, "truth": truth["sequence"], "found": seq.get("sequence"),
            "exact": seq.get("sequence") == truth["sequence"],
            "vf_median": float(np.median(fe)), "vf_p90": float(np.percentile(fe, 90)),
            "cell_median": {k: float(np.median(v)) for k, v in sorted(cell_err.items())},
            "unconverged_rows": f"{unconverged}/{len(rows)}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--out-root", type=Path, default=Path("/tmp/phasetrace-score"))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args(argv)
    results = []
    for case in args.cases:
        if not (case / "truth.json").exists():
            continue
        out = args.out_root / case.name
        run_case(case, out, args.reuse)
        res = score(case, out)
        results.append(res)
        print(json.dumps(res), flush=True)
    exact = sum(r["exact"] for r in results)
    print(f"{exact} of {len(results)} exact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
