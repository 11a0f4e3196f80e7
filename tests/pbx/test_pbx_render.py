"""Rendering is pure: a spec in, config texts out. Checked line by line, without Asterisk."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath

import pytest

from ccari.pbx import Dirs, Number, PbxSpec, Phone, Ports, SpecError, Trunk, render, render_texts
from ccari.pbx.render import BUSY_SOUND, project_root
from ccari.pbx.spec import spec_from_dict, spec_to_dict

DIRS = Dirs.under(PurePosixPath("/srv/ccari/unit"))


def make_spec(**changes: object) -> PbxSpec:
    spec = PbxSpec(
        instance="unit",
        app_name="ccari-unit",
        ari_user="ariuser",
        ari_password="ari-secret-123",
        ami_user="amiuser",
        ami_secret="ami-secret-456",
        ports=Ports(sip=15060, ari=18088, ami=15038, rtp_start=20000, rtp_end=30000),
        bind="0.0.0.0",
        trunks=(Trunk("carrier", ("192.0.2.10", "198.51.100.0/24"), "192.0.2.10:5060"),),
        phones=(
            Phone("alice", "alice-pass-1", "sip:alice@127.0.0.1:16001"),
            Phone("bob", "bob-pass-22"),
        ),
        numbers=(Number("15550100", "acme"), Number("33123456789", "globex")),
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Parse an Asterisk .conf text into [(section, {key: [values]})], in order."""
    out: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            out.append((line[1 : line.index("]")], {}))
        else:
            key, _, value = re.split(r"\s*(=>|=)\s*", line, maxsplit=1)
            out[-1][1].setdefault(key, []).append(value)
    return out


def objects(text: str, type_: str) -> dict[str, dict[str, list[str]]]:
    return {name: kv for name, kv in sections(text) if kv.get("type") == [type_]}


@pytest.fixture
def texts() -> dict[str, str]:
    return render_texts(make_spec(), DIRS)


def test_rendering_is_deterministic() -> None:
    assert render_texts(make_spec(), DIRS) == render_texts(make_spec(), DIRS)


def test_a_node_of_several_prefixes_its_channel_ids_with_its_name() -> None:
    """Two Asterisk nodes sharing one database would both call their first call
    ``<time>.0``: a system name makes the ids differ."""
    options = dict(sections(render_texts(make_spec(system_name="node2"), DIRS)["asterisk.conf"]))
    assert options["options"]["systemname"] == ["node2"]
    assert "systemname" not in dict(sections(render_texts(make_spec(), DIRS)["asterisk.conf"]))[
        "options"]
    with pytest.raises(SpecError):
        render_texts(make_spec(system_name="node 2;x"), DIRS)


def test_carrier_identified_by_ip_into_from_carrier(texts: dict[str, str]) -> None:
    pjsip = texts["ccari-pjsip.conf"]
    identify = objects(pjsip, "identify")["carrier"]
    assert identify["endpoint"] == ["carrier"]
    assert identify["match"] == ["192.0.2.10", "198.51.100.0/24"]
    endpoint = objects(pjsip, "endpoint")["carrier"]
    assert endpoint["context"] == ["from-carrier"]
    assert endpoint["allow"] == ["ulaw,alaw"]
    assert endpoint["direct_media"] == ["no"] and endpoint["rtp_symmetric"] == ["yes"]
    assert objects(pjsip, "aor")["carrier"]["contact"] == ["sip:192.0.2.10:5060"]


def test_one_endpoint_auth_aor_per_phone(texts: dict[str, str]) -> None:
    pjsip = texts["ccari-pjsip.conf"]
    endpoints, auths, aors = (objects(pjsip, t) for t in ("endpoint", "auth", "aor"))
    for name in ("alice", "bob"):
        assert endpoints[name]["context"] == ["from-phones"]
        assert endpoints[name]["auth"] == [name] and endpoints[name]["aors"] == [name]
        assert aors[name]["max_contacts"] == ["1"]
        assert aors[name]["remove_existing"] == ["yes"]
    assert auths["alice"]["password"] == ["alice-pass-1"]
    assert aors["alice"]["contact"] == ["sip:alice@127.0.0.1:16001"]
    assert "contact" not in aors["bob"]


