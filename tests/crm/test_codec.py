"""The customer model and its CSV form, pure: table tests of what is refused, and the
round trip (export then import gives the same customers) as a property."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.crm import csvcodec, schemas
from ccari.crm.schemas import CustomerSpec, Invalid

HEADER = "name,email,phones,entitlements\r\n"


@pytest.mark.parametrize(("body", "error_id"), [
    ({"name": ""}, "bad-name"),
    ({"name": "   "}, "bad-name"),
    ({"name": "a\nb"}, "bad-name"),
    ({"name": "x" * 201}, "bad-name"),
    ({"name": "Ada", "email": "ada@"}, "bad-email"),
    ({"name": "Ada", "email": "ada example.com"}, "bad-email"),
    ({"name": "Ada", "email": 7}, "bad-email"),
    ({"name": "Ada", "phones": ["12"]}, "bad-phone"),
    ({"name": "Ada", "phones": ["call me"]}, "bad-phone"),
    ({"name": "Ada", "phones": "+14155550100"}, "bad-phone"),
    ({"name": "Ada", "entitlements": [{"service": "tv"}]}, "bad-entitlement"),
    ({"name": "Ada", "entitlements": [{"service": "tv:x", "level": "gold"}]}, "bad-entitlement"),
    ({"name": "Ada", "entitlements": [{"service": "tv", "level": "a;b"}]}, "bad-entitlement"),
    ({"name": "Ada", "vip": True}, "unknown-field"),
    (["Ada"], "bad-json"),
])
def test_what_a_customer_cannot_be(body: object, error_id: str) -> None:
    with pytest.raises(Invalid) as caught:
        schemas.customer(body)
    assert caught.value.error_id == error_id and caught.value.status == 422


@pytest.mark.parametrize(("raw", "e164"), [
    ("+44 1632 960001", "441632960001"),
    ("+1 (415) 555-0100", "14155550100"),
    ("14155550100", "14155550100"),  # digits with the country code, as caller IDs come
    ("(415) 555-0100", "14155550100"),  # no country code: the default region (US)
])
def test_phones_are_stored_as_the_screen_pop_looks_them_up(raw: str, e164: str) -> None:
    spec = schemas.customer({"name": "Ada", "phones": [raw, raw]})
    assert spec.phones == (e164,)  # normalised once, duplicates dropped


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+441632960001", "'+441632960001"),
    ("-1", "'-1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("'=already", "''=already"),
    ("'plain", "'plain"),
    ("Ada", "Ada"),
])
def test_a_cell_a_spreadsheet_would_run_is_quoted_and_read_back(cell: str, written: str) -> None:
    assert csvcodec.guard(cell) == written
    assert csvcodec.unguard(written) == cell


def test_the_export_is_the_documented_csv() -> None:
    text = csvcodec.encode([
        CustomerSpec("=cmd|' /C calc'!A0", "ada@example.com", ("441632960001", "14155550100"),
                     (("broadband", "gold"), ("tv", "basic"))),
        CustomerSpec('Lovelace, "Ada"', None, (), ()),
    ])
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "email", "phones", "entitlements"],
        ["'=cmd|' /C calc'!A0", "ada@example.com", "'+441632960001;+14155550100",
         "broadband:gold;tv:basic"],
        ['Lovelace, "Ada"', "", "", ""],
    ]


def test_every_bad_row_is_named_with_its_reason() -> None:
    text = HEADER + (
        "Ada,ada@example.com,+441632960001,tv:gold\r\n"
        "Bob,bob@,+14155550100,\r\n"        # row 3
        ",,,\r\n"                             # blank: skipped
        "Cy,,+4416 3296 0001,\r\n"           # row 5: Ada's phone again
        "Di,,12,\r\n"                         # row 6
        "Ed,,,tv\r\n"                         # row 7
        "Fay,,\r\n")                          # row 8
    rows, errors = csvcodec.decode(text)
    assert [n for n, _ in rows] == [2]
    assert [(e.row, e.error) for e in errors] == [
        (3, "bad-email"), (5, "duplicate-row"), (6, "bad-phone"), (7, "bad-entitlement"),
        (8, "bad-row")]


@pytest.mark.parametrize("text", ["", "name,phones\r\nAda,+441632960001\r\n",
                                  "nom,courriel,téléphones,droits\r\n"])
def test_a_file_without_the_header_is_refused_at_row_1(text: str) -> None:
    rows, errors = csvcodec.decode(text)
    assert rows == [] and [(e.row, e.error) for e in errors] == [(1, "bad-header")]


def test_a_byte_order_mark_and_header_case_are_accepted() -> None:
    rows, errors = csvcodec.decode("\ufeffName,Email,Phones,Entitlements\nAda,,,\n")
    assert errors == [] and rows == [(2, CustomerSpec("Ada"))]


_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
_name = _text.map(str.strip).filter(bool)
_word = _text.map(str.strip).filter(lambda s: bool(s) and not set(s) & set(":;"))
_phone = st.sampled_from(["14155550100", "441632960001", "33142685300", "4930123456",
                          "12025550143", "61291234567"])
_email = st.one_of(st.none(), st.from_regex(r"[a-z0-9=+@'.-]{1,10}@[a-z]{1,8}\.[a-z]{2,4}",
                                            fullmatch=True).filter(schemas.EMAIL.fullmatch))


@st.composite
def _customers(draw: st.DrawFn) -> list[CustomerSpec]:
    phones = iter(draw(st.permutations(["14155550100", "441632960001", "33142685300",
                                        "4930123456", "12025550143", "61291234567"])))
    out, emails = [], set()
    for _ in range(draw(st.integers(0, 3))):
        email = draw(_email)
        if email is not None and email.lower() in emails:
            email = None
        if email:
            emails.add(email.lower())
        own = tuple(next(phones) for _ in range(draw(st.integers(0, 2))))
        out.append(CustomerSpec(draw(_name), email, own,
                                tuple(draw(st.lists(st.tuples(_word, _word), max_size=3)))))
    return out


@given(_customers())
def test_export_then_import_gives_the_same_customers(customers: list[CustomerSpec]) -> None:
    rows, errors = csvcodec.decode(csvcodec.encode(customers))
    assert errors == []
    assert [spec for _, spec in rows] == customers
