"""A results folder as one set: run id, lock on ``--out``, done-marker, and the check readers make.

Every file of a run carries the same run id (``sequence.json["run_id"]``, the
``run_id`` column of ``lattice.csv`` and ``sequence.csv``, ``results.nc``
``attrs["run_id"]``, a comment in ``sequence.md``/``.tex``, a ``<meta>`` in
``report.html``, a PNG text chunk in the figures).  The done-marker
``.phasetrace-done`` is written last, atomically, and holds the run id and the
SHA-256 of every file of the set; it is removed before a run writes its first
output.  So a run killed at any point leaves either the previous complete set
or a set without marker, which :func:`check_set` (used by ``phasetrace plot``)
refuses.

A run holds an exclusive lock (``fcntl.flock`` on ``.phasetrace.lock``, holding
its pid) on the output folder for its whole duration; a second run on the same
folder fails at once.  The kernel releases the lock when its holder dies, so a
lock left by a killed run is never stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import OutputError, ReaderError
from .output import file_sha256, write_json_atomic

logger = logging.getLogger(__name__)

__all__ = ["DONE_MARKER", "LOCK_FILE", "new_run_id", "lock_out_dir", "clear_done", "mark_done",
           "check_set", "read_done"]

#: written last: run id and the SHA-256 of every file of the set.
DONE_MARKER = ".phasetrace-done"
#: held (flock) by the run writing into the folder.
LOCK_FILE = ".phasetrace.lock"


def new_run_id() -> str:
    """A fresh run id (32 hex digits, random)."""
    return uuid.uuid4().hex


@contextlib.contextmanager
def lock_out_dir(out: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock on ``out`` for the duration of the block.

    Raises
    ------
    OutputError
        ``"<out>: another phasetrace run (pid N) is writing to this folder; wait for it
        to finish or choose another --out"`` when the lock is held.
    """
    path = Path(out) / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputError(f"{out}: another phasetrace run ({holder}) is writing to this folder; "
                              "wait for it to finish or choose another --out") from None
        # the file may have been unlinked by the previous holder between open and flock
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"


#: files a run writes (their ``.NAME.*.part`` temporaries are ours to remove).
OUTPUT_NAMES = ("sequence.json", "lattice.csv", "sequence.csv", "sequence.md", "sequence.tex",
                "results.nc", "report.html", "viewer.html", "evolution.csv", "evolution.md",
                "evolution.tex", DONE_MARKER)


def clear_done(out: str | Path) -> None:
    """First step of a run: the folder is no longer a finished set.

    Removes the done-marker and the temporary files (``.NAME.*.part``) a killed run
    left for our own output names, in ``out`` and ``out/figures``; nothing else.
    """
    out = Path(out)
    (out / DONE_MARKER).unlink(missing_ok=True)
    stale = [p for name in OUTPUT_NAMES for p in out.glob(f".{name}.*.part")]
    figures = out / "figures"
    if figures.is_dir() and not figures.is_symlink():  # a link may lead out of --out: never followed
        stale += list(figures.glob(".*.part"))
    stale = [p for p in stale if p.is_file() and not p.is_symlink()]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info("%s: removed %d temporary file(s) of an interrupted run", out, len(stale))


def mark_done(out: str | Path, run_id: str, written: dict[str, Path]) -> Path:
    """Write the done-marker last: run id and SHA-256 of every file written."""
    out = Path(out)
    files = {name: file_sha256(path) for name, path in sorted(written.items())}
    return write_json_atomic(out / DONE_MARKER, {"run_id": run_id, "files": files})


def read_done(out: str | Path) -> dict[str, Any] | None:
    """The done-marker of ``out`` (None when absent or unreadable)."""
    try:
        data = json.loads((Path(out) / DONE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_set(out: str | Path, *, run_id: str | None, verify: bool = True) -> None:
    """Refuse a results folder that is not one finished set.

    Parameters
    ----------
    out : path
        The results folder.
    run_id : str or None
        The run id read from the file about to be used (``results.nc`` attrs); None
        for a file written before run ids existed, which is accepted with a warning.
    verify : bool
        Also compare the SHA-256 of every file listed in the marker.

    Raises
    ------
    ReaderError
        No done-marker (the run that wrote the folder did not finish), a marker of
        another run, or a file changed since the marker was written.
    """
    out = Path(out)
    marker = read_done(out)
    if run_id is None:
        if marker is None:
            logger.warning("%s: results written by an older phasetrace (no run id, no done-marker); "
                           "cannot check that the files belong together", out)
        return
    if marker is None:
        raise ReaderError(f"{out}: incomplete result set (no {DONE_MARKER} marker: a run writing "
                          "to this folder did not finish); re-run 'phasetrace analyse'")
    if marker.get("run_id") != run_id:
        raise ReaderError(f"{out}: mixed result set (files of run {run_id[:12]}, done-marker of run "
                          f"{str(marker.get('run_id'))[:12]}); re-run 'phasetrace analyse'")
    if verify:
        for name, digest in (marker.get("files") or {}).items():
            path = out / name
            if not path.is_file() or file_sha256(path) != digest:
                raise ReaderError(f"{path}: changed or missing since run {run_id[:12]} finished; "
                                  "re-run 'phasetrace analyse'")
