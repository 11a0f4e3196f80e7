"""What res_fax's report means for a fax (pure; tables), and which PDFs become fax pages."""

from __future__ import annotations

import io

import pypdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ccari.contacts.lifecycle import State
from ccari.fax.core import Outcome, Report, contact_state, outcome, reason, retry, station_id
from ccari.fax.render import pdf_to_tiff


@pytest.mark.parametrize(("fields", "expected"), [
    ({"status": "SUCCESS", "pages": "3", "error": "", "station": "ACME 1", "detail": "OK"},
     Report("SUCCESS", 3, "", "ACME 1", "OK")),
    # ReceiveFax never ran (the caller left before the answer): nothing is set.
    ({"status": "", "pages": "", "error": "", "station": "", "detail": ""},
     Report("", 0, "", "", "")),
    ({"eventname": "CcariFax"}, Report("", 0, "", "", "")),
    ({"status": "failed", "pages": "x1", "error": "HANGUP"}, Report("FAILED", 0, "HANGUP", "", "")),
    ({"status": "FAILED", "pages": "\u00b2"}, Report("FAILED", 0, "", "", "")),  # not an ASCII digit
    ({"status": "FAILED", "pages": "1", "station": " " + "S" * 80},
     Report("FAILED", 1, "", "S" * 64, "")),
    # How the pages came (FAXMODE); anything else is not told.
    ({"status": "SUCCESS", "pages": "1", "mode": "T38"}, Report("SUCCESS", 1, "", "", "", mode="t38")),
    ({"status": "SUCCESS", "pages": "1", "mode": "AUDIO"},
     Report("SUCCESS", 1, "", "", "", mode="audio")),
    ({"status": "SUCCESS", "pages": "1", "mode": "V34"}, Report("SUCCESS", 1, "", "", "")),
])
def test_the_user_event_fields_are_read_once(fields: dict[str, str], expected: Report) -> None:
    assert Report.parse(fields) == expected


@pytest.mark.parametrize(("did", "station"), [
    ("12015550109", "+12015550109"),
    ("+442079460000", "+442079460000"),
    ("1" * 32, "+" + "1" * 19),  # T.30 carries 20 characters
])
def test_ccari_answers_a_fax_as_the_number_it_was_dialled_on(did: str, station: str) -> None:
    assert station_id(did) == station


@pytest.mark.parametrize(("status", "pages", "error", "result", "state", "why"), [
    ("SUCCESS", 2, "", Outcome.RECEIVED, State.QUEUED, "unknown"),
    ("FAILED", 1, "HANGUP", Outcome.PARTIAL, State.QUEUED, "HANGUP"),  # stopped after page 1
    ("FAILED", 0, "HANGUP", Outcome.FAILED, State.FAILED, "HANGUP"),
    ("FAILED", 0, "", Outcome.FAILED, State.FAILED, "unknown"),
    ("", 0, "", Outcome.FAILED, State.FAILED, "no-fax"),
    ("SUCCESS", 0, "", Outcome.FAILED, State.FAILED, "unknown"),  # nothing to read: not a fax
])
def test_the_outcome_of_a_report(status: str, pages: int, error: str, result: Outcome,
                                 state: State, why: str) -> None:
    report = Report(status, pages, error, "", "")
    assert outcome(report) is result
    assert contact_state(outcome(report)) is state
    assert reason(report) == why


def test_a_lost_report_is_a_failed_fax_that_says_why() -> None:
    report = Report.lost("lost-while-away")
    assert (outcome(report), reason(report)) == (Outcome.FAILED, "lost-while-away")


@given(st.dictionaries(st.sampled_from(["status", "pages", "error", "station", "detail", "x"]),
                       st.text(max_size=300) | st.integers() | st.none()))
def test_any_event_parses_and_a_fax_with_pages_reaches_an_agent(fields: dict[str, object]) -> None:
    report = Report.parse(fields)
    assert report.pages >= 0 and len(report.station) <= 64 and len(report.detail) <= 200
    assert (contact_state(outcome(report)) is State.QUEUED) == (report.pages > 0)


def _pdf(width_pt: float, height_pt: float, pages: int = 1) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width_pt, height=height_pt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("width_pt", "height_pt", "pages", "ok"), [
    (595, 842, 1, True),  # A4
    (612, 792, 3, True),  # Letter, 3 pages
    (595, 842, 51, False),  # too many pages
    (595, 842 * 20, 1, False),  # a 230-inch roll
    (10, 842, 1, False),  # a sliver: would render enormous at fax width
])
def test_which_pdfs_become_fax_pages(width_pt: float, height_pt: float, pages: int, ok: bool) -> None:
    if not ok:
        with pytest.raises(ValueError):
            pdf_to_tiff(_pdf(width_pt, height_pt, pages))
        return
    tiff, count = pdf_to_tiff(_pdf(width_pt, height_pt, pages))
    assert count == pages
    with Image.open(io.BytesIO(tiff)) as image:
        assert (image.size[0], getattr(image, "n_frames", 1), image.mode) == (1728, pages, "1")


@pytest.mark.parametrize(("report", "retries_left", "again"), [
    (Report.lost("user-busy", 17), 2, True),
    (Report.lost("no-answer", 19), 1, True),
    (Report.lost("user-busy", 17), 0, False),  # that was the last
    (Report.lost("no-user-responding", 18), 1, True),
    (Report.lost("congestion", 34), 1, True),
    (Report.lost("unallocated", 1), 2, False),  # a wrong number stays wrong
    (Report.lost("call-rejected", 21), 2, False),
    (Report.lost("normal-clearing", 16), 2, False),  # answered: something else failed
    (Report.lost("lost-while-away"), 2, False),  # no cause known
    # A fax session ran (a machine or a person answered): not dialled again by itself.
    (Report("FAILED", 0, "NO_FAX", "", "", 17), 2, False),
    (Report("FAILED", 1, "HANGUP", "", "", 17), 2, False),
])
def test_which_failed_attempts_are_dialled_again_by_themselves(
        report: Report, retries_left: int, again: bool) -> None:
    assert retry(report, retries_left) is again
