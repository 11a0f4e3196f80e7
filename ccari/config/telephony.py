"""The config sections of the telephony side: the PBX, calls, callbacks, fax, speech, agent
sites and tenants' prompts.  Each section checks its own keys (:meth:`Section.check`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ccari.config.section import Section, loopback
from ccari.errors import ConfigError

_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class PbxConfig(Section):
    # "managed": ccari provisions and runs Asterisk itself (sid root or distro package).
    # "external": an admin's Asterisk; ccari renders config into render_dir and connects.
    mode: str = "managed"
    instance: str = "demo"
    app_name: str = "ccari-demo"
    host: str = "127.0.0.1"
    sip_port: int = 5060
    ari_port: int = 8088
    ami_port: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 20000
    render_dir: str = ""
    ari_user: str = ""
    ari_password: str = ""
    ami_user: str = ""
    ami_secret: str = ""
    # Source addresses identifying the carrier trunk (PJSIP identify).
    carrier_match: tuple[str, ...] = ("127.0.0.2",)
    request_timeout_s: float = 5.0
    # Dead calls: a carrier call with no RTP from the carrier for this long (and no BYE) is
    # hung up by Asterisk (rtp_timeout; session timers too); 0 turns both off.  A page in a
    # browser (an agent's phone, a customer's call from the widget) that stops answering its
    # SIP websocket's pings is lost within this time (20 s pings when 0), its call ended.
    dead_call_s: int = 60
    # Agent phones are sent SIP OPTIONS this often (qualify); an unreachable phone is not
    # offered calls.  0 turns qualify off (phones then count as reachable).
    agent_qualify_s: int = 30
    # SIP over TLS for agents' phones (device "sip-tls": signalling over TLS, media SRTP with
    # SDES keys): a TLS transport on this port (0: none) with this PEM certificate and
    # unencrypted key, copied into Asterisk's configuration.  Carriers stay on UDP.
    sip_tls_port: int = 0
    sip_tls_cert: str = ""
    sip_tls_key: str = ""

    def check(self) -> None:
        if not 0 <= self.sip_tls_port < 65536:
            raise ConfigError(f"pbx.sip_tls_port: {self.sip_tls_port} is not a port")
        if not bool(self.sip_tls_port) == bool(self.sip_tls_cert) == bool(self.sip_tls_key):
            raise ConfigError("pbx.sip_tls_port, pbx.sip_tls_cert and pbx.sip_tls_key: all or none")
        if self.mode not in {"managed", "external"}:
            raise ConfigError("pbx.mode must be 'managed' or 'external'")
        if self.rtp_end <= self.rtp_start:
            raise ConfigError("pbx.rtp_end must be above pbx.rtp_start")
        if self.dead_call_s != 0 and not 2 <= self.dead_call_s <= 86400:
            raise ConfigError("pbx.dead_call_s: 0 (off) or 2 to 86400 seconds")
        if not 0 <= self.agent_qualify_s <= 86400:
            raise ConfigError("pbx.agent_qualify_s: 0 (off) to 86400 seconds")
        if not loopback(self.host):
            raise ConfigError("pbx.host: ARI and AMI are only reached on loopback")


@dataclass(frozen=True)
class VoiceConfig(Section):
    moh_class: str = "default"
    sound_prefix: str = "ccari/"
    ring_timeout_s: int = 15
    # How long a transferred or consulted party (a colleague's phone dialled directly, an
    # outside number) rings before the transfer or consult counts as not answered.
    transfer_ring_s: int = 30
    # Parties of one call's conference, the customer and the agent included.
    conference_max_parties: int = 6
    wrap_up_s: float = 5.0
    announce_every_s: float = 30.0
    ivr_timeout_s: float = 5.0
    ivr_max_tries: int = 3
    # Overflow voicemail (a caller over the tenant's trunk limit leaves a message).
    voicemail_max_s: int = 120
    voicemail_max_silence_s: int = 10
    # Call recording (ccari.recording): how often the retention task deletes the recordings
    # past their tenant's retention_days.
    recording_retention_every_s: float = 3600.0
    # Overload control: while the hot path's delay (calls waiting to be answered, writes
    # waiting for their commit, event-loop lag) is above this many ms, a shrinking share of
    # new calls is admitted; the others get the tenant's announcement, else SIP 503, at
    # once.  The share grows back below 40% of it.  0 turns it off.
    overload_delay_ms: float = 350.0
    # The most new carrier calls a second this node admits (0: no such cap): the rate
    # ``python -m bench.voice`` measured it to carry.  Past it the excess is refused at
    # once, the same way, before the delays show the surge.
    max_calls_per_s: float = 0.0
    # The codes an agent closes a call's wrap-up with: a plain code is every tenant's,
    # "<tenant slug>:<code>" only that tenant's.
    disposition_codes: tuple[str, ...] = ("resolved", "follow-up", "escalated", "no-action")

    def dispositions_of(self, tenant_slug: str,
                        own: Sequence[str] | None = None) -> tuple[str, ...]:
        """The wrap-up codes of one tenant: its own (set by provisioning), else these."""
        if own is not None:
            return tuple(own)
        out = []
        for entry in self.disposition_codes:
            slug, _, code = entry.rpartition(":")
            if not slug or slug == tenant_slug:
                out.append(code)
        return tuple(out)

    def check(self) -> None:
        if not 1 <= self.transfer_ring_s <= 600:
            raise ConfigError("voice.transfer_ring_s: 1 to 600 seconds")
        if not 3 <= self.conference_max_parties <= 32:
            raise ConfigError("voice.conference_max_parties: 3 to 32")
        if not 0 <= self.max_calls_per_s <= 100_000:
            raise ConfigError("voice.max_calls_per_s: 0 (no cap) to 100000 calls a second")


@dataclass(frozen=True)
class CallbacksConfig(Section):
    # Node settings of the callbacks context; per-tenant choices (mode, retries, allow-list)
    # live in the database (ccari.callbacks.models.CallbackSettings).
    # Where outbound calls go: "host:port" of the carrier, dialled as
    # PJSIP/<trunk>/sip:<E.164 digits>@<carrier_outbound>.  Empty: the first address of
    # pbx.carrier_match, port 5060.
    carrier_outbound: str = ""
    trunk: str = "carrier"
    # Customer first: how long to wait for "1" after the prompt, and how often to play it.
    confirm_timeout_s: float = 6.0
    prompt_plays: int = 2
    # Trunk admission said "defer": try again after this long (not counted as a try).
    defer_s: float = 20.0
    # An attempt not answered by ring timeout + this is checked against Asterisk.
    check_grace_s: float = 10.0
    # IVR "call me back": the first call comes when the caller's place in the queue comes
    # up, not before ivr_gap_s after they hung up, and at the latest ivr_hold_s after asking.
    ivr_gap_s: float = 10.0
    ivr_hold_s: float = 120.0
    # A caller lost with the Asterisk carrying the call while waiting for an agent: the
    # callback (when the tenant's after_lost_call allows it) is first tried this long after.
    lost_call_delay_s: float = 60.0
    # How far ahead a customer may ask to be called.
    max_ahead_s: float = 14 * 86400.0
    # Rate limits of requests that would dial out: burst, then one every N seconds.
    ip_burst: int = 5
    ip_every_s: float = 60.0
    number_burst: int = 3
    number_every_s: float = 600.0
    tenant_burst: int = 60
    tenant_every_s: float = 2.0
    sound_offer: str = "callback-offer"
    sound_confirm: str = "callback-confirm"
    sound_refused: str = "callback-refused"

    def outbound_host(self, pbx: PbxConfig) -> str:
        if self.carrier_outbound:
            return self.carrier_outbound
        match = pbx.carrier_match
        return f"{match[0] if match else '127.0.0.2'}:5060"

    def check(self) -> None:
        if self.carrier_outbound and not _HOSTPORT.match(self.carrier_outbound):
            raise ConfigError("callbacks.carrier_outbound must be host:port")
        if not _ENDPOINT.match(self.trunk):
            raise ConfigError("callbacks.trunk must be a PJSIP endpoint name")
        for name in ("ip", "number", "tenant"):
            if getattr(self, f"{name}_burst") < 1 or getattr(self, f"{name}_every_s") <= 0:
                raise ConfigError(f"callbacks.{name}_burst / {name}_every_s must be positive")
        if self.prompt_plays < 1 or self.confirm_timeout_s <= 0 or self.defer_s <= 0:
            raise ConfigError("callbacks.prompt_plays, confirm_timeout_s and defer_s must be positive")


@dataclass(frozen=True)
class FaxConfig(Section):
    # Where Asterisk writes received faxes' TIFFs, as Asterisk sees it and as ccari sees it
    # (the same directory).  Empty: the managed instance's spool/fax.  ccari keeps each one
    # under <state_dir>/fax and removes it from there.
    asterisk_spool: str = ""
    spool: str = ""
    # How a fax to send is dialled: {trunk} and {host} as for callbacks (callbacks.trunk,
    # callbacks.carrier_outbound), {digits} the E.164 number without '+'.
    dial: str = "PJSIP/{trunk}/sip:{digits}@{host}"
    # A send whose attempt found the line busy, unanswered or congested (nothing sent) is
    # dialled again by itself up to this many times, retry_after_s apart.
    retries: int = 2
    retry_after_s: float = 300.0
    # Fax tones on a voice number (where the tenant turns it on: PUT /api/faxes/settings):
    # Asterisk listens for a fax machine's CNG (or its T.38 re-INVITE) this many seconds after
    # the answer, while the caller hears the number's usual greeting; a fax found goes to the
    # fax path.
    detect_s: float = 8.0

    def check(self) -> None:
        if not 0 <= self.retries <= 10:
            raise ConfigError("fax.retries must be from 0 to 10")
        if not self.retry_after_s > 0:
            raise ConfigError("fax.retry_after_s must be more than 0")
        if not 1 <= self.detect_s <= 60:
            raise ConfigError("fax.detect_s: 1 to 60 seconds")
        if bool(self.spool) != bool(self.asterisk_spool):
            raise ConfigError("fax.spool and fax.asterisk_spool: both or neither")


@dataclass(frozen=True)
class SpeechConfig(Section):
    """Spoken answers in the IVR (the words come from the menus' option labels).  Off by
    default: on 8 kHz telephone audio the bundled 16 kHz English model still mistakes
    too many other words for menu words (see ccari/speech/recognizer.py)."""

    enabled: bool = False
    # ccari's address as Asterisk reaches it: the caller's audio comes there as RTP.
    media_host: str = "127.0.0.1"
    # Below this confidence (0..1) an utterance is not taken: the menu asks again.
    min_confidence: float = 0.45
    # An utterance longer than this is cut and recognised as it is.
    max_utterance_s: float = 4.0
    # How long setting up the audio path may take before the menu goes on with digits only.
    setup_timeout_s: float = 2.0

    def check(self) -> None:
        if not 0 <= self.min_confidence <= 1 or self.max_utterance_s <= 0 or \
                self.setup_timeout_s <= 0:
            raise ConfigError("speech.min_confidence: 0 to 1; speech.max_utterance_s and "
                              "speech.setup_timeout_s: positive")


@dataclass(frozen=True)
class SitesConfig(Section):
    """Agent sites' WAN links (ccari.sites): what a call costs, when its codec is lowered."""

    # Above this share of a site's capacity the next agent leg gets a lower codec (GSM).
    lower_codec_at: float = 0.8
    # RTP packet time of the agents' legs (ms): 50 packets a second at 20 ms.
    ptime_ms: int = 20
    # Link-layer bytes per packet on the sites' links (Ethernet II header + FCS: 18).
    link_overhead_bytes: int = 18
    # Where an agent's leg goes out from with several nodes: "own" (the Asterisk carrying
    # the caller) or "least-loaded" (the media node with the lowest load, through the
    # caller's Asterisk: its own on a tie).
    legs_from: str = "own"

    def check(self) -> None:
        if not 0 < self.lower_codec_at <= 1 or not 10 <= self.ptime_ms <= 60 or \
                not 0 <= self.link_overhead_bytes <= 100:
            raise ConfigError("sites.lower_codec_at: above 0 up to 1; sites.ptime_ms: 10 to 60; "
                              "sites.link_overhead_bytes: 0 to 100")
        if self.legs_from not in ("own", "least-loaded"):
            raise ConfigError('sites.legs_from: "own" or "least-loaded"')


@dataclass(frozen=True)
class PromptsConfig(Section):
    # Tenants' own prompts (uploaded audio or spoken text, ccari.provisioning.prompts) are
    # written as <dir>/<tenant id>/<name>.wav, and Asterisk plays them as
    # sound:<sound_prefix><tenant id>/<name>: dir must be <Asterisk's sounds dir>/<sound_prefix>.
    # Empty (both): the managed instance's <sounds>/ccari-tenants/<pbx.instance>/.
    dir: str = ""
    sound_prefix: str = ""
    max_bytes: int = 4 * 1024 * 1024  # an upload (WAV, MP3 or Ogg)
    max_seconds: float = 120.0  # a prompt once converted
    # What a text prompt sounds like (espeak-ng -v/-s/-p), as sounds/make.sh makes ccari's own.
    voice: str = "en-us"
    speed: int = 150
    pitch: int = 45

    def check(self) -> None:
        if bool(self.dir) != bool(self.sound_prefix):
            raise ConfigError("prompts.dir and prompts.sound_prefix: both or neither")
