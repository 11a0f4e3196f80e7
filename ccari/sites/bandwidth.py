"""The bandwidth manager's core (pure, no I/O): what one call costs on a link, and where and
with which codec the next agent leg goes.

**What a call costs.**  A voice stream is one RTP packet per packet time (``ptime_ms``,
20 ms: 50 packets a second), each carrying ``bitrate x ptime`` of codec payload behind
fixed headers: IPv4 20 bytes + UDP 8 + RTP 12 = 40 bytes, plus the link layer's framing
(``link_bytes``: Ethernet II's 14-byte header + 4-byte FCS = 18 by default, preamble and
inter-frame gap not counted).  Per direction::

    kbit/s = (payload bytes + 40 + link_bytes) x 8 / ptime_ms

=========  ==========  ==============  ==========  ===============
codec      bit rate    payload/20 ms   IP level    with Ethernet
=========  ==========  ==============  ==========  ===============
G.711      64 kbit/s   160 bytes       80.0        87.2 kbit/s
GSM 06.10  13.2 kbit/s 33 bytes        29.2        36.4 kbit/s
=========  ==========  ==============  ==========  ===============

These are the usual planning figures (e.g. Cisco's "Voice Over IP - Per Call Bandwidth
Consumption", document 7934: G.711 at 50 pps = 87.2 kbit/s on Ethernet, 80 kbit/s at the IP
layer); GSM's frame is 33 bytes per 20 ms (ETSI GSM 06.10, RFC 3551 section 4.5.8).  A
call sends the figure in each direction; a site's WAN capacity is per direction too.  RTCP,
silence suppression and tunnels (IPsec, GRE) are not counted.

**The decision** (:func:`choose`), for one agent leg, from the agent's site, the current
loads and the codecs her phone allows:

* the media node with the lowest load (on a tie the preferred one, the caller's own, then
  the first by name: the same facts, the same answer);
* the phone's best codec (G.711) when the site's load with it stays under the site's
  "lower the codec" threshold (``lower_at`` x capacity, 80% by default);
* else the best *lower* codec that fits under the capacity itself (GSM);
* a phone with no lower codec (a browser: no GSM) keeps G.711 while it fits under the
  capacity: there is nothing to lower to;
* else a refusal: the agent is not offered voice (``site-full``).

A leg a person asked for (a consulted colleague, a conference member, a supervisor's phone:
:func:`choose_asked`) is placed the same way but never refused for bandwidth: on a full
site it takes the phone's cheapest codec, and the site's load may then pass its capacity.

A site without a capacity (``None``) is unlimited: G.711 always.  By ccari's own
accounting of the legs it offers a site is never over its capacity (the property tests hold
it to that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

IP_UDP_RTP_BYTES = 40  # IPv4 20 + UDP 8 + RTP 12
ETHERNET_BYTES = 18  # Ethernet II header 14 + FCS 4


@dataclass(frozen=True)
class Codec:
    """An Asterisk format name, its payload bit rate and how people call it."""

    name: str
    bitrate_kbps: float
    label: str


# The codecs ccari knows, best (most bandwidth, best quality) first.  Asterisk's names.
CODECS: tuple[Codec, ...] = (
    Codec("ulaw", 64.0, "G.711 \u00b5-law"),
    Codec("alaw", 64.0, "G.711 A-law"),
    Codec("gsm", 13.2, "GSM 06.10"),
)
BY_NAME = {c.name: c for c in CODECS}
# What each kind of agent phone allows (``Agent.device``), best first: a SIP phone takes GSM
# too; a browser has no GSM (and Asterisk here has no Opus module loaded).
PHONE_CODECS: Mapping[str, tuple[str, ...]] = {"sip": ("ulaw", "alaw", "gsm"),
                                               "sip-tls": ("ulaw", "alaw", "gsm"),
                                               "browser": ("ulaw", "alaw")}


def phone_codecs(device: str) -> tuple[str, ...]:
    """The codecs an agent phone of this kind allows (an unknown kind: G.711 only)."""
    return PHONE_CODECS.get(device, ("ulaw", "alaw"))


@dataclass(frozen=True)
class Costs:
    """What a call costs per codec, for one packet time and link framing."""

    ptime_ms: int = 20
    link_bytes: int = ETHERNET_BYTES

    def kbps(self, codec: str) -> float:
        """One direction of one call with ``codec``, in kbit/s (rounded to 0.1)."""
        c = BY_NAME[codec]
        payload = c.bitrate_kbps * self.ptime_ms / 8  # bytes per packet
        return round((payload + IP_UDP_RTP_BYTES + self.link_bytes) * 8 / self.ptime_ms, 1)


@dataclass(frozen=True)
class Site:
    """An agent site's WAN link: ``capacity_kbps`` None is unlimited; ``lower_at``: the
    share of the capacity above which the next leg gets a lower codec."""

    capacity_kbps: float | None = None
    lower_at: float = 0.8


@dataclass(frozen=True)
class Placement:
    node: str
    codec: str
    kbps: float


@dataclass(frozen=True)
class Refusal:
    reason: str  # site-full | no-codec | no-media-node


Decision = Placement | Refusal


def least_loaded(nodes: Mapping[str, float], prefer: str | None = None) -> str | None:
    """The media node with the lowest load; on a tie ``prefer`` (if among them), else the
    first by name; None if none."""
    if not nodes:
        return None
    return min(sorted(nodes), key=lambda n: (nodes[n], n != prefer))


def choose(site: Site, site_load: float, nodes: Mapping[str, float],
           allowed: Sequence[str], costs: Costs = Costs(), prefer: str | None = None) -> Decision:
    """Where and how the next agent leg goes (see the module's doc).  ``site_load``: the
    kbit/s the site's calls use now; ``nodes``: each media node's load; ``allowed``: the
    codecs the agent's phone takes (unknown names are ignored); ``prefer``: the node that
    wins a tie (the caller's own: no hop between nodes for nothing)."""
    node = least_loaded(nodes, prefer)
    if node is None:
        return Refusal("no-media-node")
    ranked = _ranked(allowed, costs)
    if not ranked:
        return Refusal("no-codec")
    best, best_kbps = ranked[0]
    if site.capacity_kbps is None or fits(site_load, best_kbps, site.lower_at * site.capacity_kbps):
        return Placement(node, best, best_kbps)
    lower = [(c, k) for c, k in ranked if k < best_kbps]
    for codec, kbps in lower or ranked[:1]:
        if fits(site_load, kbps, site.capacity_kbps):
            return Placement(node, codec, kbps)
    return Refusal("site-full")


def choose_asked(site: Site, site_load: float, nodes: Mapping[str, float],
                 allowed: Sequence[str], costs: Costs = Costs(),
                 prefer: str | None = None) -> Decision:
    """:func:`choose` for a leg a person asked for: no ``site-full``, the cheapest codec
    instead (only ``no-media-node`` or ``no-codec`` refuse)."""
    decision = choose(site, site_load, nodes, allowed, costs, prefer)
    if isinstance(decision, Refusal) and decision.reason == "site-full":
        node = least_loaded(nodes, prefer)
        assert node is not None  # else no-media-node
        codec, kbps = min(_ranked(allowed, costs), key=lambda ck: ck[1])  # preferred first
        return Placement(node, codec, kbps)
    return decision


def phone_of(endpoint: str) -> str | None:
    """The agent phone an originate endpoint names (``PJSIP/<phone>``); None for anything
    else (an outside number through a trunk: ``PJSIP/<trunk>/sip:...``)."""
    tech, _, rest = endpoint.partition("/")
    return rest if tech == "PJSIP" and rest and "/" not in rest and "@" not in rest else None


def fits(load: float, kbps: float, limit: float) -> bool:
    """``load + kbps`` at most ``limit``, to the thousandth of a kbit/s (no float dust)."""
    return round(load + kbps, 3) <= round(limit, 3)


def has_room(site: Site, site_load: float, allowed: Sequence[str], costs: Costs = Costs()) -> bool:
    """Could one more leg to a phone allowing ``allowed`` go to this site now?"""
    return isinstance(choose(site, site_load, {"any": 0.0}, allowed, costs), Placement)


def _ranked(allowed: Iterable[str], costs: Costs) -> list[tuple[str, float]]:
    """The known codecs of ``allowed`` with their cost, most bandwidth first (the phone's
    own order among equals: its preferred G.711 law first)."""
    known = [(name, costs.kbps(name)) for name in dict.fromkeys(allowed) if name in BY_NAME]
    return sorted(known, key=lambda ck: -ck[1])
