"""`POST /v1/models/{model_id}/predict`: one implementation, reached two ways.

Routing a request through FastAPI (route matching, dependency resolution, the Prometheus
instrumentation's own route matching) costs several times what predicting a row of a cached
model does. So `PredictShortcut`, an ASGI middleware, runs the route's own steps (read the
body with `parse_predict_body`, `_predict`, `_reply`) itself for a body (JSON, CSV or .npy
of at most `SHORTCUT_BODY` bytes) that the route would predict on the event loop (`_inline`:
up to `INLINE_ROWS` rows, or `INLINE_CELLS` cells of rows) when the caller's key was verified
within `api_key_cache_seconds`, the model is loaded and the tenant is within its rate.
Anything else (an unknown key, a model to load, sequences, a large or compressed body, any
error) goes on, body and all, to the FastAPI route, which answers every error through the
problem handlers. So both give the same bytes: there is one reading of the body, one
prediction and one serialisation.

Shortcut answers count in `neuronal_predictions` and `neuronal_prediction_seconds` like any
predict, but not in the per-route `http_*` figures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import TenantDep, rate_limiter
from service.api.predict_body import PREDICT_BODY, PredictBody, parse_predict_body
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas import PredictResponse
from service.core.db import session_factory
from service.core.errors import BadRequest
from service.core.logs import bind_log_fields
from service.core.metrics import (
    PREDICTED_ROWS,
    PREDICTION_SECONDS,
    PREDICTIONS,
    instrument_prediction,
)
from service.domain import online_predict
from service.domain.bulk_bodies import BULK_TYPES
from service.engine import Model

INLINE_ROWS = 64  # so many rows of a cached model are predicted on the event loop, and
INLINE_CELLS = 65_536  # so many rows × features when they are rows, not sequences
SHORTCUT_BODY = 2 * 1024 * 1024  # 1000 rows of 64 features: 0.35 MB of JSON, 0.5 MB of .npy
SHORTCUT_TYPES = {t.encode(): t for t in ("application/json", *BULK_TYPES)}
PATH = re.compile(r"/v1/models/([A-Za-z0-9_-]{1,100})/predict")
# what a predict path names, from memory only: the model id and the fields its answer adds,
# or None to send the request on to its route
Target = Callable[[State, str, re.Match[str]], tuple[str, dict[str, Any]] | None]
ANSWERED = PREDICTIONS.labels("ok")
ANSWERED = PREDICTIONS.labels("ok")

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses={**V1_PROBLEMS, **problem_responses(409)}
)


@router.post(
    "/{model_id}/predict",
    response_model=PredictResponse,
    responses=BODY_PROBLEMS,
    openapi_extra=PREDICT_BODY,
)
async def predict(model_id: str, request: Request, tenant_id: TenantDep) -> Response:
    """Predictions from raw rows or records, through the model's own preprocessing."""
    return await predict_response(request, model_id, tenant_id)


async def predict_response(
    request: Request,
    model_id: str,
    tenant_id: str,
    extra: Mapping[str, Any] | None = None,
    *,
    started: float | None = None,
) -> Response:
    """The answer of `model_id` to the request's predict body, with `extra` fields added
    (the registry's version and alias): every predict route's one path."""
    started = time.perf_counter() if started is None else started
    leftovers: list[Any] = []
    raw = await _body(request)
    body = parse_predict_body(raw, request.headers.get("content-type"), leftovers)
    state = request.app.state
    if _inline(body, state.model_cache.get(model_id, tenant_id)):
        answer = _answer(state, model_id, tenant_id, body)
    else:
        answer = await run_in_threadpool(_answer, state, model_id, tenant_id, body)
    answer.update(extra or {})
    payload, timing = _reply(answer, getattr(request.state, "key_cached", False), started)
    headers = {"Server-Timing": timing}
    drop = BackgroundTask(_drop, leftovers)  # freed once the answer is out
    return Response(payload, media_type="application/json", headers=headers, background=drop)


async def _drop(leftovers: list[Any]) -> None:
    leftovers.clear()


def _inline(body: PredictBody, model: Model | None) -> bool:
    """Whether to predict on the event loop rather than in the threadpool. A few rows of a
    loaded model take tens of microseconds, 1000 rows of 64 features about 0.4 ms: less than
    reading their JSON (done on the loop already), and less than the thread hop, which on a
    busy machine waits for the scheduler."""
    if model is None:
        return False
    if body.n_rows <= INLINE_ROWS:
        return True
    return body.sequences is None and body.n_rows * len(model.feature_names) <= INLINE_CELLS


