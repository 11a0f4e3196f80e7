from __future__ import annotations

from typing import Any

import pytest

from ccari.ami import AmiEvent, AmiResponseError, is_idempotent
from ccari.ami.actions import command_output, make_action, originate_action, originate_result


@pytest.mark.parametrize(
    ("action", "replayable"),
    [
        ({"Action": "Ping"}, True),
        ({"action": "status"}, True),
        ({"Action": "CoreShowChannels"}, True),
        ({"Action": "QueueStatus", "Queue": "sales"}, True),
        ({"Action": "Command", "Command": "core show channels"}, True),
        ({"Action": "Command", "Command": "pjsip show endpoints"}, True),
        ({"Action": "Command", "Command": "Core Show Version"}, True),
        ({"Action": "Command", "Command": "dialplan reload"}, False),
        ({"Action": "Command", "Command": "channel request hangup all"}, False),
        ({"Action": "Command", "Command": ""}, False),
        ({"Action": "Originate", "Channel": "PJSIP/x"}, False),
        ({"Action": "Hangup", "Channel": "PJSIP/x-1"}, False),
        ({"Action": "Redirect"}, False),
        ({"Action": "Reload", "Module": "res_pjsip.so"}, False),
        ({"Action": "QueueAdd"}, False),
        ({"Action": "Login"}, False),
    ],
)
def test_is_idempotent(action: dict[str, str], replayable: bool) -> None:
    assert is_idempotent(action) is replayable


async def test_make_action_keeps_caller_action_id() -> None:
    act = make_action({"Action": "Originate", "ActionID": "att-1"}, None)
    assert act["ActionID"] == "att-1"
    generated = make_action({"Action": "Ping"}, None)
    assert generated["ActionID"]
    with pytest.raises(ValueError):
        make_action({"Channel": "PJSIP/x"}, None)


def _originate(**kw: Any) -> dict[str, str | list[str]]:
    base: dict[str, Any] = dict(
        action_id="a",
        channel_id="c",
        channel="PJSIP/x",
        context=None,
        exten=None,
        priority=None,
        application=None,
        data=None,
        caller_id=None,
        variables=None,
        timeout_ms=30000,
        other_channel_id=None,
    )
    base.update(kw)
    return originate_action(**base)


def test_originate_action_shape() -> None:
    action = _originate(application="Wait", data="1", variables={"A": "1"})
    assert action == {
        "Action": "Originate",
        "ActionID": "a",
        "ChannelId": "c",
        "Channel": "PJSIP/x",
        "Timeout": "30000",
        "Async": "true",
        "Application": "Wait",
        "Data": "1",
        "Variable": ["A=1"],
    }
    with pytest.raises(ValueError):
        _originate(action_id="")
    with pytest.raises(ValueError):
        _originate(channel_id="")


def test_originate_result() -> None:
    queued = {"Response": "Success", "ActionID": "a", "Message": "Originate successfully queued"}
    done = {"Event": "OriginateResponse", "Response": "Failure", "Reason": "5", "Channel": "x"}
    result = originate_result([queued, done])
    assert (result.success, result.reason, result.channel) == (False, 5, "x")
    with pytest.raises(AmiResponseError, match="Extension does not exist"):
        originate_result([{"Response": "Error", "Message": "Extension does not exist."}])


def test_command_output() -> None:
    assert command_output({"Response": "Success", "Output": "one"}) == ["one"]
    assert command_output({"Response": "Success", "Output": ["a", "b"]}) == ["a", "b"]
    assert command_output({"Response": "Success"}) == []
    with pytest.raises(AmiResponseError):
        command_output({"Response": "Error", "Message": "Permission denied"})


def test_event_lookup_is_case_insensitive() -> None:
    ev = AmiEvent("VarSet", {"Uniqueid": "1.2", "Variable": "X", "ChanVariable": ["A=1", "B=2"]})
    assert ev.get("uniqueid") == ev.get("UNIQUEID") == "1.2"
    assert ev.get("missing", "-") == "-"
    assert ev.get_all("chanvariable") == ["A=1", "B=2"]
    assert ev.get("ChanVariable") == "B=2"
