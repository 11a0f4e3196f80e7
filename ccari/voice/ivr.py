"""The IVR as a pure state machine: events in, commands out, no I/O.

A caller hears ``prompt``; a digit may interrupt it (barge-in).  After the prompt the caller
has ``timeout_s`` to press a digit.  A valid digit finishes with that option's attributes
(and its action, if the digit does something else than queue the caller: ``actions``);
an invalid digit or a timeout replays ``invalid_prompt`` then ``prompt``, up to
``max_tries`` attempts, after which the menu finishes with ``default_attributes`` (or
``None``: the executor hangs up).

A digit of ``submenus`` leads to another menu instead (nested menus): its prompt plays, its
tries start again, and the attributes of every digit on the way are kept under the ones the
sub-menu finishes with (the sub-menu's choice wins on the same name).

A menu can be answered by voice too (``ccari.speech`` listens; the words come from the
options' ``labels``): speech starting stops the prompt (barge-in) and restarts the timer;
an utterance that chose an option is a digit; one that chose nothing (or too unsure) is an
invalid answer, and after ``SPEECH_MISSES`` of them the menu stops listening
(``StopListening``): digits only from then on.  Digits work all along.

Each prompt and timer carries a generation number; events for an older generation are
stale (the caller pressed a digit while the previous prompt was finishing) and ignored.

>>> m = Menu("sound:welcome", "sound:invalid", 5.0, 3, {"1": {"skill": "sales"}})
>>> ivr = Ivr(m)
>>> ivr.start()
[Play(media=('sound:welcome',), generation=1)]
>>> ivr.on_digit("1")
[StopPlayback(), Finish(attributes={'skill': 'sales'}, digit='1', action=None)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Menu:
    prompt: str
    invalid_prompt: str
    timeout_s: float
    max_tries: int
    options: Mapping[str, Mapping[str, str]]
    default_attributes: Mapping[str, str] | None = None
    # What a digit does instead of queueing the caller, e.g. {"3": CALLBACK}.
    actions: Mapping[str, str] = field(default_factory=dict)
    # Digits that lead to a sub-menu (their ``options`` entry: the attributes they add).
    submenus: Mapping[str, Menu] = field(default_factory=dict)
    # What each digit's option is called ("sales", "an agent"): the words a caller may say.
    labels: Mapping[str, str] = field(default_factory=dict)


# Utterances not understood before the menu falls back to digits only.
SPEECH_MISSES = 2

def said_entry(said: str, confidence: float) -> str:
    """An utterance in the menu's history (kept in the contact's ``meta["ivr"]``)."""
    return f"said:{said}:{confidence:.2f}"


def spoken(history: list[str]) -> tuple[list[dict[str, str | float]], list[str]]:
    """A menu's history split into its utterances (what was said, the confidence) and the
    rest (the digits pressed, timeouts)."""
    said: list[dict[str, str | float]] = []
    keys: list[str] = []
    for entry in history:
        if entry.startswith("said:"):
            text, _, conf = entry[len("said:"):].rpartition(":")
            said.append({"said": text, "confidence": float(conf)})
        else:
            keys.append(entry)
    return said, keys


# The action of a "call me back" digit: the caller keeps their place as a callback.
CALLBACK = "callback"


@dataclass(frozen=True)
class Play:
    media: tuple[str, ...]
    generation: int


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class StartTimer:
    seconds: float
    generation: int


@dataclass(frozen=True)
class Finish:
    """The menu is over: ``attributes`` is None when the caller should be hung up;
    ``action`` None queues the caller with them."""

    attributes: Mapping[str, str] | None
    digit: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class StopListening:
    """Speech fell back to digits: stop recognising this caller."""


Command = Play | StopPlayback | StartTimer | StopListening | Finish


@dataclass
class Ivr:
    menu: Menu
    tries: int = 0
    generation: int = 0
    playing: bool = False
    done: bool = False
    history: list[str] = field(default_factory=list)
    # The menu the caller is in (``menu`` or one of its sub-menus) and the attributes the
    # digits that led there chose.
    current: Menu | None = None
    chosen: dict[str, str] = field(default_factory=dict)
    misses: int = 0  # utterances not understood

    @property
    def at(self) -> Menu:
        return self.current or self.menu

    def start(self) -> list[Command]:
        return self._play((self.menu.prompt,))

    def on_playback_finished(self, generation: int) -> list[Command]:
        if self.done or generation != self.generation or not self.playing:
            return []
        self.playing = False
        return [StartTimer(self.at.timeout_s, self.generation)]

    def on_digit(self, digit: str) -> list[Command]:
        if self.done:
            return []
        self.history.append(digit)
        return self._choose(digit)

    def on_speech_started(self) -> list[Command]:
        """The caller started speaking: the prompt stops, the timer starts again."""
        if self.done or self.misses >= SPEECH_MISSES:
            return []
        stop: list[Command] = [StopPlayback()] if self.playing else []
        self.playing = False
        self.generation += 1
        return [*stop, StartTimer(self.at.timeout_s, self.generation)]

    def on_speech(self, said: str, confidence: float, digit: str | None) -> list[Command]:
        """An utterance: ``digit`` is the option it chose (None: none, or too unsure)."""
        if self.done or self.misses >= SPEECH_MISSES:
            return []
        self.history.append(said_entry(said, confidence))
        if digit is not None:
            return self._choose(digit)
        stop: list[Command] = [StopPlayback()] if self.playing else []
        self.playing = False
        self.misses += 1
        fallback: list[Command] = [StopListening()] if self.misses >= SPEECH_MISSES else []
        return [*stop, *fallback, *self._retry()]

    def _choose(self, digit: str) -> list[Command]:
        stop: list[Command] = [StopPlayback()] if self.playing else []
        self.playing = False
        menu = self.at
        option = menu.options.get(digit)
        submenu = menu.submenus.get(digit)
        if submenu is not None:
            self.chosen.update(option or {})
            self.current, self.tries = submenu, 0
            return stop + self._play((submenu.prompt,))
        if option is not None:
            self.done = True
            return [*stop, Finish({**self.chosen, **option}, digit, menu.actions.get(digit))]
        return stop + self._retry()

    def on_timeout(self, generation: int) -> list[Command]:
        if self.done or generation != self.generation or self.playing:
            return []
        self.history.append("timeout")
        return self._retry()

    def _retry(self) -> list[Command]:
        menu = self.at
        self.tries += 1
        if self.tries >= menu.max_tries:
            self.done = True
            default = menu.default_attributes
            return [Finish({**self.chosen, **default} if default is not None else None)]
        return self._play((menu.invalid_prompt, menu.prompt))

    def _play(self, media: tuple[str, ...]) -> list[Command]:
        self.generation += 1
        self.playing = True
        return [Play(media, self.generation)]
