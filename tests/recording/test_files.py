"""Recording files written once: the whole file or none, even when the disk is full."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from ccari.recording import files


def test_a_written_file_is_whole_and_its_checksum_matches(tmp_path: Path) -> None:
    relative = files.relative_path(3, "rec-c1-1")
    digest = files.write(tmp_path, relative, b"RIFF....WAVE")
    assert digest == hashlib.sha256(b"RIFF....WAVE").hexdigest()
    assert files.read(tmp_path, relative, digest) == b"RIFF....WAVE"
    assert sorted(p.name for p in (tmp_path / "recordings" / "3").iterdir()) == ["rec-c1-1.wav"]


def test_a_full_disk_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    relative = files.relative_path(3, "rec-c1-1")
    with pytest.raises(OSError) as exc:
        files.write(tmp_path, relative, b"RIFF....WAVE")
    assert exc.value.errno == errno.ENOSPC
    assert list((tmp_path / "recordings" / "3").iterdir()) == []  # no .tmp left taking space
    assert files.read(tmp_path, relative, "x") is None
