"""The admin pages' forms, read into the provisioning model's JSON and shown back.

Pure.  A form only says in plain fields and lines of text what the API takes as JSON; the
JSON then goes through the same parsers (:mod:`ccari.provisioning.schemas`) and the same
service as the API, so there is one validation path.  Only the shape of a line is checked
here (``Invalid`` naming the field and the line); every value is checked by the model.

Lines of text::

    skills     skill=sales 8             name=value, then the level (1-10, default 5)
    options    1 | Sales | skill=sales | plans
               digit | label | attributes (k=v, k=v) | a sub-menu, "callback" or nothing
    weekly     mon tue wed thu fri 09:00-18:00
    holidays   2026-12-25 Christmas Day  closed all day (the name, if any, last)
               2026-12-24 09:00-12:00 Christmas Eve    open only then
    recurring  FREQ=YEARLY;BYMONTH=5;BYDAY=1MO May Day     every first Monday of May
               FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31 09:00-13:00   open only then
    overrides  sales all                 a queue, then its recording mode
    codes      sale                      one wrap-up code a line

A number's own hours are the same four fields prefixed ``hours_`` (none given: the
tenant's hours).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ccari.provisioning import schemas as sch

Form = Mapping[str, str]
HOURS_FIELDS = ("time_zone", "weekly", "holidays", "recurring")
SLOT_MEDIA = sch.MEDIA


def _text(form: Form, name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _number(raw: str) -> Any:
    """A whole or decimal number; anything else as typed, for the model to refuse by name."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _put(data: dict[str, Any], form: Form, *names: str, numeric: bool = False) -> None:
    for name in names:
        value = _text(form, name)
        if value is not None:
            data[name] = _number(value) if numeric else value


def _lines(form: Form, name: str) -> list[tuple[str, str]]:
    lines = form.get(name, "").splitlines()
    return [(f"{name} line {i}", line.strip()) for i, line in enumerate(lines, 1) if line.strip()]


