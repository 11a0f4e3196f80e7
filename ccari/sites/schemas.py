"""What the sites API takes: a site's name (from the path) and its capacity."""

from __future__ import annotations

from typing import Any

from ccari.errors import Invalid

MAX_KBPS = 100_000_000  # 100 Gbit/s
MAX_NAME = 100


def site_name(value: str) -> str:
    if not value.strip() or len(value) > MAX_NAME or not value.isprintable():
        raise Invalid(f"a site's name is 1 to {MAX_NAME} printable characters",
                      error_id="invalid-site-name")
    return value


def capacity(body: dict[str, Any]) -> int | None:
    """``{"wan_kbps": <kbit/s per direction, a whole number>}``, or null for unlimited."""
    unknown = sorted(set(body) - {"wan_kbps"})
    if unknown:
        raise Invalid(f"{unknown[0]}: unknown field", error_id="unknown-field")
    if "wan_kbps" not in body:
        raise Invalid("wan_kbps: required (kbit/s, or null for unlimited)",
                      error_id="invalid-capacity")
    value = body["wan_kbps"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_KBPS:
        raise Invalid(f"wan_kbps: a whole number of kbit/s from 1 to {MAX_KBPS}, or null",
                      error_id="invalid-capacity")
    return value
