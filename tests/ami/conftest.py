from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ccari.ami import AmiAdapter
from ccari.ari import ReconnectPolicy
from tests.ami.ami_fake import FakeAmi
from tests.ari.loop_guard import no_asyncio_errors  # noqa: F401 - autouse fixture

FAST = ReconnectPolicy(initial=0.02, maximum=0.1)


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def make_adapter(fake_ami: FakeAmi) -> AsyncIterator[Callable[..., AmiAdapter]]:
    adapters: list[AmiAdapter] = []
    port = fake_ami.server.sockets[0].getsockname()[1]

    def make(**kwargs: Any) -> AmiAdapter:
        options: dict[str, Any] = {
            "timeout": 1.0,
            "connect_timeout": 2.0,
            "ping_interval": 30.0,
            "reconnect": FAST,
        }
        options.update(kwargs)
        adapter = AmiAdapter(
            "127.0.0.1",
            options.pop("port", port),
            fake_ami.username,
            options.pop("secret", fake_ami.secret),
            **options,
        )
        adapters.append(adapter)
        return adapter

    yield make
    for adapter in adapters:
        await adapter.close()
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("ami")]
    assert not leftover, f"tasks left running: {leftover}"
