"""Enforcement in Asterisk: the blocked addresses as a PJSIP ACL (``res_pjsip_acl``).

``pjsip.conf`` (and the ``ccari-pjsip.conf`` fragment an admin's Asterisk includes)
``#tryinclude`` the file written here; ``module reload res_pjsip.so`` makes Asterisk read
it again (``res_pjsip_acl.so`` itself cannot be reloaded in Asterisk 22: "Module does not
support reload"; its ACL objects live in res_pjsip's sorcery, which reloads them). A
request from a denied address is answered 403 before any endpoint matching,
authentication or dialplan; the reload keeps the calls in progress (the same reload
provisioning does after every change).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ccari.config import Config
from ccari.pbx.render import ACL_FILE as FILE_NAME

log = logging.getLogger(__name__)

SECTION = "ccari-blocked"
MODULE = "res_pjsip.so"


def render(addresses: Iterable[str]) -> str:
    """The ACL for ``addresses`` (validated IPs only: nothing else reaches the file)."""
    nets = sorted({ipaddress.ip_address(a) for a in addresses},
                  key=lambda ip: (ip.version, int(ip)))
    lines = ["; Rendered by ccari (security): SIP sources blocked after repeated failures.\n"]
    if nets:
        lines += [f"[{SECTION}]\n", "type = acl\n"]
        lines += [f"deny = {ip}/{ip.max_prefixlen}\n" for ip in nets]
    return "".join(lines)


def acl_path(cfg: Config) -> Path:
    """Where the running Asterisk reads the ACL from: the managed instance's etc/, or the
    directory ccari renders an admin's Asterisk's fragments into."""
    if cfg.pbx.mode == "external":
        return Path(cfg.pbx.render_dir or cfg.state_path / "asterisk") / FILE_NAME
    from ccari.pbx.instance import instance_paths

    return instance_paths(cfg.pbx.instance).etc / FILE_NAME


def write(path: Path, text: str) -> bool:
    """Replace the file atomically; False when it already says ``text``."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)
    return True
