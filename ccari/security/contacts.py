"""An endpoint's registrations in Asterisk, read and removed over AMI (the guard's thin edge).

Asterisk 22 has no action that removes one inbound registration (``PJSIPUnregister`` is for
its own outbound ones).  Its contacts live in the AstDB (``registrar/contact/<id>``, the
object as JSON), and Asterisk deletes a contact whose ``expiration_time`` has passed
whenever it reads the AOR's contacts (a call to the phone does, before it picks one), through
its own delete: the contact's status and the endpoint's device state go with it (AMI
``ContactStatus: Removed``).  So a contact is removed by setting its expiration in the past
(``DBGet``, ``DBPut``: from then on no call can reach it), then reading the AOR at once
(the CLI's ``pjsip show aor``), which deletes it; ``DBGet`` then finds nothing.

The contacts are listed with ``PJSIPShowContacts``, never ``PJSIPShowEndpoint``, whose
answer carries the endpoint's password in clear (and AMI messages are logged at DEBUG).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from ccari.ami.actions import AmiMessage
from ccari.ami.errors import AmiResponseError
from ccari.security.facts import Contact, parse_contact

FAMILY = "registrar/contact"
_ENDPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # safe in a CLI command


class Manager(Protocol):
    async def send(self, action: Mapping[str, str | Sequence[str]], *,
                   check: bool = True) -> AmiMessage | list[AmiMessage]: ...

    async def command(self, cli: str) -> list[str]: ...


def _messages(answer: AmiMessage | list[AmiMessage]) -> list[AmiMessage]:
    return answer if isinstance(answer, list) else [answer]


async def of_endpoint(ami: Manager, endpoint: str) -> list[Contact]:
    """The registrations of ``endpoint`` Asterisk holds."""
    found = []
    messages = _messages(await ami.send({"Action": "PJSIPShowContacts"}, check=False))
    first = messages[0] if messages else {}
    if first.get("Response") == "Error":
        if first.get("Message") == "No Contacts found":  # Asterisk's way to say "none"
            return []
        raise AmiResponseError(f"PJSIPShowContacts: {first.get('Message')}", first)
    for m in messages:
        if m.get("Event") == "ContactList" and m.get("Endpoint") == endpoint:
            contact = parse_contact({"ID": str(m.get("ObjectName", "")),
                                     "URI": str(m.get("Uri", "")),
                                     "CallID": str(m.get("CallId", ""))})
            if contact is not None:
                found.append(contact)
    return found


async def _stored(ami: Manager, contact: Contact) -> dict[str, object] | None:
    """The contact as the AstDB holds it, if it is still the registration we know."""
    try:
        answer = await ami.send({"Action": "DBGet", "Family": FAMILY, "Key": contact.id})
    except AmiResponseError:  # "Database entry not found"
        return None
    value = next((str(m.get("Val", "")) for m in _messages(answer)
                  if m.get("Event") == "DBGetResponse"), "")
    try:
        stored = json.loads(value)
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("call_id") != contact.call_id:
        return None  # another registration under the same id (refreshed or replaced)
    return stored


async def remove(ami: Manager, endpoint: str, contacts: Sequence[Contact]) -> list[Contact]:
    """Remove ``contacts`` of ``endpoint``; those still there afterwards."""
    if not _ENDPOINT.fullmatch(endpoint):
        raise ValueError(f"not an endpoint name: {endpoint!r}")
    for contact in contacts:
        stored = await _stored(ami, contact)
        if stored is not None:
            stored["expiration_time"] = "1"  # 1970: expired
            await ami.send({"Action": "DBPut", "Family": FAMILY, "Key": contact.id,
                            "Val": json.dumps(stored, separators=(",", ":"))})
    await ami.command(f"pjsip show aor {endpoint}")  # reading the AOR deletes them
    return [c for c in contacts if await _stored(ami, c) is not None]
