"""The provisioning model: what an admin may say about a tenant, parsed and checked.

Pure: JSON-like input in, frozen dataclasses out, or :class:`Invalid` naming the field
(``agents[1].skills[0].level``).  What needs the database (a DID taken by another tenant,
a menu an option names) is checked by :mod:`ccari.provisioning.services`, which also checks
a whole tenant document against itself here (:func:`check_document`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import phonenumbers

from ccari.agents.devices import BROWSER, DEVICES, SIP
from ccari.errors import Invalid as Invalid  # what every parser here raises
from ccari.pbx.render import project_root
from ccari.pbx.spec import reserved
from ccari.provisioning import hours as hrs
from ccari.provisioning.fields import Fields
from ccari.storage.models import MAX_IVR_DEPTH

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # PJSIP endpoint names, usernames
ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# What ccari.pbx.spec lets into a PJSIP config file as a password.
SECRET = re.compile(r"^[A-Za-z0-9_.~+/=!@%^*(){}:,?-]{8,128}$")
CONTACT = re.compile(r"^sips?:[A-Za-z0-9_.!~*'()&=+$,;?/%-]*@?[A-Za-z0-9.\-\[\]:]+(;[\w=.-]+)*$")
PROMPT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
DIGITS = frozenset("0123456789*#")
ROLES = ("agent", "supervisor")
# "video": calls with video from the customer's page, offered only to a browser phone agent
# (a SIP phone agent's video slot is never used: ccari.contacts.routing.router_agent).
MEDIA = ("voice", "video", "chat", "email", "voicemail", "callback", "webhelp")
ACTIONS = ("callback",)
SKILL_LEVELS = range(1, 11)
MAX_SLOTS = 20


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    ring_timeout_s: int = 15
    wrap_up_s: float = 5.0
    announce_every_s: float = 30.0
    greeting: str | None = None  # a tenant's prompt played once as a caller joins


PURPOSES = ("voice", "fax")


@dataclass(frozen=True)
class NumberSpec:
    did: str  # E.164 digits without '+'
    queue: str = "main"
    menu: str | None = None  # the IVR the caller hears first, then the queue
    hours: Mapping[str, Any] | None = None  # its own calendar (ccari.provisioning.hours)
    after_hours: Mapping[str, Any] | None = None  # its after-hours route; None: announcement
    purpose: str = "voice"  # or "fax": calls are received as faxes (ccari.fax), no IVR


@dataclass(frozen=True)
class Skill:
    name: str
    value: str
    level: int = 5


@dataclass(frozen=True)
class AgentSpec:
    username: str
    name: str
    phone_username: str
    phone_password: str
    web_password: str | None = None  # None on an update: the password stays
    # A phone that does not register (a desk phone at a fixed address, a SIPp UAS):
    # Asterisk calls this SIP URI.  None: the phone registers.
    phone_contact: str | None = None
    # "sip" (a SIP phone), "sip-tls" (over TLS, SRTP) or "browser" (the agent page is the
    # phone, over WebRTC).
    device: str = "sip"
    site: str | None = None
    role: str = "agent"
    skills: tuple[Skill, ...] = ()
    slots: Mapping[str, Any] = field(default_factory=lambda: {
        "per_medium": {"voice": 1}, "total": 1, "exclusive": ["voice"]})


@dataclass(frozen=True)
class OptionSpec:
    digit: str
    label: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    menu: str | None = None  # a sub-menu of the same tenant
    action: str | None = None  # "callback": offer a callback instead of queueing


@dataclass(frozen=True)
class MenuSpec:
    name: str
    prompt: str = "welcome"
    invalid_prompt: str = "invalid-option"
    timeout_s: float = 5.0
    max_tries: int = 3
    default: Mapping[str, str] | None = None  # attributes when every try failed; None: hang up
    options: tuple[OptionSpec, ...] = ()


@dataclass(frozen=True)
class TenantDocument:
    """A whole tenant in one file (``ccari admin load``, ``PUT /api/tenants/{slug}``)."""

    tenant: TenantSpec
    queues: tuple[QueueSpec, ...] = ()
    menus: tuple[MenuSpec, ...] = ()
    numbers: tuple[NumberSpec, ...] = ()
    agents: tuple[AgentSpec, ...] = ()
    hours: Mapping[str, Any] | None = None  # the tenant's calendar; None: as it is


def attributes(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid(f"{where}: an object of routing attributes is required")
    for k, v in value.items():
        if not isinstance(k, str) or not ATTRIBUTE.fullmatch(k):
            raise Invalid(f"{where}: attribute name {k!r} must match {ATTRIBUTE.pattern}")
        if not isinstance(v, str) or not v or len(v) > 64:
            raise Invalid(f"{where}.{k}: a text of 1 to 64 characters is required")
    return dict(value)


def e164(raw: Any, where: str = "did") -> str:
    """E.164 digits without '+' (what the carrier sends and ``numbers.did`` holds)."""
    if not isinstance(raw, str):
        raise Invalid(f"{where}: an E.164 number is required", error_id="invalid-number")
    text = re.sub(r"[\s().-]", "", raw)
    digits = text[1:] if text.startswith("+") else text
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not digits.isdigit() or not phonenumbers.is_possible_number(parsed):
        raise Invalid(f"{where}: {raw!r} is not an E.164 number (+<country><number>)",
                      error_id="invalid-number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


@cache
def prompts() -> frozenset[str]:
    """The prompts ccari can play (``sounds/*.wav``); empty when the sounds are not here."""
    return frozenset(p.stem for p in (project_root() / "sounds").glob("*.wav"))


# A menu's prompt names one of the tenant's own (``tenant:<name>``, ccari.provisioning.prompts;
# checked against the database on save) or one of ccari's ``sounds/``.
TENANT_PROMPT = "tenant:"
# The API's name of a prompt and the ``tenant:`` reference with it.
TENANT_PROMPT_REF = re.compile(r"^tenant:[a-z0-9][a-z0-9_-]{0,99}$")


def prompt(f: Fields, name: str, default: str) -> str:
    raw = f.data.get(name, default)
    if isinstance(raw, str) and raw.startswith(TENANT_PROMPT):
        return f.text(name, TENANT_PROMPT_REF, default=default)
    value = f.text(name, PROMPT, default=default)
    known = prompts()
    if known and value not in known:
        raise Invalid(f"{f.at(name)}: no prompt {value!r} (known: {', '.join(sorted(known))})",
                      error_id="unknown-prompt")
    return value


# ---- the objects -----------------------------------------------------------------------------
def tenant(data: Any, where: str = "") -> TenantSpec:
    f = Fields(data, where, {"slug", "name"})
    return TenantSpec(f.text("slug", SLUG), f.text("name"))


def queue(data: Any, where: str = "") -> QueueSpec:
    f = Fields(data, where, {"name", "ring_timeout_s", "wrap_up_s", "announce_every_s",
                              "greeting"})
    return QueueSpec(f.text("name", NAME), f.number("ring_timeout_s", 15, 3, 300, whole=True),
                     float(f.number("wrap_up_s", 5.0, 0, 3600)),
                     float(f.number("announce_every_s", 30.0, 5, 3600)),
                     f.optional_text("greeting", TENANT_PROMPT_REF))


def number(data: Any, where: str = "") -> NumberSpec:
    f = Fields(data, where, {"did", "queue", "menu", "hours", "after_hours", "purpose"})
    purpose = f.data.get("purpose", "voice")
    if purpose not in PURPOSES:
        raise Invalid(f"{f.at('purpose')}: one of {', '.join(PURPOSES)}", error_id="invalid-purpose")
    if purpose == "fax" and any(f.has(k) for k in ("menu", "hours", "after_hours")):
        raise Invalid(f"{where or 'number'}: a fax number has no menu, hours or after-hours route",
                      error_id="invalid-purpose")
    return NumberSpec(e164(f.data.get("did"), f.at("did")),
                      f.text("queue", NAME, default="main"), f.optional_text("menu", NAME),
                      hrs.calendar(f.data["hours"], f.at("hours")) if f.has("hours") else None,
                      hrs.after_hours(f.data["after_hours"], f.at("after_hours"))
                      if f.has("after_hours") else None, purpose)


def agent(data: Any, where: str = "", *, new: bool = True) -> AgentSpec:
    f = Fields(data, where, {"username", "name", "site", "role", "skills", "slots",
                              "phone_username", "phone_password", "web_password",
                              "phone_contact", "device"})
    username = f.text("username", NAME, max_len=100)
    role = f.text("role", default="agent")
    if role not in ROLES:
        raise Invalid(f"{f.at('role')}: one of {', '.join(ROLES)}")
    skills, seen = [], set()
    for at, s in f.items("skills"):
        sf = Fields(s, at, {"name", "value", "level"})
        skill = Skill(sf.text("name", ATTRIBUTE), sf.text("value", max_len=64),
                      sf.number("level", 5, SKILL_LEVELS.start, SKILL_LEVELS.stop - 1, whole=True))
        if (skill.name, skill.value) in seen:
            raise Invalid(f"{at}: {skill.name}={skill.value} is listed twice")
        seen.add((skill.name, skill.value))
        skills.append(skill)
    device = f.text("device", default=SIP)
    if device not in DEVICES:
        raise Invalid(f"{f.at('device')}: one of {', '.join(DEVICES)}")
    contact = f.optional_text("phone_contact", CONTACT, max_len=255)
    if device == BROWSER and contact is not None:
        raise Invalid(f"{f.at('phone_contact')}: a browser phone registers, it has no contact")
    web = f.optional_text("web_password")
    if new and web is None:
        raise Invalid(f"{f.at('web_password')}: a new agent needs a web password")
    if web is not None and len(web) < 8:
        raise Invalid(f"{f.at('web_password')}: at least 8 characters")
    phone = f.text("phone_username", NAME, max_len=63)
    if reserved(phone):
        raise Invalid(f"{f.at('phone_username')}: {phone!r} is a name of ccari's own in the PBX",
                      error_id="reserved-name")
    return AgentSpec(
        username=username, name=f.text("name"),
        phone_username=phone,
        phone_password=f.text("phone_password", SECRET, max_len=128),
        web_password=web, phone_contact=contact, device=device,
        site=f.optional_text("site", max_len=100), role=role,
        skills=tuple(skills), slots=slots(f.data.get("slots"), f.at("slots")),
    )


def slots(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {"per_medium": {"voice": 1}, "total": 1, "exclusive": ["voice"]}
    f = Fields(value, where, {"per_medium", "total", "exclusive"})
    per = f.data.get("per_medium")
    if not isinstance(per, Mapping) or not per:
        raise Invalid(f"{f.at('per_medium')}: an object of media and counts is required")
    for medium, n in per.items():
        if medium not in MEDIA:
            raise Invalid(f"{f.at('per_medium')}: unknown medium {medium!r} ({', '.join(MEDIA)})")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_SLOTS:
            raise Invalid(f"{f.at('per_medium')}.{medium}: a whole number from 0 to {MAX_SLOTS}")
    total = f.number("total", max(per.values()), 1, MAX_SLOTS, whole=True)
    exclusive = f.data.get("exclusive", ["voice"] if "voice" in per else [])
    if not isinstance(exclusive, list) or any(m not in per for m in exclusive):
        raise Invalid(f"{f.at('exclusive')}: a list of media from per_medium")
    return {"per_medium": dict(per), "total": total, "exclusive": list(exclusive)}


def menu(data: Any, where: str = "") -> MenuSpec:
    f = Fields(data, where, {"name", "prompt", "invalid_prompt", "timeout_s", "max_tries",
                              "default", "options"})
    options, digits = [], set()
    for at, o in f.items("options"):
        of = Fields(o, at, {"digit", "label", "attributes", "menu", "action"})
        digit = of.text("digit", max_len=1)
        if digit not in DIGITS:
            raise Invalid(f"{of.at('digit')}: one of 0-9, * or #")
        if digit in digits:
            raise Invalid(f"{of.at('digit')}: digit {digit} is used twice in this menu")
        digits.add(digit)
        action = of.optional_text("action")
        if action is not None and action not in ACTIONS:
            raise Invalid(f"{of.at('action')}: one of {', '.join(ACTIONS)} (or none: queue)")
        sub = of.optional_text("menu", NAME)
        if sub is not None and action is not None:
            raise Invalid(f"{at}: an option leads to a sub-menu or has an action, not both")
        attrs = attributes(of.data.get("attributes", {}), of.at("attributes"))
        options.append(OptionSpec(digit, of.text("label", default=digit, max_len=100), attrs,
                                  sub, action))
    default = f.data.get("default")
    return MenuSpec(
        name=f.text("name", NAME, max_len=100),
        prompt=prompt(f, "prompt", "welcome"),
        invalid_prompt=prompt(f, "invalid_prompt", "invalid-option"),
        timeout_s=float(f.number("timeout_s", 5.0, 1, 60)),
        max_tries=f.number("max_tries", 3, 1, 10, whole=True),
        default=attributes(default, f.at("default")) if default is not None else None,
        options=tuple(options),
    )


def document(data: Any) -> TenantDocument:
    f = Fields(data, "", {"tenant", "queues", "menus", "numbers", "agents", "hours"})
    doc = TenantDocument(
        tenant=tenant(f.data.get("tenant"), "tenant"),
        queues=tuple(queue(v, at) for at, v in f.items("queues")),
        menus=tuple(menu(v, at) for at, v in f.items("menus")),
        numbers=tuple(number(v, at) for at, v in f.items("numbers")),
        agents=tuple(agent(v, at) for at, v in f.items("agents")),
        hours=hrs.calendar(f.data["hours"]) if f.has("hours") else None,
    )
    check_document(doc)
    return doc


def check_document(doc: TenantDocument) -> None:
    """What a document must say of itself: names unique, every reference inside it."""
    for kind, names in (("queues", [q.name for q in doc.queues]),
                        ("menus", [m.name for m in doc.menus]),
                        ("numbers", [n.did for n in doc.numbers]),
                        ("agents", [a.username for a in doc.agents]),
                        ("agents' phones", [a.phone_username for a in doc.agents])):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise Invalid(f"{kind}: {twice[0]} is listed twice", error_id="duplicate")
    queues = {q.name for q in doc.queues} | {"main"}
    menus = {m.name: m for m in doc.menus}
    for i, n in enumerate(doc.numbers):
        if n.queue not in queues:
            raise Invalid(f"numbers[{i}].queue: no queue {n.queue!r}", error_id="unknown-queue")
        if n.menu is not None and n.menu not in menus:
            raise Invalid(f"numbers[{i}].menu: no menu {n.menu!r}", error_id="unknown-menu")
        night = (n.after_hours or {}).get("queue")
        if night is not None and night not in queues:
            raise Invalid(f"numbers[{i}].after_hours.queue: no queue {night!r}",
                          error_id="unknown-queue")
    check_menus(menus)


def check_menus(menus: Mapping[str, MenuSpec]) -> None:
    """Every sub-menu an option names exists; no menu leads back to itself; at most
    ``MAX_IVR_DEPTH`` levels."""
    for m in menus.values():
        for o in m.options:
            if o.menu is not None and o.menu not in menus:
                raise Invalid(f"menu {m.name!r} option {o.digit}: no menu {o.menu!r}",
                              error_id="unknown-menu")

    def depth(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise Invalid(f"menu {name!r} leads back to itself: {' > '.join((*path, name))}",
                          error_id="menu-cycle")
        subs = [o.menu for o in menus[name].options if o.menu is not None]
        return 1 + max((depth(s, (*path, name)) for s in subs), default=0)

    for name in menus:
        if depth(name, ()) > MAX_IVR_DEPTH:
            raise Invalid(f"menu {name!r} nests deeper than {MAX_IVR_DEPTH} levels",
                          error_id="menu-too-deep")
