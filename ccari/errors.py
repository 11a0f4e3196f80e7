"""One exception tree, mapped once at each boundary (HTTP: ``ccari.web.middlewares``)."""

from __future__ import annotations


class CcariError(Exception):
    """Base of every error ccari raises on purpose."""

    error_id = "internal-error"
    status = 500
    #: Something ccari depends on is away (a PBX, a mail relay, another node): said where it
    #: failed; an answer without a traceback, as for the database.
    outage = False

    def __init__(self, message: str = "", *, error_id: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.error_id)
        if error_id:
            self.error_id = error_id

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(CcariError):
    """The configuration is invalid."""

    error_id = "invalid-config"


class BadRequest(CcariError):
    """The request is malformed."""

    error_id = "bad-request"
    status = 400


class Invalid(CcariError):
    """The request names a value ccari cannot take."""

    error_id = "invalid-field"
    status = 422


class Unauthorized(CcariError):
    """Authentication is required."""

    error_id = "unauthorized"
    status = 401


class Forbidden(CcariError):
    """Not allowed for this caller."""

    error_id = "forbidden"
    status = 403


class NotFound(CcariError):
    """No such resource."""

    error_id = "not-found"
    status = 404


class Conflict(CcariError):
    """The resource is in a state that does not allow this."""

    error_id = "conflict"
    status = 409


class TooManyRequests(CcariError):
    """Rate limit reached."""

    error_id = "rate-limited"
    status = 429
