"""Which AMI actions may be re-sent after a reconnect, and the message shapes we hand out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panoramisk.actions import Action, Command

from ccari.ami.errors import AmiResponseError

AmiMessage = dict[str, str | list[str]]

# Read-only actions: sending one twice changes nothing on the PBX.
READ_ONLY_ACTIONS = frozenset(
    {
        "ping",
        "status",
        "corestatus",
        "coresettings",
        "coreshowchannels",
        "getvar",
        "queuestatus",
        "queuesummary",
        "listcommands",
        "bridgelist",
        "bridgeinfo",
        "showdialplan",
        "extensionstate",
        "devicestatelist",
        "presencestate",
        "mailboxcount",
        "mailboxstatus",
        "pjsipshowendpoints",
        "pjsipshowendpoint",
        "pjsipshowcontacts",
        "pjsipshowaors",
        "pjsipshowregistrationsoutbound",
        "dbget",
    }
)


def is_idempotent(action: Mapping[str, Any]) -> bool:
    """True for read-only actions and read-only CLI commands (``core show ...``).

    Everything else (Originate, Hangup, Redirect, Reload, QueueAdd, a CLI ``reload``...) is
    treated as non-idempotent: after a disconnect it fails with ``AmiActionLost``."""
    name = str(get_header(action, "action")).lower()
    if name == "command":
        words = str(get_header(action, "command")).lower().split()
        return "show" in words[:2]
    return name in READ_ONLY_ACTIONS


def get_header(action: Mapping[str, Any], key: str) -> Any:
    for k, v in action.items():
        if k.lower() == key:
            return v
    return ""


def action_name(action: Mapping[str, Any]) -> str:
    return str(get_header(action, "action")) or "?"


def make_action(action: Mapping[str, str | Sequence[str]], as_list: bool | None) -> Action:
    """A panoramisk ``Action`` (or ``Command``) with an ActionID, keeping one given."""
    if not get_header(action, "action"):
        raise ValueError(f"AMI action without 'Action': {dict(action)!r}")
    values = {k: v if isinstance(v, str) else list(v) for k, v in action.items()}
    if str(get_header(action, "action")).lower() == "command":
        return Command(values, as_list=as_list)
    return Action(values, as_list=as_list)


def to_dict(message: Any) -> AmiMessage:
    return {str(k): v if isinstance(v, list) else str(v) for k, v in message.items()}


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """The ``OriginateResponse`` of an async Originate."""

    success: bool
    reason: int  # 4: answered, 5: busy, 8: congestion, 3: no answer, 0/1: failed
    channel: str
    uniqueid: str
    response: AmiMessage


def _is_error(message: Any) -> bool:
    return str(message.get("Response", "")).lower() == "error"


def command_output(message: Any) -> list[str]:
    """The output lines of a ``Command`` response (``Output:`` headers since Asterisk 14)."""
    if _is_error(message):
        raise AmiResponseError(f"Command: {message.get('Message')}", to_dict(message))
    output = message.get("Output", "")
    lines = output if isinstance(output, list) else [output] if output else []
    content = getattr(message, "content", "")  # pre-14 style "Response: Follows" body
    return lines or [line for line in str(content).splitlines() if line]


def originate_action(
    *,
    action_id: str,
    channel_id: str,
    channel: str,
    context: str | None,
    exten: str | None,
    priority: int | None,
    application: str | None,
    data: str | None,
    caller_id: str | None,
    variables: Mapping[str, str] | None,
    timeout_ms: int,
    other_channel_id: str | None,
) -> dict[str, str | list[str]]:
    if not action_id or not channel_id:
        raise ValueError("originate needs a stable action_id and channel_id")
    optional = {
        "Context": context,
        "Exten": exten,
        "Priority": None if priority is None else str(priority),
        "Application": application,
        "Data": data,
        "CallerID": caller_id,
        "OtherChannelId": other_channel_id,
    }
    action: dict[str, str | list[str]] = {
        "Action": "Originate",
        "ActionID": action_id,
        "ChannelId": channel_id,
        "Channel": channel,
        "Timeout": str(timeout_ms),
        "Async": "true",
    }
    action.update({k: v for k, v in optional.items() if v is not None})
    if variables:
        action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
    return action


def originate_result(messages: Sequence[Any]) -> OriginateResult:
    """From ``[Response, OriginateResponse]`` (or a lone ``Response: Error``)."""
    final = to_dict(messages[-1])
    if len(messages) == 1 and _is_error(final):
        raise AmiResponseError(f"Originate: {final.get('Message')}", final)
    reason = str(final.get("Reason", "0"))
    return OriginateResult(
        success=str(final.get("Response", "")).lower() == "success",
        reason=int(reason) if reason.isdecimal() else 0,
        channel=str(final.get("Channel", "")),
        uniqueid=str(final.get("Uniqueid", "")),
        response=final,
    )
