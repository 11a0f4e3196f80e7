"""What the PBX must look like: a frozen dataclass tree built by the caller (from the database).

The tree is the only input of :func:`ccari.pbx.render.render`. ``validate`` checks every value
that ends up inside an Asterisk configuration file, so a tenant slug or a password can never
inject a section, a comment or a dialplan argument.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import asdict, dataclass
from typing import Any

from ccari.pbx.errors import SpecError


@dataclass(frozen=True)
class Trunk:
    """A carrier trunk, identified by the source IP of its requests."""

    name: str
    match: tuple[str, ...]
    outbound_host: str | None = None
    # Dead calls: no RTP from the trunk for this long ends the call (0: never).
    dead_call_s: int = 0

    @property
    def rtp_timeout_hold_s(self) -> int:
        """On hold a peer may legitimately send nothing: five times longer."""
        return 5 * self.dead_call_s

    @property
    def session_expires_s(self) -> int:
        """Session timers (RFC 4028) catch a vanished peer that still sends RTP, or one on
        hold; 90 s is the smallest interval the RFC allows."""
        return max(SESSION_MIN_SE, 2 * self.dead_call_s)


#: The video codec of browser phones and customers' video calls: both sides send VP8, so
#: Asterisk forwards it as it comes (it never transcodes video).
VIDEO_CODECS: tuple[str, ...] = ("vp8",)


@dataclass(frozen=True)
class Phone:
    """One PJSIP endpoint per agent phone, reachable as ``PJSIP/<username>``."""

    username: str
    password: str
    static_contact: str | None = None
    # SIP OPTIONS every this many seconds (qualify); 0: never, the phone counts as reachable.
    qualify_s: int = 0
    # The agent page is the phone: SIP over Asterisk's websocket, DTLS-SRTP, ICE, bundled.
    # No RTP timeout (it misfires on bundled video): ccari watches the page's websocket.
    webrtc: bool = False
    # The codecs the phone allows, preferred first (Asterisk's names).  A leg to a site
    # short of bandwidth is offered the lower one alone (ccari.sites).
    codecs: tuple[str, ...] = ("ulaw", "alaw")
    # SIP over the TLS transport, media SRTP keyed by SDES (a=crypto): needs the spec's TLS.
    tls: bool = False
    # The video codecs it allows besides (a browser phone: VP8, forwarded as it comes).
    video_codecs: tuple[str, ...] = ()
    # It registers here (False: at the SIP edge, which static_contact then names; a
    # registration here would make a second contact, rung as well).
    registers: bool = True

    @property
    def qualify_timeout_s(self) -> float:
        """How long an OPTIONS may take before the phone is unreachable (under the interval)."""
        return min(3.0, self.qualify_s / 2)


@dataclass(frozen=True)
class Number:
    """A tenant's DID: E.164 digits without '+'."""

    did: str
    tenant: str
    fax: bool = False  # a fax number: its calls go to Stasis as ``fax``, not ``inbound``


@dataclass(frozen=True)
class Ports:
    sip: int = 5060
    ari: int = 8088
    ami: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 20000


@dataclass(frozen=True)
class TlsSpec:
    port: int
    cert_pem: str
    key_pem: str

    def __repr__(self) -> str:  # the key never reaches a log line or a traceback
        return f"TlsSpec(port={self.port}, cert_pem=..., key_pem=...)"


@dataclass(frozen=True)
class PbxSpec:
    instance: str
    app_name: str
    ari_user: str
    ari_password: str
    ami_user: str
    ami_secret: str
    ports: Ports = Ports()
    bind: str = "127.0.0.1"
    trunks: tuple[Trunk, ...] = ()
    phones: tuple[Phone, ...] = ()
    numbers: tuple[Number, ...] = ()
    # Customers' calls from the help widget ("talk now", ccari.talk): the WebRTC endpoint
    # ``ccari-web`` takes only requests that carry this key in ``X-Ccari-Web-Key``, which
    # ccari's public relay adds (None: no such endpoint).
    web_key: str | None = None
    # The video codecs of the customers' calls from the page (the browser phones allow them).
    # No RTP timeout, as on the browser phones: ccari watches the page's websocket.
    web_video_codecs: tuple[str, ...] = VIDEO_CODECS
    # SIP over TLS for agents' phones (``Phone.tls``): the transport's port (0: none) and its
    # PEM certificate and key, written next to the configuration.
    tls: TlsSpec | None = None
    # Asterisk's systemname, the prefix of every channel's unique id ("" none): several
    # Asterisk nodes sharing one ccari database must not give two calls the same id.
    system_name: str = ""
    # Several nodes: a caller another node's Asterisk hands over (its ccari node died) comes
    # in as ``sip:adopt-<token>@`` on the endpoint ``ccari-peer``, identified only by this
    # key in ``X-Ccari-Peer`` (this node's ccari gives it with the move); the same endpoint
    # sends this Asterisk's own callers over to another node (None: no such endpoint).
    peer_key: str | None = None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DID = re.compile(r"^[0-9]{2,20}$")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=!@%^*(){}:,?-]{8,128}$")  # no ';' '[' '\\' quote space
