"""A tenant's own prompts: uploaded audio or a spoken text (:mod:`.audio` converts both), named
within the tenant (``greeting`` of acme and ``greeting`` of globex are two prompts), used by
its IVR menus as ``tenant:<name>``.

The database holds each prompt (the WAV Asterisk plays), so it survives a restart and goes
with its tenant.  The PBX's copy is a file, ``<dir>/<tenant id>/<name>.wav`` under
Asterisk's sounds directory (:class:`PromptFiles`, ``prompts.dir``), written after the commit
and played as ``sound:<sound_prefix><tenant id>/<name>``: Asterisk reads it when it plays it,
so no reload.  After every ARI (re)connect the files are made to match the database again
(:meth:`PromptsMixin.publish_prompts`): missing ones written, those of deleted prompts and
tenants removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from ccari.errors import Conflict, NotFound
from ccari.provisioning import schemas as sch
from ccari.provisioning.base import ServiceBase, _tenant_by_id
from ccari.provisioning.models import TenantPrompt
from ccari.storage.models import IvrMenu, Number, Queue

if TYPE_CHECKING:
    from ccari.config import Config

log = logging.getLogger(__name__)

#: The directory under Asterisk's sounds of a managed instance's tenant prompts.
MANAGED_DIR = "ccari-tenants"


def name_of(raw: str) -> str:
    if not sch.PROMPT.fullmatch(raw):
        raise sch.Invalid(f"name: {raw!r} must match {sch.PROMPT.pattern}",
                          error_id="invalid-field")
    return raw


def sound_prefix(cfg: Config) -> str:
    """What Asterisk's ``sound:`` puts before ``<tenant id>/<name>``."""
    return cfg.prompts.sound_prefix or f"{MANAGED_DIR}/{cfg.pbx.instance}/"


def media_ref(tenant_id: int, ref: str) -> str:
    """A menu's ``tenant:<name>`` as the voice ACD plays it: ``tenant:<tenant id>/<name>``
    (``VoiceService`` turns it into the ``sound:`` URI); ccari's own prompts unchanged."""
    if ref.startswith(sch.TENANT_PROMPT):
        return f"{sch.TENANT_PROMPT}{tenant_id}/{ref[len(sch.TENANT_PROMPT):]}"
    return ref


def files_of(cfg: Config) -> PromptFiles | None:
    """Where the PBX reads the prompts (None: unknown, an external Asterisk without
    ``prompts.dir``, or no managed Asterisk installed here)."""
    if cfg.prompts.dir:
        return PromptFiles(Path(cfg.prompts.dir))
    if cfg.pbx.mode != "managed":
        return None
    from ccari.pbx.errors import PbxError
    from ccari.pbx.runtime import find_runtime

    try:
        sounds = find_runtime().sounds_dir
    except PbxError:
        return None
    return PromptFiles(sounds / MANAGED_DIR / cfg.pbx.instance)


