"""Which customer session has which open chat, and which agent is in it.

Memory of this node, rebuilt from the database: on start (``ChatService.start``) and each
time a customer page connects.  The database stays the record of truth.
"""

from __future__ import annotations

from ccari.chat.models import ChatSession
from ccari.chat.sockets import Key
from ccari.storage.models import Contact


class OpenChats:
    def __init__(self) -> None:
        self._by_session: dict[Key, str] = {}
        self._by_contact: dict[str, Key] = {}
        self._agents: dict[str, int] = {}  # connected chats only

    def remember(self, chat: ChatSession, contact: Contact) -> Key:
        key = (chat.tenant_id, chat.session_id)
        self._by_session[key] = contact.id
        self._by_contact[contact.id] = key
        if contact.state == "connected" and contact.agent_id is not None:
            self._agents[contact.id] = contact.agent_id
        return key

    def forget(self, contact_id: str) -> Key | None:
        key = self._by_contact.pop(contact_id, None)
        if key is not None and self._by_session.get(key) == contact_id:
            del self._by_session[key]
        self._agents.pop(contact_id, None)
        return key

    def sessions(self) -> list[tuple[Key, str]]:
        """Every open chat this node knows: (customer session, contact id)."""
        return list(self._by_session.items())

    def of_session(self, key: Key) -> str | None:
        return self._by_session.get(key)

    def session_of(self, contact_id: str) -> Key | None:
        return self._by_contact.get(contact_id)

    def agent_of(self, contact_id: str | None) -> int | None:
        return self._agents.get(contact_id) if contact_id else None

    def set_agent(self, contact_id: str, agent_id: int | None) -> None:
        if agent_id is None:
            self._agents.pop(contact_id, None)
        else:
            self._agents[contact_id] = agent_id
