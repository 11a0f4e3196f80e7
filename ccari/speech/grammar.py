"""What a caller may say to a menu, from its options' labels: pure, no I/O.

Each option is chosen by its label ("sales", "an agent") or by its digit spoken as a word
("two").  A word the recogniser's dictionary does not know gets a pronunciation made from
the dictionary's entries (``lexicon.pronounce``: "helpdesk", "FAQ"), kept with the
vocabulary for the recogniser to add; a word with none is left out of the phrase (a label
none of whose words is sayable is reachable by its digit only).  Two options with the same
phrase keep it for neither: it would be a guess.

The grammar also holds the digits the menu does not offer ("seven" to a menu of 1, 2, 3 and
0), choosing nothing: a caller who says one is heard saying it (the menu asks again) rather
than taken for the option that sounds most like it ("seven" heard as "one").

Every word with an /s/ or /z/ also gets its telephone-line pronunciation
(``lexicon.narrowband``): a caller on a G.711 line who says "seven" is heard saying "seven",
not taken for the option that sounds most like "even".

>>> v = Vocabulary.of({"1": "Sales", "2": "support"}, lookup=lambda w: "S")
>>> v.option_of("support")
'2'
>>> v.option_of("one")
'1'
>>> v.option_of("seven") is None
True
>>> print(v.jsgf())
#JSGF V1.0;
grammar menu;
public <menu> = one | sales | support | two | eight | five | four | nine | seven | six | three | zero;
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ccari.speech.lexicon import narrowband, pronounce

DIGIT_WORDS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
               "6": "six", "7": "seven", "8": "eight", "9": "nine"}
_WORD = re.compile(r"[a-z']+")


def words_of(label: str) -> tuple[str, ...]:
    """A label as lower-case words: ``"Talk to an Agent!"`` -> ``("talk", "to", "an", "agent")``;
    digits in it are spoken one by one."""
    out: list[str] = []
    for token in re.findall(r"[a-z']+|\d", label.lower().replace("_", " ").replace("-", " ")):
        out.append(DIGIT_WORDS.get(token, token))
    return tuple(w for w in out if _WORD.fullmatch(w))


@dataclass(frozen=True)
class Vocabulary:
    """Phrase (words joined by one space) -> the digit of the option it chooses, the
    pronunciations made for its words the dictionary lacks (word -> phones), the words
    the recogniser may hear that choose nothing (the digits of no option), and the other
    pronunciation of its words a telephone line makes (word -> phones)."""

    phrases: Mapping[str, str]
    added: Mapping[str, str] = field(default_factory=dict)
    others: tuple[str, ...] = ()
    variants: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, labels: Mapping[str, str], lookup: Callable[[str], str | None]) -> Vocabulary:
        """``labels``: digit -> label of each option; ``lookup``: a word's phones in the
        dictionary, or None."""
        phones: dict[str, str | None] = {}
        made: dict[str, str] = {}

        def sayable(word: str) -> bool:
            if word not in phones:
                known = lookup(word)
                phones[word] = known if known is not None else pronounce(word, lookup)
                if known is None and phones[word] is not None:
                    made[word] = phones[word] or ""
            return phones[word] is not None

        found: dict[str, set[str]] = {}
        for digit, label in labels.items():
            candidates = [words_of(label)]
            if digit in DIGIT_WORDS:
                candidates.append((DIGIT_WORDS[digit],))
            for words in candidates:
                kept = tuple(w for w in words if sayable(w))
                if kept:
                    found.setdefault(" ".join(kept), set()).add(digit)
        phrases = {p: next(iter(ds)) for p, ds in sorted(found.items()) if len(ds) == 1}
        used = {w for p in phrases for w in p.split()}
        heard_too = {w: known for w in sorted(DIGIT_WORDS.values())
                     if w not in phrases and (known := lookup(w)) is not None}
        others = tuple(heard_too) if phrases else ()
        spoken = {**{w: phones[w] or "" for w in used}, **{w: heard_too[w] for w in others}}
        variants = {w: v for w, ph in sorted(spoken.items()) if (v := narrowband(ph)) is not None}
        return cls(phrases, {w: ph for w, ph in made.items() if w in used}, others, variants)

    def option_of(self, said: str) -> str | None:
        """The digit of the option ``said`` (a recogniser's hypothesis) chooses, or None."""
        return self.phrases.get(" ".join(words_of(said)))

    def jsgf(self) -> str:
        """The menu as a JSGF grammar: exactly one of its phrases, or of the words that
        choose nothing."""
        body = " | ".join([*sorted(self.phrases), *self.others])
        return f"#JSGF V1.0;\ngrammar menu;\npublic <menu> = {body};"

    def __bool__(self) -> bool:
        return bool(self.phrases)


@dataclass(frozen=True)
class Heard:
    """One recognised utterance: the words, a confidence in [0, 1], and the option they
    choose (None: not a phrase of the menu)."""

    said: str
    confidence: float
    digit: str | None

    def chosen(self, threshold: float) -> str | None:
        """The option to take, when the recogniser is sure enough."""
        return self.digit if self.confidence >= threshold else None
