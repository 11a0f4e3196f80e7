"""Routing of an email to contact attributes (pure: facts in, decision out).

A mailbox has default attributes and an ordered list of rules::

    [{"match": {"subject": "invoice|bill"}, "attributes": {"skill": "sales"}, "priority": 5},
     {"match": {"to": "^vip@", "body": "cancel"}, "attributes": {"tier": "gold"}}]

A rule matches when every pattern it names is found (``re.search``, case-insensitive) in
that part of the message: ``to`` (the mailbox address), ``subject`` or ``body``.  The first
matching rule wins: its attributes are laid over the mailbox's defaults and its priority
(default 0) becomes the contact's.  A rule with an empty ``match`` always matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("to", "subject", "body")
MAX_RULES = 100
MAX_PATTERN = 200
# Bodies are searched up to this many characters (patterns run on every inbound mail).
BODY_SCAN = 20_000


class RuleError(ValueError):
    """A rule set is invalid; the message names the rule and the field."""


@dataclass(frozen=True)
class Rule:
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    attributes: Mapping[str, str]
    priority: int = 0


@dataclass(frozen=True)
class Routing:
    attributes: dict[str, str]
    priority: int = 0
    rule: int | None = None  # index of the rule that matched, None: the mailbox defaults


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


def _attributes(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise RuleError(f"{where}: attributes must be an object")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or k.startswith("_") or len(k) > 64:
            raise RuleError(f"{where}: bad attribute name {k!r}")
        if not isinstance(v, str | int) or isinstance(v, bool) or not str(v) or len(str(v)) > 64:
            raise RuleError(f"{where}: attribute {k} must be a short string")
        out[k] = str(v)
    return out


def parse_attributes(value: Any) -> dict[str, str]:
    """A mailbox's default attributes, validated like a rule's."""
    return _attributes(value, "attributes")


def parse(raw: Any) -> tuple[Rule, ...]:
    """Validate and compile a rule list as stored on a mailbox."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise RuleError("rules must be a list")
    if len(raw) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules")
    rules = []
    for i, item in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(item, Mapping):
            raise RuleError(f"{where}: must be an object")
        unknown = set(item) - {"match", "attributes", "priority"}
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        match = item.get("match", {})
        if not isinstance(match, Mapping):
            raise RuleError(f"{where}.match: must be an object")
        patterns = []
        for name, pattern in match.items():
            if name not in FIELDS:
                raise RuleError(f"{where}.match: unknown field {name!r} (to, subject, body)")
            if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
                raise RuleError(f"{where}.match.{name}: a regular expression of 1-{MAX_PATTERN} chars")
            try:
                patterns.append((name, re.compile(pattern, re.IGNORECASE)))
            except re.error as exc:
                raise RuleError(f"{where}.match.{name}: {exc}") from None
        priority = item.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
            raise RuleError(f"{where}.priority: an integer from -100 to 100")
        rules.append(Rule(tuple(patterns), _attributes(item.get("attributes", {}), where), priority))
    return tuple(rules)


def matches(rule: Rule, message: Message) -> bool:
    for name, pattern in rule.patterns:
        text = message.body[:BODY_SCAN] if name == "body" else getattr(message, name)
        if pattern.search(text) is None:
            return False
    return True


def route(defaults: Mapping[str, str], rules: Sequence[Rule], message: Message) -> Routing:
    for i, rule in enumerate(rules):
        if matches(rule, message):
            return Routing({**defaults, **rule.attributes}, rule.priority, i)
    return Routing(dict(defaults))


@dataclass(frozen=True)
class Table:
    """Rules of one mailbox, compiled once (kept by the service per mailbox version)."""

    defaults: Mapping[str, str]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, attributes: Any, rules: Any) -> Table:
        return cls(parse_attributes(attributes or {}), parse(rules or []))

    def route(self, message: Message) -> Routing:
        return route(self.defaults, self.rules, message)
