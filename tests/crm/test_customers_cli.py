"""``ccari admin customers``: import, list, export and delete from the command line, audited
as the unix user; an import refused names its rows and imports nothing."""

from __future__ import annotations

import csv
import getpass
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ccari.crm.services import ImportRefused
from ccari.demo.seed import seed
from ccari.provisioning.cli import main
from ccari.provisioning.models import AuditEntry

CSV = ("name,email,phones,entitlements\n"
       "Linus,linus@example.com,+33 1 42 68 53 00;+4930123456,support:gold\n"
       "Grace,grace@example.com,,\n")


async def admin(cfg: Any, capsys: Any, *argv: str) -> str:
    assert await main(cfg, ["--no-sync", *argv]) == 0
    out: str = capsys.readouterr().out
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_customers_from_the_command_line(cfg: Any, sessions: Any, capsys: Any,
                                               tmp_path: Path) -> None:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
    src = tmp_path / "in.csv"
    src.write_text(CSV)
    assert json.loads(await admin(cfg, capsys, "customers", "import", "globex", str(src))) == {
        "created": 2, "updated": 0, "unchanged": 0}
    listed = json.loads(await admin(cfg, capsys, "customers", "list", "globex", "--q", "4930"))
    assert [(c["name"], c["phones"]) for c in listed["customers"]] == [
        ("Linus", ["33142685300", "4930123456"])]
    shown = await admin(cfg, capsys, "customers", "export", "globex")
    assert list(csv.reader(io.StringIO(shown))) == [
        ["name", "email", "phones", "entitlements"], ["Grace", "grace@example.com", "", ""],
        ["Linus", "linus@example.com", "'+33142685300;+4930123456", "support:gold"]]
    out = tmp_path / "out.csv"
    assert json.loads(await admin(cfg, capsys, "customers", "export", "globex", str(out))) == {
        "exported": 2, "file": str(out)}
    assert out.read_bytes().decode() == shown
    linus = listed["customers"][0]["id"]
    assert json.loads(await admin(cfg, capsys, "customers", "delete", "globex", str(linus))) == {
        "deleted": linus}
    src.write_text("name,email,phones,entitlements\nOk,,,\nBad,,not-a-phone,\n")
    with pytest.raises(ImportRefused) as refused:
        await main(cfg, ["--no-sync", "customers", "import", "globex", str(src)])
    assert [(e.row, e.error) for e in refused.value.errors] == [(3, "bad-phone")]
    left = json.loads(await admin(cfg, capsys, "customers", "list", "globex"))
    assert [c["name"] for c in left["customers"]] == ["Grace"]
    async with sessions() as s:
        audit = list(await s.scalars(select(AuditEntry).where(AuditEntry.kind == "customer")
                                     .order_by(AuditEntry.id)))
    # (the demo's own customer first: the seed goes through the same model)
    assert [(e.action, e.actor) for e in audit] == [("create", "demo")] + [
        ("create", f"cli:{getpass.getuser()}")] * 2 + [("delete", f"cli:{getpass.getuser()}")]
