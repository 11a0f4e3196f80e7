"""The toll-fraud guard: may ccari dial this number for this tenant?  Pure, no I/O.

Every number ccari would dial out (web callback, click-to-call, IVR "call me back", API) goes
through :func:`check` before anything is saved, so a refused number never reaches Asterisk:

1. **Parse and validate** with ``phonenumbers`` (E.164: ``+`` or ``00`` then the country
   code; letters, extensions and numbers that are not valid in their plan are refused):
   422 ``invalid-number``.
2. **High-risk destinations** are refused even when the tenant's allow-list covers them:
   the non-geographic "countries" (``+800``, ``+808``, ``+870``, ``+881``-``+883``, ``+979``:
   satellite, international networks, international premium rate), destinations known for
   international revenue share fraud (IRSF), and the NANP countries outside the US and
   Canada (``+1 876`` Jamaica, ``+1 809`` Dominican Republic...: dialled like a US number,
   billed as international; the "one ring" scams).  Tenants add their own with ``deny``.
3. **Number type**: only fixed-line and mobile numbers by default; premium rate, shared
   cost, UAN, personal numbers, pagers, VoIP, voicemail, toll-free and unknown types are
   refused (a tenant may widen ``types``).
4. **Allow-list**: the tenant names the destinations it calls back, as region codes
   (``"GB"``) or E.164 prefixes (``"+44"``, ``"+1201"``); an empty list allows nothing.

Refusals 2-4 are 403 ``number-not-allowed`` with the reason in the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import PhoneNumberType as T

from ccari.errors import CcariError, Forbidden


class InvalidNumber(CcariError):
    """This is not a valid international phone number."""

    error_id = "invalid-number"
    status = 422


class NumberNotAllowed(Forbidden):
    """ccari does not call this number for this tenant."""

    error_id = "number-not-allowed"


TYPE_NAMES: dict[int, str] = {
    T.FIXED_LINE: "fixed-line", T.MOBILE: "mobile", T.FIXED_LINE_OR_MOBILE: "fixed-line-or-mobile",
    T.TOLL_FREE: "toll-free", T.PREMIUM_RATE: "premium-rate", T.SHARED_COST: "shared-cost",
    T.VOIP: "voip", T.PERSONAL_NUMBER: "personal-number", T.PAGER: "pager", T.UAN: "uan",
    T.VOICEMAIL: "voicemail", T.UNKNOWN: "unknown",
}
SAFE_TYPES = frozenset({"fixed-line", "mobile", "fixed-line-or-mobile"})

# Country codes and prefixes refused whatever the allow-list says (E.164 with '+').
NON_GEOGRAPHIC = ("+800", "+808", "+870", "+878", "+881", "+882", "+883", "+888", "+979")
# NANP countries other than the US (and its territories) and Canada: international rates.
NANP_ABROAD = tuple(f"+1{npa}" for npa in (
    "242", "246", "264", "268", "284", "345", "441", "473", "649", "658", "664", "721", "758",
    "767", "784", "809", "829", "849", "868", "869", "876"))
# Destinations commonly abused for international revenue share fraud (whole country codes).
IRSF = ("+53", "+224", "+225", "+231", "+232", "+235", "+236", "+239", "+240", "+245",
        "+247", "+252", "+257", "+290", "+291", "+371", "+375", "+381", "+423", "+500",
        "+670", "+672", "+674", "+675", "+676", "+677", "+678", "+680", "+681", "+682",
        "+683", "+685", "+686", "+687", "+688", "+689", "+690", "+691", "+692", "+960")
HIGH_RISK: tuple[str, ...] = NON_GEOGRAPHIC + NANP_ABROAD + IRSF

_REGION = re.compile(r"^[A-Z]{2}$")
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")
_SEPARATORS = re.compile(r"[\s().\-/]")
_RAW = re.compile(r"^\+[0-9]{2,17}$")


@dataclass(frozen=True)
class DialPolicy:
    allow: frozenset[str] = frozenset()  # region codes and '+' prefixes
    deny: tuple[str, ...] = ()
    types: frozenset[str] = SAFE_TYPES
    high_risk: tuple[str, ...] = field(default=HIGH_RISK, repr=False)

    @classmethod
    def of(cls, allow: Iterable[str], deny: Iterable[str] = (),
           types: Iterable[str] | None = None) -> DialPolicy:
        """A policy from stored settings; raises ``ValueError`` naming a bad entry."""
        allow_set = frozenset(validate_entry(a) for a in allow)
        deny_t = tuple(validate_entry(d) for d in deny)
        if types is None:
            return cls(allow_set, deny_t)
        unknown = set(types) - set(TYPE_NAMES.values())
        if unknown:
            raise ValueError(f"unknown number types {sorted(unknown)}")
        return cls(allow_set, deny_t, frozenset(types))


@dataclass(frozen=True)
class Destination:
    e164: str  # "+12015550199"
    region: str  # "US"; "001" for non-geographic numbers
    type: str  # one of TYPE_NAMES' values

    @property
    def digits(self) -> str:
        """E.164 without '+': how ccari stores caller numbers and dials the carrier."""
        return self.e164[1:]


def validate_entry(entry: str) -> str:
    """An allow/deny entry: a region code ("GB") or an E.164 prefix ("+4420")."""
    value = entry.strip()
    if _REGION.match(value.upper()) and not value.startswith("+"):
        return value.upper()
    if _PREFIX.match(value):
        return value
    raise ValueError(f"{entry!r} is neither a region code like 'GB' nor a prefix like '+44'")


def parse(raw: str) -> Destination:
    """A valid number in E.164, or :class:`InvalidNumber`."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise InvalidNumber("give the phone number in international format, e.g. +44 20 7946 0000")
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _RAW.match(text):
        raise InvalidNumber("give the phone number in international format, e.g. +44 20 7946 0000")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidNumber("this is not a phone number") from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise InvalidNumber("this is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    return Destination(e164, region, TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"))


def _covered(e164: str, region: str, entries: Iterable[str]) -> str | None:
    for entry in entries:
        if entry.startswith("+") and e164.startswith(entry):
            return entry
        if entry == region:
            return entry
    return None


def check(raw: str, policy: DialPolicy) -> Destination:
    """The destination if ``policy`` lets ccari dial it; else a 422 or 403 error."""
    dest = parse(raw)
    risky = _covered(dest.e164, dest.region, (*policy.high_risk, *policy.deny))
    if risky is not None or dest.region in ("001", "ZZ"):
        raise NumberNotAllowed(f"calls to {risky or 'this destination'} are refused "
                               "(high-risk destination)")
    if dest.type not in policy.types:
        raise NumberNotAllowed(f"{dest.type} numbers are not called back")
    if _covered(dest.e164, dest.region, policy.allow) is None:
        raise NumberNotAllowed(f"this tenant does not call numbers in {dest.region}")
    return dest