def test_a_phone_registered_at_the_sip_edge_is_rung_there_and_cannot_register_here() -> None:
    spec = make_spec(phones=(Phone("alice", "alice-pass-1", "sip:alice@10.0.0.2:5080",
                                   registers=False),))
    aor = objects(render_texts(spec, DIRS)["ccari-pjsip.conf"], "aor")["alice"]
    assert aor["contact"] == ["sip:alice@10.0.0.2:5080"]
    assert aor["max_contacts"] == ["0"] and "remove_existing" not in aor
    assert spec_from_dict(spec_to_dict(spec)) == spec
    for phone in (Phone("bob", "bob-pass-22", registers=False),
                  Phone("web", "web-pass-123", registers=False, webrtc=True)):
        with pytest.raises(SpecError, match="registers elsewhere"):
            render_texts(make_spec(phones=(phone,)), DIRS)


def test_a_phone_allows_its_codecs_preferred_first() -> None:
    """A SIP phone also takes GSM: the lower codec a site short of bandwidth gets."""
    spec = make_spec(phones=(Phone("alice", "alice-pass-1", codecs=("ulaw", "alaw", "gsm")),
                             Phone("bob", "bob-pass-22")))
    endpoints = objects(render_texts(spec, DIRS)["ccari-pjsip.conf"], "endpoint")
    assert endpoints["alice"]["allow"] == ["ulaw,alaw,gsm"]
    assert endpoints["bob"]["allow"] == ["ulaw,alaw"]
    # An INVITE offers the codecs ccari asks for alone (not merged with the rest).
    assert endpoints["alice"]["outgoing_call_offer_pref"] == ["local"]
    assert spec_from_dict(spec_to_dict(spec)) == spec


def test_a_browser_phone_is_a_bundled_webrtc_endpoint_on_the_websocket(
        texts: dict[str, str]) -> None:
    spec = make_spec(phones=(Phone("alice", "alice-pass-1", "sip:alice@127.0.0.1:16001"),
                             Phone("web", "web-pass-123", webrtc=True)))
    rendered = render_texts(spec, DIRS)
    endpoints = objects(rendered["ccari-pjsip.conf"], "endpoint")
    web, desk = endpoints["web"], endpoints["alice"]
    for key in ("webrtc", "bundle", "dtls_auto_generate_cert"):
        assert web[key] == ["yes"] and key not in desk
    assert "transport" not in web  # calls go over the websocket it registered on
    # No RTP timeout (it would cut every bundled video call): ccari watches the page's socket.
    assert "rtp_timeout" not in web
    assert desk["transport"] == ["ccari-udp"]
    assert web["allow"] == ["ulaw,alaw"]  # the carrier's codecs: nothing to transcode
    assert web["auth"] == ["web"] and web["context"] == ["from-phones"]
    assert "contact" not in objects(rendered["ccari-pjsip.conf"], "aor")["web"]
    ws = objects(texts["pjsip.conf"], "transport")["ccari-ws"]
    assert ws["protocol"] == ["ws"]
    assert "load = res_pjsip_transport_websocket.so" in texts["modules.conf"]
    assert "load = res_srtp.so" in texts["modules.conf"]
    assert "bindaddr = 127.0.0.1" in texts["http.conf"]  # Asterisk's websocket: loopback only


def test_the_customers_endpoint_takes_only_calls_that_carry_ccaris_key() -> None:
    assert "ccari-web" not in render_texts(make_spec(), DIRS)["ccari-pjsip.conf"]  # no key
    rendered = render_texts(make_spec(web_key="k" * 40), DIRS)
    web = objects(rendered["ccari-pjsip.conf"], "endpoint")["ccari-web"]
    for key in ("webrtc", "bundle", "dtls_auto_generate_cert"):
        assert web[key] == ["yes"]
    assert web["context"] == ["from-web"] and "rtp_timeout" not in web  # its page is watched
    assert "auth" not in web and "transport" not in web and "aors" not in web
    identify = objects(rendered["ccari-pjsip.conf"], "identify")["ccari-web"]
    assert identify["match_header"] == [f"X-Ccari-Web-Key: {'k' * 40}"]
    assert "match" not in identify  # never by source address
    pjsip = render_texts(make_spec(web_key="k" * 40), DIRS)["pjsip.conf"]
    assert "endpoint_identifier_order = ip,username,header" in pjsip
    dialplan = rendered["dialplans/ccari.conf"]
    context = dialplan.split("[from-web]")[1].split("\n[")[0]
    assert "exten => talk,1,Stasis(" in context and ",web,${PJSIP_HEADER(read,X-Ccari-Web)})" in context


