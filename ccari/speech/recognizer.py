"""The pocketsphinx adapter: one utterance (16 kHz mono 16-bit PCM) -> what was heard.

Recognition is constrained by the menu's grammar (``grammar.Vocabulary``); the confidence
compares the grammar's best path with a free phone loop over the same audio (a likelihood
ratio per 10 ms frame, squashed into [0, 1]): what the caller said fits one of the
phrases about as well as any sequence of sounds does when it is that phrase, much worse
when it is something else.  Measured on clean 16 kHz espeak-ng voices: menu words score 2
to 18 per frame, other words -9 to 0; the logistic's centre sits between them.  Telephone
audio (8 kHz) separates them far less well: see tests/test_speech.py.

Decoding is CPU work in C: it runs in one worker thread (``recognize`` awaits it), never on
the event loop.  The decoders live in that thread only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import os
import threading
from typing import Any

from ccari.speech.grammar import Heard, Vocabulary

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Likelihood ratio per frame (grammar vs phone loop) at which the confidence is 0.5, and
# how steeply it rises around it.
_CENTRE = 1.0
_SLOPE = 1.0


def confidence_of(grammar_score: int, phone_score: int, frames: int) -> float:
    """Pure: the two path scores (pocketsphinx's log base 1.0001) -> [0, 1]."""
    if frames <= 0:
        return 0.0
    ratio = (grammar_score - phone_score) / frames
    return 1.0 / (1.0 + math.exp(-_SLOPE * (ratio - _CENTRE)))


class Recognizer:
    """pocketsphinx with its bundled US English model: nothing is fetched at run time."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="speech")
        self._local = threading.local()
        import pocketsphinx  # noqa: F401 - fail at start-up, not on the first caller

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def vocabulary(self, labels: dict[str, str]) -> Vocabulary:
        """The menu's vocabulary, the dictionary's words only."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: Vocabulary.of(labels, self._lookup))

    async def recognize(self, pcm: bytes, vocabulary: Vocabulary) -> Heard:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._decode, pcm, vocabulary)

    # ---- in the worker thread ----------------------------------------------------------
    def _decoders(self) -> tuple[Any, Any]:
        if not hasattr(self._local, "grammar"):
            from pocketsphinx import Decoder, get_model_path

            phones = os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin")
            self._local.grammar = Decoder(lm=None, loglevel="FATAL", samprate=SAMPLE_RATE)
            self._local.phones = Decoder(lm=None, allphone=phones, loglevel="FATAL",
                                         samprate=SAMPLE_RATE)
            self._local.searches = set()
            self._local.added = set()
        return self._local.grammar, self._local.phones

    def _lookup(self, word: str) -> str | None:
        """A word's phones in the model's own dictionary (not one this thread added)."""
        grammar, _ = self._decoders()
        return None if word in self._local.added else grammar.lookup_word(word)

    def _decode(self, pcm: bytes, vocabulary: Vocabulary) -> Heard:
        if not vocabulary or len(pcm) < 2 * SAMPLE_RATE // 10:
            return Heard("", 0.0, None)
        grammar, phones = self._decoders()
        jsgf = vocabulary.jsgf()
        name = "g" + hashlib.sha1(jsgf.encode()).hexdigest()[:12]
        if name not in self._local.searches:
            for word, pron in vocabulary.added.items():
                if word not in self._local.added and grammar.lookup_word(word) is None:
                    grammar.add_word(word, pron, True)
                    self._local.added.add(word)
            grammar.add_jsgf_string(name, jsgf)
            self._local.searches.add(name)
        grammar.activate_search(name)
        g = _run(grammar, pcm)
        frames = grammar.n_frames()
        p = _run(phones, pcm)
        said = g.hypstr if g is not None else ""
        digit = vocabulary.option_of(said) if said else None
        if g is None or p is None or digit is None or g.score <= 0 or p.score <= 0:
            return Heard(said, 0.0, None)
        lm = grammar.logmath
        conf = confidence_of(lm.log(g.score), lm.log(p.score), frames)
        return Heard(said, round(conf, 3), digit)


def _run(decoder: Any, pcm: bytes) -> Any:
    decoder.reinit_feat()  # every utterance from the same start: nothing of earlier callers
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp()
