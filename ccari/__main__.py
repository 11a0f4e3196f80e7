"""``ccari`` command line.

    ccari run        PBX provisioned and started, DB migrated, demo seeded, service serving
    ccari migrate    bring the database schema to the latest revision
    ccari demo       seed the demo tenants and write var/demo.json
    ccari serve      serve only (PBX and DB already prepared)
    ccari pbx ...    the PBX commands (provision, start, stop, status, render)
    ccari pbx-sync   re-render the PBX config from the database and reload it
    ccari admin ...  provisioning: tenants, numbers, agents, menus (see `ccari admin --help`)
    ccari edge ...   the SIP edge: render Kamailio's config (see `ccari edge --help`)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ccari import config as config_mod
from ccari.config import Config
from ccari.errors import CcariError
from ccari.pbx.errors import PbxError

log = logging.getLogger("ccari")


async def _seed_demo(cfg: Config) -> None:
    from ccari.demo.seed import seed, write_manifest
    from ccari.storage.db import make_engine, make_sessionmaker

    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            sec = await seed(s, cfg)
            await s.commit()
    finally:
        await engine.dispose()
    path = write_manifest(cfg, sec)
    log.info("demo manifest written to %s", path)


def _pbx_up(cfg: Config):  # type: ignore[no-untyped-def]
    """Provision (cached) and start Asterisk with the config the database describes.

    Returns the running instance (managed mode) or None (external mode: config rendered
    into ``pbx.render_dir`` for the admin's own Asterisk to include)."""
    from pathlib import Path

    from ccari import pbx
    from ccari.tenants.pbx import spec_from_db

    spec = asyncio.run(spec_from_db(cfg))
    if cfg.pbx.mode == "external":
        dest = Path(cfg.pbx.render_dir or cfg.state_path / "asterisk")
        pbx.render(spec, dest, external=True)
        print((dest / "README.txt").read_text())
        return None
    pbx.provision()
    return pbx.start(spec)


def _pbx_watch(cfg: Config, proc):  # type: ignore[no-untyped-def]
    """The Asterisk ``run`` started is restarted whenever it dies while ccari serves."""
    if proc is None:
        return None
    from ccari.pbx.watch import PbxWatch
    from ccari.tenants.pbx import restart_from_db

    return PbxWatch(proc, restart_from_db(cfg))


def _pbx_sync(cfg: Config) -> None:
    """Agents or numbers changed: re-render the PBX config and make Asterisk load it (what
    every provisioning change does by itself)."""
    from ccari.provisioning.pbx import apply
    from ccari.tenants.pbx import spec_from_db

    spec = asyncio.run(spec_from_db(cfg))
    for command in asyncio.run(apply(cfg, spec)):
        log.info("Asterisk: %s", command)


async def _ami_reload(cfg: Config) -> None:
    """An admin's own Asterisk: no CLI access from here, so reload over AMI (loopback)."""
    from ccari.provisioning.pbx import ami_reload

    await ami_reload(cfg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccari", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="TOML config file (default: $CCARI_CONFIG)")
    parser.add_argument("--log-json", action="store_true",
                        help="log one JSON object a line (config: log_format = \"json\")")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="PBX + migrations + demo + serve")
    run.add_argument("--no-demo", action="store_true", help="do not seed the demo tenants")
    run.add_argument("--keep-pbx", action="store_true", help="leave Asterisk running on exit")
    sub.add_parser("migrate")
    sub.add_parser("demo")
    serve_p = sub.add_parser("serve")
    serve_p.add_argument("--no-pbx", action="store_true",
                         help="no Asterisk: web chat, email and the pages only")
    sub.add_parser("pbx-sync")
    pbx = sub.add_parser("pbx", help="PBX commands (see `ccari pbx --help`)")
    pbx.add_argument("args", nargs=argparse.REMAINDER)
    admin = sub.add_parser("admin", help="provisioning (see `ccari admin --help`)",
                           add_help=False)
    admin.add_argument("args", nargs=argparse.REMAINDER)
    edge = sub.add_parser("edge", help="the SIP edge (see `ccari edge --help`)", add_help=False)
    edge.add_argument("args", nargs=argparse.REMAINDER)
    ns, extra = parser.parse_known_args(argv)
    if ns.command in ("admin", "edge"):  # its own options (``--no-sync``, ``--help``) come first
        ns.args = extra + ns.args
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    if ns.command == "pbx":
        from ccari.pbx.cli import main as pbx_main

        return pbx_main(ns.args, prog="ccari pbx")
    try:
        cfg = config_mod.load(ns.config)
        from ccari import logs

        logs.configure(cfg.log_level, "json" if ns.log_json else cfg.log_format)
        from ccari.app import serve, with_secrets
        from ccari.storage.db import shown, upgrade

        cfg = with_secrets(cfg)
        if ns.command in ("run", "migrate"):
            upgrade(cfg.database.url)
            log.info("database at %s is up to date", shown(cfg.database.url))
        if ns.command == "demo" or (ns.command == "run" and not ns.no_demo):
            asyncio.run(_seed_demo(cfg))
        if ns.command == "pbx-sync":
            _pbx_sync(cfg)
        if ns.command == "admin":
            from ccari.provisioning.cli import main as admin_main

            return asyncio.run(admin_main(cfg, ns.args))
        if ns.command == "edge":
            from ccari.edge.cli import main as edge_main

            return edge_main(cfg, ns.args)
        if ns.command == "serve":
            asyncio.run(serve(cfg, with_pbx=not ns.no_pbx))
        if ns.command == "run":
            watch = _pbx_watch(cfg, _pbx_up(cfg))
            try:
                asyncio.run(serve(cfg, pbx=watch))
            finally:
                # The watch is closed by now: no restart races this stop.
                if watch is not None and not ns.keep_pbx:
                    log.info("stopping Asterisk instance %s", cfg.pbx.instance)
                    watch.process.stop()
    except CcariError as exc:
        print(f"ccari: {exc.error_id}: {exc.message}", file=sys.stderr)
        return 2
    except PbxError as exc:
        print(f"ccari: pbx: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
