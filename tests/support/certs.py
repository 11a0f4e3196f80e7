"""A self-signed certificate for 127.0.0.1, made by the ``openssl`` CLI for one test."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SelfSigned:
    cert: Path  # PEM, also the trust anchor a client loads
    key: Path  # PEM, unencrypted


def self_signed(where: Path, name: str = "ccari") -> SelfSigned:
    """A P-256 certificate valid one day for IP 127.0.0.1 and localhost."""
    where.mkdir(parents=True, exist_ok=True)
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30)
    return SelfSigned(cert, key)