def test_callers_handed_over_by_another_node_come_in_only_with_this_nodes_key() -> None:
    plain = render_texts(make_spec(), DIRS)
    assert "ccari-peer" not in plain["ccari-pjsip.conf"]  # one node: no such endpoint
    assert "[from-peer]" not in plain["dialplans/ccari.conf"]
    rendered = render_texts(make_spec(peer_key="p" * 40), DIRS)
    peer = objects(rendered["ccari-pjsip.conf"], "endpoint")["ccari-peer"]
    assert peer["context"] == ["from-peer"] and "auth" not in peer
    identify = objects(rendered["ccari-pjsip.conf"], "identify")["ccari-peer"]
    assert identify["match_header"] == [f"X-Ccari-Peer: {'p' * 40}"]
    assert "match" not in identify  # never by source address
    dialplan = rendered["dialplans/ccari.conf"]
    inward = dialplan.split("[from-peer]")[1].split("\n[")[0]
    # Only sip:adopt-<token>@ reaches ccari, as (adopt, <hex token>); anything else: 21.
    assert ",adopt,${FILTER(0-9a-f,${EXTEN:6})})" in inward
    assert "exten => _X.,1,Hangup(21)" in inward
    # An agent's leg another node places from this Asterisk rings an agent phone only, with
    # the codecs that node chose (set on the phone's channel before it is dialled).
    assert "Dial(PJSIP/${PHONE},,b(ccari-leg^offer^1))" in inward
    assert '"${PJSIP_ENDPOINT(${PHONE},context)}" != "from-phones"]?refuse)' in inward
    leg = dialplan.split("[ccari-leg]")[1].split("\n[")[0]
    assert "Set(PJSIP_MEDIA_OFFER(audio)=${CCARI_LEG_FORMATS})" in leg
    outward = dialplan.split("[ccari-adopt]")[1].split("\n[")[0]
    assert "Dial(PJSIP/ccari-peer/${CCARI_ADOPT_URI}" in outward
    assert "Set(PJSIP_HEADER(add,X-Ccari-Peer)=${CCARI_PEER_KEY})" in outward
    # A new call this node's ccari cannot take (it died): 503 at once, for the SIP edge to
    # pass it to the next node (one node: the busy announcement, then 486).
    carrier = dialplan.split("[from-carrier]")[1].split("\n[")[0]
    assert '"SUCCESS"]?ccari-done,s,1)\n same => n,Hangup(34)\n' in carrier
    assert "Hangup(34)" not in plain["dialplans/ccari.conf"].split("[from-carrier]")[1].split("\n[")[0]
    with pytest.raises(SpecError, match="peer endpoint key"):
        render_texts(make_spec(peer_key="bad key;"), DIRS)


def test_transport_binds_spec_address(texts: dict[str, str]) -> None:
    transport = objects(texts["pjsip.conf"], "transport")["ccari-udp"]
    assert transport["bind"] == ["0.0.0.0:15060"] and transport["protocol"] == ["udp"]
    assert '#include "ccari-pjsip.conf"' in texts["pjsip.conf"]


