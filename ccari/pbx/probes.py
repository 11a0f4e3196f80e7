"""Readiness probes: is a port free, is a UDP socket bound, does ARI answer?"""

from __future__ import annotations

import base64
import socket
import urllib.error
import urllib.request

from ccari.pbx.errors import StartError
from ccari.pbx.spec import PbxSpec


def check_ports_free(spec: PbxSpec) -> None:
    checks = [
        (socket.SOCK_STREAM, "127.0.0.1", spec.ports.ari, "ARI"),
        (socket.SOCK_STREAM, "127.0.0.1", spec.ports.ami, "AMI"),
        (socket.SOCK_DGRAM, spec.bind, spec.ports.sip, "SIP"),
    ]
    for kind, host, port, what in checks:
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                raise StartError(
                    f"{what} port {host}:{port} is taken by another process ({exc}); "
                    f"stop it (another Asterisk instance?) or choose other ports"
                ) from exc


def ari_probe(spec: PbxSpec, *, timeout: float = 2.0, password: str | None = None) -> int | None:
    """HTTP status of GET /ari/asterisk/info (None: no connection)."""
    token = f"{spec.ari_user}:{password if password is not None else spec.ari_password}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{spec.ports.ari}/ari/asterisk/info",
        headers={"Authorization": "Basic " + base64.b64encode(token.encode()).decode()},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def udp_bound(ip: str, port: int) -> bool:
    """Whether a UDP socket is bound to ip:port or the wildcard (from /proc/net/udp)."""
    wanted = {socket.inet_aton(ip)[::-1].hex().upper(), "00000000"}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            addr, hexport = line.split()[1].split(":")
            if int(hexport, 16) == port and addr in wanted:
                return True
    return False
