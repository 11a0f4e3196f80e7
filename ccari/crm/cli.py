"""``ccari admin customers``: a tenant's customers from the command line, through the same
service as the API and the admin pages (same checks, same audit log).

    ccari admin customers list TENANT [--q TEXT] [--limit N] [--offset N]
                        | import TENANT FILE.csv | export TENANT [FILE.csv] | delete TENANT ID

``export`` without a file writes the CSV to standard output; the others answer JSON.  An
import refused names every bad row on standard error (exit status 2) and imports nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ccari.crm.services import Customers


def add_parser(sub: Any) -> None:
    """``customers`` under ``ccari admin``'s sub-commands."""
    verbs = sub.add_parser("customers", help="the tenant's customers (the CRM record)"
                           ).add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("list")
    p.add_argument("tenant")
    p.add_argument("--q", default="", help="a part of a name, email or phone")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)
    p = verbs.add_parser("import", help="create or update a customer per row: all, or none")
    p.add_argument("tenant")
    p.add_argument("file", type=Path)
    p = verbs.add_parser("export", help="as CSV, to FILE or standard output")
    p.add_argument("tenant")
    p.add_argument("file", type=Path, nargs="?")
    p = verbs.add_parser("delete")
    p.add_argument("tenant")
    p.add_argument("id", type=int)


async def run(customers: Customers, ns: argparse.Namespace, actor: str, tenant_id: int) -> Any:
    """JSON-like for the CLI to print, or a ``str`` written as it is (the CSV)."""
    if ns.verb == "list":
        return await customers.search(tenant_id, ns.q, max(1, min(ns.limit, 1000)),
                                      max(0, ns.offset))
    if ns.verb == "import":
        return await customers.import_csv(actor, tenant_id,
                                          ns.file.read_text(encoding="utf-8-sig"))
    if ns.verb == "export":
        text = await customers.export(tenant_id)
        if ns.file is None:
            return text
        ns.file.write_text(text, encoding="utf-8", newline="")
        return {"exported": text.count("\r\n") - 1, "file": str(ns.file)}
    await customers.delete(actor, tenant_id, ns.id)
    return {"deleted": ns.id}