def dialplan(texts: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """{context: [(extension or 'same', application call)]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    context = ""
    for raw in texts["dialplans/ccari.conf"].splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            context = line[1:-1]
            out[context] = []
        elif line.startswith("exten =>"):
            exten, _prio, app = line[len("exten =>") :].strip().split(",", 2)
            out[context].append((exten, app))
        elif line.startswith("same =>"):
            out[context].append(("same", line.split(",", 1)[1]))
    return out


def test_every_number_with_and_without_plus_goes_to_stasis(texts: dict[str, str]) -> None:
    """...unless the overloaded node's share to refuse (CCARI_SHED) turns it away first."""
    plan = dialplan(texts)["from-carrier"]
    for did, tenant in (("15550100", "acme"), ("33123456789", "globex")):
        for exten in (did, "+" + did):
            i = next(i for i, (e, _app) in enumerate(plan) if e == exten)
            assert plan[i][1] == (f"GotoIf($[${{RAND(1,1000)}} <= ${{CCARI_SHED}}]"
                                  f"?ccari-shed,{tenant},1)")
            assert plan[i + 1] == ("same", f"Stasis(ccari-unit,inbound,{did},{tenant})")


def test_fax_tones_come_back_to_stasis_only_from_the_detection(texts: dict[str, str]) -> None:
    """Asterisk's fax detection sends a voice call to ``fax`` with FAXEXTEN (the number) and
    ccari's CCARI_FAX_TENANT; a carrier call to the number "fax" has neither: unallocated."""
    plan = dialplan(texts)["from-carrier"]
    i = next(i for i, (e, _app) in enumerate(plan) if e == "fax")
    assert plan[i][1] == ('GotoIf($["${FAXEXTEN}" = "" | "${CCARI_FAX_TENANT}" = ""]'
                          '?refuse)')
    assert plan[i + 1] == ("same", "Stasis(ccari-unit,fax-detected,${FILTER(0-9,${FAXEXTEN})},"
                                   "${FILTER(0-9,${CCARI_FAX_TENANT})})")
    assert plan[i + 6] == ("same", "Hangup(1)")  # refuse


def test_carrier_trunks_take_t38(texts: dict[str, str]) -> None:
    endpoint = objects(texts["ccari-pjsip.conf"], "endpoint")["carrier"]
    assert endpoint["t38_udptl"] == ["yes"] and endpoint["t38_udptl_ec"] == ["redundancy"]


def test_a_shed_call_gets_its_tenants_fallback_before_stasis(texts: dict[str, str]) -> None:
    shed = dialplan(texts)["ccari-shed"]
    assert [app for _e, app in shed] == [
        'GotoIf($["${CCARI_ANNOUNCE_${EXTEN}}" = "1"]?ccari-overflow,announcement,1)',
        "Hangup(34)",  # 503
    ]


def test_fallback_follows_every_stasis(texts: dict[str, str]) -> None:
    plan = dialplan(texts)["from-carrier"]
    stasis = [i for i, (_e, app) in enumerate(plan) if app.startswith("Stasis(")]
    assert len(stasis) == 5  # two numbers, with and without '+', and fax tones found
    for i in stasis:
        after = [app for _e, app in plan[i + 1 : i + 5]]
        assert after[0].startswith('GotoIf($["${STASISSTATUS}" = "SUCCESS"]')
        assert after[1:] == ["Progress()", f"Playback({BUSY_SOUND},noanswer)", "Hangup(17)"]


def test_unknown_numbers_are_unallocated(texts: dict[str, str]) -> None:
    plan = dict((e, app) for e, app in dialplan(texts)["from-carrier"] if e != "same")
    assert plan["_X."] == "Hangup(1)" and plan["_+X."] == "Hangup(1)"


def test_phones_cannot_dial_out(texts: dict[str, str]) -> None:
    apps = [app for _e, app in dialplan(texts)["from-phones"]]
    assert apps and all(app.startswith("Hangup(") for app in apps)


def test_ari_and_ami_bound_to_loopback(texts: dict[str, str]) -> None:
    http = dict(sections(texts["http.conf"]))["general"]
    assert http["bindaddr"] == ["127.0.0.1"] and http["bindport"] == ["18088"]
    manager = dict(sections(texts["manager.conf"]))["general"]
    assert manager["bindaddr"] == ["127.0.0.1"] and manager["port"] == ["15038"]
    user = dict(sections(texts["ccari-manager.conf"]))["amiuser"]
    assert user["secret"] == ["ami-secret-456"]
    assert user["permit"] == ["127.0.0.1/255.255.255.255"]
    assert set(user["write"][0].split(",")) == {"system", "call", "originate", "command", "reporting"}
    ari = dict(sections(texts["ccari-ari.conf"]))["ariuser"]
    assert ari["password"] == ["ari-secret-123"] and ari["password_format"] == ["plain"]


def test_rtp_range_and_directories(texts: dict[str, str]) -> None:
    rtp = dict(sections(texts["rtp.conf"]))["general"]
    assert rtp == {"rtpstart": ["20000"], "rtpend": ["30000"]}
    dirs = dict(sections(texts["asterisk.conf"]))["directories"]
    assert dirs["astetcdir"] == ["/srv/ccari/unit/etc"]
    assert dirs["astrundir"] == ["/srv/ccari/unit/run"]


def test_modules_are_explicit_and_safe(texts: dict[str, str]) -> None:
    mods = dict(sections(texts["modules.conf"]))["modules"]
    assert mods["autoload"] == ["no"]
    loaded = set(mods["load"])
    assert {"chan_pjsip.so", "app_stasis.so", "codec_gsm.so", "format_gsm.so"} <= loaded
    assert not loaded & {"func_shell.so", "func_env.so", "app_system.so"}


def test_busy_sound_is_shipped() -> None:
    assert (project_root() / "sounds" / (BUSY_SOUND.split("/", 1)[1] + ".wav")).exists()


def test_external_mode_has_no_transport_and_only_fragments(tmp_path: Path) -> None:
    render(make_spec(), tmp_path, external=True)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert names == [
        "README.txt", "ccari-ari.conf", "ccari-manager.conf", "ccari-pjsip.conf",
        "dialplans/ccari.conf",
    ]  # fmt: skip
    assert "transport" not in (tmp_path / "ccari-pjsip.conf").read_text()
    assert '#include "' in (tmp_path / "README.txt").read_text()


def test_render_writes_only_changes_with_private_modes(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    first = render(make_spec(), etc, DIRS)
    assert len(first) > 10 and all(p.stat().st_mode & 0o077 == 0 for p in first)
    assert render(make_spec(), etc, DIRS) == []
    more = make_spec(numbers=(Number("15550999", "acme"),))
    assert render(more, etc, DIRS) == [etc / "dialplans" / "ccari.conf"]


@pytest.mark.parametrize(
    "changes",
    [
        {"numbers": (Number("+15550100", "acme"),)},
        {"numbers": (Number("15550100", "Acme,Inc"),)},
        {"numbers": (Number("15550100", "a"), Number("15550100", "b"))},
        {"phones": (Phone("alice", "pass;word1"),)},
        {"phones": (Phone("bad name", "password1"),)},
        {"phones": (Phone("carrier", "password1"),)},
        {"phones": (Phone("ccari-ws", "password1"),)},
        {"phones": (Phone("ccari-web", "password1"),)},
        {"phones": (Phone("alice", "password1", codecs=()),)},
        {"phones": (Phone("alice", "password1", codecs=("gsm\nallow=all",)),)},
        {"web_key": "bad key;"},
        {"phones": (Phone("web", "password1", "sip:web@127.0.0.1:5062", webrtc=True),)},
        {"trunks": (Trunk("carrier", ()),)},
        {"trunks": (Trunk("carrier", ("10.0.0.1\nmatch=0.0.0.0/0",)),)},
        {"ari_password": "short"},
        {"ports": Ports(sip=5060, ari=5060)},
        {"ports": Ports(rtp_start=5000, rtp_end=6000)},
        {"app_name": "app]\n[evil"},
    ],
)
def test_invalid_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        render_texts(make_spec(**changes), DIRS)


def test_spec_round_trips_through_json_dict() -> None:
    spec = make_spec()
    assert spec_from_dict(spec_to_dict(spec)) == spec
    with pytest.raises(SpecError):
        spec_from_dict({"instance": "x"})


def test_the_security_acl_is_included_and_its_events_readable(tmp_path: Path) -> None:
    texts = render_texts(make_spec(), DIRS)
    assert '#tryinclude "ccari-acl.conf"' in texts["ccari-pjsip.conf"].splitlines()
    assert "load = res_pjsip_acl.so" in texts["modules.conf"].splitlines()
    [(_, manager)] = [s for s in sections(texts["ccari-manager.conf"]) if s[0] == "amiuser"]
    assert "security" in manager["read"][0].split(",")
    render(make_spec(), tmp_path, external=True)  # an admin's Asterisk: an absolute path
    include = f'#tryinclude "{tmp_path.resolve()}/ccari-acl.conf"'
    assert include in (tmp_path / "ccari-pjsip.conf").read_text().splitlines()
