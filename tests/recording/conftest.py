"""The recording API tests use the provisioning tests' seeded runtime (no PBX: the stored
recordings are made up; the real PBX proof is tests/voice/test_recording_pbx.py)."""

from __future__ import annotations

from tests.provisioning.conftest import client, rt

__all__ = ["client", "rt"]