class PromptFiles:
    """The PBX's copies: ``<root>/<tenant id>/<name>.wav``; names are checked prompt names
    and tenant ids, never anything an upload says."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, tenant_id: int, name: str) -> Path:
        return self.root / str(int(tenant_id)) / f"{name_of(name)}.wav"

    def write(self, tenant_id: int, name: str, wav: bytes) -> None:
        path = self.path(tenant_id, name)
        if path.exists() and path.read_bytes() == wav:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(wav)
        os.chmod(tmp, 0o644)
        tmp.replace(path)  # a caller in the menu hears the old one or the new one, whole

    def remove(self, tenant_id: int, name: str) -> None:
        self.path(tenant_id, name).unlink(missing_ok=True)

    def remove_tenant(self, tenant_id: int) -> None:
        shutil.rmtree(self.root / str(int(tenant_id)), ignore_errors=True)

    def present(self) -> set[tuple[int, str]]:
        if not self.root.is_dir():
            return set()
        return {(int(d.name), f.stem) for d in self.root.iterdir() if d.is_dir() and d.name.isdigit()
                for f in d.glob("*.wav")}

    def sync(self, wanted: dict[tuple[int, str], bytes]) -> None:
        """Make the files what ``wanted`` says: written, and nothing else left."""
        for (tenant_id, name), wav in wanted.items():
            self.write(tenant_id, name, wav)
        for tenant_id, name in self.present() - set(wanted):
            self.remove(tenant_id, name)
        if self.root.is_dir():
            tenants = {t for t, _ in wanted}
            for d in self.root.iterdir():
                if d.is_dir() and d.name.isdigit() and int(d.name) not in tenants:
                    shutil.rmtree(d, ignore_errors=True)


def view(p: TenantPrompt) -> dict[str, Any]:
    return {"name": p.name, "ref": f"{sch.TENANT_PROMPT}{p.name}", "source": p.source,
            "text": p.text, "seconds": round(p.seconds, 3), "sha256": p.sha256,
            "updated_at": p.updated_at.isoformat()}


class PromptsMixin(ServiceBase):
    async def prompts(self, tenant_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await s.scalars(select(TenantPrompt).where(TenantPrompt.tenant_id == tenant_id)
                                   .order_by(TenantPrompt.name))
            return [view(p) for p in rows]

    async def prompt_audio(self, tenant_id: int, name: str) -> bytes:
        async with self._sessions() as s:
            return (await _prompt(s, tenant_id, name)).audio

    async def put_prompt(self, actor: str, tenant_id: int, name: str, wav: bytes,
                         *, text: str | None = None) -> tuple[dict[str, Any], bool]:
        """Create or replace the prompt (``wav`` already converted by :mod:`.audio`); saved,
        then written for the PBX.  Returns its view and whether it is new."""
        from ccari.provisioning.audio import wav_seconds

        name = name_of(name)
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            row = await s.scalar(select(TenantPrompt).where(TenantPrompt.tenant_id == tenant_id,
                                                            TenantPrompt.name == name))
            before = view(row) if row is not None else None
            if row is None:
                row = TenantPrompt(tenant_id=tenant_id, name=name)
                s.add(row)
            row.source, row.text = ("text" if text is not None else "upload"), text
            row.audio, row.seconds = wav, wav_seconds(wav)
            row.sha256 = hashlib.sha256(wav).hexdigest()
            await s.flush()
            await s.refresh(row)
            after = view(row)
            self._audit(s, actor, t, "prompt", name, "update" if before else "create", before,
                        {k: v for k, v in after.items() if k != "updated_at"})
            await s.commit()
        if self.prompt_files is not None:
            self.prompt_files.write(tenant_id, name, wav)
        return after, before is None

    async def delete_prompt(self, actor: str, tenant_id: int, name: str) -> None:
        ref = f"{sch.TENANT_PROMPT}{name}"
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            row = await _prompt(s, tenant_id, name)
            users = [f"menu {m}" for m in sorted(await s.scalars(select(IvrMenu.name).where(
                IvrMenu.tenant_id == tenant_id,
                or_(IvrMenu.prompt == ref, IvrMenu.invalid_prompt == ref))))]
            users += [f"number {n.did} after hours" for n in await s.scalars(
                select(Number).where(Number.tenant_id == tenant_id).order_by(Number.did))
                if (n.after_hours or {}).get("prompt") == ref]
            users += ["the tenant's after-hours route"] if (t.after_hours or {}).get(
                "prompt") == ref else []
            users += [f"queue {q} greeting" for q in sorted(await s.scalars(select(Queue.name).where(
                Queue.tenant_id == tenant_id, Queue.greeting == ref)))]
            if users:
                raise Conflict(f"prompt {name!r} is used by {', '.join(users)}",
                               error_id="prompt-in-use")
            self._audit(s, actor, t, "prompt", name, "delete", view(row), None)
            await s.delete(row)
            await s.commit()
        if self.prompt_files is not None:
            self.prompt_files.remove(tenant_id, name)

    async def publish_prompts(self) -> None:
        """The PBX's files made to match the database (run after every ARI connect)."""
        if self.prompt_files is None:
            return
        async with self._sessions() as s:
            rows = (await s.execute(select(TenantPrompt.tenant_id, TenantPrompt.name,
                                           TenantPrompt.audio))).all()
        wanted = {(r.tenant_id, r.name): r.audio for r in rows}
        self.prompt_files.sync(wanted)
        log.info("prompts: %d tenant prompts in %s", len(wanted), self.prompt_files.root)


async def _prompt(s: Any, tenant_id: int, name: str) -> TenantPrompt:
    row: TenantPrompt | None = await s.scalar(select(TenantPrompt).where(
        TenantPrompt.tenant_id == tenant_id, TenantPrompt.name == name))
    if row is None:
        raise NotFound(f"no prompt {name!r}", error_id="prompt-not-found")
    return row


async def unknown_refs(s: Any, tenant_id: int, refs: dict[str, str]) -> None:
    """Refuse a menu naming a ``tenant:`` prompt the tenant does not have
    (``{field: ref}``): 422 ``unknown-prompt``."""
    wanted = {f: r[len(sch.TENANT_PROMPT):] for f, r in refs.items()
              if r.startswith(sch.TENANT_PROMPT)}
    if not wanted:
        return
    have = set(await s.scalars(select(TenantPrompt.name).where(
        TenantPrompt.tenant_id == tenant_id, TenantPrompt.name.in_(set(wanted.values())))))
    for field, name in sorted(wanted.items()):
        if name not in have:
            raise sch.Invalid(f"{field}: no prompt {name!r} of this tenant",
                              error_id="unknown-prompt")
