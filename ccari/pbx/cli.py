"""``python -m ccari.pbx {provision,render,start,stop,status,reload,rx}`` (also ``ccari pbx``)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ccari.pbx import instance
from ccari.pbx.errors import PbxError
from ccari.pbx.provision import provision
from ccari.pbx.render import Dirs, external_instructions, render
from ccari.pbx.runtime import default_root
from ccari.pbx.secrets import default_state_dir, load_or_create_secrets
from ccari.pbx.spec import PbxSpec, Ports, spec_from_dict

log = logging.getLogger(__name__)


def default_spec(instance_name: str, state_dir: Path | None = None) -> PbxSpec:
    """An empty instance (no trunks, phones or numbers) with its stored credentials."""
    creds = load_or_create_secrets(state_dir or default_state_dir(instance_name))
    return PbxSpec(
        instance=instance_name,
        app_name=f"ccari-{instance_name}",
        ari_user=creds["ari_user"],
        ari_password=creds["ari_password"],
        ami_user=creds["ami_user"],
        ami_secret=creds["ami_secret"],
        ports=Ports(),
    )


def _spec(args: argparse.Namespace) -> PbxSpec:
    if args.spec:
        return spec_from_dict(json.loads(Path(args.spec).read_text()))
    return default_spec(args.instance)


def build_parser(prog: str = "python -m ccari.pbx") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Provision and run ccari's Asterisk.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def with_spec(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--instance", default="demo", help="instance name (default: demo)")
        sp.add_argument("--spec", help="JSON file of a PbxSpec (default: an empty instance "
                        "with the credentials stored for it)")  # fmt: skip

    sp = sub.add_parser("provision", help="install Asterisk 22 (cached; ~0 s when done)")
    sp.add_argument("--root", type=Path, help=f"sid root (default {default_root()})")
    sp.add_argument("--mode", choices=["auto", "host", "chroot", "external"], default="auto")
    sp.add_argument("--dest", type=Path, help="external mode: where to write the fragments")
    with_spec(sp)

    sp = sub.add_parser("render", help="write the config files without starting anything")
    with_spec(sp)
    sp.add_argument("--dest", type=Path, required=True, help="directory to write into")
    sp.add_argument("--external", action="store_true", help="only the #include fragments")

    sp = sub.add_parser("start", help="start (or reload) an instance and wait until ready")
    with_spec(sp)
    sp.add_argument("--timeout", type=float, default=60.0)
    sp.add_argument(
        "--foreground",
        action="store_true",
        help="stay attached; stop Asterisk on SIGINT/SIGTERM (systemd, Vagrant)",
    )

    sp = sub.add_parser("stop", help="stop an instance")
    sp.add_argument("--instance", default="demo")
    sp.add_argument("--all", action="store_true", help="every instance of the root")
    sp.add_argument("--timeout", type=float, default=30.0)

    sp = sub.add_parser("status", help="is it running? (exit 3 if not)")
    sp.add_argument("--instance", default="demo")

    sp = sub.add_parser("reload", help="re-render and reload PJSIP/dialplan/ARI/AMI")
    with_spec(sp)

    sp = sub.add_parser("rx", help="run one Asterisk CLI command")
    sp.add_argument("--instance", default="demo")
    sp.add_argument("cli_command", help="e.g. 'pjsip show endpoints'")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m ccari.pbx") -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except PbxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (an unfinished root is rebuilt on the next provision)", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "provision":
        if args.mode == "external":
            return _external(_spec(args), args.dest)
        started = time.monotonic()
        rt = provision(args.root, mode=args.mode)
        print(f"Asterisk ready in {rt.root} ({'chroot' if rt.chroot else 'host'}) "
              f"after {time.monotonic() - started:.1f}s")  # fmt: skip
        return 0
    if args.command == "render":
        if args.external:
            return _external(_spec(args), args.dest)
        for path in render(_spec(args), args.dest, Dirs.under(args.dest.resolve())):
            print(path)
        return 0
    if args.command == "start":
        proc = instance.start(_spec(args), timeout=args.timeout)
        print(f"instance {proc.spec.instance} running: pid {proc.pid}, ARI {proc.ari_url}, "
              f"SIP {proc.spec.bind}:{proc.spec.ports.sip}, dir {proc.paths.host}")  # fmt: skip
        if args.foreground:
            _supervise(proc)
        return 0
    if args.command == "stop":
        names = instance.instances() if args.all else [args.instance]
        for name in names:
            was = instance.stop(name, timeout=args.timeout)
            print(f"instance {name} {'stopped' if was else 'was not running'}")
        return 0
    if args.command == "status":
        st = instance.status(args.instance)
        print(json.dumps({**asdict(st), "directory": str(st.directory)}, indent=2))
        return 0 if st.running else 3
    if args.command == "reload":
        cmds = instance.reload(_spec(args))
        print("reloaded: " + (", ".join(cmds) if cmds else "nothing changed"))
        return 0
    if args.command == "rx":
        sys.stdout.write(instance.rx(args.instance, args.cli_command))
        return 0
    raise AssertionError(args.command)


def _external(spec: PbxSpec, dest: Path | None) -> int:
    if dest is None:
        print("error: --dest DIR is required in external mode", file=sys.stderr)
        return 2
    render(spec, dest, external=True)
    print(external_instructions(spec, dest))
    return 0


def _supervise(proc: instance.PbxProcess) -> None:
    """Wait until Asterisk exits or we are told to stop; then stop it (and reap it)."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    assert proc.popen is not None or proc.pid
    while not done.is_set():
        if proc.popen is not None and proc.popen.poll() is not None:
            print(f"Asterisk exited with status {proc.popen.returncode}", file=sys.stderr)
            break
        if proc.popen is None and not instance.is_running(proc.spec.instance):
            break
        done.wait(1.0)
    proc.stop()
