"""Exception and warning types of phasetrace.

Every error raised on purpose by phasetrace derives from :class:`PhasetraceError`
and *also* from the matching built-in exception, so ``except ValueError`` keeps
working for callers that do not know about phasetrace.  All exceptions take the
full message as their only argument, so they survive pickling (Dask moves them
between processes).
"""

from __future__ import annotations

__all__ = [
    "PhasetraceError",
    "SchemaError",
    "ReaderError",
    "EchemError",
    "ConfigError",
    "FitError",
    "ReferenceError_",
    "PhaseLibraryError",
    "OutputError",
    "PhasetraceWarning",
    "InterpolationWarning",
    "AlignmentWarning",
    "FitWarning",
    "one_line",
    "PhaseLibraryWarning",
]

import unicodedata

#: bidirectional-override characters (they reorder how the rest of a line is shown).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class PhasetraceError(Exception):
    """Base class of all errors raised by phasetrace on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class SchemaError(PhasetraceError, ValueError):
    """A Dataset does not follow the phasetrace stack schema."""


class ReaderError(PhasetraceError, ValueError):
    """A pattern file cannot be read or holds unusable data."""


class EchemError(PhasetraceError, ValueError):
    """Electrochemistry or scan-log data cannot be read or aligned."""


class ConfigError(PhasetraceError, ValueError):
    """An option or configuration value is invalid."""


class FitError(PhasetraceError, RuntimeError):
    """A fit could not be carried out (raised only with ``errors="raise"``)."""


class PhaseLibraryError(PhasetraceError, ValueError):
    """A reference phase (CIF or metadata) is broken or unknown."""


# Backwards-compatible alias kept short for internal use.
ReferenceError_ = PhaseLibraryError


class OutputError(PhasetraceError, OSError):
    """Results cannot be written (unwritable folder, disk full, ...)."""


class PhasetraceWarning(UserWarning):
    """Base class of phasetrace warnings."""


class InterpolationWarning(PhasetraceWarning):
    """Scans were put on a common 2θ grid by interpolation."""


class AlignmentWarning(PhasetraceWarning):
    """Scan times were inferred rather than read (e.g. evenly spaced)."""


class FitWarning(PhasetraceWarning):
    """Some fits failed or were flagged; see the status variables."""


def one_line(text: object) -> str:
    """``text`` with every control, line-separator or bidi character escaped (``\\n``, ``\\x1b``).

    Error and log lines name user files, and a file name may hold a newline or an
    escape sequence; escaping keeps every message on one terminal line and stops
    a name from rewriting what the terminal shows.
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


class PhaseLibraryWarning(PhasetraceWarning):
    """A reference phase was changed on loading (e.g. a P1 CIF symmetrised)."""
