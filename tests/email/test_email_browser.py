"""The email pane in Chromium: an agent reads a hostile mail as text and replies from the page;
the reply reaches the relay (an aiosmtpd sink)."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from ccari.app import internal_app
from tests.email.conftest import Env, mail, smtp_send
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_agent_reads_the_thread_and_replies_from_the_page(env: Env, db_url: str) -> None:
    async with listening(internal_app(env.rt)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            dialogs: list[Any] = []
            page.on("dialog", lambda d: dialogs.append(d))
            await agent_login(page, base, "bob", env.secrets["acme.bob.web"])

            hostile = '<img src=x onerror="alert(1)"> my router <b>blinks</b>'
            raw = mail("Ada Lovelace <ada@example.com>", "support@acme.example",
                       "Router <script>x</script>", hostile, message_id="<b1@customer.test>")
            msg = email.message_from_bytes(raw, policy=policy.SMTP)
            assert isinstance(msg, EmailMessage)
            file_name = "<img src=x onerror=alert(3)>$(id);`id`.pdf"
            msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                               filename=file_name)
            await smtp_send(env.port, msg.as_bytes(policy=policy.SMTP))
            item = ".work-item[data-medium=email]"
            await page.wait_for_selector(f"{item} .email-thread .email-body")
            assert (await page.text_content(f"{item} .email-body") or "").strip() == hostile
            assert await page.text_content(f"{item} .email-attachments") == \
                f"attachments: {file_name}"
            assert await page.locator(f"{item} .email-thread img").count() == 0
            assert await page.is_hidden(f"{item} .email-reply")  # offered: accept first
            await page.click(f"{item} .accept")
            await page.wait_for_selector(f"{item}[data-status=connected]")
            await page.fill(f"{item} .email-reply textarea", "Hello Ada,\nplease restart it.")
            await page.click(f"{item} .email-send")
            await page.wait_for_selector(f"{item} .email-note:text('sent')")
            reply = await env.sink.wait_for(lambda m: "please restart it." in m.body, what="the reply")
            assert reply["In-Reply-To"] == "<b1@customer.test>"
            assert reply["Subject"] == "Re: Router <script>x</script>"
            statuses = await page.locator(f"{item} .email-out .email-status").all_text_contents()
            assert [s.strip() for s in statuses][-1] == "sent"
            await page.click(f"{item} .complete")
            await page.wait_for_selector(item, state="detached")
            assert dialogs == []