@instrument_prediction
def _answer(state: State, model_id: str, tenant_id: str, body: PredictBody) -> dict[str, Any]:
    cache: online_predict.ModelCache = state.model_cache
    model = cache.get(model_id, tenant_id)
    if model is None:
        with session_factory(state.settings.database_url)() as session:
            model = cache.load(session, tenant_id, model_id)
    return _predict(state, model, model_id, body)


def _predict(state: State, model: Model, model_id: str, body: PredictBody) -> dict[str, Any]:
    return online_predict.predict(
        model,
        model_id,
        body.inputs,
        body.records,
        max_rows=state.settings.max_predict_rows,
        max_cells=state.settings.max_predict_cells,
        sequences=body.sequences,
    )


def _reply(answer: dict[str, Any], key_cached: bool, started: float) -> tuple[bytes, str]:
    """The answer's JSON and its Server-Timing (which counts the serialisation too)."""
    payload = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    elapsed = (time.perf_counter() - started) * 1000
    auth = "cache" if key_cached else "database"
    return payload, f'auth;desc="{auth}", predict;dur={elapsed:.3f}'


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except Exception as exc:  # as FastAPI answers; the body-limit middleware turns it to 413
        raise BadRequest(
            "There was an error parsing the body; send UTF-8 JSON with "
            "Content-Type: application/json."
        ) from exc


class PredictShortcut:
    """Answer small predicts of cached models without FastAPI's routing; pass the rest on."""

    def __init__(
        self, app: ASGIApp, more_paths: Sequence[tuple[re.Pattern[str], Target]] = ()
    ) -> None:
        self.app = app
        self.paths: list[tuple[re.Pattern[str], Target]] = [(PATH, _by_id), *more_paths]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        post = scope["type"] == "http" and scope["method"] == "POST"
        target = self._target(scope["path"]) if post else None
        small = _small_body(scope) if target else None
        if target is None or small is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        messages, body = await _read_body(receive, small[0])
        leftovers: list[Any] = []
        answer = None
        if body is not None:
            answer = self._answer(scope, target, body, small[1], leftovers)
        if answer is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        payload, timing = _reply(answer, True, started)
        PREDICTION_SECONDS.observe(time.perf_counter() - started)
        ANSWERED.inc()
        PREDICTED_ROWS.inc(len(answer["predictions"]))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"server-timing", timing.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        leftovers.clear()  # the parsed lists, freed once the answer is out

    def _target(self, path: str) -> tuple[Target, re.Match[str]] | None:
        for pattern, target in self.paths:
            match = pattern.fullmatch(path)
            if match is not None:
                return target, match
        return None

    def _answer(
        self,
        scope: Scope,
        target: tuple[Target, re.Match[str]],
        raw: bytes,
        content_type: str,
        leftovers: list[Any],
    ) -> dict[str, Any] | None:
        """The prediction, or None whenever the route should answer instead."""
        state = scope["app"].state
        token = _bearer(scope)
        tenant_id = state.key_verifier.cached_tenant(token) if token else None
        named = target[0](state, tenant_id, target[1]) if tenant_id is not None else None
        if tenant_id is None or named is None:
            return None
        model_id, extra = named
        try:
            model = state.model_cache.get(model_id, tenant_id)
            body = parse_predict_body(raw, content_type, leftovers) if model is not None else None
        except Exception:  # another tenant's model, a bad body: the route says what is wrong
            return None
        if model is None or body is None or body.sequences is not None:
            return None
        if not _inline(body, model) or rate_limiter(state).acquire(tenant_id):
            return None  # too many for the event loop; or over the rate: the route's 429
        bind_log_fields(tenant_id=tenant_id)
        try:
            return _predict(state, model, model_id, body) | extra
        except Exception:  # a refused row: the route says which, as a 422
            return None


def _small_body(scope: Scope) -> tuple[int, str] | None:
    """The declared length and media type of a small, uncompressed body the shortcut reads."""
    length = content_type = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-type":
            content_type = SHORTCUT_TYPES.get(value)
        elif name == b"content-encoding" or name == b"transfer-encoding":
            return None
    if content_type is None or length is None or length > SHORTCUT_BODY:
        return None
    return length, content_type


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


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


def _by_id(_state: State, _tenant_id: str, match: re.Match[str]) -> tuple[str, dict[str, Any]]:
    return match.group(1), {}
