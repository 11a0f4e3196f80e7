"""Wiring of the email context into the runtime (called once by ccari.app.runtime)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.email import http
from ccari.email.agent import AgentEmail
from ccari.email.intake import Intake
from ccari.email.outbound import Outbox, SmtpRelay
from ccari.email.services import EmailService

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
    if rt.offers is None:
        raise RuntimeError("the email context needs the page offers")
    smtp = rt.config.smtp
    outbox = Outbox(rt.sessions, SmtpRelay(smtp), rt.hub, node=rt.config.node)
    service = EmailService(rt.sessions, rt.queue, rt.hub, outbox, node=rt.config.node)
    agent = AgentEmail(rt.sessions, service, outbox, rt.hub)
    agent.register(rt.commands)
    rt.offers.register_medium("email", on_accepted=agent.on_accepted)
    rt.agent_scripts.append("/static/agent-email.js")
    rt.public_setups.append(http.public_setup(service, http.PublicLimits.default()))
    rt.internal_setups.append(http.internal_setup())
    # Mail saved before a restart (replies, acknowledgements) goes out from here on.
    outbox.start()
    stack.push_async_callback(outbox.close)
    if smtp.intake_port:
        intake = Intake(service, host=smtp.intake_host, port=smtp.intake_port)
        await intake.start()
        stack.push_async_callback(intake.close)
