"""Reading one JSON object of the API: every key known, every value of its type, and an
:class:`~ccari.errors.Invalid` naming the field (``agents[1].skills[0].level``) otherwise.
Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ccari.errors import Invalid


class Fields:
    """One JSON object being read: every key must be known, every value of its type."""

    def __init__(self, data: Any, where: str, known: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise Invalid(f"{where or 'the body'} must be an object", error_id="invalid-field")
        unknown = sorted(set(data) - known)
        if unknown:
            raise Invalid(f"{self._at(where, unknown[0])}: unknown field", error_id="unknown-field")
        self.data, self.where = data, where

    @staticmethod
    def _at(where: str, name: str) -> str:
        return f"{where}.{name}" if where else name

    def at(self, name: str) -> str:
        return self._at(self.where, name)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def text(self, name: str, pattern: re.Pattern[str] | None = None, *, default: str | None = None,
             max_len: int = 200) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            raise Invalid(f"{self.at(name)}: a text of 1 to {max_len} characters is required")
        if pattern is not None and not pattern.fullmatch(value):
            raise Invalid(f"{self.at(name)}: {value!r} must match {pattern.pattern}")
        return value

    def optional_text(self, name: str, pattern: re.Pattern[str] | None = None, *,
                      max_len: int = 200) -> str | None:
        return self.text(name, pattern, max_len=max_len) if self.has(name) else None

    def number(self, name: str, default: float, low: float, high: float, *,
               whole: bool = False) -> Any:
        value = self.data.get(name, default)
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "a whole number" if whole else "a number"
            raise Invalid(f"{self.at(name)}: {what} from {low:g} to {high:g} is required")
        return value

    def items(self, name: str) -> list[tuple[str, Any]]:
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise Invalid(f"{self.at(name)}: a list is required")
        return [(f"{self.at(name)}[{i}]", v) for i, v in enumerate(value)]
