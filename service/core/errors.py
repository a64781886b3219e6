"""One error tree for the whole service; the API renders each as RFC 9457 problem+json.

`from_engine` is the one translation of the engine's errors into this tree, for the API and
the workers alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.engine.errors import (
    CheckpointMismatch,
    CorruptModel,
    EngineError,
    InputError,
    SpecError,
)

INTERNAL_DETAIL = "The server failed; report the request id if it keeps happening."


class NeuronalError(Exception):
    """Base of every error the service reports to a caller."""

    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class Internal(NeuronalError):
    """A bug of the server: the caller learns only that it happened, never its details."""

    def __init__(self, detail: str = INTERNAL_DETAIL) -> None:
        super().__init__(detail)


class HttpError(NeuronalError):
    """A status the web framework answered itself (an unknown route, a method not allowed)."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail, headers=headers)
        self.status, self.title, self.slug = status, title, f"http-{status}"


class InvalidInput(NeuronalError):
    status, title, slug = 422, "Unprocessable Content", "invalid-input"


class BadRequest(NeuronalError):
    status, title, slug = 400, "Bad Request", "bad-request"


class ClientDisconnected(BadRequest):
    slug = "client-disconnected"


class Unauthorized(NeuronalError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="neuronal"'})


class NotFound(NeuronalError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(NeuronalError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(NeuronalError):
    """An `If-Match` that no longer holds: someone else changed the resource first."""

    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class RequestTimeout(NeuronalError):
    status, title, slug = 408, "Request Timeout", "request-timeout"


class PayloadTooLarge(NeuronalError):
    status, title, slug = 413, "Content Too Large", "payload-too-large"


class UnsupportedMediaType(NeuronalError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class TooManyRequests(NeuronalError):
    status, title, slug = 429, "Too Many Requests", "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class HeadersTooLarge(NeuronalError):
    status, title, slug = 431, "Request Header Fields Too Large", "headers-too-large"


class ServiceUnavailable(NeuronalError):
    status, title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def from_engine(
    exc: EngineError, at: Sequence[str | int] = (), *, detail: str | None = None
) -> NeuronalError:
    """The service's error for an engine error: bad data or specs are invalid input located
    under `at` (say `["body", "inputs"]`), bytes that do not fit (a corrupt model, a foreign
    checkpoint) a conflict with what is stored. `detail` replaces the engine's message."""
    message = str(exc) if detail is None else detail
    if isinstance(exc, CorruptModel | CheckpointMismatch):
        return Conflict(message)
    loc: list[str | int] = list(at)
    if isinstance(exc, SpecError):
        loc.extend(_split_loc(exc.field))
    elif isinstance(exc, InputError):
        loc.extend(part for part in (exc.row, exc.feature) if part is not None)
    errors = [field_error(loc, message)] if loc else None
    return InvalidInput(message, errors=errors)


def field_error(loc: str | list[str | int], msg: str) -> dict[str, Any]:
    """One entry of a problem's `errors` list."""
    return {"loc": loc if isinstance(loc, list) else _split_loc(loc), "msg": msg}


def _split_loc(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.replace("]", "").split("."):
        name, *indexes = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes)
    return parts
