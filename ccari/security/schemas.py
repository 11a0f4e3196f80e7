"""JSON shapes of the security API."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from ccari.errors import BadRequest
from ccari.security.models import SecurityBlock


def block_json(row: SecurityBlock, now: dt.datetime) -> dict[str, Any]:
    lifted = row.lifted_at
    return {
        "id": row.id, "address": row.address, "reason": row.reason,
        "failures": row.failures, "offence": row.offence,
        "blocked_at": row.at.isoformat(), "until": row.until.isoformat(),
        "lifted_at": lifted.isoformat() if lifted else None, "lifted_by": row.lifted_by,
        "active": lifted is None and row.until > now,
    }


def address(text: str) -> str:
    """A single IP address, normalised; 400 ``invalid-address`` otherwise."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadRequest("not an IP address", error_id="invalid-address") from None
