"""Files kept beside the database (recordings, faxes) are kept across a power loss: the
data and the rename are both on disk before ccari says the file is stored (a full disk:
``tests/recording/test_files.py``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ccari.storage.files import write_durably


def test_the_data_and_its_name_are_synced_and_only_ccari_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []  # per fsync: was it a directory's
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "recordings" / "1" / "call.wav"
    write_durably(path, b"RIFF....WAVE")
    assert path.read_bytes() == b"RIFF....WAVE"
    assert synced == [False, True]  # the file's data, then its directory's entry
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["call.wav"]

