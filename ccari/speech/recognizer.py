"""The pocketsphinx adapter: one utterance (16 kHz mono 16-bit PCM) -> what was heard.

Recognition is constrained by the menu's grammar (``grammar.Vocabulary``: exactly one of
its phrases or of the digits it does not offer, with words the dictionary lacks added
first); the confidence is the lowest posterior probability of the hypothesis' words over the
decoder's word lattice: low when the audio fits two phrases about as well (a word of no
option often lands between two of them), high when one phrase alone explains it.  Silence
and fillers are left out of it: the lattice often holds the same words with and without a
trailing silence, and the posterior of the whole path (what this replaces) was then split
between the two, about 0.5 for a word heard without doubt.

Measured with ``python -m bench.speech`` on telephone audio (8 kHz G.711 resampled to
16 kHz, as Asterisk sends it): a free phone loop compared with the grammar's path told
menu words from other words no better than chance on that audio and doubled the CPU per
utterance; a garbage path inside the grammar cost more than 10x the CPU (a loop of the
model's phones) or, never winning, split the options' posterior (the model's speech-noise
filler ``+SPN+``: most options refused); the words' posterior costs nothing more.

Decoding is CPU work in C: it runs in one worker thread (``recognize`` awaits it), never on
the event loop.  The decoder lives in that thread only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import threading
from typing import Any

from ccari.speech.grammar import Heard, Vocabulary

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class Recognizer:
    """pocketsphinx with its bundled US English model: nothing is fetched at run time."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="speech")
        self._local = threading.local()
        import pocketsphinx  # noqa: F401 - fail at start-up, not on the first caller

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def vocabulary(self, labels: dict[str, str]) -> Vocabulary:
        """The menu's vocabulary: its words the dictionary has or can be taught."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: Vocabulary.of(labels, self._lookup))

    async def recognize(self, pcm: bytes, vocabulary: Vocabulary) -> Heard:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._decode, pcm, vocabulary)

    # ---- in the worker thread ----------------------------------------------------------
    def _decoder(self) -> Any:
        if not hasattr(self._local, "decoder"):
            from pocketsphinx import Decoder

            self._local.decoder = Decoder(lm=None, loglevel="FATAL", samprate=SAMPLE_RATE)
            self._local.searches = set()
            self._local.added = set()
        return self._local.decoder

    def _lookup(self, word: str) -> str | None:
        """A word's phones in the model's own dictionary (not one this thread added)."""
        decoder = self._decoder()
        return None if word in self._local.added else decoder.lookup_word(word)

    def _search(self, decoder: Any, vocabulary: Vocabulary) -> str:
        jsgf = vocabulary.jsgf()
        name = "g" + hashlib.sha1(jsgf.encode()).hexdigest()[:12]
        if name not in self._local.searches:
            for word, pron in vocabulary.added.items():
                if word not in self._local.added and decoder.lookup_word(word) is None:
                    decoder.add_word(word, pron, True)
                    self._local.added.add(word)
            decoder.add_jsgf_string(name, jsgf)
            self._local.searches.add(name)
        return name

    def _decode(self, pcm: bytes, vocabulary: Vocabulary) -> Heard:
        if not vocabulary or len(pcm) < 2 * SAMPLE_RATE // 10:
            return Heard("", 0.0, None)
        decoder = self._decoder()
        decoder.activate_search(self._search(decoder, vocabulary))
        decoder.reinit_feat()  # every utterance from the same start: nothing of earlier callers
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        said = hyp.hypstr if hyp is not None else ""
        digit = vocabulary.option_of(said) if said else None
        if hyp is None or digit is None:
            return Heard(said, 0.0, None)
        return Heard(said, round(min(max(_confidence(decoder), 0.0), 1.0), 3), digit)


def _confidence(decoder: Any) -> float:
    """The lowest posterior of the words of the best path (silence and fillers left out)."""
    words = [seg.prob for seg in decoder.seg() or ()
             if not seg.word.startswith(("<", "[", "+"))]
    return min(words, default=0.0)
