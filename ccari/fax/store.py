"""Received faxes on disk: the TIFF Asterisk wrote, kept under the state directory with its
checksum, and its PDF (converted by img2pdf, which embeds the TIFF's CCITT pages as they are
or re-encodes them losslessly through Pillow: nothing is drawn by hand).

Files are ``<root>/<tenant id>/<fax id>.tif`` and ``.pdf``, written to a temporary name,
flushed to disk and renamed, so a crash leaves either the whole file or none.  Blocking
work: call these from a thread (the service does).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import img2pdf
from PIL import Image

from ccari.storage.files import write_durably


@dataclass(frozen=True)
class Stored:
    tiff_sha256: str
    pdf_sha256: str


def count_pages(tiff: bytes) -> int:
    """Pages a TIFF holds (0 if none can be read): what came when no report did."""
    try:
        with Image.open(io.BytesIO(tiff)) as image:
            return int(getattr(image, "n_frames", 1))
    except Exception:  # Pillow raises several kinds on a truncated or empty file
        return 0


class FaxStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, tenant_id: int, fax_id: str, suffix: str) -> Path:
        return self.root / str(tenant_id) / f"{fax_id}.{suffix}"

    def keep(self, tenant_id: int, fax_id: str, tiff: bytes) -> Stored:
        """Store the TIFF, then its PDF; raises ``ValueError`` for a TIFF no page reads from."""
        try:
            pdf = img2pdf.convert(tiff, rotation=img2pdf.Rotation.ifvalid)
        except Exception as exc:  # img2pdf raises its own errors and Pillow's
            raise ValueError(f"the fax's TIFF does not convert: {exc}") from exc
        assert isinstance(pdf, bytes)
        write_durably(self.path(tenant_id, fax_id, "tif"), tiff)
        write_durably(self.path(tenant_id, fax_id, "pdf"), pdf)
        return Stored(hashlib.sha256(tiff).hexdigest(), hashlib.sha256(pdf).hexdigest())

    def keep_outbound(self, tenant_id: int, send_id: str, pdf: bytes) -> str:
        """A document to send, as the tenant gave it; its checksum."""
        write_durably(self.path(tenant_id, f"out-{send_id}", "pdf"), pdf)
        return hashlib.sha256(pdf).hexdigest()

    def pdf(self, tenant_id: int, fax_id: str) -> bytes | None:
        try:
            return self.path(tenant_id, fax_id, "pdf").read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, tenant_id: int, fax_id: str) -> None:
        for suffix in ("tif", "pdf"):
            with contextlib.suppress(FileNotFoundError):
                self.path(tenant_id, fax_id, suffix).unlink()
