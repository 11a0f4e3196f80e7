"""The speech context: a menu's vocabulary (pure), RTP parsing (pure), and the recogniser on
telephone audio made with espeak-ng (words -> option, with an accuracy table)."""

from __future__ import annotations

import asyncio
import struct
import sys
from array import array

import pytest

from ccari.config import SpeechConfig
from ccari.speech.grammar import Heard, Vocabulary, words_of
from ccari.speech.media import Utterances, rtp_payload, to_native
from ccari.speech.recognizer import FRAME, Recognizer, _confidence, unexplained
from tests.support.speech import telephone_pcm16k


@pytest.mark.parametrize(("label", "words"), [
    ("sales", ("sales",)),
    ("Talk to an Agent!", ("talk", "to", "an", "agent")),
    ("call-me_back", ("call", "me", "back")),
    ("line 42", ("line", "four", "two")),
    ("", ()),
])
def test_words_of_a_label(label: str, words: tuple[str, ...]) -> None:
    assert words_of(label) == words


def test_vocabulary_from_labels_and_digits() -> None:
    dictionary = {"sales": "S EY L Z", "agent": "EY JH AH N T", "one": "W AH N", "two": "T UW",
                  "three": "TH R IY"}
    v = Vocabulary.of({"1": "Sales", "2": "an agent", "3": "sales"}, lookup=dictionary.get)
    # "sales" names two options: it chooses neither; "an" is not in this dictionary: it is
    # spelled, and the recogniser is told how
    assert v.phrases == {"an agent": "2", "one": "1", "three": "3", "two": "2"}
    assert v.added == {"an": "EY EH N"}
    assert v.others == ()  # the other digits' words are not in this dictionary
    assert v.option_of("An Agent") == "2" and v.option_of("sales") is None
    assert v.option_of("") is None


def test_the_digits_of_no_option_are_heard_and_choose_nothing() -> None:
    """A menu of 1 and 2 also listens for "three" to "zero": a caller saying "seven" is heard
    saying it, rather than taken for the option that sounds most like it."""
    v = Vocabulary.of({"1": "sales", "2": "two"}, lookup=lambda w: "S")
    # "two" names option 2 twice (its label and its digit): one phrase, not an "other"
    assert v.phrases == {"one": "1", "sales": "1", "two": "2"}
    assert v.others == ("eight", "five", "four", "nine", "seven", "six", "three", "zero")
    assert v.option_of("seven") is None and v.option_of("Two") == "2"
    assert v.jsgf().endswith("= one | sales | two | eight | five | four | nine | seven | six "
                             "| three | zero;")


def test_a_digit_two_options_share_chooses_neither_and_is_heard() -> None:
    v = Vocabulary.of({"1": "sales", "2": "one"}, lookup=lambda w: "S")
    assert "one" not in v.phrases and "one" in v.others


def test_an_unsayable_word_is_left_out_of_its_phrase() -> None:
    v = Vocabulary.of({"7": "the zyzzogeton"}, lookup={"the": "DH AH", "seven": "S EH V AH N"}.get)
    assert v.phrases == {"seven": "7", "the": "7"} and v.added == {}


def test_words_with_a_sibilant_are_known_as_a_telephone_line_carries_them() -> None:
    """8 kHz audio cuts most of an /s/ or /z/: the menu's words (and the digits of no
    option) that have one are also known with /th/ and /dh/ in their place."""
    dictionary = {"sales": "S EY L Z", "billing": "B IH L IH NG", "one": "W AH N",
                  "seven": "S EH V AH N", "zero": "Z IH R OW"}
    v = Vocabulary.of({"1": "sales", "2": "billing"}, lookup=dictionary.get)
    assert v.variants == {"sales": "TH EY L DH", "seven": "TH EH V AH N",
                          "zero": "DH IH R OW"}
    assert v.others == ("seven", "zero")


def test_no_known_word_no_vocabulary() -> None:
    assert not Vocabulary.of({"#": "xyzzogetons"}, lookup=lambda w: None)
    assert not Vocabulary.of({"#": "xyzzogetons"}, lookup={"seven": "S EH V AH N"}.get)


@pytest.mark.parametrize(("confidence", "threshold", "chosen"), [
    (0.9, 0.6, "2"), (0.6, 0.6, "2"), (0.59, 0.6, None)])
def test_threshold(confidence: float, threshold: float, chosen: str | None) -> None:
    assert Heard("support", confidence, "2").chosen(threshold) == chosen


