"""A tenant's own prompts: uploaded (WAV, MP3, Ogg) or spoken from a text, converted to what
Asterisk plays, named within the tenant, used by its menus as ``tenant:<name>`` and by no
other tenant's; bad uploads refused with stable ids; the API and ``ccari admin``."""

from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import wave
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ccari.config import PromptsConfig
from ccari.provisioning import audio
from ccari.provisioning.cli import main
from ccari.provisioning.http import PROVISIONING
from ccari.provisioning.prompts import PromptFiles
from ccari.provisioning.schemas import Invalid
from tests.provisioning.test_http import ADMIN, bearer, error, ok

MAX_BYTES, MAX_SECONDS = 300_000, 4.0


@pytest.fixture
def cfg(cfg):  # type: ignore[no-untyped-def]
    """Small limits, so that too large and too long are cheap to show."""
    return replace(cfg, prompts=PromptsConfig(max_bytes=MAX_BYTES, max_seconds=MAX_SECONDS))


def tone_wav(seconds: float, hz: float, rate: int = 16000, channels: int = 2) -> bytes:
    """A tone as a 16-bit WAV, not as Asterisk wants it (another rate, stereo)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (struct.pack("<h", round(8000 * math.sin(2 * math.pi * hz * n / rate)))
                  * channels for n in range(int(seconds * rate)))
        w.writeframes(b"".join(frames))
    return out.getvalue()


def encoded(tmp_path: Path, kind: str, seconds: float = 1.0) -> bytes:
    path = tmp_path / f"tone.{kind}"
    subprocess.run(["sox", "-n", "-r", "44100", str(path), "synth", str(seconds), "sine", "700"],
                   check=True)
    return path.read_bytes()


def played_as(wav: bytes) -> tuple[int, int, int, float]:
    """(rate, channels, bits, seconds) of a WAV."""
    with wave.open(io.BytesIO(wav)) as w:
        return (w.getframerate(), w.getnchannels(), 8 * w.getsampwidth(),
                w.getnframes() / w.getframerate())


@pytest.mark.parametrize(("data", "error_id", "status"), [
    (b"hello, not audio", "prompt-not-audio", 422),
    (b"RIFF\x10\x00\x00\x00WAVEfmt broken", "prompt-not-audio", 422),  # a WAV header, no WAV
    (b"\x7fELF" + bytes(100), "prompt-not-audio", 422),
    (tone_wav(MAX_SECONDS + 1, 700, rate=8000, channels=1), "prompt-too-long", 422),
    (bytes(16) * (MAX_BYTES // 16 + 1), "prompt-too-large", 413),
    (tone_wav(0.01, 700), "prompt-empty", 422),
])
async def test_a_bad_upload_is_refused_with_a_stable_id(
        client: TestClient, data: bytes, error_id: str, status: int) -> None:
    url = "/api/tenants/acme/prompts/greeting"
    await error(await client.put(url, data=data, headers={**ADMIN, "Content-Type": "audio/wav"}),
                status, error_id)
    assert (await ok(await client.get("/api/tenants/acme/prompts", headers=ADMIN))) == \
        {"prompts": []}


async def test_uploads_and_texts_become_tenant_prompts_the_menus_play(
        client: TestClient, rt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = PromptFiles(tmp_path / "sounds")  # as when the PBX is attached
    client.app[PROVISIONING].prompt_files = files
    acme, globex = bearer(rt, "acme"), bearer(rt, "globex")
    base = "/api/tenants/acme/prompts"
    made = await ok(await client.put(f"{base}/greeting", data=tone_wav(1.5, 700),
                                     headers={**acme, "Content-Type": "audio/wav"}), 201)
    assert made["prompt"]["ref"] == "tenant:greeting" and made["prompt"]["source"] == "upload"
    wav = await (await client.get(f"{base}/greeting", headers=acme)).read()
    rate, channels, bits, seconds = played_as(wav)
    assert (rate, channels, bits) == (8000, 1, 16) and seconds == pytest.approx(1.5, abs=0.01)
    acme_id = await client.app[PROVISIONING].tenant_id("acme")
    assert files.path(acme_id, "greeting").read_bytes() == wav  # where Asterisk reads it
    for kind in ("mp3", "ogg"):  # the file name says nothing: the bytes do
        body = await ok(await client.put(f"{base}/from-{kind}", data=encoded(tmp_path, kind),
                                         headers={**acme, "Content-Type": "application/octet-stream"}),
                        201)
        assert body["prompt"]["seconds"] == pytest.approx(1.0, abs=0.05)
    spoken = await ok(await client.put(f"{base}/closed", json={"text": "-v We are closed today."},
                                       headers=acme), 201)
    assert spoken["prompt"]["source"] == "text" and spoken["prompt"]["text"] == \
        "-v We are closed today." and spoken["prompt"]["seconds"] > 1.0

    # globex has a greeting of its own; neither sees nor plays the other's.
    await ok(await client.put("/api/tenants/globex/prompts/greeting", data=tone_wav(0.5, 400),
                              headers={**globex, "Content-Type": "audio/wav"}), 201)
    assert await (await client.get(f"{base}/greeting", headers=acme)).read() == wav
    await error(await client.get(f"{base}/greeting", headers=globex), 403, "wrong-tenant")
    await error(await client.put(f"{base}/x", data=tone_wav(1, 700),
                                 headers={**globex, "Content-Type": "audio/wav"}),
                403, "wrong-tenant")
    await error(await client.post("/api/tenants/globex/menus", headers=globex, json={
        "name": "night", "prompt": "tenant:closed"}), 422, "unknown-prompt")

    # acme's menu plays its prompts; one it does not have is refused on save.
    menu = await ok(await client.post("/api/tenants/acme/menus", headers=acme, json={
        "name": "night", "prompt": "tenant:greeting", "invalid_prompt": "tenant:closed",
        "options": [{"digit": "1", "label": "sales", "attributes": {"skill": "sales"}}]}), 201)
    assert menu["menu"]["prompt"] == "tenant:greeting"
    await error(await client.put("/api/tenants/acme/menus/night", headers=acme, json={
        "prompt": "tenant:nope"}), 422, "unknown-prompt")
    await error(await client.put("/api/tenants/acme/menus/night", headers=acme, json={
        "prompt": "tenant:../../etc"}), 422, "invalid-field")
    await error(await client.delete(f"{base}/greeting", headers=acme), 409, "prompt-in-use")
    await ok(await client.delete(f"{base}/from-ogg", headers=acme))
    assert not files.path(acme_id, "from-ogg").exists()
    names = [p["name"] for p in (await ok(await client.get(base, headers=acme)))["prompts"]]
    assert names == ["closed", "from-mp3", "greeting"]
    log = (await ok(await client.get("/api/tenants/acme/audit", headers=acme)))["audit"]
    assert ("prompt", "from-ogg", "delete") in {(e["kind"], e["key"], e["action"]) for e in log}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_cli_uploads_speaks_lists_and_deletes_prompts(cfg, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    async def admin(*argv: str):  # type: ignore[no-untyped-def]
        assert await main(cfg, ["--no-sync", *argv]) == 0
        return json.loads(capsys.readouterr().out)

    await admin("tenants", "create", "initech", "Initech")
    path = tmp_path / "hold music.wav; rm -rf"  # a file name is only a path to read
    path.write_bytes(tone_wav(1.0, 700))
    up = await admin("prompts", "upload", "initech", "hold", str(path))
    assert up["prompt"]["source"] == "upload"
    said = await admin("prompts", "say", "initech", "welcome", "Welcome to Initech.")
    assert said["prompt"]["text"] == "Welcome to Initech."
    listed = await admin("prompts", "list", "initech")
    assert [(p["name"], p["source"]) for p in listed] == [("hold", "upload"), ("welcome", "text")]
    assert await admin("prompts", "delete", "initech", "hold") == {"deleted": "hold"}
    assert [p["name"] for p in await admin("prompts", "list", "initech")] == ["welcome"]


@pytest.mark.parametrize(("head", "kind"), [
    (b"RIFF\0\0\0\0WAVEfmt ", "wav"), (b"OggS\0\2", "ogg"), (b"ID3\4\0", "mp3"),
    (b"\xff\xfb\x90\x00", "mp3"), (b"\xff\xf1\x50\x80", None),  # AAC (ADTS): layer 0
    (b"RIFF\0\0\0\0AVI ", None), (b"", None), (b"%PDF-1.4", None),
])
def test_the_format_comes_from_the_first_bytes(head: bytes, kind: str | None) -> None:
    assert audio.sniff(head) == kind


def test_a_prompt_file_is_always_under_its_tenants_directory(tmp_path: Path) -> None:
    files = PromptFiles(tmp_path)
    assert files.path(7, "greeting") == tmp_path / "7" / "greeting.wav"
    for bad in ("../x", "a/b", "", ".hidden", "UPPER"):
        with pytest.raises(Invalid) as refused:
            files.path(7, bad)
        assert refused.value.error_id == "invalid-field"


def test_the_files_are_made_to_match_the_database(tmp_path: Path) -> None:
    files = PromptFiles(tmp_path)
    files.write(3, "old", b"old")
    files.write(4, "gone", b"gone")  # a tenant deleted while ccari was away
    files.sync({(3, "new"): b"new", (5, "hello"): b"hello"})
    assert files.present() == {(3, "new"), (5, "hello")}
    assert not (tmp_path / "4").exists() and (tmp_path / "3" / "new.wav").read_bytes() == b"new"
