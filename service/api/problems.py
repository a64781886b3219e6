"""One place that renders every error as RFC 9457 problem+json, with the request id."""

from __future__ import annotations

import logging
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
from service.core.errors import NeuronalError

log = logging.getLogger("neuronal.api")

PROBLEM_TYPE = "https://neuronal.dev/problems/"
PROBLEM_DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 JSON, or broken multipart).",
    401: "The API key is missing, malformed, unknown or revoked (see WWW-Authenticate).",
    404: "There is no such resource for your tenant.",
    409: "The resource is in a state that forbids this.",
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
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


V1_PROBLEMS = problem_responses(401, 404, 422, 429, 503)
BODY_PROBLEMS = problem_responses(400, 413, 415)


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": getattr(request.state, "request_id", None),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


async def _neuronal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NeuronalError)
    return problem_response(
        request,
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"The request is invalid at {where}: {first['msg']}."
    content_type = request.headers.get("content-type") or "none"
    if first["loc"] == ["body"] and "json" not in content_type.lower():
        detail += (
            f" Send the body as JSON with Content-Type: application/json (it came as "
            f"{content_type.split(';')[0]})."
        )
    raw = exc.errors()[0] if exc.errors() else {}
    if raw.get("type") == "json_invalid":  # loc is ("body", character offset)
        reason = (raw.get("ctx") or {}).get("error", "")
        position = raw["loc"][-1] if len(raw.get("loc", ())) > 1 else "?"
        detail = (
            f"The body is not valid JSON: {reason or 'decode error'} at character {position}; "
            "check the quotes, commas and brackets there."
        )
    return problem_response(
        request, 422, "Unprocessable Content", detail, slug="invalid-input", errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
    if exc.status_code == 400:  # FastAPI could not read the body (e.g. it is not UTF-8)
        detail = f"{detail.rstrip('.')}; send UTF-8 JSON with Content-Type: application/json."
    title = _status_phrase(exc.status_code)
    return problem_response(
        request,
        exc.status_code,
        title,
        detail,
        slug=f"http-{exc.status_code}",
        headers=getattr(exc, "headers", None),
    )


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc, extra={"request_id": request.state.request_id})
    return problem_response(
        request,
        503,
        "Service Unavailable",
        "The database is unreachable right now; retry in a few seconds.",
        slug="unavailable",
        headers={"Retry-After": "5"},
    )


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # The caller left mid-request: nothing failed here and nobody will read the answer.
    log.info("client disconnected before its request was read")
    return problem_response(
        request,
        400,
        "Bad Request",
        "The connection closed before the whole request arrived; send it again.",
        slug="client-disconnected",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"request_id": request.state.request_id})
    return problem_response(
        request,
        500,
        "Internal Server Error",
        "The server failed; report the request id if it keeps happening.",
        slug="internal",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NeuronalError, _neuronal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
