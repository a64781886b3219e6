"""`POST /v1/models/{id}/recall`: settle damaged patterns in a stored Hopfield network.

A plain `def` route, so the sweeps run in the threadpool and never on the event loop; the API
process keeps BLAS to one thread (`NEURONAL_API_BLAS_THREADS`), without which OpenBLAS's
spinning threads made each unit update of a recall many times slower on a shared machine.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictInt

from service.api.deps import SettingsDep, TenantDep
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas import Strict
from service.core.db import session_factory
from service.domain.hopfield_recall import HopfieldCache, recall
from service.engine.hopfield import HOPFIELD_LIMITS

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses={**V1_PROBLEMS, **problem_responses(409)}
)


class RecallRequest(Strict):
    patterns: list[list[Any]] = Field(
        description="Probes, one value per unit in the network's unit order, each 0/1 or "
        "-1/+1 (the encoding the patterns were stored in).",
        examples=[[[1, 0, 1, 1], [0, 0, 1, 1]]],
    )
    max_iterations: Annotated[
        StrictInt | None, Field(ge=1, le=HOPFIELD_LIMITS["max_iterations"])
    ] = Field(None, description="Sweeps at most (default: the network's max_iterations).")
    seed: Annotated[StrictInt | None, Field(ge=0, le=HOPFIELD_LIMITS["max_seed"])] = Field(
        None, description="Seed of the asynchronous update order (default 0)."
    )


class RecallResponse(BaseModel):
    model_id: str
    states: list[list[int]] = Field(description="The final state of each probe.")
    energy: list[list[float]] = Field(
        description="Each probe's energy at the start and after every sweep it ran."
    )
    iterations: list[int] = Field(description="Sweeps that changed each probe's state.")
    converged: list[bool] = Field(description="Whether each probe reached a fixed point.")
    nearest_pattern: list[int] = Field(
        description="Index of the stored pattern (a data set row) closest to the final state."
    )
    hamming: list[int] = Field(description="Units where the final state differs from it.")


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
