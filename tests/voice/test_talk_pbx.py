"""The customer endpoint on the real Asterisk, from outside ccari's relay: an INVITE to the
widget's ``talk`` target straight at Asterisk's SIP port (no key: only the relay adds it)
is refused and never becomes a contact."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.sipp import run_sipp
from tests.voice.conftest import VoiceEnv
from tests.voice.test_voice_pbx import contacts

pytestmark = pytest.mark.pbx
OUTSIDER_IP = "127.0.0.31"


async def test_a_call_to_talk_that_does_not_come_through_the_relay_is_refused(
        ccari: Runtime, voice_env: VoiceEnv) -> None:
    result = await run_sipp("scanner_invite.xml", voice_env.sip_target, local_ip=OUTSIDER_IP,
                            calls=2, rate=10, inject=[["talk"], ["talk"]], timeout_s=20)
    # Refused (challenged: no endpoint is identified without ccari's key), never answered.
    assert result.ok, result.describe()
    assert set(result.responses) <= {401, 403, 404} and result.responses, result.describe()
    assert await contacts(ccari) == []
