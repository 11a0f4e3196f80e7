"""The exception tree of the PBX package. Every message says what to do next."""

from __future__ import annotations


class PbxError(Exception):
    """Base of every error raised by ``ccari.pbx``."""


class SpecError(PbxError):
    """The PbxSpec holds a value that cannot be written into an Asterisk config file."""


class RenderError(PbxError):
    """The templates could not be found or rendered."""


class ProvisionError(PbxError):
    """Asterisk could not be installed (debootstrap/apt failed, no network, not root...)."""


class NotProvisionedError(ProvisionError):
    """Asterisk is not installed yet: run ``python -m ccari.pbx provision``."""


class StartError(PbxError):
    """Asterisk did not start or did not become ready in time; the message has the log tail."""


class NotRunningError(PbxError):
    """The instance is not running (no control socket answers)."""


class CommandError(PbxError):
    """A CLI command sent to Asterisk (``asterisk -rx``) failed or timed out."""


class StopError(PbxError):
    """Asterisk did not exit, even after SIGKILL."""
