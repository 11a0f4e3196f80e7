"""The relay's SIP filter, request by request (pure: frames in, verdicts out)."""

from __future__ import annotations

import pytest

from ccari.talk.sip import CONTEXT_HEADER, ERROR_HEADER, KEY_HEADER, Dialog, check

ME = "web-0123456789abcdef01234567"


def request(method: str, uri: str = "sip:talk@ccari.invalid", *, sender: str = ME,
            to_tag: bool = False, call_id: str = "c1", extra: tuple[str, ...] = ()) -> str:
    to = "<sip:talk@ccari.invalid>" + (";tag=as1" if to_tag else "")
    return "\r\n".join([
        f"{method} {uri} SIP/2.0", "Via: SIP/2.0/WSS h.invalid;branch=z9hG4bK1",
        f"From: <sip:{sender}@ccari.invalid>;tag=p1", f"To: {to}", f"Call-ID: {call_id}",
        f"CSeq: 1 {method}", *extra, "Content-Length: 0"]) + "\r\n\r\n"


def dialog() -> Dialog:
    return Dialog(ME, key="k" * 40, context="signed-context")


@pytest.mark.parametrize(("frame", "error"), [
    (request("REGISTER", "sip:ccari.invalid"), "method-not-allowed"),
    (request("MESSAGE"), "method-not-allowed"),
    (request("SUBSCRIBE"), "method-not-allowed"),
    (request("REFER", to_tag=True), "method-not-allowed"),
    (request("INVITE", "sip:acme-alice@ccari.invalid"), "destination-not-allowed"),
    (request("INVITE", "sip:15550100@ccari.invalid"), "destination-not-allowed"),
    (request("OPTIONS", "sip:acme-bob@127.0.0.1"), "destination-not-allowed"),
    (request("INVITE", sender="acme-alice"), "identity-not-allowed"),
    (request("INVITE", sender="web-somebody-else"), "identity-not-allowed"),
    (request("INVITE", extra=('Authorization: Digest username="acme-alice"',)), "no-credentials"),
    (request("BYE", to_tag=True, call_id="someone-elses-call"), "unknown-dialog"),
    (request("CANCEL", call_id="never-invited"), "unknown-dialog"),
    ("garbage\r\nContent-Length: 0\r\n\r\n", "bad-request"),
    # One frame, one message: nothing may ride behind a checked one (Asterisk would parse it).
    (request("INVITE") + request("REGISTER", "sip:ccari.invalid"), "bad-framing"),
    (request("INVITE").replace("Content-Length: 0", "Content-Length: 3") + "v=0\r\n", "bad-framing"),
    (request("INVITE").replace("Content-Length: 0\r\n", ""), "bad-framing"),
    (request("INVITE").rstrip("\r\n"), "bad-framing"),
])
def test_what_the_page_may_not_send_is_answered_403_and_never_relayed(frame: str, error: str) -> None:
    d = dialog()
    verdict = check(frame, d)
    assert verdict.forward is None and verdict.error == error
    assert verdict.reply is not None and verdict.reply.startswith("SIP/2.0 403 Forbidden\r\n")
    assert f"\r\n{ERROR_HEADER}: {error}\r\n" in verdict.reply
    if "Call-ID" in frame:
        assert "Call-ID: " in verdict.reply and ";tag=" in verdict.reply.split("To: ")[1]


