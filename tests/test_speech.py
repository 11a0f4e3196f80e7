"""The speech context: a menu's vocabulary (pure), RTP parsing (pure), and the recogniser on
telephone audio made with espeak-ng (words -> option, with an accuracy table)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from ccari.speech.grammar import Heard, Vocabulary, words_of
from ccari.speech.media import rtp_payload, to_native
from ccari.speech.recognizer import Recognizer, confidence_of
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
    v = Vocabulary.of({"1": "Sales", "2": "an agent", "3": "sales"}, known=lambda w: w != "an")
    # "sales" names two options: it chooses neither; unknown words are left out
    assert v.phrases == {"agent": "2", "one": "1", "three": "3", "two": "2"}
    assert v.option_of("Agent") == "2" and v.option_of("sales") is None
    assert v.option_of("") is None


def test_no_known_word_no_vocabulary() -> None:
    assert not Vocabulary.of({"1": "xyzzy"}, known=lambda w: False)


@pytest.mark.parametrize(("confidence", "threshold", "chosen"), [
    (0.9, 0.6, "2"), (0.6, 0.6, "2"), (0.59, 0.6, None)])
def test_threshold(confidence: float, threshold: float, chosen: str | None) -> None:
    assert Heard("support", confidence, "2").chosen(threshold) == chosen


def test_confidence_rises_with_the_ratio() -> None:
    assert confidence_of(-100, -100, 0) == 0.0
    assert confidence_of(-1000, -5000, 100) > 0.99 > 0.5 > confidence_of(-5000, -1000, 100)


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
NARROWBAND = ("on telephone audio (8 kHz PCMU resampled to 16 kHz) the bundled 16 kHz model "
              "fits this word to the grammar no better than a free phone loop: too unsure")
# What a caller says (espeak-ng, en-us) -> the option it must choose (None: the menu asks
# again).  The misses are kept, strict: a better model or measure turns them into passes.
CASES = [
    ("support", "2"), ("one", "1"), ("two", "2"), ("call me back", "3"),
    pytest.param("sales", "1", marks=pytest.mark.xfail(strict=True, reason=NARROWBAND)),
    pytest.param("three", "3", marks=pytest.mark.xfail(strict=True, reason=NARROWBAND)),
    ("banana pancakes", None), ("the weather is nice today", None), ("cheese", None),
]


@pytest.fixture(scope="module")
def recognizer():  # type: ignore[no-untyped-def]
    r = Recognizer()
    yield r
    r.close()


@pytest.mark.parametrize(("said", "option"), CASES)
def test_recogniser_on_telephone_audio(recognizer: Recognizer, said: str,
                                       option: str | None) -> None:
    async def run() -> Heard:
        vocabulary = await recognizer.vocabulary(DEMO)
        return await recognizer.recognize(telephone_pcm16k([said], gap_s=0.3), vocabulary)

    heard = asyncio.run(run())
    assert heard.chosen(0.6) == option, heard
