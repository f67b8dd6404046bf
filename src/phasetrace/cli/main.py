"""Command-line entry point: argparse, logging set-up and exit codes.

Exit codes: 0 success; 1 a :class:`~phasetrace.errors.PhasetraceError` (one line on
stderr, traceback only with ``--debug``); 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import PhasetraceError

#: subcommand name -> module under phasetrace.cli providing add_parser() and run()
SUBCOMMANDS = {
    "analyse": "analyse",
    "info": "info",
    "plot": "plot",
    "batch": "batch",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one subparser per available subcommand."""
    parser = argparse.ArgumentParser(
        prog="phasetrace",
        description="Operando powder XRD analyser: read → fit → identify → refine → transitions → report.",
    )
    parser.add_argument("--version", action="version", version=f"phasetrace {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"phasetrace.cli.{module_name}")
        except ModuleNotFoundError as err:
            if err.name == f"phasetrace.cli.{module_name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("phasetrace: %(message)s"))
    root = logging.getLogger("phasetrace")
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    warn_logger = logging.getLogger("py.warnings")
    warn_logger.handlers[:] = [handler]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the phasetrace command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except PhasetraceError as err:
        if args.debug:
            raise
        sys.stderr.write(f"phasetrace: error: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("phasetrace: interrupted\n")
        return 130
    except OSError as err:
        if args.debug:
            raise
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        sys.stderr.write(f"phasetrace: error:{where}: {err.strerror or err}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
