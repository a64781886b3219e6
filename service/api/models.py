"""Model routes: list, read, delete, download weights or ONNX, predict, confusion matrix."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, TenantDep
from service.api.predict_body import PREDICT_BODY, Rows, parse_predict_body
from service.api.problems import BODY_PROBLEMS, UNREADABLE_BODY, V1_PROBLEMS, problem_responses
from service.api.schemas import ModelOut, ModelPage, PredictResponse
from service.api.schemas_models import ConfusionOut
from service.core.db import session_factory
from service.core.errors import BadRequest
from service.core.metrics import instrument_prediction
from service.domain import evaluation
from service.domain import trained_models as models_registry

INLINE_ROWS = 64  # up to this many rows of a cached model are predicted on the event loop

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses={**V1_PROBLEMS, **problem_responses(409)}
)


@router.get("", response_model=ModelPage)
def list_models(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> ModelPage:
    page = models_registry.list_models(session, tenant_id, limit=limit, cursor=cursor)
    return ModelPage.model_validate(page)


@router.get("/{model_id}", response_model=ModelOut)
def get_model(model_id: str, session: SessionDep, tenant_id: TenantDep) -> ModelOut:
    return ModelOut.model_validate(models_registry.get_model(session, tenant_id, model_id))


@router.delete("/{model_id}", status_code=204, response_class=Response)
def delete_model(
    model_id: str, request: Request, session: SessionDep, tenant_id: TenantDep
) -> Response:
    models_registry.delete_model(session, tenant_id, model_id)
    request.app.state.model_cache.evict(model_id)
    return Response(status_code=204)


@router.get(
    "/{model_id}/weights",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_weights(model_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    """The model as .npz: every layer's weights and biases, the preprocessing, JSON metadata."""
    data = models_registry.model_bytes(session, tenant_id, model_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.npz"'},
    )


@router.post(
    "/{model_id}/predict",
    response_model=PredictResponse,
    responses=BODY_PROBLEMS,
    openapi_extra=PREDICT_BODY,
)
async def predict(model_id: str, request: Request, tenant_id: TenantDep) -> Response:
    """Predictions from raw rows or records, through the model's own preprocessing."""
    started = time.perf_counter()
    inputs, records, sequences = parse_predict_body(await _body(request), request.headers)
    rows = len(inputs if inputs is not None else records or sequences or [])
    cache: models_registry.ModelCache = request.app.state.model_cache
    if rows <= INLINE_ROWS and cache.get(model_id, tenant_id) is not None:
        # A few rows of a loaded model take tens of microseconds: cheaper than a thread hop.
        answer = _answer(request, model_id, tenant_id, inputs, records, sequences)
    else:
        answer = await run_in_threadpool(
            _answer, request, model_id, tenant_id, inputs, records, sequences
        )
    cached = "cache" if getattr(request.state, "key_cached", False) else "database"
    elapsed = (time.perf_counter() - started) * 1000
    return Response(
        orjson.dumps(answer),
        media_type="application/json",
        headers={"Server-Timing": f'auth;desc="{cached}", predict;dur={elapsed:.3f}'},
    )


@instrument_prediction
def _answer(
    request: Request,
    model_id: str,
    tenant_id: str,
    inputs: Rows,
    records: list[dict[str, Any]] | None,
    sequences: list[Any] | None = None,
) -> dict[str, Any]:
    cache: models_registry.ModelCache = request.app.state.model_cache
    model = cache.get(model_id, tenant_id)
    if model is None:
        with session_factory(request.app.state.settings.database_url)() as session:
            model = cache.load(session, tenant_id, model_id)
    return models_registry.predict(
        model,
        model_id,
        inputs,
        records,
        max_rows=request.app.state.settings.max_predict_rows,
        max_cells=request.app.state.settings.max_predict_cells,
        sequences=sequences,
    )


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except Exception as exc:  # as FastAPI answers; the body-limit middleware turns it to 413
        raise BadRequest(UNREADABLE_BODY) from exc


@router.get("/{model_id}/confusion", response_model=ConfusionOut)
def confusion_matrix(
    model_id: str, request: Request, session: SessionDep, tenant_id: TenantDep
) -> ConfusionOut:
    """A classifier's confusion matrix on the validation rows its job held out; a model with
    more than NEURONAL_MAX_CONFUSION_CLASSES classes answers 422 (use a batch prediction)."""
    cache = request.app.state.model_cache
    max_classes = request.app.state.settings.max_confusion_classes
    matrix = evaluation.model_confusion(cache, session, tenant_id, model_id, max_classes)
    return ConfusionOut.model_validate(matrix)


@router.get(
    "/{model_id}/onnx",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_onnx(
    model_id: str, request: Request, session: SessionDep, tenant_id: TenantDep
) -> Response:
    """The model as ONNX (opset 17): preprocessing, dense layers and probabilities."""
    from service.domain.onnx_export import export_onnx  # onnx costs every API process 8 MB: on use

    cache = request.app.state.model_cache
    model = evaluation.cached_model(cache, session, tenant_id, model_id)
    return Response(
        export_onnx(model, name=model_id),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.onnx"'},
    )
