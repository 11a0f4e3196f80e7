"""A co-browse session whose customer is on one node and whose agent's mirror is on another
(real PostgreSQL)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import aiohttp
from sqlalchemy import func, select

from ccari.cobrowse.models import CobrowseFrame, CobrowseSession
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Agent, Tenant
from tests.cluster.conftest import Node, eventually_true
from tests.cobrowse.conftest import add_site, receive
from tests.cobrowse.test_cobrowse_http import SNAPSHOT, meta


def public_url(node: Node) -> str:
    return str(node.public.make_url("")).rstrip("/")


async def ids(node: Node, tenant: str, user: str) -> tuple[int, int]:
    async with node.rt.sessions() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == tenant))
        agent_id = await s.scalar(select(Agent.id).where(Agent.tenant_id == tenant_id,
                                                         Agent.username == user))
    assert tenant_id is not None and agent_id is not None
    return tenant_id, agent_id


async def connected_contact(node: Node, tenant: str, user: str) -> str:
    """A contact the agent handles (as if routed to her and accepted)."""
    tenant_id, agent_id = await ids(node, tenant, user)
    now = dt.datetime.now(dt.UTC)
    async with node.rt.sessions() as s:
        contact = await contacts_repo.create(s, tenant_id=tenant_id, medium="chat",
                                             state="connected", agent_id=agent_id,
                                             arrived_at=now, queued_at=now)
        await s.commit()
    return contact.id


@contextlib.asynccontextmanager
async def customer_on(node: Node, tenant: str = "acme"):  # type: ignore[no-untyped-def]
    tenant_id, _ = await ids(node, tenant, "alice" if tenant == "acme" else "carol")
    await add_site(node.rt, tenant_id, public_url(node))
    token = node.rt.tokens.issue(tenant_id)[0]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(node.public.make_url("/v1/cobrowse/ws").with_query(
            {"token": token}), headers={"Origin": public_url(node)}, max_msg_size=0)
        yield ws
        await ws.close()


async def page_on(node: Node, http: aiohttp.ClientSession, token: str,
                  session: str | None = None) -> aiohttp.ClientWebSocketResponse:
    """The customer's page sharing through ``node`` (``session``: the sharing it resumes)."""
    query = {"token": token, **({"session": session} if session else {})}
    return await http.ws_connect(node.public.make_url("/v1/cobrowse/ws").with_query(query),
                                 headers={"Origin": public_url(node)})


async def mirror(page: Any, contact_id: str) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await page.http.ws_connect(
        f"/agent/cobrowse/ws?contact={contact_id}", max_msg_size=0)
    return ws


async def link(agent: Any, customer: aiohttp.ClientWebSocketResponse,
               contact_id: str) -> dict[str, Any]:
    """The agent links the customer's sharing (the code her page shows) to the contact;
    the customer's page is told (across nodes when they differ).  Returns her hello."""
    hello = await receive(customer, "hello")
    await agent.ws.send_json({"type": "cobrowse.link", "contact_id": contact_id,
                              "code": hello["code"]})
    assert (await receive(agent.ws, "cobrowse.linked"))["contact_id"] == contact_id
    await receive(customer, "linked")
    return hello


async def until_status(view: aiohttp.ClientWebSocketResponse, **want: Any) -> dict[str, Any]:
    while True:
        status = await receive(view, "status")
        if all(status.get(k) == v for k, v in want.items()):
            return status


