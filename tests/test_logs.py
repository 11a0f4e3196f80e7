"""The log formats: one JSON object a line with the contact a line concerns, set once where a
contact's work runs and inherited by the tasks it starts; the text format names it too."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from ccari import config as config_mod
from ccari import logs
from ccari.config import ConfigError


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    out = io.StringIO()
    handler = logs.handler(fmt, out)
    logger = logging.getLogger(f"ccari.test.logs.{fmt}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, out, handler


def test_a_json_line_has_time_level_logger_message_and_the_contact() -> None:
    logger, out, handler = capture("json")
    try:
        logger.info("no contact here: %s", "x")
        with logs.contact("c0ffee", 7):
            logger.warning("contact %s: queued", "c0ffee")
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("it failed")
        logger.info("after")
    finally:
        logger.removeHandler(handler)
    first, second, third, fourth = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message"}
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO", "ccari.test.logs.json", "no contact here: x")
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert (second["contact_id"], second["tenant_id"], second["level"]) == ("c0ffee", 7, "WARNING")
    assert third["contact_id"] == "c0ffee" and "ValueError: boom" in third["exception"]
    assert "contact_id" not in fourth


async def test_tasks_started_in_a_contacts_work_carry_it_and_others_do_not() -> None:
    logger, out, handler = capture("json")

    async def work(n: int) -> None:
        logger.info("step %d", n)

    try:
        with logs.contact("a1", 1):
            first = asyncio.create_task(work(1))
        with logs.contact("b2", 2):
            second = asyncio.create_task(work(2))
        third = asyncio.create_task(work(3))
        await asyncio.gather(first, second, third)
    finally:
        logger.removeHandler(handler)
    seen = {json.loads(line)["message"]: json.loads(line).get("contact_id")
            for line in out.getvalue().splitlines()}
    assert seen == {"step 1": "a1", "step 2": "b2", "step 3": None}
    assert logs.current() is None


def test_the_text_format_names_the_contact() -> None:
    logger, out, handler = capture("text")
    try:
        with logs.contact("abc", 3):
            logger.info("answered")
        logger.info("idle")
    finally:
        logger.removeHandler(handler)
    answered, idle = out.getvalue().splitlines()
    assert answered.endswith("INFO ccari.test.logs.text [contact abc]: answered")
    assert idle.endswith("INFO ccari.test.logs.text: idle")


def test_the_format_is_checked_in_the_config() -> None:
    assert config_mod.load(env={}).log_format == "text"
    assert config_mod.load(env={"CCARI_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        config_mod.load(env={"CCARI_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="log format"):
        logs.handler("xml")


async def test_work_done_holding_a_contacts_lock_is_that_contacts() -> None:
    logger, out, handler = capture("json")
    lock = logs.ContactLock("c1", 4)
    try:
        with logs.contact("outer", 1):
            async with lock:
                logger.info("inside")
                assert lock.locked()
            logger.info("after")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    seen = [(json.loads(line)["message"], json.loads(line).get("contact_id"))
            for line in out.getvalue().splitlines()]
    assert seen == [("inside", "c1"), ("after", "outer"), ("outside", None)]
    assert not lock.locked()
