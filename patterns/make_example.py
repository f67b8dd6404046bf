"""Regenerate the SYNTHETIC example stack ``patterns/p2o3_example/`` (deterministic).

Usage (from the repository root)::

    python patterns/make_example.py            # writes patterns/p2o3_example/
    python patterns/make_example.py --out DIR  # somewhere else

The stack is simulated by :mod:`phasetrace.simulate` (scenario
:func:`phasetrace.simulate.p2o3_scenario`, seed 20240501): a P2/O3 cathode
cycled 2.0–4.1 V, lab Cu Kα1+Kα2, 100 scans, Al current-collector peaks,
background, preferred orientation, zero shift and Poisson noise.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phasetrace.simulate import p2o3_scenario, simulate_operando, write_case

SEED = 20240501
logger = logging.getLogger("make_example")


def main(argv: list[str] | None = None) -> int:
    """Simulate the example and write its files; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "p2o3_example")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sim = simulate_operando(p2o3_scenario(), seed=args.seed)
    write_case(sim, args.out)
    logger.info("wrote %d scans to %s; truth sequence: %s", sim.stack.sizes["scan"], args.out,
                sim.truth["sequence"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
