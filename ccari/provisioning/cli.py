"""``ccari admin``: the provisioning services from the command line (same checks, same audit
log, actor ``cli:<unix user>``), against the configured database.  Changes to numbers and
agents' phones reload the running Asterisk like ``ccari pbx-sync``.  Output is JSON.

    ccari admin tenants list | create SLUG NAME | show SLUG
                  | rename SLUG NEW_SLUG [--name NAME] | delete SLUG
    ccari admin numbers list TENANT | create TENANT DID [--menu M] [--queue Q]
                  [--hours FILE.json] [--after-hours announcement|voicemail|queue:Q]
                  [--after-hours-prompt tenant:NAME] [--fax] | delete TENANT DID
    ccari admin queues list TENANT | set TENANT NAME [--ring-timeout S] [--wrap-up S]
                  [--announce-every S] [--greeting tenant:NAME | --no-greeting]
    ccari admin hours show TENANT | set TENANT FILE.json|FILE.toml | clear TENANT
    ccari admin after-hours show TENANT | clear TENANT
                  | set TENANT announcement|voicemail|queue:Q [--prompt tenant:NAME]
                                              the route of numbers without their own
    ccari admin agents list TENANT | create TENANT FILE.json | delete TENANT USERNAME
    ccari admin menus list TENANT
    ccari admin prompts list TENANT | upload TENANT NAME FILE (WAV, MP3 or Ogg)
                  | say TENANT NAME TEXT | delete TENANT NAME      a menu plays tenant:NAME
    ccari admin load FILE.json|FILE.toml      create or update a whole tenant
    ccari admin audit TENANT [--limit N]
    ccari admin customers list TENANT [--q TEXT] | import TENANT FILE.csv
                  | export TENANT [FILE.csv] | delete TENANT ID           (``ccari.crm.cli``)
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import tomllib
from pathlib import Path
from typing import Any

from ccari.config import Config
from ccari.crm import cli as crm_cli
from ccari.crm.services import Customers
from ccari.provisioning import audio
from ccari.provisioning import hours as hrs
from ccari.provisioning import schemas as sch
from ccari.provisioning.pbx import PbxSync
from ccari.provisioning.prompts import files_of, name_of
from ccari.provisioning.services import Provisioning
from ccari.tenants.cleanup import remove_files


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ccari admin", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-sync", action="store_true", help="do not reload Asterisk")
    sub = p.add_subparsers(dest="what", required=True)
    tenants = sub.add_parser("tenants").add_subparsers(dest="verb", required=True)
    tenants.add_parser("list")
    c = tenants.add_parser("create")
    c.add_argument("slug")
    c.add_argument("name")
    tenants.add_parser("show").add_argument("slug")
    r = tenants.add_parser("rename", help="a new slug (and name); ids, tokens and history stay")
    r.add_argument("slug")
    r.add_argument("new_slug")
    r.add_argument("--name", help="a new name too")
    tenants.add_parser("delete", help="the tenant and all it has (not while work is live)"
                       ).add_argument("slug")
    numbers = sub.add_parser("numbers").add_subparsers(dest="verb", required=True)
    numbers.add_parser("list").add_argument("tenant")
    c = numbers.add_parser("create")
    c.add_argument("tenant")
    c.add_argument("did")
    c.add_argument("--menu")
    c.add_argument("--queue", default="main")
    c.add_argument("--hours", type=Path, help="the number's own calendar (default: the tenant's)")
    c.add_argument("--after-hours", help="announcement (default), voicemail or queue:NAME")
    c.add_argument("--after-hours-prompt", metavar="tenant:NAME",
                   help="the tenant's prompt the announcement or the voicemail plays first")
    c.add_argument("--fax", action="store_true", help="a fax number: its calls are received as faxes")
    d = numbers.add_parser("delete")
    d.add_argument("tenant")
    d.add_argument("did")
    queues = sub.add_parser("queues").add_subparsers(dest="verb", required=True)
    queues.add_parser("list").add_argument("tenant")
    c = queues.add_parser("set", help="create or change a queue (unset options stay as they are)")
    c.add_argument("tenant")
    c.add_argument("name")
    c.add_argument("--ring-timeout", type=int, dest="ring_timeout_s")
    c.add_argument("--wrap-up", type=float, dest="wrap_up_s")
    c.add_argument("--announce-every", type=float, dest="announce_every_s")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--greeting", metavar="tenant:NAME",
                   help="the tenant's prompt a caller hears once on joining the queue")
    g.add_argument("--no-greeting", action="store_true", help="no greeting any more")
    agents = sub.add_parser("agents").add_subparsers(dest="verb", required=True)
    agents.add_parser("list").add_argument("tenant")
    c = agents.add_parser("create")
    c.add_argument("tenant")
    c.add_argument("file", type=Path, help="the agent as JSON (the API's body)")
    d = agents.add_parser("delete")
    d.add_argument("tenant")
    d.add_argument("username")
    hours = sub.add_parser("hours").add_subparsers(dest="verb", required=True)
    hours.add_parser("show").add_argument("tenant")
    c = hours.add_parser("set")
    c.add_argument("tenant")
    c.add_argument("file", type=Path, help="the calendar (the API's body)")
    hours.add_parser("clear").add_argument("tenant")
    night = sub.add_parser("after-hours").add_subparsers(dest="verb", required=True)
    night.add_parser("show").add_argument("tenant")
    c = night.add_parser("set")
    c.add_argument("tenant")
    c.add_argument("route", help="announcement, voicemail or queue:NAME")
    c.add_argument("--prompt", metavar="tenant:NAME",
                   help="the tenant's prompt the announcement or the voicemail plays first")
    night.add_parser("clear").add_argument("tenant")
    menus = sub.add_parser("menus").add_subparsers(dest="verb", required=True)
    menus.add_parser("list").add_argument("tenant")
    prompts = sub.add_parser("prompts").add_subparsers(dest="verb", required=True)
    prompts.add_parser("list").add_argument("tenant")
    for verb, last, text in (("upload", "file", "the audio file"), ("say", "text", "what it says"),
                             ("delete", None, None)):
        c = prompts.add_parser(verb)
        c.add_argument("tenant")
        c.add_argument("name")
        if last:
            c.add_argument(last, type=Path if last == "file" else str, help=text)
    sub.add_parser("load").add_argument("file", type=Path)
    a = sub.add_parser("audit")
    a.add_argument("tenant")
    a.add_argument("--limit", type=int, default=50)
    crm_cli.add_parser(sub)
    return p


def read_document(path: Path) -> Any:
    text = path.read_text()
    return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)


async def main(cfg: Config, argv: list[str]) -> int:
    from ccari.storage.db import make_engine, make_sessionmaker

    ns = parser().parse_args(argv)
    engine = make_engine(cfg.database.url)
    try:
        sessions = make_sessionmaker(engine)
        service = Provisioning(sessions)
        service.gone_listeners.append(functools.partial(remove_files, cfg.state_path))
        if not ns.no_sync:
            service.pbx = PbxSync(sessions, cfg)
            service.prompt_files = files_of(cfg)
        actor = f"cli:{getpass.getuser()}"
        if ns.what == "customers":
            out = await crm_cli.run(Customers(sessions), ns, actor,
                                    await service.tenant_id(ns.tenant))
        else:
            out = await run(service, ns, actor, cfg)
    finally:
        await engine.dispose()
    print(out if isinstance(out, str) else json.dumps(out, indent=2), end="")
    if not isinstance(out, str):
        print()
    return 0


async def run(svc: Provisioning, ns: argparse.Namespace, actor: str,
              cfg: Config | None = None) -> Any:
    what, verb = ns.what, getattr(ns, "verb", None)
    tenant_id = await svc.tenant_id(ns.tenant) if hasattr(ns, "tenant") else None
    if what == "tenants":
        if verb == "list":
            return await svc.tenants()
        if verb == "show":
            return await svc.tenant(ns.slug)
        if verb == "rename":
            (now,) = await svc.tenants(await svc.tenant_id(ns.slug))
            renamed, pbx = await svc.rename_tenant(actor, ns.slug, sch.tenant(
                {"slug": ns.new_slug, "name": ns.name or now["name"]}))
            return {"tenant": renamed, "pbx": pbx}
        if verb == "delete":
            return {"deleted": ns.slug, "pbx": await svc.delete_tenant(actor, ns.slug)}
        tenant, token = await svc.create_tenant(actor, sch.tenant({"slug": ns.slug,
                                                                   "name": ns.name}))
        return {"tenant": tenant, "api_token": token}
    if what == "load":
        doc, new_token, pbx = await svc.apply(actor, sch.document(read_document(ns.file)),
                                              admin=True)
        return {**doc, "pbx": pbx, **({"api_token": new_token} if new_token else {})}
    if what == "audit":
        assert tenant_id is not None
        return await svc.audit(tenant_id, ns.limit)
    assert tenant_id is not None
    if what == "numbers":
        if verb == "list":
            return await svc.numbers(tenant_id)
        if verb == "delete":
            return {"deleted": ns.did, "pbx": await svc.delete_number(actor, tenant_id, ns.did)}
        night = (route(ns.after_hours or "announcement", ns.after_hours_prompt)
                 if ns.after_hours or ns.after_hours_prompt else None)
        spec = sch.number({"did": ns.did, "queue": ns.queue, "menu": ns.menu,
                           "hours": read_document(ns.hours) if ns.hours else None,
                           "after_hours": night, "purpose": "fax" if ns.fax else "voice"})
        view, pbx = await svc.create_number(actor, tenant_id, spec)
        return {"number": view, "pbx": pbx}
    if what == "queues":
        return await _queues(svc, ns, actor, tenant_id)
    if what == "agents":
        if verb == "list":
            return await svc.agents(tenant_id)
        if verb == "delete":
            return {"deleted": ns.username,
                    "pbx": await svc.delete_agent(actor, tenant_id, ns.username)}
        view, pbx = await svc.create_agent(actor, tenant_id, sch.agent(read_document(ns.file)))
        return {"agent": view, "pbx": pbx}
    if what == "hours":
        if verb == "show":
            return await svc.hours(tenant_id)
        calendar = hrs.calendar(read_document(ns.file), "") if verb == "set" else None
        return await svc.put_hours(actor, tenant_id, calendar)
    if what == "after-hours":
        if verb == "show":
            return await svc.after_hours(tenant_id)
        night = hrs.after_hours(route(ns.route, ns.prompt)) if verb == "set" else None
        return await svc.put_after_hours(actor, tenant_id, night)
    if what == "prompts":
        return await _prompts(svc, ns, actor, tenant_id, cfg or Config())
    return await svc.menus(tenant_id)


def route(text: str, prompt: str | None) -> dict[str, Any]:
    """An after-hours route as the API takes it, from ``queue:NAME`` (or an action) and a
    prompt."""
    action, _, queue = text.partition(":")
    return {"action": action, **({"queue": queue} if queue else {}),
            **({"prompt": prompt} if prompt else {})}


QUEUE_FLAGS = ("ring_timeout_s", "wrap_up_s", "announce_every_s")


async def _queues(svc: Provisioning, ns: argparse.Namespace, actor: str, tenant_id: int) -> Any:
    now = {q["name"]: q for q in await svc.queues(tenant_id)}
    if ns.verb == "list":
        return list(now.values())
    body = dict(now.get(ns.name, {"name": ns.name}))  # as the API's PUT takes it, changed
    body.update({k: getattr(ns, k) for k in QUEUE_FLAGS if getattr(ns, k) is not None})
    if ns.greeting is not None:
        body["greeting"] = ns.greeting
    elif ns.no_greeting:
        body.pop("greeting", None)
    return {"queue": await svc.put_queue(actor, tenant_id, sch.queue(body))}


async def _prompts(svc: Provisioning, ns: argparse.Namespace, actor: str, tenant_id: int,
                   cfg: Config) -> Any:
    if ns.verb == "list":
        return await svc.prompts(tenant_id)
    if ns.verb == "delete":
        await svc.delete_prompt(actor, tenant_id, ns.name)
        return {"deleted": ns.name}
    name_of(ns.name)
    if ns.verb == "say":
        text = audio.check_text(ns.text)
        wav = await audio.speak(text, audio.Voice.of(cfg), audio.Limits.of(cfg))
    else:
        text, wav = None, await audio.convert(ns.file.read_bytes(), audio.Limits.of(cfg))
    view, _ = await svc.put_prompt(actor, tenant_id, ns.name, wav, text=text)
    return {"prompt": view}
