"""The opt-in heap dump: what grew between two dumps, by line and by object type."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from ccari import heap


class Kept:
    pass


def test_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "0"):
        monkeypatch.setenv(heap.DUMP_ENV, value)
        assert heap.Dumps.from_env() is None


def test_a_dump_names_the_line_and_the_type_that_grew(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "heap.txt"
    monkeypatch.setenv(heap.DUMP_ENV, str(out))
    dumps = heap.Dumps.from_env()
    assert dumps is not None
    try:
        kept = [Kept() for _ in range(20_000)]  # the leak
        dumps.dump()
    finally:
        tracemalloc.stop()
    text = out.read_text()
    since_last = text.split("---- since start")[0]
    assert f"{__file__}:{kept_line()}" in since_last
    assert "+20000 Kept" in text.split("---- object types")[1]
    assert len(kept) == 20_000


def kept_line() -> int:
    source = Path(__file__).read_text().splitlines()
    return next(n for n, line in enumerate(source, 1) if "# the leak" in line)
