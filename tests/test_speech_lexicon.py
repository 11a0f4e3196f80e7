"""Pronunciations made for menu words the recogniser's dictionary lacks (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.speech.lexicon import LETTERS, pronounce, spelled, strip_stress

DICTIONARY = {
    "help": "HH EH1 L P", "desk": "D EH1 S K", "shop": "SH AA1 P", "call": "K AO1 L",
    "back": "B AE1 K", "super": "S UW1 P ER0", "market": "M AA1 R K AH0 T", "supermarket": None,
    "he": "HH IY1", "lp": None, "ban": "B AE1 N",
}


def lookup(word: str) -> str | None:
    return DICTIONARY.get(word)


@pytest.mark.parametrize(("word", "phones"), [
    ("helpdesk", "HH EH L P D EH S K"),  # a compound: two dictionary words
    ("callback", "K AO L B AE K"),
    ("supermarket", "S UW P ER M AA R K AH T"),
    ("eshop", "IY SH AA P"),  # a leading letter said by its name
    ("faq", "EH F EY K Y UW"),  # three letters: an acronym
    ("vip", "V IY AY P IY"),
    ("iban", "AY B AE N"),  # "i" + "ban", as people say it
    ("crm", "S IY AA R EH M"),  # no vowel
    ("zyzzogeton", None),  # long, no parts: no pronunciation
    ("café", None),  # not ASCII letters
    ("r2d2", None),
    ("", None),
])
def test_pronounce(word: str, phones: str | None) -> None:
    assert pronounce(word, lookup) == phones


@pytest.mark.parametrize(("phones", "bare"), [
    ("AH0 B AW1 T", "AH B AW T"), ("S IY", "S IY"), ("", "")])
def test_strip_stress(phones: str, bare: str) -> None:
    assert strip_stress(phones) == bare


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_every_made_pronunciation_is_in_the_models_phone_set(word: str) -> None:
    phones = pronounce(word, lookup)
    allowed = {p for v in LETTERS.values() for p in v.split()} | {
        p for v in DICTIONARY.values() if v for p in strip_stress(v).split()}
    assert phones is None or (phones and set(phones.split()) <= allowed)
    if len(word) <= 3:
        assert phones == spelled(word)