_MATCH = re.compile(r"^[0-9A-Fa-f:.]+(/[0-9.]+)?$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")
_CONTACT = re.compile(r"^sips?:[A-Za-z0-9_.!~*'()&=+$,;?/%-]*@?[A-Za-z0-9.\-\[\]:]+(;[\w=.-]+)*$")
_IP = re.compile(r"^[0-9A-Fa-f:.]+$")
_CODEC = re.compile(r"^[a-z0-9_]{2,16}$")
SESSION_MIN_SE = 90  # RFC 4028 Min-SE floor
_MAX_S = 86400
CARRIER = "carrier"  # the carrier trunk's PJSIP objects
_RESERVED = frozenset({"global", "system", "transport-udp", "ccari-udp", "ccari-ws", "ccari-web",
                       "ccari-tls", "ccari-peer"})
# Names no new phone takes, besides those: the trunk's, and "anonymous" (the endpoint PJSIP
# gives every request no other endpoint is identified for).
_NOT_FOR_PHONES = frozenset({CARRIER, "anonymous"})
# One or more PEM blocks (a certificate chain; a key, maybe with its EC parameters).
_PEM = re.compile(r"^(-----BEGIN [A-Z ]+-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----\n+)+$")


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SpecError(f"invalid {what}: {value!r} (must match {pattern.pattern})")


def validate(spec: PbxSpec) -> None:
    """Raise :class:`SpecError` naming the first value that cannot go into a config file."""
    _check(_SLUG, spec.instance, "instance name")
    _check(_NAME, spec.app_name, "ARI app name")
    if spec.system_name:
        _check(_SLUG, spec.system_name.lower(), "system name")
    _check(_NAME, spec.ari_user, "ARI user")
    _check(_NAME, spec.ami_user, "AMI user")
    _check(_SECRET, spec.ari_password, "ARI password")
    _check(_SECRET, spec.ami_secret, "AMI secret")
    _check(_IP, spec.bind, "SIP bind address")
    p = spec.ports
    for name in ("sip", "ari", "ami", "rtp_start", "rtp_end"):
        port = getattr(p, name)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise SpecError(f"invalid port {name}={port!r}")
    if len({p.sip, p.ari, p.ami}) != 3:
        raise SpecError(f"SIP, ARI and AMI ports must differ: {p}")
    if p.rtp_end - p.rtp_start < 10:
        raise SpecError(f"RTP range {p.rtp_start}-{p.rtp_end} is too small")
    if any(p.rtp_start <= port <= p.rtp_end for port in (p.sip, p.ari, p.ami)):
        raise SpecError(f"RTP range {p.rtp_start}-{p.rtp_end} overlaps a service port")
    _validate_tls(spec)
    names: set[str] = set()
    for trunk in spec.trunks:
        _check(_NAME, trunk.name, "trunk name")
        if not trunk.match:
            raise SpecError(f"trunk {trunk.name!r} has no match= source address")
        for m in trunk.match:
            _check(_MATCH, m, f"match address of trunk {trunk.name!r}")
        if trunk.outbound_host is not None:
            _check(_HOSTPORT, trunk.outbound_host, f"outbound host of trunk {trunk.name!r}")
        _seconds(trunk.dead_call_s, f"dead-call time of trunk {trunk.name!r}", low=2)
        _unique(names, trunk.name)
    for phone in spec.phones:
        _check(_NAME, phone.username, "phone username")
        _check(_SECRET, phone.password, f"password of phone {phone.username!r}")
        if phone.static_contact is not None:
            _check(_CONTACT, phone.static_contact, f"contact of phone {phone.username!r}")
        _seconds(phone.qualify_s, f"qualify interval of phone {phone.username!r}", low=1)
        if not phone.codecs:
            raise SpecError(f"phone {phone.username!r} allows no codec")
        for codec in (*phone.codecs, *phone.video_codecs):
            _check(_CODEC, codec, f"codec of phone {phone.username!r}")
        if phone.webrtc and phone.static_contact is not None:
            raise SpecError(f"browser phone {phone.username!r} registers: no static contact")
        if not phone.registers and (phone.static_contact is None or phone.webrtc or phone.tls):
            raise SpecError(f"phone {phone.username!r} registers elsewhere: a plain SIP phone "
                            "with the contact that reaches it")
        if phone.tls and (phone.webrtc or spec.tls is None):
            raise SpecError(f"TLS phone {phone.username!r}: not a browser phone, and the spec "
                            "needs a TLS transport")
        _unique(names, phone.username)
    if spec.web_key is not None:
        _check(_SECRET, spec.web_key, "web endpoint key")
    if spec.peer_key is not None:
        _check(_SECRET, spec.peer_key, "peer endpoint key")
    for codec in spec.web_video_codecs:
        _check(_CODEC, codec, "video codec of the web endpoint")
    dids: set[str] = set()
    for number in spec.numbers:
        _check(_DID, number.did, "DID (E.164 digits without '+')")
        _check(_SLUG, number.tenant, f"tenant slug of {number.did}")
        if number.did in dids:
            raise SpecError(f"DID {number.did} is listed twice")
        dids.add(number.did)


