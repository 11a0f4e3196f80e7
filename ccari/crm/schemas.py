"""The customer record as an admin writes it, parsed and checked.

Pure: JSON-like input in, a frozen :class:`CustomerSpec` out, or :class:`Invalid` with a
stable error id (``bad-name``, ``bad-email``, ``bad-phone``, ``bad-entitlement``).  Phones
are normalised as the screen pop looks them up (:func:`normalise`: E.164 digits without
'+'), so a number an admin types is the number a caller's ID finds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers

from ccari.errors import Invalid

__all__ = ["CustomerSpec", "Invalid", "customer", "normalise"]

# The project has no region per tenant: a number without a country code is read as North
# American, as the screen pop's lookup always has.
DEFAULT_REGION = "US"
EMAIL = re.compile(r"^[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;]+$")
MAX_PHONES = 20
MAX_ENTITLEMENTS = 50
FIELDS = {"name", "email", "phones", "entitlements"}


@dataclass(frozen=True)
class CustomerSpec:
    name: str
    email: str | None = None
    phones: tuple[str, ...] = ()  # E.164 digits without '+', no duplicates
    entitlements: tuple[tuple[str, str], ...] = ()  # (service, level)

    def entitlements_json(self) -> list[dict[str, str]]:
        return [{"service": s, "level": lvl} for s, lvl in self.entitlements]


@functools.lru_cache(maxsize=4096)  # callers call again; parsing is the costly part
def normalise(number: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 digits without '+', or None when the text is no phone number."""
    if not number:
        return None
    raw = number.strip()
    for text, default in ((raw if raw.startswith("+") else "+" + raw, None), (raw, region)):
        try:
            parsed = phonenumbers.parse(text, default)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    return None


def _text(value: Any, where: str, error_id: str, *, most: int, separators: str = "") -> str:
    if not isinstance(value, str):
        raise Invalid(f"{where}: a text is required", error_id=error_id)
    text = value.strip()
    if not 0 < len(text) <= most:
        raise Invalid(f"{where}: 1 to {most} characters", error_id=error_id)
    if any(unicodedata.category(c) == "Cc" for c in text) or any(c in text for c in separators):
        raise Invalid(f"{where}: control characters{' or ' + separators if separators else ''}"
                      " are not allowed", error_id=error_id)
    return text


def email(value: Any, where: str = "email") -> str | None:
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or len(text) > 200 or not EMAIL.fullmatch(text):
        raise Invalid(f"{where}: {value!r} is not an email address", error_id="bad-email")
    return text


def phones(value: Any, where: str = "phones") -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_PHONES:
        raise Invalid(f"{where}: a list of at most {MAX_PHONES} phone numbers",
                      error_id="bad-phone")
    out: list[str] = []
    for i, raw in enumerate(value):
        e164 = normalise(raw) if isinstance(raw, str) and len(raw) <= 40 else None
        if e164 is None:
            raise Invalid(f"{where}[{i}]: {raw!r} is not a phone number", error_id="bad-phone")
        if e164 not in out:
            out.append(e164)
    return tuple(out)


def entitlements(value: Any, where: str = "entitlements") -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) > MAX_ENTITLEMENTS:
        raise Invalid(f"{where}: a list of at most {MAX_ENTITLEMENTS} {{service, level}}",
                      error_id="bad-entitlement")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"service", "level"}:
            raise Invalid(f"{where}[{i}]: an object {{service, level}} is required",
                          error_id="bad-entitlement")
        # ':' and ';' separate them in the CSV form.
        out.append((_text(item["service"], f"{where}[{i}].service", "bad-entitlement",
                          most=64, separators=":;"),
                    _text(item["level"], f"{where}[{i}].level", "bad-entitlement",
                          most=64, separators=":;")))
    return tuple(out)


def customer(body: Any) -> CustomerSpec:
    """A customer from the API's JSON (or a CSV row read into it)."""
    if not isinstance(body, dict):
        raise Invalid("a JSON object is required", error_id="bad-json")
    unknown = set(body) - FIELDS
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}", error_id="unknown-field")
    return CustomerSpec(name=_text(body.get("name"), "name", "bad-name", most=200),
                        email=email(body.get("email")),
                        phones=phones(body.get("phones", [])),
                        entitlements=entitlements(body.get("entitlements", [])))