def test_one_call_goes_through_marked_and_its_dialog_continues() -> None:
    d = dialog()
    spoof = (f"{KEY_HEADER}: guessed", f"{CONTEXT_HEADER}: forged")
    verdict = check(request("INVITE", extra=spoof), d)
    assert verdict.reply is None and verdict.forward is not None
    head = verdict.forward.split("\r\n")
    assert head[0] == "INVITE sip:talk@ccari.invalid SIP/2.0"
    # ccari's key and context, the page's own X-Ccari headers dropped.
    assert f"{KEY_HEADER}: {'k' * 40}" in head and f"{CONTEXT_HEADER}: signed-context" in head
    assert "guessed" not in verdict.forward and "forged" not in verdict.forward
    assert d.call_id == "c1"
    # The same call goes on: ACK, in-dialog OPTIONS, BYE, CANCEL of the INVITE.
    for frame in (request("ACK", to_tag=True), request("OPTIONS", to_tag=True),
                  request("BYE", to_tag=True), request("CANCEL")):
        v = check(frame, d)
        assert v.forward is not None and v.error is None, frame
    # Responses to Asterisk's requests pass as they are, one message each.
    response = "SIP/2.0 200 OK\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n"
    assert check(response, d).forward == response
    smuggled = check(response + request("REGISTER", "sip:ccari.invalid"), d)
    assert smuggled.error == "bad-framing" and smuggled.forward is smuggled.reply is None
    sdp = "v=0\r\no=- 1 1 IN IP4 h.invalid\r\n"
    with_body = request("OPTIONS", to_tag=True).replace(
        "Content-Length: 0", f"Content-Length: {len(sdp)}") + sdp
    assert check(with_body, d).forward == with_body
    # A second call on the same ticket is refused; an ACK is never answered.
    second = check(request("INVITE", call_id="c2"), d)
    assert second.error == "one-call-per-ticket" and second.reply is not None
    ack = check(request("ACK", to_tag=True, call_id="c2"), d)
    assert ack.error == "unknown-dialog" and ack.reply is None and ack.forward is None


def test_compact_header_forms_are_checked_like_long_ones() -> None:
    frame = "\r\n".join([
        "INVITE sip:talk@ccari.invalid SIP/2.0", "v: SIP/2.0/WSS h.invalid;branch=z9hG4bK1",
        "f: <sip:acme-alice@ccari.invalid>;tag=p1", "t: <sip:talk@ccari.invalid>",
        "i: c9", "CSeq: 1 INVITE", "l: 0"]) + "\r\n\r\n"
    assert check(frame, dialog()).error == "identity-not-allowed"


def sdp(*media: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                        "t=0 0", *media]) + "\r\n"


def with_sdp(method: str, body: str, *, to_tag: bool = True) -> str:
    frame = request(method, to_tag=to_tag, extra=("Content-Type: application/sdp",))
    head = frame.replace("Content-Length: 0", f"Content-Length: {len(body.encode())}")
    return head + body


AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111"
VIDEO = "m=video 9 UDP/TLS/RTP/SAVPF 96"
NO_VIDEO = "m=video 0 UDP/TLS/RTP/SAVPF 96"


@pytest.mark.parametrize(("video_call", "reinvites", "switched"), [
    # A video call's page drops its video stream (port 0): audio only, reported once.
    (True, [sdp(AUDIO, NO_VIDEO)], [True]),
    (True, [sdp(AUDIO, NO_VIDEO), sdp(AUDIO, NO_VIDEO)], [True, False]),
    (True, [sdp(AUDIO)], [True]),  # or leaves it out
    (True, [sdp(AUDIO, VIDEO)], [False]),  # a re-INVITE that keeps the video
    (True, [sdp(AUDIO, VIDEO), sdp(AUDIO, NO_VIDEO)], [False, True]),
    (True, [sdp(AUDIO, VIDEO, NO_VIDEO)], [False]),  # one video stream still flows
    (True, [""], [False]),  # an offerless re-INVITE says nothing about the media
    (False, [sdp(AUDIO)], [False]),  # a voice call has no video to give up
])
def test_the_reinvite_that_drops_a_video_calls_video_is_marked_audio_only(
        video_call: bool, reinvites: list[str], switched: list[bool]) -> None:
    d = Dialog(ME, key="k" * 40, context="signed-context", video=video_call)
    assert not check(with_sdp("INVITE", sdp(AUDIO, VIDEO), to_tag=False), d).audio_only
    seen = []
    for body in reinvites:
        verdict = check(with_sdp("INVITE", body), d)
        assert verdict.forward is not None and verdict.error is None  # relayed as it is
        seen.append(verdict.audio_only)
    assert seen == switched
    assert d.audio_only is any(switched)