class _Segment:
    def __init__(self, word: str, prob: float) -> None:
        self.word, self.prob = word, prob


class _Decoded:
    def __init__(self, *segments: tuple[str, float]) -> None:
        self._segments = [_Segment(w, p) for w, p in segments]

    def seg(self) -> list[_Segment]:
        return self._segments


@pytest.mark.parametrize(("segments", "confidence"), [
    # a word heard without doubt, the lattice split on the silence after it: sure
    ((("<s>", 1.0), ("support", 0.99), ("<sil>", 0.5), ("</s>", 1.0)), 0.99),
    ((("call", 0.9), ("[NOISE]", 0.2), ("me", 0.6), ("back", 0.95)), 0.6),  # its least sure word
    ((("<s>", 1.0), ("</s>", 1.0)), 0.0),  # no word
])
def test_confidence_is_the_least_sure_word(segments: tuple[tuple[str, float], ...],
                                           confidence: float) -> None:
    assert _confidence(_Decoded(*segments)) == confidence


class _Span:
    def __init__(self, word: str, start_frame: int, end_frame: int) -> None:
        self.word, self.start_frame, self.end_frame = word, start_frame, end_frame


def _audio(*parts: tuple[int, int]) -> bytes:
    """(frames, amplitude) after one another: a square wave of that amplitude."""
    samples = array("h")
    for frames, amplitude in parts:
        samples.extend(amplitude * (1 if i % 2 else -1) for i in range(frames * FRAME))
    return samples.tobytes()


@pytest.mark.parametrize(("audio", "after", "left_over"), [
    # "I want to cancel" heard as "one" and a loud "silence": the caller said more
    (_audio((40, 3000), (60, 2500)), ("<sil>", 40, 99), True),
    (_audio((40, 3000), (60, 30)), ("<sil>", 40, 99), False),  # a quiet end: just the word
    (_audio((40, 3000), (60, 900)), ("<sil>", 40, 99), False),  # line noise, 10 dB below it
    (_audio((40, 3000), (20, 2500)), ("<sil>", 40, 59), False),  # a short pause
    # "to cancel", then the quiet the end-pointer keeps: the silence's average is low, but
    # 0.35 s of it is as loud as "one"
    (_audio((40, 3000), (35, 2500), (60, 30)), ("<sil>", 40, 134), True),
])
def test_speech_left_unexplained_by_the_words_heard(audio: bytes, after: tuple[str, int, int],
                                                    left_over: bool) -> None:
    segments = [_Span("<s>", 0, 0), _Span("one", 0, 39), _Span(*after), _Span("</s>", 99, 99)]
    assert unexplained(audio, segments) is left_over


def rtp(payload: bytes, *, csrc: int = 0, ext: bytes = b"", pad: int = 0) -> bytes:
    first = 0x80 | csrc | (0x10 if ext else 0) | (0x20 if pad else 0)
    head = struct.pack("!BBHII", first, 118, 1, 160, 7) + b"\0\0\0\1" * csrc
    if ext:
        head += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return head + payload + (b"\0" * (pad - 1) + bytes([pad]) if pad else b"")


@pytest.mark.parametrize(("packet", "payload"), [
    (rtp(b"\x01\x02"), b"\x01\x02"),
    (rtp(b"\x01\x02", csrc=2), b"\x01\x02"),
    (rtp(b"\x01\x02", ext=b"abcd"), b"\x01\x02"),
    (rtp(b"\x01\x02", pad=4), b"\x01\x02"),
    (b"\x00" * 20, None),  # not version 2
    (b"\x80", None),  # too short
    (rtp(b""), None),
])
def test_rtp_payload(packet: bytes, payload: bytes | None) -> None:
    assert rtp_payload(packet) == payload


def test_l16_is_network_byte_order() -> None:
    assert struct.unpack("=h", to_native(b"\x01\x02"))[0] == 0x0102


DEMO = {"1": "sales", "2": "support", "3": "call me back"}

def endpointed(pcm: bytes) -> list[bytes]:
    """The utterances ccari's media path cuts out of ``pcm`` (sent to it as RTP L16)."""
    out: list[bytes] = []
    utterances = Utterances(lambda: None, out.append)
    samples = array("h", pcm)
    if sys.byteorder == "little":
        samples.byteswap()
    raw = samples.tobytes()
    for seq, at in enumerate(range(0, len(raw), 640)):  # 20 ms packets
        head = struct.pack("!BBHII", 0x80, 118, seq & 0xFFFF, seq * 320, 1)
        utterances.datagram_received(head + raw[at:at + 640], ("127.0.0.1", 0))
    return out


