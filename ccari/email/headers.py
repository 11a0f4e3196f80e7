"""Threading and loop-guard rules on header values (pure; tested with tables).

* Threading: a message joins the thread of any Message-ID it names in ``In-Reply-To`` or
  ``References`` (RFC 5322 3.6.4); a reply carries the parent's References plus the
  parent's own Message-ID.
* Auto-replies (RFC 3834): never answer a message that is itself automatic (Auto-Submitted,
  Precedence bulk/list/junk, mailing-list headers, empty return path, daemons).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

MSGID = re.compile(r"<[^<>\s]{3,490}>")
MAX_THREAD_IDS = 50
# A reply's References keeps the first id (the thread root) and the most recent ones.
MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|fw|fwd)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(\+.*)?@",
                      re.IGNORECASE)
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                      r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                      r"[A-Za-z]{2,63}$")


def message_ids(value: str | None) -> list[str]:
    """The ``<id@host>`` tokens of a header value, in order."""
    return MSGID.findall(value or "")


def thread_ids(in_reply_to: str | None, references: str | None) -> list[str]:
    """Ids that may name this message's thread, most specific first, without repeats."""
    out: list[str] = []
    for mid in [*message_ids(in_reply_to), *reversed(message_ids(references))]:
        if mid not in out:
            out.append(mid)
    return out[:MAX_THREAD_IDS]


def references_for_reply(parent_refs: Iterable[str], parent_id: str) -> list[str]:
    """The References of a reply: the parent's chain, then the parent itself."""
    chain = [r for r in parent_refs if r != parent_id] + [parent_id]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return chain


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return "Re: your message"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def valid_address(value: str | None) -> str | None:
    """A plain mailbox address (no display name), the domain lower-cased; None if invalid."""
    if not value or len(value) > 254:
        return None
    value = value.strip()
    if not _ADDRESS.match(value):
        return None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() or "ccari.invalid"


def is_automatic(headers: Mapping[str, str], envelope_from: str | None, from_address: str) -> bool:
    """True for mail no auto-reply may answer (``headers`` keyed in lower case)."""
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if headers.get("precedence", "").strip().lower() in {"bulk", "list", "junk", "auto_reply"}:
        return True
    if any(h in headers for h in ("list-id", "list-unsubscribe", "x-autoreply", "x-autorespond",
                                  "x-auto-response-suppress", "feedback-id")):
        return True
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return True  # a bounce (null reverse-path)
    return bool(_DAEMONS.match(from_address))


def anticipated_response_s(predicted_wait_s: float | None, fallback_s: float) -> float:
    """What to announce: the queue's predicted wait, or the mailbox's target when no agent
    who could answer is logged in (the prediction is infinite); 0 once with an agent."""
    if predicted_wait_s is None:
        return 0.0
    if not math.isfinite(predicted_wait_s):
        return max(fallback_s, 0.0)
    return max(predicted_wait_s, 0.0)


def describe_wait(seconds: float) -> str:
    """``within a few minutes`` / ``within about 25 minutes`` / ``within about 3 hours``."""
    if seconds < 5 * 60:
        return "within a few minutes"
    if seconds < 90 * 60:
        return f"within about {math.ceil(seconds / 300) * 5} minutes"
    if seconds < 36 * 3600:
        return f"within about {math.ceil(seconds / 3600)} hours"
    return f"within about {math.ceil(seconds / 86400)} days"
