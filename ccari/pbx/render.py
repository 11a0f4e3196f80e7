"""Render the Asterisk configuration of one instance from a :class:`PbxSpec`.

Pure and deterministic: the same spec and directories give byte-identical files. Templates
live in the repository's ``asterisk/`` (one per Asterisk config file, plus the ``ccari-*``
fragments an existing Asterisk can ``#include``) and ``dialplans/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jinja2

from ccari import home
from ccari.pbx.errors import RenderError
from ccari.pbx.spec import PbxSpec, validate

log = logging.getLogger(__name__)

#: Sound name prefix of ccari's own prompts (``sounds/*.wav`` are installed there).
SOUND_PREFIX = "ccari/"
#: What a caller hears when ccari is down, before the 486 Busy Here.
BUSY_SOUND = "ccari/unavailable"
#: What a caller hears once their overflow voicemail is saved, before the hang-up.
VOICEMAIL_SAVED_SOUND = "ccari/voicemail-saved"
#: Where asterisk-moh-opsound-gsm puts its files (class "default").
MOH_DIR = "/usr/share/asterisk/moh"
TRANSPORT = "ccari-udp"
#: The agents' phones over TLS (``Phone.tls``), and its certificate and key under etc/.
TLS_TRANSPORT = "ccari-tls"
TLS_CERT_FILE = "ccari-sip-tls.crt"
TLS_KEY_FILE = "ccari-sip-tls.key"
#: The PJSIP ACL of blocked SIP sources, written by ccari.security at run time.
ACL_FILE = "ccari-acl.conf"

#: Files of a standalone instance (template name -> file name under etc/).
STANDALONE_FILES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "http.conf",
    "ari.conf",
    "manager.conf",
    "rtp.conf",
    "musiconhold.conf",
    "cdr.conf",
    "cel.conf",
    "indications.conf",
    "ccss.conf",
    "features.conf",
    "acl.conf",
    "udptl.conf",
    "pjproject.conf",
    "websocket_client.conf",
    "stasis.conf",
    "pjsip.conf",
    "extensions.conf",
)
#: Fragments an existing Asterisk includes (also used by the standalone files).
FRAGMENT_FILES = ("ccari-pjsip.conf", "ccari-ari.conf", "ccari-manager.conf")
DIALPLAN_FILES = ("ccari.conf",)


def project_root() -> Path:
    """The checkout holding ``asterisk/``, ``dialplans/`` and ``sounds/`` (:mod:`ccari.home`)."""
    try:
        return home.project_root("asterisk")
    except home.NoHome as exc:
        raise RenderError(str(exc)) from None


@dataclass(frozen=True)
class Dirs:
    """Directories of one instance as Asterisk sees them (inside the chroot, if any)."""

    etc: PurePosixPath
    run: PurePosixPath
    spool: PurePosixPath
    log: PurePosixPath
    lib: PurePosixPath
    cache: PurePosixPath

    @classmethod
    def under(cls, base: PurePosixPath | str) -> Dirs:
        b = PurePosixPath(base)
        return cls(b / "etc", b / "run", b / "spool", b / "log", b / "lib", b / "cache")


def _environment(root: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(root / "asterisk"), str(root / "dialplans")]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_texts(
    spec: PbxSpec, dirs: Dirs, *, external: bool = False, root: Path | None = None,
    include_dir: Path | None = None,
) -> dict[str, str]:
    """Return ``{relative file name: content}`` without touching the disk.

    ``external=True`` renders only the fragments an existing Asterisk includes (no
    transport of its own: the admin's transport is used), which include the files ccari
    writes at run time (the security ACL) from ``include_dir``.
    """
    validate(spec)
    env = _environment(root or project_root())
    context = {
        "spec": spec,
        "dirs": dirs,
        "transport": None if external else TRANSPORT,
        "tls_transport": TLS_TRANSPORT if spec.tls and not external else None,
        "tls_cert": f"{dirs.etc}/{TLS_CERT_FILE}",
        "tls_key": f"{dirs.etc}/{TLS_KEY_FILE}",
        "busy_sound": BUSY_SOUND,
        "voicemail_saved_sound": VOICEMAIL_SAVED_SOUND,
        "moh_dir": MOH_DIR,
        "acl_include": f"{include_dir}/{ACL_FILE}" if include_dir else ACL_FILE,
    }
    names = [] if external else list(STANDALONE_FILES)
    names += FRAGMENT_FILES
    out: dict[str, str] = {}
    try:
        for name in names:
            out[name] = env.get_template(name + ".j2").render(context)
        for name in DIALPLAN_FILES:
            out["dialplans/" + name] = env.get_template(name + ".j2").render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"cannot render {exc!r}; check the templates in asterisk/") from exc
    if spec.tls and not external:
        out[TLS_CERT_FILE], out[TLS_KEY_FILE] = spec.tls.cert_pem, spec.tls.key_pem
    return out


def render(spec: PbxSpec, dest_dir: Path, dirs: Dirs | None = None, *, external: bool = False) -> list[Path]:
    """Write every config file of ``spec`` into ``dest_dir``; return the files changed.

    ``dirs`` are the paths written into asterisk.conf; by default the instance lives in
    ``dest_dir``'s parent (``<base>/etc``, ``<base>/run``...). Files whose content did not
    change are not rewritten, so the return value tells whether a reload is needed.
    """
    dest_dir = Path(dest_dir)
    if dirs is None:
        dirs = Dirs.under(PurePosixPath(dest_dir.resolve().parent))
    texts = render_texts(spec, dirs, external=external,
                         include_dir=dest_dir.resolve() if external else None)
    changed: list[Path] = []
    for name, text in texts.items():
        path = dest_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.read_text() == text:
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)  # holds passwords
        tmp.replace(path)
        changed.append(path)
    if external:
        readme = dest_dir / "README.txt"
        readme.write_text(external_instructions(spec, dest_dir))
    log.debug("rendered %d files into %s (%d changed)", len(texts), dest_dir, len(changed))
    return changed


def external_instructions(spec: PbxSpec, dest_dir: Path) -> str:
    """What the admin of an existing Asterisk adds to their own configuration."""
    d = Path(dest_dir).resolve()
    return f"""ccari configuration fragments for an existing Asterisk 22 (instance {spec.instance}).

1. Add these lines to your own files (in /etc/asterisk):
     pjsip.conf:      #include "{d}/ccari-pjsip.conf"
     ari.conf:        #include "{d}/ccari-ari.conf"
     manager.conf:    #include "{d}/ccari-manager.conf"
     extensions.conf: #include "{d}/dialplans/ccari.conf"
2. Make sure that:
     http.conf    [general] enabled=yes, bindaddr=127.0.0.1, bindport={spec.ports.ari}
     ari.conf     [general] enabled=yes
     manager.conf [general] enabled=yes, bindaddr=127.0.0.1, port={spec.ports.ami}
     pjsip.conf   has a UDP transport, and res_pjsip_endpoint_identifier_ip is loaded
     browser phones (agents whose device is "browser"): a transport with protocol=ws,
                  res_pjsip_transport_websocket and res_srtp loaded, and ccari's
                  /agent/phone/ws reaching ws://127.0.0.1:{spec.ports.ari}/ws
     talk now (customers' calls from the widget): the same websocket transport, and
                  "header" in [global] endpoint_identifier_order (e.g. ip,username,header)
     agents' TLS phones (device "sip-tls"): a transport with protocol=tls (the phones
                  reach it with ;transport=tls) and res_srtp loaded: their media is SDES-SRTP
     res_pjsip_acl is loaded: ccari blocks SIP sources after repeated failures by
                  writing {d}/{ACL_FILE} (included by ccari-pjsip.conf)
     modules      codec_gsm, format_gsm, format_wav, res_stasis*, res_ari*, app_stasis,
                  app_playback, res_musiconhold are loaded; music class "default" exists.
3. Copy ccari's prompts: mkdir -p /usr/share/asterisk/sounds/ccari &&
     cp sounds/*.wav /usr/share/asterisk/sounds/ccari/
4. Reload: asterisk -rx 'module reload res_pjsip.so' -rx 'dialplan reload'
     -rx 'module reload res_ari.so' -rx 'manager reload'
5. Keep Asterisk up: ccari does not restart an Asterisk it did not start. A systemd unit
     with a restart policy: asterisk/systemd/asterisk.service.example in ccari's sources.
"""
