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

A hypothesis that leaves speech unexplained chooses nothing: when the best path calls any
0.3 s of a silence about as loud as the words heard (within 6 dB of them), the caller said
more than a phrase of the menu ("I want to cancel" heard as "one" and a long "silence") and
the menu asks again.  Any 0.3 s of it, not the silence's average: the end-pointer keeps
the quiet after the caller stops, and averaged with it "to cancel" passed for silence.
Line noise is quieter than the words it carries and passes (measured: at 10 dB SNR a
10 dB margin refused most options, 6 dB none).

Each word with an /s/ or /z/ is also known by its telephone-line pronunciation
(``Vocabulary.variants``: the 8 kHz line cuts most of a sibilant, which the wideband model
then hears as /th/), added to the dictionary as ``word(N)`` and heard as the word.

Decoding is CPU work in C: it runs in one worker thread (``recognize`` awaits it), never on
the event loop.  The decoder lives in that thread only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import threading
from array import array
from collections.abc import Sequence
from typing import Any

from ccari.speech.grammar import Heard, Vocabulary

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME = SAMPLE_RATE // 100  # the decoder's 10 ms frames, in samples
UNEXPLAINED_FRAMES = 30  # a silence this long, as loud as the words: speech left over
UNEXPLAINED_DB = 6.0


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
            for word, pron in vocabulary.variants.items():
                self._add_variant(decoder, word, pron)
            decoder.add_jsgf_string(name, jsgf)
            self._local.searches.add(name)
        return name

    @staticmethod
    def _add_variant(decoder: Any, word: str, pron: str) -> None:
        """Another pronunciation of ``word``, as the dictionary writes one: ``word(N)``,
        heard as ``word`` (once: a pronunciation already known is left)."""
        n = 2
        while (known := decoder.lookup_word(f"{word}({n})")) is not None:
            if known == pron:
                return
            n += 1
        decoder.add_word(f"{word}({n})", pron, True)

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
        if hyp is None or digit is None or unexplained(pcm, list(decoder.seg() or ())):
            return Heard(said, 0.0, None)
        return Heard(said, round(min(max(_confidence(decoder), 0.0), 1.0), 3), digit)


def _is_word(word: str) -> bool:
    return not word.startswith(("<", "[", "+"))


def levels(pcm: bytes) -> list[float]:
    """The level (dB) of each 10 ms frame of 16-bit native PCM."""
    samples = array("h", pcm[: len(pcm) & ~1])
    return [10 * math.log10(sum(x * x for x in samples[at:at + FRAME]) / FRAME + 1.0)
            for at in range(0, len(samples) - FRAME + 1, FRAME)]


def unexplained(pcm: bytes, segments: Sequence[Any]) -> bool:
    """Whether the path calls silence a stretch of ``UNEXPLAINED_FRAMES`` as loud as its
    words (``segments``: the decoder's, with ``word``, ``start_frame`` and
    ``end_frame``).  Any such stretch inside a silence counts, not only the silence's
    average: the end-pointer's trailing silence would hide the rest of a sentence."""
    db = levels(pcm)
    total = [0.0]
    for level in db:
        total.append(total[-1] + level)

    def mean(start: int, end: int) -> float:  # frames start..end-1
        end = min(end, len(db))
        return (total[end] - total[start]) / (end - start) if end > start else float("-inf")

    words = [mean(seg.start_frame, seg.end_frame + 1) for seg in segments if _is_word(seg.word)]
    if not words:
        return False
    floor = sum(words) / len(words) - UNEXPLAINED_DB
    span = UNEXPLAINED_FRAMES
    return any(mean(at, at + span) > floor
               for seg in segments
               if not _is_word(seg.word) and seg.word not in ("<s>", "</s>")
               for at in range(seg.start_frame, seg.end_frame + 2 - span))


def _confidence(decoder: Any) -> float:
    """The lowest posterior of the words of the best path (silence and fillers left out)."""
    return min((seg.prob for seg in decoder.seg() or () if _is_word(seg.word)), default=0.0)