def _validate_tls(spec: PbxSpec) -> None:
    tls, p = spec.tls, spec.ports
    if tls is None:
        return
    if not isinstance(tls.port, int) or not 1 <= tls.port <= 65535 or \
            tls.port in (p.sip, p.ari, p.ami) or p.rtp_start <= tls.port <= p.rtp_end:
        raise SpecError(f"invalid SIP TLS port {tls.port!r} (a free port outside the RTP range)")
    for what, pem in (("certificate", tls.cert_pem), ("key", tls.key_pem)):
        if not isinstance(pem, str) or not _PEM.match(pem.strip() + "\n"):
            raise SpecError(f"the SIP TLS {what} is not PEM")


def web_key(ari_password: str) -> str:
    """The customer endpoint's key, derived from the ARI password (a secret ccari and its
    Asterisk share already): nothing more to keep, and it changes with that password."""
    return hmac.new(ari_password.encode(), b"ccari-web-endpoint", hashlib.sha256).hexdigest()[:40]


def peer_key(ari_password: str) -> str:
    """The key of the endpoint taking callers handed over by another node, derived as
    :func:`web_key` is."""
    return hmac.new(ari_password.encode(), b"ccari-peer-endpoint", hashlib.sha256).hexdigest()[:40]


def _seconds(value: int, what: str, *, low: int) -> None:
    """0 (off) or a whole number of seconds from ``low`` to a day."""
    if not isinstance(value, int) or isinstance(value, bool) or (
            value != 0 and not low <= value <= _MAX_S):
        raise SpecError(f"invalid {what}: {value!r} (0 or {low} to {_MAX_S} seconds)")


def reserved(name: str) -> bool:
    """May no new phone take ``name`` (a PJSIP object of ccari's own, or PJSIP's)?"""
    return name in _RESERVED or name in _NOT_FOR_PHONES


def _unique(names: set[str], name: str) -> None:
    if name in names or name in _RESERVED:
        raise SpecError(f"PJSIP object name {name!r} is used twice or reserved")
    names.add(name)


def spec_to_dict(spec: PbxSpec) -> dict[str, Any]:
    """JSON-friendly form (tuples become lists)."""
    return asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> PbxSpec:
    """Inverse of :func:`spec_to_dict`; raises :class:`SpecError` on unknown or missing keys."""
    try:
        d = dict(data)
        d["ports"] = Ports(**d.get("ports", {}))
        d["trunks"] = tuple(Trunk(**{**t, "match": tuple(t.get("match", ()))}) for t in d.get("trunks", ()))
        d["phones"] = tuple(Phone(**{**ph, **{k: tuple(ph[k]) for k in ("codecs", "video_codecs")
                                               if k in ph}})
                            for ph in d.get("phones", ()))
        d["numbers"] = tuple(Number(**n) for n in d.get("numbers", ()))
        d["tls"] = TlsSpec(**d["tls"]) if d.get("tls") else None
        if "web_video_codecs" in d:
            d["web_video_codecs"] = tuple(d["web_video_codecs"])
        return PbxSpec(**d)
    except TypeError as exc:
        raise SpecError(f"bad PBX spec: {exc}") from exc
