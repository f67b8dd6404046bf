"""Atomic writing: no half-written results, clear errors for unwritable folders or full disks."""

import errno
import json
import os
from pathlib import Path

import pytest

from phasetrace.errors import OutputError
from phasetrace.output import atomic_path, prepare_out_dir, write_json_atomic, write_text_atomic


def test_crash_during_write_leaves_old_file(tmp_path):
    target = tmp_path / "lattice.csv"
    target.write_text("old complete result\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old complete result\n"
    assert list(tmp_path.iterdir()) == [target]


def test_disk_full_is_output_error(tmp_path, monkeypatch):
    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputError, match="disk full"):
        write_text_atomic(tmp_path / "sequence.json", "{}")
    monkeypatch.undo()
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OutputError, match="not writable"):
        prepare_out_dir(ro / "out")


def test_unwritable_folder_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not writable"):
        prepare_out_dir(blocker / "out")


def test_json_nan_becomes_null(tmp_path):
    path = write_json_atomic(tmp_path / "s.json", {"v": float("nan"), "arrow": "P2 → O2"})
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"v": None, "arrow": "P2 → O2"}
