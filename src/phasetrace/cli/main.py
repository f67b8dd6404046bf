"""Command-line entry point: argparse, logging set-up and exit codes.

Exit codes: 0 success; 1 bad input or a failed run (one line on stderr,
``phasetrace: error: <file>: <problem>``; the traceback only with ``--debug``);
2 usage error (argparse); 130 interrupted (Ctrl-C), with the one line
``phasetrace: interrupted``.

Ctrl-C is caught from the very first moment: this module imports only the
standard library, the subcommand modules import their heavy dependencies
(numpy, xarray, numba...) inside their ``run`` functions, and building the
parser happens inside the same ``try`` as the run itself.
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = "phasetrace: interrupted\n"


def _exit_interrupted(*_: object) -> None:  # pragma: no cover - runs in a signal handler
    """Second Ctrl-C while shutting down: leave at once, still with one line."""
    os._exit(130)


def _flush_and_exit(status: int) -> None:  # pragma: no cover - ends the process
    """Flush the standard streams and the log handlers, then end the process with ``status``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        import logging
        logging.shutdown()
    except Exception:  # noqa: BLE001 - leaving anyway
        pass
    os._exit(status)


def _excepthook(etype, value, tb):  # pragma: no cover - only an interrupt before main() gets here
    if issubclass(etype, KeyboardInterrupt):
        sys.stderr.write(INTERRUPTED)
        sys.stderr.flush()
        os._exit(130)
    sys.__excepthook__(etype, value, tb)


#: True when this process is the phasetrace command (``python -m phasetrace`` or the console script),
#: not a Python program that imported the CLI (pytest calling :func:`main`).
_IS_COMMAND = sys.argv[0].replace("\\", "/").endswith(("phasetrace/__main__.py", "/phasetrace", "phasetrace.exe"))
if _IS_COMMAND:  # installed at import, before anything heavy (``python -m phasetrace`` imports this first)
    sys.excepthook = _excepthook

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from .. import __version__  # noqa: E402
from ..errors import PhasetraceError, one_line  # noqa: E402

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


class _OneLineFormatter(logging.Formatter):
    """Log lines with control characters of file names escaped (tracebacks kept as they are)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging API
        return one_line(super().formatMessage(record))


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("phasetrace: %(message)s"))
    root = logging.getLogger("phasetrace")
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    warn_logger = logging.getLogger("py.warnings")
    warn_logger.handlers[:] = [handler]


def _context(args: argparse.Namespace | None) -> str:
    """The input the command was working on, for the last-resort error line."""
    if args is None:
        return "phasetrace"
    for key in ("input", "manifest", "results"):
        value = getattr(args, key, None)
        if value:
            return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return str(getattr(args, "command", "phasetrace"))


def _error(text: str) -> int:
    sys.stderr.write(f"phasetrace: error: {one_line(text)}\n")
    return 1


def _run(argv: Sequence[str] | None, state: dict) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    state["args"] = args
    if args.command is None:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    return int(args.func(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the phasetrace command line; return the exit status."""
    state: dict = {}
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in raw[: raw.index("--")] if "--" in raw else "--debug" in raw
    try:
        return _run(argv, state)
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        if _IS_COMMAND:
            # Leave now with 130. Returning would let the interpreter decide the status:
            # CPython remembers a KeyboardInterrupt that passed through any PyRun_* frame
            # (a library's embedded code) and then kills itself with SIGINT (status -2)
            # even though the interrupt was handled here.
            signal.signal(signal.SIGINT, _exit_interrupted)
            _flush_and_exit(130)
        return 130
    except PhasetraceError as err:
        if debug:
            raise
        return _error(str(err))
    except MemoryError as err:
        if debug:
            raise
        return _error(f"{_context(state.get('args'))}: out of memory ({err or 'allocation failed'}); "
                      "the input is larger than this machine can analyse at once")
    except OSError as err:
        if debug:
            raise
        where = f" {err.filename}" if getattr(err, "filename", None) else f" {_context(state.get('args'))}"
        return _error(f"{where.strip()}: {err.strerror or err}")
    except Exception as err:  # last resort: never a traceback for bad input without --debug
        if debug:
            raise
        return _error(f"{_context(state.get('args'))}: unexpected {type(err).__name__}: {err} "
                      "(run with --debug for the traceback)")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
