"""Hostile mail through the real SMTP intake (smtplib): subjects, bodies, sender names and
attachment file names carrying script, SQL, dialplan and shell metacharacters (and encoded
line breaks) are kept as the text they are, one contact each, nothing executed, no header
added to a reply."""

from __future__ import annotations

import email.header
import email.message
import email.utils
from email import policy
from typing import Any

import pytest
from sqlalchemy import func, select

from ccari.email.headers import reply_subject
from ccari.email.models import EmailMessage
from ccari.storage.models import Agent, Contact
from tests.email.conftest import Env, smtp_send

HOSTILE = [
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "'; DROP TABLE contacts;-- \" OR 1=1 --",
    "${SHELL} ${CALLERID(num)} ,1,Dial(PJSIP/evil) | ) &",
    "$(rm -rf /) `id` ; cat /etc/passwd > /tmp/x && echo",
    "../../../etc/passwd\\..\\..\\boot.ini",
    "%s%s%n {0.__class__} {{7*7}}",
]


def _hostile_mail(n: int, text: str) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = email.utils.formataddr((text[:60], "ada@example.com"))
    msg["To"] = "support@acme.example"
    msg["Subject"] = text  # long or odd: encoded words (RFC 2047) by the client
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = f"<hostile{n}@customer.test>"
    msg.set_content(f"body: {text}\n")
    msg.add_attachment(text.encode(), maintype="application", subtype="octet-stream",
                       filename=f"{text}.pdf")
    return msg.as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_hostile_mail_is_kept_as_text(env: Env, sessions: Any) -> None:
    for n, text in enumerate(HOSTILE):
        replies = await smtp_send(env.port, _hostile_mail(n, text))
        assert replies.data is not None and replies.data[0] == 250, replies
    async with sessions() as s:
        rows = {m.message_id: m for m in await s.scalars(select(EmailMessage))}
        contacts = await s.scalar(select(func.count()).select_from(Contact)
                                  .where(Contact.medium == "email"))
        agents = await s.scalar(select(func.count()).select_from(Agent))
    assert contacts == len(HOSTILE) and agents  # no statement ran: every table is there
    for n, text in enumerate(HOSTILE):
        row = rows[f"<hostile{n}@customer.test>"]
        assert row.subject == text
        assert row.body.strip() == f"body: {text}"
        assert [a["filename"] for a in row.attachments] == [f"{text}.pdf"]


@pytest.mark.parametrize("subject", [
    "hi\r\nBcc: evil@example.com", "hi\nX-Injected: 1", "hi\r\n\r\n<html>body</html>",
    str(email.header.make_header(email.header.decode_header("=?utf-8?q?hi=0D=0ABcc=3A_evil?=")))])
def test_a_reply_subject_is_one_header_line(subject: str) -> None:
    reply = reply_subject(subject)  # the stored (decoded) subject of the customer's mail
    msg = email.message.EmailMessage()
    msg["Subject"] = reply  # the policy would refuse a value with a line break
    again = email.message_from_string(msg.as_string(), policy=policy.default)
    assert list(again.keys()) == ["Subject"] and again["Subject"] == reply
    assert reply.startswith("Re: hi ")
