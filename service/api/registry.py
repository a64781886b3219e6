"""Registry routes: registered models, their versions and aliases (`/v1/registered-models`),
and `POST /v1/jobs/{job_id}/register`. Predicting by alias or version is
`service.api.registry_predict`.

A change of what a name resolves to (an alias put or deleted, a registered model deleted)
commits in its own transaction and then waits out the resolution lease before answering
(`service.domain.registry_resolve`): after its answer no API process predicts the old way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, TenantDep
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas_registry import (
    AliasHistoryOut,
    AliasMoveOut,
    AliasOut,
    AliasRequest,
    JobRegisterRequest,
    RegisteredModelOut,
    RegisteredModelPage,
    RegisteredModelRequest,
    VersionOut,
    VersionPage,
    VersionRequest,
    registered_model_out,
    version_out,
)
from service.core.tables import ModelAlias
from service.domain import registry, registry_aliases
from service.domain.registry_names import get_registered_model
from service.domain.registry_resolve import Resolver

T = TypeVar("T")
VERSION = Path(ge=1, le=2_000_000_000, description="A version number: 1, 2, …")
IF_MATCH = Header(
    None,
    alias="If-Match",
    description="The version the alias must point at now (or *); 412 if it no longer does.",
)

router = APIRouter(
    prefix="/v1/registered-models",
    tags=["registered models"],
    responses={**V1_PROBLEMS, **problem_responses(409)},
)
jobs_router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=V1_PROBLEMS)


@router.post("", status_code=201, response_model=RegisteredModelOut, responses=BODY_PROBLEMS)
def create_registered_model(
    body: RegisteredModelRequest, response: Response, session: SessionDep, tenant_id: TenantDep
) -> RegisteredModelOut:
    """A new name to register versions under (409 if you have one of that name)."""
    row = registry.create_registered_model(session, tenant_id, body.name, body.description)
    response.headers["Location"] = f"/v1/registered-models/{row.name}"
    return registered_model_out(row, {})


@router.get("", response_model=RegisteredModelPage)
def list_registered_models(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> RegisteredModelPage:
    page = registry.list_registered_models(session, tenant_id, limit=limit, cursor=cursor)
    aliases = registry_aliases.aliases_by_model(session, [row.id for row in page.items])
    items = [registered_model_out(row, aliases[row.id]) for row in page.items]
    return RegisteredModelPage(items=items, next_cursor=page.next_cursor)


@router.get("/{name}", response_model=RegisteredModelOut)
def get_registered_model_route(
    name: str, session: SessionDep, tenant_id: TenantDep
) -> RegisteredModelOut:
    row = get_registered_model(session, tenant_id, name)
    return registered_model_out(row, registry_aliases.aliases_of(session, row))


@router.delete("/{name}", status_code=204, response_class=Response)
async def delete_registered_model(name: str, request: Request, tenant_id: TenantDep) -> Response:
    """Delete the name, its versions, aliases and their history (the models stay)."""
    await _resolution_change(
        request, tenant_id, name,
        lambda session: registry.delete_registered_model(session, tenant_id, name),
    )  # fmt: skip
    return Response(status_code=204)


@router.post(
    "/{name}/versions", status_code=201, response_model=VersionOut, responses=BODY_PROBLEMS
)
def create_version(
    name: str, body: VersionRequest, response: Response, session: SessionDep, tenant_id: TenantDep
) -> VersionOut:
    """Register one of your models as the next version of `name`."""
    get_registered_model(session, tenant_id, name)  # 404 here: only jobs create names
    row = registry.register_model(session, tenant_id, name, body.model_id)
    response.headers["Location"] = f"/v1/registered-models/{name}/versions/{row.version}"
    return version_out(name, row, [])


@router.get("/{name}/versions", response_model=VersionPage)
def list_versions(
    name: str,
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> VersionPage:
    """Versions of `name`, newest first."""
    page = registry.list_versions(session, tenant_id, name, limit=limit, cursor=cursor)
    aliases = registry.version_aliases(session, page.items)
    items = [version_out(name, row, aliases.get(row.version, [])) for row in page.items]
    return VersionPage(items=items, next_cursor=page.next_cursor)


@router.get("/{name}/versions/{version}", response_model=VersionOut)
def get_version(
    name: str, session: SessionDep, tenant_id: TenantDep, version: int = VERSION
) -> VersionOut:
    row = registry.get_version(session, tenant_id, name, version)
    return version_out(name, row, registry.version_aliases(session, [row]).get(version, []))


@router.get("/{name}/aliases/{alias}", response_model=AliasOut)
def get_alias(
    name: str, alias: str, response: Response, session: SessionDep, tenant_id: TenantDep
) -> AliasOut:
    """The version an alias points at now; its ETag is that version, for If-Match."""
    row = registry_aliases.get_alias(session, tenant_id, name, alias)
    response.headers["ETag"] = f'"{row.version}"'
    return _alias_out(name, row)


@router.put(
    "/{name}/aliases/{alias}",
    response_model=AliasOut,
    responses={**BODY_PROBLEMS, **problem_responses(412)},
)
async def put_alias(
    name: str,
    alias: str,
    body: AliasRequest,
    request: Request,
    response: Response,
    tenant_id: TenantDep,
    if_match: str | None = IF_MATCH,
) -> AliasOut:
    """Point the alias at a version (creating it), atomically; every prediction through it
    that starts after this answer uses that version."""
    answer = await _resolution_change(
        request, tenant_id, name,
        lambda session: _alias_out(name, registry_aliases.move_alias(
            session, tenant_id, name, alias, body.version, if_match)),
    )  # fmt: skip
    response.headers["ETag"] = f'"{answer.version}"'
    return answer


@router.delete(
    "/{name}/aliases/{alias}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(412),
)
async def delete_alias(
    name: str,
    alias: str,
    request: Request,
    tenant_id: TenantDep,
    if_match: str | None = IF_MATCH,
) -> Response:
    """Remove the alias; its history stays."""
    await _resolution_change(
        request, tenant_id, name,
        lambda session: registry_aliases.delete_alias(session, tenant_id, name, alias, if_match),
    )  # fmt: skip
    return Response(status_code=204)


@router.get("/{name}/aliases/{alias}/history", response_model=AliasHistoryOut)
def alias_history(
    name: str,
    alias: str,
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> AliasHistoryOut:
    """Every move of the alias, newest first: the version from then on, and the one before."""
    page = registry_aliases.alias_history(
        session, tenant_id, name, alias, limit=limit, cursor=cursor
    )
    items = [
        AliasMoveOut(version=m.version, previous_version=m.previous_version, at=m.at)
        for m in page.items
    ]
    return AliasHistoryOut(items=items, next_cursor=page.next_cursor)


@jobs_router.post(
    "/{job_id}/register",
    status_code=201,
    response_model=VersionOut,
    responses={**BODY_PROBLEMS, **problem_responses(409)},
)
async def register_job(
    job_id: str, body: JobRegisterRequest, request: Request, tenant_id: TenantDep
) -> VersionOut:
    """Make a succeeded job's model the next version of a registered model (created if new),
    and optionally point an alias at it (409 if the job has no model)."""
    aliases = [body.alias] if body.alias else []
    return await _resolution_change(
        request, tenant_id, body.name,
        lambda session: version_out(body.name, registry.register_succeeded_job(
            session, tenant_id, job_id, body.name, body.alias), aliases),
        settle=body.alias is not None,
    )  # fmt: skip


def _alias_out(name: str, row: ModelAlias) -> AliasOut:
    return AliasOut(
        name=name, alias=row.alias, version=row.version, model_id=row.model_id,
        updated_at=row.updated_at,
    )  # fmt: skip


async def _resolution_change(
    request: Request,
    tenant_id: str,
    name: str,
    work: Callable[[Session], T],
    *,
    settle: bool = True,
) -> T:
    """Run `work` in a transaction of its own, commit, then (if `settle`) wait out the
    resolution lease so that no API process still uses what it read before the commit."""
    database = request.app.state.database
    resolver: Resolver = request.app.state.registry_resolver

    def run() -> T:
        with database.transaction() as session:
            return work(session)

    result = await run_in_threadpool(run)
    resolver.forget(tenant_id, name)
    if settle:
        await asyncio.sleep(resolver.lease)
    return result
