"""Plain ASGI middleware: request ids, and body size limits enforced while the body streams."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import render_bug, render_problem
from service.core.errors import NeuronalError, PayloadTooLarge, UnsupportedMediaType
from service.core.logs import log_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Echo a client's X-Request-ID (when sane) or make one; expose it on request.state.

    A bug (an exception no handler took) is answered here, as the 500 `render_bug` makes, so
    that its answer carries the request id too; the framework's own last-resort handler sits
    outside every middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if started:  # too late for another answer; the server closes the connection
                    raise
                await render_bug(exc, request_id)(scope, receive, send_with_id)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 once a body passes its limit, whether or not Content-Length was sent.

    Uploads (any multipart body, which is how every file is sent: datasets and rows to
    predict alike) get `upload_limit`; every other body gets `body_limit`. The content type
    decides, not the path, so a new upload route needs nothing here. Whatever
    the application makes of a body cut short (FastAPI's JSON parser turns it into a 400), the
    caller gets the 413. Compressed bodies (`Content-Encoding`) answer 415: they are never
    inflated, so a small request can never expand past the limit.
    """

    def __init__(self, app: ASGIApp, *, upload_limit: int, body_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = is_upload(_header(scope, b"content-type"))
        limit = self.upload_limit if upload else self.body_limit
        encoding = (_header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            await _send_problem(
                scope, receive, send, UnsupportedMediaType(_encoding_detail(encoding))
            )
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _send_problem(scope, receive, send, _too_large(limit, upload))
            return
        received = 0
        exceeded = started = passing = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, passing
            if message["type"] == "http.response.start":
                started = True
                passing = not exceeded or message["status"] == 413
                if not passing:
                    await _send_problem(scope, receive, send, _too_large(limit, upload))
            if passing:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:
                await _send_problem(scope, receive, send, _too_large(limit, upload))


UPLOAD_TYPES = ("multipart/form-data", "multipart/mixed")


def is_upload(content_type: str | None) -> bool:
    """Whether a body of this content type is a file upload (not a JSON request)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in UPLOAD_TYPES


def _too_large(limit: int, upload: bool) -> PayloadTooLarge:
    if upload:
        return PayloadTooLarge(
            f"The upload is over this server's limit of {limit:,} bytes "
            "(NEURONAL_MAX_UPLOAD_BYTES); send a smaller file or a sample of the rows."
        )
    return PayloadTooLarge(
        f"The request body is over this server's limit of {limit:,} bytes for JSON requests; "
        "send fewer rows per request."
    )


def _encoding_detail(encoding: str) -> str:
    return (
        f"Content-Encoding {encoding!r} is not accepted; send the body uncompressed "
        "(compressed request bodies are never inflated here)."
    )


async def _send_problem(scope: Scope, receive: Receive, send: Send, error: NeuronalError) -> None:
    """Answer `error` before the application has read the body, and close the connection:
    the rest of the body is not read, so the connection cannot carry another request."""
    error.headers["Connection"] = "close"
    response = render_problem(error, scope.get("state", {}).get("request_id"))
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
