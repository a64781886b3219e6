"""One place that renders every error as RFC 9457 problem+json, with the request id.

Everything an answer can go wrong with becomes a `NeuronalError` first: the service's own,
the engine's (`from_engine`), FastAPI's validation errors, Starlette's HTTP exceptions, a
database outage, and any other exception (a bug: a 500 `internal`, its traceback logged).
`render_problem` is the one rendering, for the exception handlers and the middleware alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from service.api.schemas import Problem
from service.core.errors import (
    BadRequest,
    ClientDisconnected,
    HttpError,
    Internal,
    InvalidInput,
    NeuronalError,
    ServiceUnavailable,
    from_engine,
)
from service.engine import EngineError

log = logging.getLogger("neuronal.api")

PROBLEM_TYPE = "https://neuronal.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 JSON, or broken multipart).",
    401: "The API key is missing, malformed, unknown or revoked (see WWW-Authenticate).",
    404: "There is no such resource for your tenant.",
    409: "The resource is in a state that forbids this.",
    412: "If-Match named a version the alias no longer points to; read it and retry.",
    413: "The body is over this server's size limit.",
    415: "Compressed request bodies (Content-Encoding) are refused; send them uncompressed.",
    422: "The input is invalid; `detail` says how to fix it and `errors` names each field.",
    429: "Over your tenant's request rate or job limit; retry after Retry-After seconds.",
    503: "The database is unreachable; retry after Retry-After seconds.",
}


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` references replaced by the definitions themselves."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


PROBLEM_SCHEMA = _inlined(Problem.model_json_schema())


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem+json answers a route can give."""
    return {
        status: {
            "description": PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


V1_PROBLEMS = problem_responses(401, 404, 422, 429, 503)
BODY_PROBLEMS = problem_responses(400, 413, 415)


SEND_JSON = "; send UTF-8 JSON with Content-Type: application/json."
UNREADABLE_BODY = f"There was an error parsing the body{SEND_JSON}"


def problem_body(error: NeuronalError, request_id: str | None) -> dict[str, Any]:
    """The problem+json document of `error`: the one rendering of every error the API gives."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "request_id": request_id,
    }
    if error.errors:
        body["errors"] = error.errors
    return body


def render_problem(error: NeuronalError, request_id: str | None) -> JSONResponse:
    """`error` as a problem+json response; middleware sends it as an ASGI app."""
    return JSONResponse(
        problem_body(error, request_id),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def invalid_request(raw: Sequence[Mapping[str, Any]], content_type: str | None) -> InvalidInput:
    """A body or parameters that do not fit the route's schema (pydantic's `errors()`)."""
    errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in raw]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"The request is invalid at {where}: {first['msg']}."
    content_type = content_type or "none"
    if first["loc"] == ["body"] and "json" not in content_type.lower():
        detail += (
            f" Send the body as JSON with Content-Type: application/json (it came as "
            f"{content_type.split(';')[0]})."
        )
    head = raw[0] if raw else {}
    if head.get("type") == "json_invalid":  # loc is ("body", character offset)
        reason = (head.get("ctx") or {}).get("error", "")
        position = head["loc"][-1] if len(head.get("loc", ())) > 1 else "?"
        detail = (
            f"The body is not valid JSON: {reason or 'decode error'} at character {position}; "
            "check the quotes, commas and brackets there."
        )
    return InvalidInput(detail, errors=errors)


def framework_error(exc: HTTPException) -> NeuronalError:
    """An answer Starlette or FastAPI chose itself (no such route, an unreadable body)."""
    detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
    if exc.status_code == 400:  # FastAPI could not read the body (e.g. it is not UTF-8)
        return BadRequest(f"{detail.rstrip('.')}{SEND_JSON}", headers=dict(exc.headers or {}))
    headers = dict(exc.headers or {})
    return HttpError(exc.status_code, _status_phrase(exc.status_code), detail, headers)


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _neuronal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NeuronalError)
    return render_problem(exc, _request_id(request))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error = invalid_request(exc.errors(), request.headers.get("content-type"))
    return render_problem(error, _request_id(request))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return render_problem(framework_error(exc), _request_id(request))


async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    # A route should translate with the field it read; this is the fallback, never a 500.
    assert isinstance(exc, EngineError)
    return render_problem(from_engine(exc), _request_id(request))


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc, extra={"request_id": _request_id(request)})
    error = ServiceUnavailable("The database is unreachable right now; retry in a few seconds.")
    return render_problem(error, _request_id(request))


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # The caller left mid-request: nothing failed here and nobody will read the answer.
    log.info("client disconnected before its request was read")
    error = ClientDisconnected(
        "The connection closed before the whole request arrived; send it again."
    )
    return render_problem(error, _request_id(request))


def render_bug(exc: Exception, request_id: str | None) -> JSONResponse:
    """The 500 for an exception nothing expected: its traceback goes to the log, and the
    caller learns only which request failed."""
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return render_problem(Internal(), request_id)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The last resort, for a bug outside the request-id middleware (which answers the rest).
    return render_bug(exc, _request_id(request))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NeuronalError, _neuronal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
