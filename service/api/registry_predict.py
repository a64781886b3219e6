"""Predict through the registry: `POST /v1/registered-models/{name}/aliases/{alias}/predict`
and `.../versions/{version}/predict` answer as `POST /v1/models/{id}/predict` does (the same
path: `service.api.predict.predict_response`), plus the `version` (and `alias`) that answered.

The name's resolution is remembered per process for a lease (`service.domain.registry_resolve`);
with it in memory, the predict shortcut answers these paths too, as fast as a predict by id.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from service.api.deps import TenantDep
from service.api.predict import PREDICT_BODY, Target, predict_response
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.registry import VERSION
from service.api.schemas_registry import RegistryPredictResponse
from service.domain.registry_resolve import Ref, Resolved, Resolver

NAME_PART = r"([A-Za-z0-9][A-Za-z0-9._-]{0,99})"
ALIAS_PATH = re.compile(
    rf"/v1/registered-models/{NAME_PART}/aliases/([a-z][a-z0-9_-]{{0,63}})/predict"
)
VERSION_PATH = re.compile(
    rf"/v1/registered-models/{NAME_PART}/versions/([1-9][0-9]{{0,9}})/predict"
)

router = APIRouter(
    prefix="/v1/registered-models",
    tags=["registered models"],
    responses={**V1_PROBLEMS, **problem_responses(409)},
)


@router.post(
    "/{name}/aliases/{alias}/predict",
    response_model=RegistryPredictResponse,
    responses=BODY_PROBLEMS,
    openapi_extra=PREDICT_BODY,
)
async def predict_by_alias(
    name: str, alias: str, request: Request, tenant_id: TenantDep
) -> Response:
    """Predictions from the version the alias points at (the answer names it)."""
    return await _predict(request, tenant_id, name, alias)


@router.post(
    "/{name}/versions/{version}/predict",
    response_model=RegistryPredictResponse,
    responses=BODY_PROBLEMS,
    openapi_extra=PREDICT_BODY,
)
async def predict_by_version(
    name: str, request: Request, tenant_id: TenantDep, version: int = VERSION
) -> Response:
    """Predictions from one version of a registered model."""
    return await _predict(request, tenant_id, name, version)


async def _predict(request: Request, tenant_id: str, name: str, ref: Ref) -> Response:
    started = time.perf_counter()
    resolver: Resolver = request.app.state.registry_resolver
    resolved = resolver.cached(tenant_id, name, ref)
    if resolved is None:
        resolved = await run_in_threadpool(_resolve, request.app.state, tenant_id, name, ref)
    extra = {"version": resolved.version, "alias": resolved.alias}
    return await predict_response(request, resolved.model_id, tenant_id, extra, started=started)


def _resolve(state: State, tenant_id: str, name: str, ref: Ref) -> Resolved:
    with state.database.sessions() as session:
        return state.registry_resolver.resolve(session, tenant_id, name, ref)  # type: ignore[no-any-return]


def _cached(state: State, tenant_id: str, name: str, ref: Ref) -> tuple[str, dict[str, Any]] | None:
    resolved = state.registry_resolver.cached(tenant_id, name, ref)
    if resolved is None:
        return None
    return resolved.model_id, {"version": resolved.version, "alias": resolved.alias}


def _by_alias(
    state: State, tenant_id: str, match: re.Match[str]
) -> tuple[str, dict[str, Any]] | None:
    return _cached(state, tenant_id, match.group(1), match.group(2))


def _by_version(
    state: State, tenant_id: str, match: re.Match[str]
) -> tuple[str, dict[str, Any]] | None:
    return _cached(state, tenant_id, match.group(1), int(match.group(2)))


# the predict shortcut's registry paths, answered from memory when the name is resolved
SHORTCUT_PATHS: list[tuple[re.Pattern[str], Target]] = [
    (ALIAS_PATH, _by_alias),
    (VERSION_PATH, _by_version),
]
