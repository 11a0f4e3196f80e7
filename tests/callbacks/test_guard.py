"""The toll-fraud guard, as tables: which numbers ccari may dial for a tenant, and why not."""

from __future__ import annotations

import pytest

from ccari.callbacks.guard import DialPolicy, InvalidNumber, NumberNotAllowed, check, parse, validate_entry

DEMO = DialPolicy.of(["+1", "+44"])  # the demo tenant: +1 and +44, fixed and mobile


@pytest.mark.parametrize(("raw", "e164", "region", "kind"), [
    ("+12015550199", "+12015550199", "US", "fixed-line-or-mobile"),
    ("+1 (201) 555-0199", "+12015550199", "US", "fixed-line-or-mobile"),
    ("0044 20 7946 0199", "+442079460199", "GB", "fixed-line"),
    ("+44 7400 123456", "+447400123456", "GB", "mobile"),
])
def test_valid_numbers_are_normalised_to_e164(raw: str, e164: str, region: str, kind: str) -> None:
    dest = check(raw, DEMO)
    assert (dest.e164, dest.region, dest.type, dest.digits) == (e164, region, kind, e164[1:])


@pytest.mark.parametrize("raw", [
    "",  # nothing
    "2015550199",  # national format: no country, no guess
    "+1555019",  # too short for NANP
    "+15550199",  # not a valid NANP number (the demo's old 8-digit form)
    "+1 800 FLOWERS",  # letters (phonenumbers would map them to digits)
    "+12015550199;ext=12",  # extensions
    "+12015550199 x12",
    "+1201555019912345678901",  # too long
    "sip:12015550199@evil.example",  # not a number at all
    "+44 20 7946 0199\n+1900",  # smuggled second number
])
def test_invalid_numbers_are_422(raw: str) -> None:
    with pytest.raises(InvalidNumber) as err:
        check(raw, DEMO)
    assert err.value.status == 422 and err.value.error_id == "invalid-number"


@pytest.mark.parametrize(("raw", "why"), [
    ("+19005550100", "premium-rate"),  # US premium rate (900)
    ("+449098790000", "premium-rate"),  # UK premium rate (09)
    ("+448712345678", "premium-rate"),  # UK 087x
    ("+448432345678", "shared-cost"),  # UK 084x... phonenumbers: premium/shared cost
    ("+447012345678", "personal-number"),  # UK 070 personal numbers (a classic IRSF trick)
    ("+18005550100", "toll-free"),  # harmless, but not someone to call back
    ("+18765550100", "+1876"),  # Jamaica: dialled like +1, billed international
    ("+18095550100", "+1809"),  # Dominican Republic
    ("+881612345678", "+881"),  # satellite (GMSS)
    ("+5372345678", "+53"),  # Cuba (IRSF)
    ("+33142685300", "FR"),  # valid, but France is not in this tenant's allow-list
])
def test_not_allowed_numbers_are_403_with_the_reason(raw: str, why: str) -> None:
    with pytest.raises(NumberNotAllowed) as err:
        check(raw, DEMO)
    assert err.value.status == 403 and err.value.error_id == "number-not-allowed"
    if why.startswith("+") or len(why) == 2:
        assert why in err.value.message
    else:
        assert err.value.message.startswith(parse(raw).type)


def test_high_risk_list_wins_over_the_allow_list() -> None:
    # Even a tenant that allows Jamaica by region or by prefix is not dialled there.
    for policy in (DialPolicy.of(["JM"]), DialPolicy.of(["+1876"])):
        with pytest.raises(NumberNotAllowed):
            check("+18765550100", policy)


@pytest.mark.parametrize(("allow", "deny", "raw", "ok"), [
    ([], [], "+12015550199", False),  # an empty allow-list allows nothing
    (["US"], [], "+12015550199", True),  # by region
    (["US"], [], "+442079460199", False),
    (["+1201"], [], "+12015550199", True),  # by prefix
    (["+1201"], [], "+12125550100", False),
    (["+1"], ["+1201"], "+12015550199", False),  # the tenant's own deny list
    (["+1"], ["+1201"], "+12125550100", True),
    (["GB"], [], "+447400123456", True),  # mobile
])
def test_allow_and_deny_lists(allow: list[str], deny: list[str], raw: str, ok: bool) -> None:
    policy = DialPolicy.of(allow, deny)
    if ok:
        assert check(raw, policy).e164 == parse(raw).e164
    else:
        with pytest.raises(NumberNotAllowed):
            check(raw, policy)


def test_a_tenant_may_widen_the_number_types() -> None:
    policy = DialPolicy.of(["+1"], types=["fixed-line-or-mobile", "toll-free"])
    assert check("+18005550100", policy).type == "toll-free"
    with pytest.raises(ValueError, match="unknown number types"):
        DialPolicy.of(["+1"], types=["cheap"])


@pytest.mark.parametrize(("entry", "stored"), [("gb", "GB"), ("+44", "+44"), (" +1201 ", "+1201")])
def test_entries_are_validated(entry: str, stored: str) -> None:
    assert validate_entry(entry) == stored


@pytest.mark.parametrize("entry", ["+", "+0", "44", "GBR", "+44a", "*"])
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        validate_entry(entry)
