"""`POST /v1/models/{id}/recall`: settle damaged patterns in a stored Hopfield network.

A plain `def` route, so the sweeps run in the threadpool and never on the event loop; the API
process keeps BLAS to one thread (`NEURONAL_API_BLAS_THREADS`), without which OpenBLAS's
spinning threads made each unit update of a recall many times slower on a shared machine.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from service.api.deps import SettingsDep, TenantDep
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas_models import RecallRequest, RecallResponse
from service.core.db import session_factory
from service.domain.hopfield_recall import HopfieldCache, recall

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses={**V1_PROBLEMS, **problem_responses(409)}
)


def hopfield_cache(request: Request) -> HopfieldCache:
    """The API process's cache of loaded Hopfield networks, made on first use."""
    state = request.app.state
    if getattr(state, "hopfield_cache", None) is None:
        state.hopfield_cache = HopfieldCache(state.settings.model_cache_size)
    cache: HopfieldCache = state.hopfield_cache
    return cache


@router.post("/{model_id}/recall", response_model=RecallResponse, responses=BODY_PROBLEMS)
def recall_patterns(
    model_id: str,
    body: RecallRequest,
    request: Request,
    tenant_id: TenantDep,
    settings: SettingsDep,
) -> Response:
    """Let each probe settle into an attractor of the Hopfield network; its energy never
    rises under asynchronous updates."""
    with session_factory(settings.database_url)() as session:  # not held during the sweeps
        model = hopfield_cache(request).network(session, tenant_id, model_id)
    answer = recall(
        model,
        model_id,
        body.patterns,
        max_iterations=body.max_iterations,
        seed=body.seed,
        max_patterns=settings.max_recall_patterns,
    )
    return Response(orjson.dumps(answer), media_type="application/json")
