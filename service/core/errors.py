"""One error tree for the whole service; the API renders each as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any


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


class InvalidInput(NeuronalError):
    status, title, slug = 422, "Unprocessable Content", "invalid-input"


class BadRequest(NeuronalError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(NeuronalError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="neuronal"'})


class NotFound(NeuronalError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(NeuronalError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(NeuronalError):
    status, title, slug = 413, "Content Too Large", "payload-too-large"


class UnsupportedMediaType(NeuronalError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class TooManyRequests(NeuronalError):
    status, title, slug = 429, "Too Many Requests", "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(NeuronalError):
    status, title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


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
