"""A tenant's own prompt made playable: what Asterisk plays is 8 kHz mono 16-bit WAV.

An upload (WAV, MP3 or Ogg Vorbis, recognised by its first bytes, never by a file name) is
converted by ``sox``; a text is spoken by ``espeak-ng`` (voice, speed and pitch from
``prompts.*``: by default the ones ``sounds/make.sh`` gives ccari's own prompts), then
converted the same way.  Both run as argument lists, with no shell, in a private temporary
directory whose file names are ccari's own; the text goes in on standard input (a text
starting with ``-`` is no option).  A conversion is cut at ``max_seconds`` plus one, so a
small file cannot make a huge one.

Refusals (``Invalid``, 422 unless said): ``prompt-not-audio`` (not one of the three formats,
or sox cannot read it), ``prompt-too-large`` (413, more than ``max_bytes``),
``prompt-too-long`` (more than ``max_seconds`` once converted), ``prompt-empty`` (no sound),
``invalid-text``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ccari.errors import CcariError, Invalid

if TYPE_CHECKING:
    from ccari.config import Config

log = logging.getLogger(__name__)

RATE = 8000
MAX_TEXT = 1000  # characters of a spoken prompt
TOOL_TIMEOUT_S = 30.0


class TooLarge(CcariError):
    """The upload is larger than a prompt may be."""

    error_id = "prompt-too-large"
    status = 413


class ToolFailed(CcariError):
    """sox or espeak-ng is missing or failed on ccari's own input."""

    error_id = "prompt-tool-failed"
    status = 500


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 * 1024 * 1024
    max_seconds: float = 120.0

    @classmethod
    def of(cls, cfg: Config) -> Limits:
        return cls(cfg.prompts.max_bytes, cfg.prompts.max_seconds)


@dataclass(frozen=True)
class Voice:
    """espeak-ng's settings for a text prompt (``-v``, ``-s`` words a minute, ``-p``)."""

    name: str = "en-us"
    speed: int = 150
    pitch: int = 45

    @classmethod
    def of(cls, cfg: Config) -> Voice:
        return cls(cfg.prompts.voice, cfg.prompts.speed, cfg.prompts.pitch)


def sniff(data: bytes) -> str | None:
    """The format of an upload from its first bytes: ``wav``, ``mp3``, ``ogg`` or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
                               and data[1] & 0x06 != 0):  # an MPEG audio frame, layer set
        return "mp3"
    return None


def wav_seconds(wav: bytes) -> float:
    """Seconds of a PCM WAV (its ``fmt `` and ``data`` chunks); 0 when it is none."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return 0.0
    pos, byte_rate, data = 12, 0, 0
    while pos + 8 <= len(wav):
        tag, size = wav[pos:pos + 4], struct.unpack("<I", wav[pos + 4:pos + 8])[0]
        if tag == b"fmt " and size >= 16:
            byte_rate = struct.unpack("<I", wav[pos + 16:pos + 20])[0]
        elif tag == b"data":
            data = min(size, len(wav) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    return data / byte_rate if byte_rate else 0.0


def convert_args(kind: str, src: Path, dst: Path, max_seconds: float) -> list[str]:
    """sox: any of the three formats -> 8 kHz mono 16-bit WAV, cut after ``max_seconds``+1."""
    return ["sox", "-D", "-t", kind, str(src), "-r", str(RATE), "-c", "1", "-b", "16",
            "-e", "signed-integer", "-t", "wav", str(dst), "trim", "0", f"{max_seconds + 1:g}"]


def speak_args(voice: Voice, dst: Path) -> list[str]:
    """espeak-ng: the text from standard input into ``dst`` (22 kHz WAV)."""
    return ["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch),
            "-w", str(dst), "--stdin"]


def check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text: what the prompt says, 1 to 1000 characters", error_id="invalid-text")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT or any(ord(c) < 32 for c in text):
        raise Invalid(f"text: at most {MAX_TEXT} printable characters", error_id="invalid-text")
    return text


async def _run(args: Sequence[str], stdin: bytes | None = None) -> tuple[int, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise ToolFailed(f"cannot run {args[0]}: {exc}") from None
    try:
        _, err = await asyncio.wait_for(proc.communicate(stdin), TOOL_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ToolFailed(f"{args[0]} took more than {TOOL_TIMEOUT_S:g} s") from None
    return proc.returncode or 0, err


def _checked(wav: bytes, limits: Limits) -> bytes:
    seconds = wav_seconds(wav)
    if seconds > limits.max_seconds:
        raise Invalid(f"the prompt lasts more than {limits.max_seconds:g} s",
                      error_id="prompt-too-long")
    if seconds < 0.05:
        raise Invalid("the prompt has no sound in it", error_id="prompt-empty")
    return wav


async def convert(data: bytes, limits: Limits) -> bytes:
    """An upload as the WAV Asterisk plays, or a refusal."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"a prompt file is at most {limits.max_bytes} bytes")
    kind = sniff(data)
    if kind is None:
        raise Invalid("the file is not WAV, MP3 or Ogg audio", error_id="prompt-not-audio")
    with tempfile.TemporaryDirectory(prefix="ccari-prompt-") as tmp:
        src, dst = Path(tmp) / f"upload.{kind}", Path(tmp) / "prompt.wav"
        src.write_bytes(data)
        code, err = await _run(convert_args(kind, src, dst, limits.max_seconds))
        if code != 0 or not dst.exists():
            log.info("prompt upload refused by sox (%s): %s", kind, err.decode(errors="replace")[:300])
            raise Invalid(f"the file is not readable {kind} audio", error_id="prompt-not-audio")
        return _checked(dst.read_bytes(), limits)


async def speak(text: str, voice: Voice, limits: Limits) -> bytes:
    """A text spoken as the WAV Asterisk plays."""
    text = check_text(text)
    with tempfile.TemporaryDirectory(prefix="ccari-prompt-") as tmp:
        raw, dst = Path(tmp) / "spoken.wav", Path(tmp) / "prompt.wav"
        code, err = await _run(speak_args(voice, raw), stdin=text.encode())
        if code != 0 or not raw.exists():
            raise ToolFailed(f"espeak-ng failed: {err.decode(errors='replace')[:300]}")
        code, err = await _run(convert_args("wav", raw, dst, limits.max_seconds))
        if code != 0:
            raise ToolFailed(f"sox failed: {err.decode(errors='replace')[:300]}")
        return _checked(dst.read_bytes(), limits)
