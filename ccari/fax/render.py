"""A PDF to send as fax pages: rendered by PDFium (pypdfium2), nothing drawn by hand.

Each page is rendered 1728 dots wide (the T.4 line of an A4/Letter fax), at standard
resolution (204 x 98 dpi), thresholded to black and white and written as one class F TIFF
(CCITT group 4), which ``SendFax()`` reads.  Blocking: call it from a thread.
"""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from PIL import Image

WIDTH = 1728  # dots per fax line
DPI_X, DPI_Y = 204, 98
MAX_PAGES = 50
# Page sizes in points: 3 to 17 inches wide, 1 to 24 inches long (a hostile PDF's 200-inch
# page would otherwise take gigabytes to render).
MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MAX_HEIGHT = 216, 1224, 72, 1728


def pdf_to_tiff(pdf: bytes) -> tuple[bytes, int]:
    """The TIFF and its page count; ``ValueError`` for what is not a PDF with 1 to 50 pages."""
    try:
        doc = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"not a PDF: {exc}") from exc
    try:
        if not 1 <= len(doc) <= MAX_PAGES:
            raise ValueError(f"a fax has 1 to {MAX_PAGES} pages, this PDF {len(doc)}")
        pages: list[Image.Image] = []
        for page in doc:
            width_pt, height_pt = page.get_size()
            if not (MIN_WIDTH <= width_pt <= MAX_WIDTH and MIN_HEIGHT <= height_pt <= MAX_HEIGHT):
                raise ValueError(f"a page of {width_pt:.0f} x {height_pt:.0f} pt is no fax page")
            scale = WIDTH / width_pt
            image = page.render(scale=scale, grayscale=True).to_pil()
            lines = max(1, round(height_pt / 72 * DPI_Y))
            image = image.convert("L").resize((WIDTH, lines))
            pages.append(image.point(lambda v: 255 if v > 160 else 0).convert("1"))
    finally:
        doc.close()
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:],
                  compression="group4", dpi=(DPI_X, DPI_Y))
    return out.getvalue(), len(pages)
