"""Fail a test when asyncio reports an error behind its back: an exception in a callback,
a task exception never retrieved, or a task destroyed while pending."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Iterator

import pytest


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_asyncio_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    handler = _Collect()
    is_async = inspect.iscoroutinefunction(getattr(request.node, "function", None))
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        if is_async:
            gc.collect()  # surfaces "Task was destroyed but it is pending!"
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]
