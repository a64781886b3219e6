"""The client's errors: every error answer, and a server that cannot be reached, is an
`ApiError` carrying the problem+json."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An error answer from the service, or (with status 0) a failure to reach it."""

    def __init__(
        self,
        status: int,
        problem: dict[str, Any],
        *,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        self.status = status
        self.problem = problem
        self.detail: str = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.request_id = request_id or problem.get("request_id")
        self.headers = headers or httpx.Headers()
        super().__init__(f"{status}: {self.detail}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The problem's per-field errors (`loc`, `msg`), if any."""
        return list(self.problem.get("errors") or [])

    def describe(self) -> str:
        """The detail, then one `  field: message` line per field error the detail does not
        already say: what a person needs to fix the request."""
        lines = [self.detail]
        for item in self.errors:
            message = str(item.get("msg", ""))
            if message and message not in self.detail:
                where = ".".join(str(part) for part in item.get("loc", []))
                lines.append(f"  {where}: {message}")
        return "\n".join(lines)


class ServerUnreachable(ApiError):
    """Status 0: no answer at all (refused, reset, timed out), after the retries."""

    def __init__(self, base_url: str, cause: httpx.TransportError) -> None:
        reason = str(cause) or type(cause).__name__
        super().__init__(0, {"detail": f"cannot reach the server at {base_url} ({reason})"})
        self.base_url = base_url


class UnsendableRequest(ApiError, ValueError):
    """Status 0: the request cannot be sent at all (an id with a control character, a URL
    too long); nothing reached the server."""

    def __init__(self, method: str, path: str, cause: httpx.InvalidURL) -> None:
        shown = path if len(path) <= 80 else path[:77] + "..."
        super().__init__(0, {"detail": f"cannot send {method} {shown!r}: {cause}"})


class AuthenticationError(ApiError):
    """401: the API key is missing, unknown or revoked."""


class NotFoundError(ApiError):
    """404: no such id for this tenant."""


class ConflictError(ApiError):
    """409: the resource is busy (a dataset with a running job, say)."""


class PreconditionFailedError(ApiError):
    """412: an If-Match no longer holds (an alias moved since it was read)."""


class InvalidRequestError(ApiError):
    """422: the request was understood but refused; `.errors` names the fields."""


class RateLimitError(ApiError):
    """429: slow down; `.retry_after` is the server's hint in seconds."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(ApiError):
    """5xx: a server fault or an unavailable dependency; report the request id."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_for(response: httpx.Response) -> ApiError:
    """The typed error for an error response."""
    try:
        body = response.json()
        problem = body if isinstance(body, dict) else {"detail": str(body)}
    except ValueError:
        problem = {"detail": response.text.strip() or response.reason_phrase}
    problem.setdefault("status", response.status_code)
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    request_id = problem.get("request_id") or response.headers.get("x-request-id")
    return cls(status, problem, request_id=request_id, headers=response.headers)
