"""The PJSIP ACL text of the blocked sources: only validated addresses reach the file."""

from __future__ import annotations

import pytest

from ccari.security import acl


def test_no_block_no_acl_section() -> None:
    assert "[" not in acl.render([])


def test_one_deny_line_per_address_sorted_and_deduplicated() -> None:
    text = acl.render(["192.0.2.9", "2001:db8::1", "127.0.0.5", "192.0.2.9"])
    assert text.splitlines()[1:] == [
        "[ccari-blocked]", "type = acl", "deny = 127.0.0.5/32", "deny = 192.0.2.9/32",
        "deny = 2001:db8::1/128",
    ]


@pytest.mark.parametrize("bad", ["127.0.0.5\n[x]", "0.0.0.0/0", "", "example.com"])
def test_anything_but_an_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        acl.render([bad])
