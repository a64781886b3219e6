"""A short path for the hottest request: a small, well-formed predict of a loaded model.

Routing a request through FastAPI (route matching, dependency resolution, the Prometheus
instrumentation's own route matching) costs several times what predicting a row of a cached
model does. This middleware answers `POST /v1/models/{id}/predict` itself when everything
is already in memory and nothing can go wrong: a JSON body of at most `MAX_BODY` bytes, a key
verified within `api_key_cache_seconds`, the caller's model loaded, the tenant within its
rate, and a prediction that succeeds. Anything else (an unknown key, a model to load, a
malformed body, a refused row, a compressed or large body) goes on, body and all, to the
ordinary route, which gives the full answer and every error exactly as before.

Requests answered here count in `neuronal_predictions` and `neuronal_prediction_seconds`
like any predict, but not in the per-route `http_*` figures.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import rate_limiter
from service.api.predict_body import KEYS
from service.core.logs import bind_log_fields
from service.core.metrics import PREDICTED_ROWS, PREDICTION_SECONDS, PREDICTIONS
from service.domain import trained_models as models_registry

PATH = re.compile(r"/v1/models/([A-Za-z0-9_-]{1,100})/predict")
MAX_BODY = 64 * 1024
MAX_ROWS = 64
ANSWERED = PREDICTIONS.labels("ok")


class PredictFastPath:
    """Answer simple predicts of cached models directly; pass everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = PATH.fullmatch(scope["path"])
        length = _content_length(scope) if match else None
        if match is None or length is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        messages, body = await _read_body(receive, length)
        answer = self._answer(scope, match.group(1), body) if body is not None else None
        if answer is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        payload = orjson.dumps(answer)
        elapsed = time.perf_counter() - started
        PREDICTION_SECONDS.observe(elapsed)
        ANSWERED.inc()
        PREDICTED_ROWS.inc(len(answer["predictions"]))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (
                        b"server-timing",
                        f'auth;desc="cache", predict;dur={elapsed * 1000:.3f}'.encode(),
                    ),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, scope: Scope, model_id: str, body: bytes) -> dict[str, Any] | None:
        """The prediction, or None whenever the ordinary route should answer instead."""
        state = scope["app"].state
        token = _bearer(scope)
        tenant_id = state.key_verifier.cached_tenant(token) if token else None
        if tenant_id is None:
            return None
        try:
            model = state.model_cache.get(model_id, tenant_id)
        except Exception:  # another tenant's model: the route answers 404
            return None
        rows = _rows(body)
        if model is None or rows is None:
            return None
        if rate_limiter(state).acquire(tenant_id):
            return None  # the route spends another token and answers 429
        bind_log_fields(tenant_id=tenant_id)
        inputs, records = rows
        try:
            return models_registry.predict(
                model,
                model_id,
                inputs,
                records,
                max_rows=state.settings.max_predict_rows,
                max_cells=state.settings.max_predict_cells,
            )
        except Exception:  # a refused row: the route says which, as a 422
            return None


def _content_length(scope: Scope) -> int | None:
    """The declared length of a small, uncompressed JSON body; None otherwise."""
    length = json_type = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-type":
            json_type = value == b"application/json"
        elif name == b"content-encoding" or name == b"transfer-encoding":
            return None
    if not json_type or length is None or length > MAX_BODY:
        return None
    return length


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _rows(body: bytes) -> tuple[Any, Any] | None:
    """(inputs, records) of a plain, small body; None for anything the route should judge."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or len(data) != 1 or not data.keys() <= KEYS:
        return None
    inputs, records = data.get("inputs"), data.get("records")
    rows = inputs if inputs is not None else records
    kind = list if inputs is not None else dict
    if type(rows) is not list or not 0 < len(rows) <= MAX_ROWS:
        return None
    if not all(type(row) is kind for row in rows):
        return None
    return inputs, records


async def _read_body(receive: Receive, length: int) -> tuple[list[Message], bytes | None]:
    """Every message of the request body, and the body if it is exactly `length` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > length:
            return messages, None
        if not message.get("more_body", False):
            break
    if size != length:
        return messages, None
    return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives back what was already read, then reads on."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