def pairs(text: str, where: str) -> dict[str, str]:
    """``k=v, k=v`` as attributes."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise sch.Invalid(f"{where}: {item!r} is not name=value", error_id="invalid-field")
        out[key.strip()] = value.strip()
    return out


# ---- form -> model JSON ----------------------------------------------------------------------
def tenant(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _put(data, form, "slug", "name")
    return data


def queue(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _put(data, form, "name", "greeting")
    _put(data, form, "ring_timeout_s", "wrap_up_s", "announce_every_s", numeric=True)
    return data


def number(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _put(data, form, "did", "queue", "menu", "purpose")
    night = after_hours(form)
    if night is not None:
        data["after_hours"] = night
    own = {k: form.get(f"hours_{k}", "") for k in HOURS_FIELDS}
    if any(v.strip() for v in own.values()):
        data["hours"] = hours(own)
    return data


def recording(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {"mode": form.get("mode", "").strip(), "retention_days": None}
    _put(data, form, "retention_days", numeric=True)
    overrides: dict[str, str] = {}
    for where, line in _lines(form, "overrides"):
        name, _, mode = line.partition(" ")
        if not mode.strip():
            raise sch.Invalid(f"{where}: write a queue and its mode, e.g. sales all",
                              error_id="invalid-field")
        overrides[name] = mode.strip()
    data["queues"] = overrides
    data["agent_playback"] = form.get("agent_playback") == "1"
    return data


def blending(form: Form) -> dict[str, Any]:
    value = _text(form, "blend_hold_s")
    return {"blend_hold_s": None if value is None else _number(value)}


def codes(form: Form) -> dict[str, Any]:
    lines = [line for _, line in _lines(form, "codes")]
    return {"codes": lines or None}


def agent(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _put(data, form, "username", "name", "site", "role", "device", "phone_username",
         "phone_password", "phone_contact", "web_password")
    skills = []
    for where, line in _lines(form, "skills"):
        pair, _, level = line.partition(" ")
        name, eq, value = pair.partition("=")
        if not eq:
            raise sch.Invalid(f"{where}: write name=value and a level, e.g. skill=sales 8",
                              error_id="invalid-field")
        skill: dict[str, Any] = {"name": name, "value": value}
        if level.strip():
            skill["level"] = _number(level.strip())
        skills.append(skill)
    data["skills"] = skills
    per = {m: _number(v) for m in SLOT_MEDIA if (v := _text(form, f"slots_{m}")) is not None}
    if per:
        slots: dict[str, Any] = {"per_medium": per}
        _put(slots, form, "slots_total", numeric=True)
        if "slots_total" in slots:
            slots["total"] = slots.pop("slots_total")
        slots["exclusive"] = [m for m in SLOT_MEDIA if m in per and form.get(f"exclusive_{m}")]
        data["slots"] = slots
    return data


def menu(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _put(data, form, "name", "prompt", "invalid_prompt")
    _put(data, form, "timeout_s", "max_tries", numeric=True)
    default = _text(form, "default")
    if default is not None:
        data["default"] = pairs(default, "default")
    options = []
    for where, line in _lines(form, "options"):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 4:
            raise sch.Invalid(f"{where}: digit | label | attributes | sub-menu or callback",
                              error_id="invalid-field")
        parts += [""] * (4 - len(parts))
        option: dict[str, Any] = {"digit": parts[0], "attributes": pairs(parts[2], where)}
        if parts[1]:
            option["label"] = parts[1]
        if parts[3] == "callback":
            option["action"] = "callback"
        elif parts[3]:
            option["menu"] = parts[3]
        options.append(option)
    data["options"] = options
    return data


def _span(text: str, where: str) -> dict[str, str]:
    opens, dash, closes = text.partition("-")
    if not dash:
        raise sch.Invalid(f"{where}: {text!r} is not HH:MM-HH:MM", error_id="invalid-time")
    return {"open": opens, "close": closes}


SPAN = re.compile(r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$")


def _day(words: list[str], where: str) -> dict[str, Any]:
    """A holiday line after its date (or rule): the hours it opens (HH:MM-HH:MM), then its
    name (the rest of the line), each if any."""
    spans = [w for w in words if SPAN.fullmatch(w)]
    name = " ".join(words[len(spans):]) if words[:len(spans)] == spans else None
    if name is None:
        raise sch.Invalid(f"{where}: the hours (HH:MM-HH:MM) come before the name",
                          error_id="invalid-time")
    return {**({"hours": [_span(s, where) for s in spans]} if spans else {}),
            **({"name": name} if name else {})}


def hours(form: Form) -> dict[str, Any]:
    weekly = []
    for where, line in _lines(form, "weekly"):
        *days, span = line.replace(",", " ").split()
        weekly.append({"days": [d.lower() for d in days], **_span(span, where)})
    holidays = []
    for where, line in _lines(form, "holidays"):
        date, *rest = line.split()
        holidays.append({"date": date, **_day(rest, where)})
    recurring = []
    for where, line in _lines(form, "recurring"):
        rule, *rest = line.split()
        recurring.append({"rule": rule, **_day(rest, where)})
    return {"time_zone": form.get("time_zone", "").strip(), "weekly": weekly,
            "holidays": holidays, **({"recurring": recurring} if recurring else {})}


# ---- model JSON -> form (to edit what is there) ------------------------------------------------
def agent_form(view: Mapping[str, Any]) -> dict[str, str]:
    form = {k: str(view[k]) for k in ("username", "name", "site", "role", "device",
                                      "phone_username", "phone_contact") if view.get(k)}
    form["skills"] = "\n".join(f"{s['name']}={s['value']} {s['level']}" for s in view["skills"])
    slots = view.get("slots") or {}
    for medium, n in (slots.get("per_medium") or {}).items():
        form[f"slots_{medium}"] = str(n)
    for medium in slots.get("exclusive") or ():
        form[f"exclusive_{medium}"] = "on"
    if slots.get("total") is not None:
        form["slots_total"] = str(slots["total"])
    return form


def menu_form(view: Mapping[str, Any]) -> dict[str, str]:
    form = {k: str(view[k]) for k in ("name", "prompt", "invalid_prompt", "timeout_s",
                                      "max_tries")}
    form["default"] = ", ".join(f"{k}={v}" for k, v in (view.get("default") or {}).items())
    form["options"] = "\n".join(
        " | ".join([o["digit"], o["label"],
                    ", ".join(f"{k}={v}" for k, v in o["attributes"].items()),
                    o["menu"] or o["action"] or ""]).rstrip(" |")
        for o in view["options"])
    return form


def after_hours(form: Form) -> dict[str, Any] | None:
    """An after-hours route (a number's or the tenant's) from its three fields; None when
    neither an action nor a prompt is given (a queue alone says nothing)."""
    night = {k: v for k, v in (("action", _text(form, "after_hours")),
                               ("queue", _text(form, "after_hours_queue")),
                               ("prompt", _text(form, "after_hours_prompt"))) if v is not None}
    return night if "action" in night or "prompt" in night else None


def after_hours_form(night: Mapping[str, Any] | None) -> dict[str, str]:
    fields = {"after_hours": "action", "after_hours_queue": "queue", "after_hours_prompt": "prompt"}
    return {k: str(night[v]) for k, v in fields.items() if night and night.get(v)}


def number_form(view: Mapping[str, Any]) -> dict[str, str]:
    form = {k: str(view[k]) for k in ("queue", "menu", "purpose") if view.get(k)}
    form["did"] = f"+{view['did']}"
    form.update(after_hours_form(view.get("after_hours")))
    form.update({f"hours_{k}": v for k, v in hours_form(view.get("hours")).items()})
    return form


def recording_form(policy: Mapping[str, Any] | None) -> dict[str, str]:
    if not policy:
        return {}
    days = policy.get("retention_days")
    return {"mode": policy["mode"], "retention_days": "" if days is None else str(days),
            "overrides": "\n".join(f"{q} {m}" for q, m in policy.get("queues", {}).items()),
            "agent_playback": "1" if policy.get("agent_playback") else ""}


def hours_form(calendar: Mapping[str, Any] | None) -> dict[str, str]:
    if not calendar:
        return {}
    return {
        "time_zone": calendar["time_zone"],
        "weekly": "\n".join(f"{' '.join(w['days'])} {w['open']}-{w['close']}"
                            for w in calendar["weekly"]),
        "holidays": "\n".join(" ".join([h["date"], *(f"{s['open']}-{s['close']}"
                                                     for s in h.get("hours", ())),
                                         *([h["name"]] if h.get("name") else [])])
                              for h in calendar["holidays"]),
        "recurring": "\n".join(" ".join([r["rule"], *(f"{s['open']}-{s['close']}"
                                                      for s in r.get("hours", ())),
                                          *([r["name"]] if r.get("name") else [])])
                               for r in calendar.get("recurring", ())),
    }
