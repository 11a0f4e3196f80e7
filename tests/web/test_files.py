"""Served file names: plain ASCII whatever the name was made of."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.web.files import disposition


@pytest.mark.parametrize(("name", "header"), [
    ("fax-0123abcd.pdf", 'inline; filename="fax-0123abcd.pdf"'),
    ('x"; filename="evil.exe', 'inline; filename="x___filename__evil.exe"'),
    ("a\r\nSet-Cookie: s=1.wav", 'inline; filename="a__Set-Cookie__s_1.wav"'),
    ("../../etc/passwd", 'inline; filename="_.._etc_passwd"'),
    ("<script>x</script>.wav", 'inline; filename="_script_x__script_.wav"'),
    ("${SHELL}$(id)`id`|&,).csv", 'inline; filename="__SHELL___id__id_____.csv"'),
    ("façade.pdf", 'inline; filename="fa_ade.pdf"'),
    ("...", 'inline; filename="download"'),
])
def test_hostile_names_become_plain(name: str, header: str) -> None:
    assert disposition("inline", name) == header


@given(st.text())
def test_a_name_is_one_plain_token(name: str) -> None:
    header = disposition("attachment", name)
    filename = header.removeprefix('attachment; filename="').removesuffix('"')
    assert filename and not filename.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in filename)
