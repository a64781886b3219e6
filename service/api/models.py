"""Model routes: list, read, delete, download weights or ONNX, confusion matrix (predict is
`service.api.predict`)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from service.api.deps import SessionDep, TenantDep
from service.api.problems import V1_PROBLEMS, problem_responses
from service.api.schemas import ModelOut, ModelPage
from service.api.schemas_models import ConfusionOut
from service.domain import evaluation
from service.domain import trained_models as models_registry

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
