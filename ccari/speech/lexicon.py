"""Pronunciations for the words of a menu that the recogniser's dictionary lacks: pure.

A label may hold a word the bundled CMU dictionary does not have: a compound ("helpdesk",
"eshop"), an acronym ("FAQ", "IBAN"), a brand.  Rather than leave it out of the menu,
its pronunciation is made from the dictionary's own entries, in the model's phone set
(ARPABET, no stress marks), with no network and no g2p model:

1. an acronym (three letters or fewer, or no vowel) is spelled letter by letter;
2. a compound is split into the fewest dictionary words of three letters or more
   (the longest first piece wins a tie), a single leading letter said by its name
   ("eshop" -> "e" + "shop");
3. else a word of up to five letters is spelled; a longer one gets no pronunciation (its
   option is still chosen by its digit spoken).

>>> entries = {"help": "HH EH L P", "desk": "D EH S K", "shop": "SH AA P"}
>>> pronounce("helpdesk", entries.get)
'HH EH L P D EH S K'
>>> pronounce("faq", entries.get)
'EH F EY K Y UW'
>>> pronounce("eshop", entries.get)
'IY SH AA P'
>>> pronounce("zyzzogeton", entries.get) is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

LETTERS = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY",
    "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N",
    "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW",
    "v": "V IY", "w": "D AH B AH L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}
_VOWELS = set("aeiouy")
_MIN_PIECE = 3
_MAX_SPELLED = 5


def spelled(word: str) -> str | None:
    """The word said letter by letter ("vip" -> V IY AY P IY); None if not all letters."""
    if not word or any(ch not in LETTERS for ch in word):
        return None
    return " ".join(LETTERS[ch] for ch in word)


def pronounce(word: str, lookup: Callable[[str], str | None]) -> str | None:
    """Phones for ``word`` (lower case, not in the dictionary), or None; ``lookup``: the
    dictionary's phones of a word, or None."""
    if not word.isalpha() or not word.isascii():
        return None
    if len(word) <= 3 or not _VOWELS & set(word):
        return spelled(word)
    pieces = _split(word, lookup)
    if pieces is not None:
        return " ".join(pieces)
    return spelled(word) if len(word) <= _MAX_SPELLED else None


def _split(word: str, lookup: Callable[[str], str | None]) -> tuple[str, ...] | None:
    """The phones of the fewest dictionary words that make up ``word``."""

    @cache
    def best(start: int) -> tuple[str, ...] | None:
        if start == len(word):
            return ()
        found: tuple[str, ...] | None = None
        for end in range(len(word), start, -1):  # longest piece first
            piece = word[start:end]
            phones = _piece(piece, start, lookup)
            if phones is None:
                continue
            rest = best(end)
            if rest is not None and (found is None or len(rest) + 1 < len(found)):
                found = (phones, *rest)
        return found

    pieces = best(0)
    return pieces if pieces is not None and len(pieces) > 1 else None


def _piece(piece: str, start: int, lookup: Callable[[str], str | None]) -> str | None:
    if len(piece) == 1 and start == 0:
        return LETTERS.get(piece)  # "e"-shop, "i"-phone
    if len(piece) < _MIN_PIECE:
        return None
    phones = lookup(piece)
    return strip_stress(phones) if phones else None


# What a telephone line leaves of a sibilant: /s/ and /z/ have most of their energy above
# 4 kHz, which 8 kHz audio (G.711) cuts; what is left sounds like /th/ and /dh/ to a model
# trained on wideband speech.
_NARROWBAND = {"S": "TH", "Z": "DH"}


def narrowband(phones: str) -> str | None:
    """The word as a telephone line carries it: its /s/ and /z/ as the model hears them on
    8 kHz audio ("S EY L Z" -> "TH EY L DH"); None when it has neither.

    >>> narrowband("S EH V AH N"), narrowband("W AH N")
    ('TH EH V AH N', None)
    """
    out = [_NARROWBAND.get(p, p) for p in phones.split()]
    return " ".join(out) if out != phones.split() else None


def strip_stress(phones: str) -> str:
    """CMU dictionary stress digits off ("AH0 B AW1 T" -> "AH B AW T"): the model's phones."""
    return " ".join(p.rstrip("012") for p in phones.split())