async def decide(recognizer: Recognizer, vocabulary: Vocabulary, text: str, **voice: object,
                 ) -> tuple[Heard | None, str | None]:
    """What the menu takes when a caller says ``text``: (what was heard, the option)."""
    utterances = endpointed(telephone_pcm16k([text], gap_s=1.0, **voice))
    if not utterances:
        return None, None
    heard = await recognizer.recognize(utterances[0], vocabulary)
    return heard, heard.chosen(SpeechConfig().min_confidence)


# What a caller says (espeak-ng, en-us) -> the option it must choose (None: the menu asks
# again).  "sales" and "two" in this voice are among the misses the accuracy table below
# counts: on telephone audio (8 kHz PCMU) the bundled 16 kHz model is unsure of them.
CASES = [
    ("one", "1"), ("support", "2"), ("three", "3"), ("call me back", "3"),
    ("banana pancakes", None), ("the weather is nice today", None),
]


@pytest.fixture(scope="module")
def recognizer():  # type: ignore[no-untyped-def]
    r = Recognizer()
    yield r
    r.close()


@pytest.mark.parametrize(("said", "option"), CASES)
def test_recogniser_on_telephone_audio(recognizer: Recognizer, said: str,
                                       option: str | None) -> None:
    async def run() -> tuple[Heard | None, str | None]:
        return await decide(recognizer, await recognizer.vocabulary(DEMO), said)

    heard, chosen = asyncio.run(run())
    assert chosen == option, heard


VOICES = [("en-us", 150), ("en-gb", 170), ("en-us+f3", 130), ("en-gb-x-rp", 150), ("en-us+m3", 160)]
MENU_WORDS = {"sales": "1", "support": "2", "one": "1", "two": "2", "three": "3",
              "call me back": "3"}
OTHER = ["banana pancakes", "the weather is nice today", "hello", "my account please",
         "cheese", "seven", "the bill", "I want to cancel"]


def test_accuracy_over_voices(recognizer: Recognizer) -> None:
    """The demo menu's words and other phrases in five espeak-ng voices and speeds, as
    telephone audio cut by the media path's end-pointer.  Measured with the lowest word
    posterior as the confidence, the digits of no option in the grammar, speech left
    unexplained refused and the words' telephone-line pronunciations: 28 of 30 menu words
    taken right, 4 of 40 other phrases taken for an option (without the last two and with
    the unexplained speech judged by the silence's average: 26 and 12; without any of
    that: 26 and 14; with the posterior of the whole path: 24 and 19; with the phone-loop
    ratio before it: 17 and 7); the assertions keep it from getting worse (sox runs
    repeatable: the same audio every run).
    ``python -m bench.speech`` measures the same on a bigger set."""
    async def run() -> tuple[list[str], int, int]:
        vocabulary = await recognizer.vocabulary(DEMO)
        lines, right, taken = [], 0, 0
        for voice, speed in VOICES:
            for text in [*MENU_WORDS, *OTHER]:
                heard, got = await decide(recognizer, vocabulary, text, voice=voice, speed=speed)
                right += text in MENU_WORDS and got == MENU_WORDS[text]
                taken += text not in MENU_WORDS and got is not None
                lines.append(f"{voice:10} {text!r:28} {heard}")
        return lines, right, taken

    lines, right, taken = asyncio.run(run())
    table = "\n".join(lines)
    assert right >= 28, (right, table)
    assert taken <= 4, (taken, table)


def test_a_label_word_missing_from_the_dictionary_is_recognised(recognizer: Recognizer) -> None:
    """"helpdesk" is not in the CMU dictionary: its pronunciation is made from "help" and
    "desk", added to the recogniser, and a caller saying it is heard."""
    async def run() -> tuple[Vocabulary, Heard | None]:
        vocabulary = await recognizer.vocabulary({"1": "helpdesk", "2": "billing"})
        utterances = endpointed(telephone_pcm16k(["helpdesk"], gap_s=1.0))
        return vocabulary, await recognizer.recognize(utterances[0], vocabulary)

    vocabulary, heard = asyncio.run(run())
    assert vocabulary.added == {"helpdesk": "HH EH L P D EH S K"}
    assert vocabulary.option_of("helpdesk") == "1"
    assert heard is not None and heard.said == "helpdesk", heard