async def test_customer_on_one_node_agent_mirror_on_the_other(two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    alice = await b.agent("acme", "alice", ready=False)
    contact_id = await connected_contact(b, "acme", "alice")
    async with customer_on(a) as customer:
        await link(alice, customer, contact_id)  # said on b, delivered on a

        view = await mirror(alice, contact_id)
        await until_status(view, customer=True)  # told by the customer's node
        await receive(customer, "snapshot")  # the new mirror asks for a full snapshot

        # Batches in order, a large snapshot (well over a notification) among them, intact.
        page = f"{public_url(a)}/demo/acme/"
        big = {**SNAPSHOT, "data": {**SNAPSHOT["data"], "filler": "x" * 200_000}}
        sent = [{"type": "events", "events": [meta(page), big]}]
        sent += [{"type": "events", "events": [{"type": 3, "timestamp": 10 + i,
                                                "data": {"source": 1, "n": i}}]}
                 for i in range(20)]
        sent.insert(10, {"type": "events", "events": [{**big, "timestamp": 9}]})
        for batch in sent:
            await customer.send_json(batch)
        assert (await until_status(view, page={"url": page, "width": 1280, "height": 720}))
        got = [(await receive(view, "events"))["events"] for _ in sent]
        assert got == [batch["events"] for batch in sent]
        async with a.rt.sessions() as s:
            left = await s.scalar(select(func.count()).select_from(CobrowseFrame))
        assert left == 0  # read back by the only watching node, deleted

        # Guidance needs the customer's consent, told across; then it reaches her.
        await view.send_json({"type": "pointer", "x": 10, "y": 20})
        assert (await receive(view, "error"))["error"] == "cobrowse-no-consent"
        await customer.send_json({"type": "consent", "allow": True})
        assert (await receive(view, "consent"))["allow"] is True
        await view.send_json({"type": "pointer", "x": 10, "y": 20})
        assert await receive(customer, "pointer") == {"type": "pointer", "x": 10, "y": 20}
        await view.send_json({"type": "highlight", "node": 42})
        assert (await receive(customer, "highlight"))["node"] == 42
        await view.send_json({"type": "navigate", "url": "https://evil.test/"})
        assert (await receive(view, "error"))["error"] == "cobrowse-url-not-allowed"
        await view.send_json({"type": "navigate", "url": f"{page}page2"})
        assert (await receive(customer, "navigate"))["url"] == f"{page}page2"
        await customer.send_json({"type": "consent", "allow": False})
        await receive(view, "consent")
        await view.send_json({"type": "pointer", "x": 1, "y": 2})
        assert (await receive(view, "error"))["error"] == "cobrowse-no-consent"

        # The agent ends it on her node: the customer's page on the other is told.
        await view.send_json({"type": "end"})
        assert (await receive(customer, "ended"))["reason"] == "agent-ended"
        assert (await receive(alice.ws, "cobrowse.ended"))["contact_id"] == contact_id
        await eventually_true(lambda: a.rt.cobrowse is not None
                              and not a.rt.cobrowse.lives(), "the customer's node forgot it")
    async with b.rt.sessions() as s:
        row = await s.scalar(select(CobrowseSession))
    assert row is not None and (row.state, row.end_reason) == ("ended", "agent-ended")


async def test_the_customer_stopping_on_her_node_closes_the_mirror_on_the_other(
        two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    alice = await b.agent("acme", "alice", ready=False)
    contact_id = await connected_contact(b, "acme", "alice")
    async with customer_on(a) as customer:
        await link(alice, customer, contact_id)
        view = await mirror(alice, contact_id)
        await until_status(view, customer=True)
        await customer.send_json({"type": "stop"})
        assert (await receive(view, "ended"))["reason"] == "customer-stopped"
        assert (await receive(alice.ws, "cobrowse.ended"))["contact_id"] == contact_id


async def test_another_tenants_agent_on_the_other_node_cannot_watch(
        two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    alice = await b.agent("acme", "alice", ready=False)
    carol = await b.agent("globex", "carol", ready=False)
    contact_id = await connected_contact(b, "acme", "alice")
    async with customer_on(a) as customer:
        hello = await receive(customer, "hello")
        await carol.ws.send_json({"type": "cobrowse.link", "contact_id": contact_id,
                                  "code": hello["code"]})
        assert (await receive(carol.ws, "error"))["error"] == "contact-not-found"
        await alice.ws.send_json({"type": "cobrowse.link", "contact_id": contact_id,
                                  "code": hello["code"]})
        await receive(customer, "linked")
        resp = await carol.http.get(f"/agent/cobrowse/ws?contact={contact_id}")
        assert (resp.status, (await resp.json())["error"]) == (404, "contact-not-found")
        assert b.rt.cobrowse is not None
        live = b.rt.cobrowse.lives()
        assert all(not x.watchers for x in live)


async def shared_on_both(a: Node, b: Node) -> tuple[Any, str, str]:
    """alice's page on ``b`` with a call connected, acme's site allowed on both nodes'
    public sides: (her page, the contact's id, a customer token for the site)."""
    alice = await b.agent("acme", "alice", ready=False)
    contact_id = await connected_contact(b, "acme", "alice")
    tenant_id, _ = await ids(a, "acme", "alice")
    for node in (a, b):
        await add_site(node.rt, tenant_id, public_url(node))
    return alice, contact_id, a.rt.tokens.issue(tenant_id)[0]


async def test_a_customer_whose_page_comes_back_through_the_other_node_stays_mirrored(
        two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    alice, contact_id, token = await shared_on_both(a, b)

    batch = {"type": "events", "events": [{"type": 3, "timestamp": 1, "data": {"source": 1}}]}
    async with aiohttp.ClientSession() as http:
        customer = await page_on(a, http, token)
        hello = await link(alice, customer, contact_id)
        view = await mirror(alice, contact_id)
        await until_status(view, customer=True)
        await customer.close()
        assert (await receive(view, "customer"))["connected"] is False
        # The next page of the site, through the mirror's node, then back through the first.
        for node in (b, a):
            customer = await page_on(node, http, token, hello["session"])
            await receive(customer, "hello")
            assert (await receive(view, "customer"))["connected"] is True
            if node is a:  # her new home asks for a snapshot for the mirror on b
                await receive(customer, "snapshot")
            await customer.send_json(batch)
            assert (await receive(view, "events"))["events"] == batch["events"]
            await customer.close()
            assert (await receive(view, "customer"))["connected"] is False


async def test_the_same_sharing_opened_in_a_second_tab_on_the_other_node_replaces_the_first(
        two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    alice, contact_id, token = await shared_on_both(a, b)

    async with aiohttp.ClientSession() as http:
        first = await page_on(a, http, token)
        hello = await link(alice, first, contact_id)
        view = await mirror(alice, contact_id)
        await until_status(view, customer=True)
        # A second tab of her page opens the same sharing, through each node in turn: the
        # older tab is told it was replaced and closed, as two tabs on one node are; the
        # newest one shares, and the mirror shows what it sends.
        older = first
        for n, node in enumerate((b, a, a)):
            newer = await page_on(node, http, token, hello["session"])
            await receive(newer, "hello")
            assert (await receive(older, "ended"))["reason"] == "replaced"
            assert (await older.receive()).type in (aiohttp.WSMsgType.CLOSE,
                                                    aiohttp.WSMsgType.CLOSED)
            batch = {"type": "events",
                     "events": [{"type": 3, "timestamp": n + 1, "data": {"source": 1}}]}
            await newer.send_json(batch)
            assert (await receive(view, "events"))["events"] == batch["events"]
            assert not newer.closed
            older = newer
        await older.close()
