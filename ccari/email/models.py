"""Tables of the email context (imported by ccari.storage.all_models for Alembic)."""

from __future__ import annotations

from ccari.storage.models import Base

__all__ = ["Base"]
