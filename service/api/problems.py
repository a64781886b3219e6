"""One place that renders every error as RFC 9457 problem+json, with the request id."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from service.errors import NeuronalError

log = logging.getLogger("neuronal.api")

PROBLEM_TYPE = "https://neuronal.dev/problems/"


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
    return problem_response(
        request, 422, "Unprocessable Content", detail, slug="invalid-input", errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
    title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP error")
    return problem_response(
        request,
        exc.status_code,
        title,
        detail,
        slug=f"http-{exc.status_code}",
        headers=getattr(exc, "headers", None),
    )


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
    app.add_exception_handler(Exception, _unexpected)
